"""Every stack puts a gate in front of every vLLM service and NetworkPolicies around them; the
tenants' keys appear in no object, only their hashes in a Secret."""

from __future__ import annotations

import json

import pytest

from components.gate.gate import PATHS
from components.gate.haproxy import gate_files, key_hash
from infra.mocks import _fake
from tests.conftest import STACKS


def _named(synthesis, kind, name):
    found = [m for m in synthesis.objects(kind) if m["metadata"]["name"] == name]
    assert found, f"no {kind} {name}"
    return found[0]


@pytest.mark.parametrize("stack", STACKS)
def test_every_service_has_a_gate_rendered_from_the_stack_config(stack, synthesized):
    s = synthesized(stack)
    cfg = s.config
    gated = sorted(n for n, svc in cfg.serving.services.items()
                   if svc.frontend == "kserve" or cfg.cluster.kind != "render")
    assert gated
    for name in gated:
        cm = _named(s, "ConfigMap", f"{name}-gate")
        secret = _named(s, "Secret", f"{name}-gate-keys")
        assert secret["stringData"] == "[secret]"  # key hashes are a secret input, masked by synthesis
        base = cfg.served_name(name)
        listen = int(cm["data"]["haproxy.cfg"].split("frontend gate\n    bind 0.0.0.0:")[1].split("\n")[0])
        expected = gate_files(cfg.gate, cfg.tenants, {}, {base: cfg.served_models()[base]}, listen_port=listen,
                              vllm_key=cfg.serving.services[name].auth, paths=PATHS,
                              metrics_on_client_port=cfg.serving.services[name].frontend == "llm-d")
        assert cm["data"] == expected.config_map
        assert json.loads(cm["data"]["tenants.json"]).keys() == cfg.tenants.keys()


@pytest.mark.parametrize("stack", STACKS)
def test_no_tenant_key_or_hash_in_plain_text(stack, synthesized):
    s = synthesized(stack)
    text = json.dumps(s.manifests)
    for tenant, spec in s.config.tenants.items():
        for key_name in spec.keys:
            key = _fake(f"tenants-{tenant}-{key_name}", "random")
            assert key not in text and key_hash(key) not in text, (tenant, key_name)


@pytest.mark.parametrize("stack", STACKS)
def test_network_policies_default_deny_and_gate_ports(stack, synthesized):
    s = synthesized(stack)
    cfg = s.config
    policies = {(m["metadata"]["namespace"], m["metadata"]["name"]): m["spec"] for m in s.objects("NetworkPolicy")}
    serving = cfg.serving.namespace
    assert policies[(serving, "default-deny-ingress")] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    for name in cfg.serving.services:
        key = (serving, f"{name}-gate-clients")
        if key not in policies:
            continue  # an llm-d service on a render stack (no llm-d platform to attach to)
        ports = [p["port"] for rule in policies[key]["ingress"] for p in rule["ports"]]
        assert len(ports) == 1 and ports[0] in (8080, 8200, 8000, 8012)
        metrics = policies[(serving, f"{name}-gate-metrics")]["ingress"][0]
        assert metrics["from"][0]["namespaceSelector"]["matchExpressions"][0]["values"] == [cfg.network.monitoring_namespace]
        assert cfg.gate.metrics_port in [p["port"] for p in metrics["ports"]]
    if cfg.storage.kind == "minio":
        store = cfg.storage.minio.namespace
        assert policies[(store, "default-deny-ingress")]["podSelector"] == {}
        api = policies[(store, "object-store-api")]["ingress"][0]
        assert [p["port"] for p in api["ports"]] == [9000]


@pytest.mark.parametrize("stack", STACKS)
def test_gate_objects_validate_against_kubernetes_schemas(stack, synthesized):
    import copy

    from tests.support.schemas import core_errors

    checked = 0
    for obj in synthesized(stack).manifests:
        name = obj["metadata"]["name"]
        if not (obj["kind"] == "NetworkPolicy" or name.endswith("-gate") or name.endswith("-gate-keys")):
            continue
        obj = copy.deepcopy(obj)
        if obj.get("stringData") == "[secret]":
            obj["stringData"] = {"keys.map": "x some-tenant\n"}  # synthesis masks the hashes
        assert core_errors(obj) == [], f"{stack} {obj['kind']} {name}"
        checked += 1
    assert checked >= 4
