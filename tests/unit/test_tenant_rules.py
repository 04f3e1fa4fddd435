"""Tenant and gate config rules: a grant that names nothing is refused with its field path."""

from __future__ import annotations

import pytest

from components.gate.haproxy import expand_grants, grant_problems, render_maps
from components.gate.spec import TenantSpec
from tests.unit.test_config_rules import BASE, errors_for
from infra.config_loading import load_platform_config

SERVED = {"llama": ["llama:sql", "llama:sql-v2", "llama:support"]}


def _tenant(**kw):
    return {"keys": {"main": 1}, "grants": ["llama:sql"], **kw}


def test_valid_tenants_load():
    cfg = load_platform_config("dev", {**BASE, "tenants": {"team-a": _tenant(), "team-b": _tenant(grants=["llama", "llama:*"])}})
    assert cfg.served_models() == {"llama": ["llama:sql"]}
    assert cfg.tenants["team-a"].keys == {"main": 1}


@pytest.mark.parametrize("grant, message", [
    ("lama:sql", "unknown base model 'lama' in 'lama:sql'; served base models: llama"),
    ("llama:sqll", "no adapter of 'llama' matches 'sqll'; its adapters: sql"),
    ("llama:", "'llama:' has an empty adapter; use 'llama:<adapter>', 'llama:*' or 'llama'"),
    ("llama:s?x*", "no adapter of 'llama' matches 's?x*'; its adapters: sql"),
])
def test_grant_naming_nothing_is_a_config_error(grant, message):
    errs = errors_for(lambda s: s.update({"tenants": {"team-a": _tenant(grants=["llama:sql", grant])}}))
    assert errs == [("tenants.team-a.grants[1]", message)]


def test_tenant_fields_are_checked():
    errs = errors_for(lambda s: s.update({"tenants": {"b": _tenant(keys={}, grants=[])}}))
    assert {p for p, _ in errs} == {"tenants.b.keys", "tenants.b.grants"}
    errs = errors_for(lambda s: s.update({"tenants": {"Team_A": _tenant()}}))
    assert len(errs) == 1 and errs[0][0] == "tenants.Team_A" and "must be a DNS-1123 label" in errs[0][1]
    errs = errors_for(lambda s: s.update({"tenants": {"a": _tenant(keys={"Main": 1})}}))
    assert errs[0][0] == "tenants.a.keys.Main" and "lowercase" in errs[0][1]
    errs = errors_for(lambda s: s.update({"tenants": {"a": _tenant(keys={"k" * 33: 1})}}))
    assert errs[0][0] == f"tenants.a.keys.{'k' * 33}" and "32" in errs[0][1]
    errs = errors_for(lambda s: s.update({"tenants": {"a": _tenant(maxConcurrent=0)}}))
    assert errs[0][0] == "tenants.a.maxConcurrent"
    errs = errors_for(lambda s: s.update({"tenants": {"a": _tenant(maxRequestsPerWindow=2**31)}}))
    assert errs[0][0] == "tenants.a.maxRequestsPerWindow" and "2147483647" in errs[0][1]
    errs = errors_for(lambda s: s.update({"tenants": {"a": _tenant(grants=["llama:sql\nevil 1"])}}))
    assert errs[0][0] == "tenants.a.grants[0]" and "'<base>:<adapter>'" in errs[0][1]


def test_gate_and_network_rules():
    errs = errors_for(lambda s: s.update({"gate": {"vllmPort": 8080, "metricsPort": 9091}}))
    assert [p for p, _ in errs] == ["gate.metricsPort", "gate.vllmPort"]
    assert "Knative's queue-proxy user metrics" in dict(errs)["gate.metricsPort"]
    errs = errors_for(lambda s: s.update({"network": {"publishCidrs": ["10.0.0.1/8"], "clientNamespaces": ["Istio"]}}))
    assert [p for p, _ in errs] == ["network.clientNamespaces[0]", "network.publishCidrs[0]"]
    assert "DNS-1123 label" in dict(errs)["network.clientNamespaces[0]"]
    assert "no host bits set" in dict(errs)["network.publishCidrs[0]"]
    errs = errors_for(lambda s: s.update({"gate": {"cpu": "lots"}, "network": {"monitoringNamespace": "Mon"}}))
    assert [p for p, _ in errs] == ["gate.cpu", "network.monitoringNamespace"]


def test_grant_expansion():
    assert expand_grants(["llama:sql*"], SERVED) == ["llama:sql", "llama:sql-v2"]
    assert expand_grants(["llama"], SERVED) == ["llama"]
    assert expand_grants(["llama:*"], SERVED) == SERVED["llama"]
    assert expand_grants(["other:*"], SERVED) == []
    assert grant_problems("llama:*", {"llama": []}) is None  # future adapters of an existing base


def test_maps_are_sorted_and_hold_only_hashes():
    tenants = {"b": TenantSpec(keys={"k": 1}, grants=["llama:support"], max_concurrent=2),
               "a": TenantSpec(keys={"k": 1}, grants=["llama:sql*"], max_requests_per_window=10)}
    maps = render_maps(tenants, {"a": ["ff" * 32], "b": ["00" * 32]}, SERVED)
    assert maps["keys.map"] == f"{'ff' * 32} a\n{'00' * 32} b\n"
    assert maps["grants.map"] == "a|llama:sql 1\na|llama:sql-v2 1\nb|llama:support 1\n"
    assert maps["rate.map"] == "a 10\n" and maps["concurrency.map"] == "b 2\n"
    assert maps["models.map"].startswith('a {"data":[{"id":"llama:sql"')
