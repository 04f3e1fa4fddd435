"""Tenant-isolation policies, each with a compliant and a violating case."""

from __future__ import annotations

import json

from policies.llm_platform_policies import gate
from tests.support.policy_harness import deployment, run_policy, run_stack_policy

CM = "kubernetes:core/v1:ConfigMap"
DEPLOY = "kubernetes:apps/v1:Deployment"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
RELEASE = "kubernetes:helm.sh/v3:Release"

RUNTIME_LORA = [{"name": "VLLM_ALLOW_RUNTIME_LORA_UPDATING", "value": "True"}]
GATE = {"name": "gate", "image": "docker.io/library/haproxy:2.6.22", "args": ["haproxy", "-f", "/etc/gate/conf/haproxy.cfg"]}


def vllm(host: str | None = "127.0.0.1", env=RUNTIME_LORA) -> dict:
    args = ["--model=/mnt/models", "--served-model-name=llama"] + ([f"--host={host}"] if host else [])
    return {"name": "vllm", "image": "docker.io/vllm/vllm-openai:v0.33.0", "args": args, "env": env}


def pod(*containers) -> dict:
    d = deployment(containers[0])
    d["spec"]["template"]["spec"]["containers"] = list(containers)
    return d


def test_runtime_lora_behind_gate():
    assert run_policy(gate.runtime_lora_behind_gate, DEPLOY, pod(vllm(), GATE)) == []
    assert run_policy(gate.runtime_lora_behind_gate, DEPLOY, pod(vllm(host=None, env=[]))) == []  # no runtime loading
    assert run_policy(gate.runtime_lora_behind_gate, DEPLOY, pod(vllm())) == [
        "llm/d: spec.template.spec container 'vllm' allows runtime LoRA loading but its pod has no gate container; "
        "anyone reaching the pod could load adapters from any path"]
    assert run_policy(gate.runtime_lora_behind_gate, DEPLOY, pod(vllm(host="0.0.0.0"), GATE)) == [
        "llm/d: spec.template.spec container 'vllm' allows runtime LoRA loading and listens on 0.0.0.0; bind it to "
        "127.0.0.1 (--host) so only the gate and the sync sidecar reach it"]


def test_runtime_lora_behind_gate_reads_llm_d_helm_values():
    values = {"decode": {"containers": [vllm(host=None)]}, "prefill": {"create": False}}
    release = {"name": "llama-ms", "chart": "llm-d-modelservice", "namespace": "llm", "values": values}
    assert len(run_policy(gate.runtime_lora_behind_gate, RELEASE, release)) == 2
    values["decode"]["containers"] = [vllm(), GATE]
    assert run_policy(gate.runtime_lora_behind_gate, RELEASE, release) == []


def deny(namespace: str) -> dict:
    return {"metadata": {"name": "default-deny-ingress", "namespace": namespace},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}


def test_serving_namespaces_deny_ingress():
    server = (DEPLOY, pod(vllm(), GATE))
    assert run_stack_policy(gate.serving_namespaces_deny_ingress, [server, (NETPOL, deny("llm"))]) == []
    allow_all = deny("llm") | {"spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{}]}}
    for others in ([], [(NETPOL, deny("other"))], [(NETPOL, allow_all)]):
        assert run_stack_policy(gate.serving_namespaces_deny_ingress, [server, *others]) == [
            "namespace 'llm' serves models (llm/d) but has no default-deny ingress NetworkPolicy "
            "(podSelector {}, policyTypes [Ingress], no rules)"]


def gate_config(grants: list[str]) -> dict:
    return {"metadata": {"name": "llama-gate", "namespace": "llm",
                         "labels": {"app.kubernetes.io/component": "gate", "app.kubernetes.io/instance": "llama"}},
            "data": {"tenants.json": json.dumps({"team-a": {"grants": grants}})}}


def registry() -> dict:
    return {"metadata": {"name": "llama-lora-registry", "namespace": "llm",
                         "labels": {"app.kubernetes.io/component": "lora-registry", "app.kubernetes.io/instance": "llama"}},
            "data": {"registry.json": json.dumps({"llama:sql": "adapters/llama/sql/v1/"})}}


def test_tenant_grants_exist():
    stack = [(DEPLOY, pod(vllm(), GATE)), (CM, registry())]
    assert run_stack_policy(gate.tenant_grants_exist, stack + [(CM, gate_config(["llama:sql", "llama", "llama:*"]))]) == []
    assert run_stack_policy(gate.tenant_grants_exist, stack + [(CM, gate_config(["llama:sql", "llama:gone", "qwen:*"]))]) == [
        "llm/llama-gate: tenant 'team-a' grant 'llama:gone': no adapter of 'llama' matches 'gone'; its adapters: sql",
        "llm/llama-gate: tenant 'team-a' grant 'qwen:*': unknown base model 'qwen' in 'qwen:*'; served base models: llama"]
