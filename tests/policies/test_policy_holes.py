"""The holes #16 found in the pack, each with a compliant and a violating resource: pods that
Helm values describe (llm-d model servers, the router), every added capability, keys on command
lines, credentials in URLs, moving tags, StatefulSet claim templates, load balancers requested
through Helm values or Knative's Kourier settings."""

from __future__ import annotations

import copy

from policies.llm_platform_policies import airgap, data, security
from tests.support.policy_harness import CONNECTED, deployment, run_policy

DEPLOY = "kubernetes:apps/v1:Deployment"
RELEASE = "kubernetes:helm.sh/v3:Release"
IMG = "registry.internal:5000/mirror/vllm/vllm-openai:v0.33.0"
RESTRICTED = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True, "runAsUser": 1000}


def modelservice_release(container_sc: dict, pod_sc: dict | None = None, **extra) -> dict:
    """A release of llm-d-modelservice shaped like ``modelservice_values`` emits it."""
    decode = {"create": True, "replicas": 1,
              "containers": [{"name": "vllm", "image": IMG, "args": ["--port", "8000"], "securityContext": container_sc}],
              "podSecurityContext": pod_sc if pod_sc is not None else {"runAsNonRoot": True, "runAsUser": 1000}, **extra}
    return {"name": "llama-ms", "namespace": "llm", "chart": "llm-d-modelservice", "version": "v0.4.12",
            "values": {"fullnameOverride": "llama", "decode": decode, "prefill": {"create": False, "replicas": 0}}}


def test_helm_values_pods_get_the_security_checks():
    ok = modelservice_release(RESTRICTED)
    for policy in (security.non_root, security.no_privileged):
        assert run_policy(policy, RELEASE, ok, CONNECTED) == []
    root = modelservice_release({"allowPrivilegeEscalation": False}, pod_sc={})
    assert run_policy(security.non_root, RELEASE, root, CONNECTED) == [
        "llm/llama-ms: container values.decode.containers[0] may run as root; set securityContext.runAsNonRoot: true "
        "(and a non-zero runAsUser)"]
    privileged = modelservice_release({**RESTRICTED, "privileged": True}, hostNetwork=True)
    assert run_policy(security.no_privileged, RELEASE, privileged, CONNECTED) == [
        "llm/llama-ms: container values.decode.containers[0] is privileged", "llm/llama-ms: pod values.decode sets hostNetwork"]


def test_every_added_capability_is_refused_but_net_bind_service():
    def with_caps(caps):
        return deployment({"name": "c", "image": IMG, "securityContext": {**RESTRICTED, "capabilities": {"add": caps}}})
    assert run_policy(security.no_privileged, DEPLOY, with_caps(["NET_BIND_SERVICE"])) == []
    for cap in ("SYS_PTRACE", "DAC_OVERRIDE", "CAP_BPF", "sys_module"):
        assert run_policy(security.no_privileged, DEPLOY, with_caps([cap])) == [
            f"llm/d: container spec.template.spec.containers[0] adds capabilities "
            f"['{cap.upper().removeprefix('CAP_')}']; only NET_BIND_SERVICE may be added"]


def test_api_keys_on_command_lines_are_refused():
    ok = deployment({"name": "c", "image": IMG, "args": ["--port", "8080"],
                     "env": [{"name": "VLLM_API_KEY", "valueFrom": {"secretKeyRef": {"name": "k", "key": "VLLM_API_KEY"}}}]})
    assert run_policy(security.secrets_in_args, DEPLOY, ok) == []
    for args in (["--api-key", "$(VLLM_API_KEY)"], ["--api-key=abc"], ["--hf-token", "x"]):
        msgs = run_policy(security.secrets_in_args, DEPLOY, deployment({"name": "c", "image": IMG, "args": args}))
        assert len(msgs) == 1 and "on its command line" in msgs[0], (args, msgs)
    key = deployment({"name": "c", "image": IMG, "command": ["sh", "-c"], "args": ["sk-" + "a" * 30]})
    assert run_policy(security.secrets_in_args, DEPLOY, key) == [
        "llm/d: container spec.template.spec.containers[0] has a key or token in its arguments"]
    helm = modelservice_release({**RESTRICTED})
    helm["values"]["decode"]["containers"][0]["args"] += ["--api-key", "k"]
    assert len(run_policy(security.secrets_in_args, RELEASE, helm, CONNECTED)) == 1


def test_credentials_in_urls_are_refused_outside_secrets():
    ok = deployment({"name": "c", "image": IMG, "env": [{"name": "S3_ENDPOINT", "value": "https://minio.minio.svc:9000"},
                                                        {"name": "MC_HOST", "value": "http://${USER}:${PASS}@minio:9000"}]})
    assert run_policy(security.url_credentials, DEPLOY, ok) == []
    bad = deployment({"name": "c", "image": IMG, "env": [{"name": "S3", "value": "https://reader:hunter2@minio:9000"}]})
    assert run_policy(security.url_credentials, DEPLOY, bad) == [
        "llm/d: spec.template.spec.containers[0].env[0].value embeds credentials in a URL (user:password@); keep them in "
        "a Secret and pass them separately"]
    cm = {"metadata": {"name": "cfg", "namespace": "llm"}, "data": {"endpoint": "s3://AKIA:secret@bucket"}}
    assert len(run_policy(security.url_credentials, "kubernetes:core/v1:ConfigMap", cm)) == 1
    secret = {"metadata": {"name": "s", "namespace": "llm"}, "stringData": {"url": "https://u:p@host"}}
    assert run_policy(security.url_credentials, "kubernetes:core/v1:Secret", secret) == []


def test_moving_tags_are_refused_in_workloads_and_helm_values():
    for image in ("docker.io/vllm/vllm-openai", "docker.io/vllm/vllm-openai:main", "docker.io/vllm/vllm-openai:nightly"):
        msgs = run_policy(airgap.pinned_images, DEPLOY, deployment({"name": "c", "image": image}), CONNECTED)
        assert msgs == [f"llm/d: spec.template.spec.containers[0].image uses {image!r}, a moving tag; pin a release tag or digest"]
    router = {"name": "llama-pool", "namespace": "llm", "chart": "oci://ghcr.io/llm-d/charts/llm-d-router-gateway",
              "values": {"router": {"epp": {"image": {"registry": "ghcr.io", "repository": "llm-d/epp", "tag": "v0.10.0"}}}}}
    assert run_policy(airgap.pinned_images, RELEASE, router, CONNECTED) == []
    moving = copy.deepcopy(router)
    moving["values"]["router"]["epp"]["image"]["tag"] = "main"
    assert run_policy(airgap.pinned_images, RELEASE, moving, CONNECTED) == [
        "Helm release r: values.router.epp.image.tag uses 'llm-d/epp' with tag 'main', a moving tag; pin a release tag or digest"]
    # A chart's own image key without a tag takes the chart's (pinned) version: not moving.
    kserve = {"values": {"kserve": {"controller": {"image": "registry.internal:5000/mirror/kserve/kserve-controller"}}}}
    assert run_policy(airgap.pinned_images, RELEASE, kserve, CONNECTED) == []


def test_statefulset_claim_templates_must_be_protected_and_retained():
    sts = {"metadata": {"name": "db", "namespace": "llm"},
           "spec": {"volumeClaimTemplates": [{"metadata": {"name": "data"}}],
                    "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"}}}
    kind = "kubernetes:apps/v1:StatefulSet"
    assert run_policy(data.data_protected, kind, sts, protect=True) == []
    assert run_policy(data.data_protected, kind, sts) == [
        "StatefulSet with volumeClaimTemplates llm/db holds data but is not protected; register it with "
        "components.common.protection.protected(opts)"]
    sts["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] = "Delete"
    assert run_policy(data.data_protected, kind, sts, protect=True) == [
        "StatefulSet with volumeClaimTemplates llm/db deletes its claims (whenDeleted: Delete); set "
        "persistentVolumeClaimRetentionPolicy.whenDeleted to Retain"]
    assert run_policy(data.data_protected, kind, {"metadata": {"name": "web"}, "spec": {}}) == []


def test_load_balancers_through_helm_values_and_kourier_are_refused():
    infra = {"values": {"gateway": {"service": {"type": "ClusterIP"}}}}
    assert run_policy(security.no_public_lb, RELEASE, infra, CONNECTED) == []
    infra["values"]["gateway"]["service"]["type"] = "LoadBalancer"
    assert run_policy(security.no_public_lb, RELEASE, infra, CONNECTED) == [
        "Helm release r: values.gateway.service.type requests an internet-facing LoadBalancer; use ClusterIP behind "
        "the gateway or annotate it internal in the same values"]
    infra["values"]["gateway"]["service"]["annotations"] = {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"}
    assert run_policy(security.no_public_lb, RELEASE, infra, CONNECTED) == []
    grafana = {"values": {"grafana": {"service": {"serviceType": "LoadBalancer"}}}}
    assert len(run_policy(security.no_public_lb, RELEASE, grafana, CONNECTED)) == 1
    ks = "kubernetes:operator.knative.dev/v1beta1:KnativeServing"
    kourier = {"metadata": {"name": "knative-serving", "namespace": "knative-serving"},
               "spec": {"ingress": {"kourier": {"enabled": True, "service-type": "ClusterIP"}}}}
    assert run_policy(security.no_public_lb, ks, kourier, CONNECTED) == []
    kourier["spec"]["ingress"]["kourier"]["service-type"] = "LoadBalancer"
    assert len(run_policy(security.no_public_lb, ks, kourier, CONNECTED)) == 1
