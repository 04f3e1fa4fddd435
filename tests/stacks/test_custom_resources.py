"""Every custom resource the stacks emit of the serving/observability kinds validates strictly
against the upstream CRDs in ../shared/crds (unknown fields fail, as the API server would prune
them). Parametrized over every stack and every emitted object, so objects other engineers add
(InferenceServices, ServingRuntimes, ...) are covered as they land."""

from __future__ import annotations

import pytest

from tests.conftest import STACKS
from tests.support.schemas import crd_errors, has_crd

CHECKED_KINDS = {
    "InferenceService", "ServingRuntime", "LLMInferenceService", "KnativeServing", "ScaledObject",
    "LeaderWorkerSet", "InferencePool", "Gateway", "HTTPRoute", "PodMonitor", "ServiceMonitor", "PrometheusRule",
    # OpenShift (openshift stack): OLM, NFD, the GPU Operator's ClusterPolicy; Route/SCC/ODH kinds if ever emitted.
    "Subscription", "OperatorGroup", "NodeFeatureDiscovery", "ClusterPolicy", "Route", "SecurityContextConstraints",
    "DataScienceCluster", "DSCInitialization", "HardwareProfile",
}


def _emitted(synthesized):
    cases = []
    for stack in STACKS:
        for obj in synthesized(stack).manifests:
            if obj["kind"] in CHECKED_KINDS:
                cases.append((stack, obj))
    return cases


def test_stacks_emit_the_serving_and_monitoring_kinds(synthesized):
    kinds = {obj["kind"] for _, obj in _emitted(synthesized)}
    # dev: KnativeServing; prod: llm-d HTTPRoute + KEDA ScaledObject; every stack: monitors and rules;
    # openshift: the OLM objects and the ClusterPolicy.
    assert {"KnativeServing", "HTTPRoute", "ScaledObject", "PodMonitor", "PrometheusRule",
            "Subscription", "OperatorGroup", "NodeFeatureDiscovery", "ClusterPolicy"} <= kinds


@pytest.mark.parametrize("stack", STACKS)
def test_every_custom_resource_validates_against_its_crd(stack, synthesized):
    failures = {}
    checked = 0
    for obj in synthesized(stack).manifests:
        if obj["kind"] not in CHECKED_KINDS:
            continue
        assert has_crd(obj["apiVersion"], obj["kind"]), f"{obj['apiVersion']}/{obj['kind']} has no upstream CRD in ../shared/crds"
        errors = crd_errors(obj)
        checked += 1
        if errors:
            failures[f"{obj['kind']} {obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}"] = errors
    assert not failures, failures
    if synthesized(stack).config.serving.services:
        assert checked, f"{stack} serves models but emitted none of {sorted(CHECKED_KINDS)}"
