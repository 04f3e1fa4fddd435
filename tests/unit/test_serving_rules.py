"""The serving layer's cross-field rules refuse bad stacks with the field, the value and the fix."""

from __future__ import annotations

import copy

import pytest

from infra.config_loading import PlatformConfigError, load_platform_config
from tests.conftest import stack_sections


def issues(stack: str, edit) -> list[tuple[str, str]]:
    sections = stack_sections(stack)
    edit(sections)
    try:
        load_platform_config(stack, sections)
    except PlatformConfigError as exc:
        return [(i.path, i.message) for i in exc.issues]
    return []


def _big_70b(sections, tp, pp, count):
    svc = sections["serving"]["services"]["llama-70b"]
    svc["engine"].update({"tensorParallel": tp, "pipelineParallel": pp})
    svc["gpu"]["count"] = count


def test_a_service_spanning_nodes_needs_leaderworkerset():
    def edit(s):
        _big_70b(s, 8, 2, 8)
        s["serving"]["lws"]["install"] = False
    found = issues("prod", edit)
    assert any(path == "serving.lws.install" and "spans 2 nodes" in msg for path, msg in found), found
    assert not [i for i in issues("prod", lambda s: _big_70b(s, 8, 2, 8)) if i[0] == "serving.lws.install"]


def test_tensor_parallel_must_fit_in_a_node():
    found = issues("prod", lambda s: _big_70b(s, 16, 1, 8))
    assert any(path == "serving.services.llama-70b.engine.tensorParallel" and "inside a node" in msg for path, msg in found), found


def test_gke_gateway_class_is_refused_on_eks():
    found = issues("prod", lambda s: s["serving"]["llmd"].update({"gatewayProvider": "gke-l7-regional-external-managed"}))
    assert ("serving.llmd.gatewayProvider" in {p for p, _ in found}), found


def test_knative_domain_must_be_a_dns_domain():
    found = issues("dev", lambda s: s["serving"]["kserve"]["knative"].update({"domain": "Dev_LLM.example.com"}))
    assert [p for p, _ in found] == ["serving.kserve.knative.domain"], found
    assert "'Dev_LLM.example.com'" in found[0][1]


def test_shipped_stacks_pass_the_serving_rules():
    for stack in ("local", "dev", "staging", "prod", "airgap"):
        assert issues(stack, lambda s: None) == []
