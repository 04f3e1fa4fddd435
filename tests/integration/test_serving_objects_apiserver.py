"""The serving and monitoring custom resources against a real API server with the upstream CRDs:
every InferenceService, ServingRuntime, KnativeServing, ScaledObject, HTTPRoute, PodMonitor and
PrometheusRule the stacks emit, plus a multi-node LeaderWorkerSet and an InferencePool shaped like
the one the llm-d router chart creates over our pool labels, pass the API server's structural
schema, defaulting and CEL rules (which JSON Schema validation cannot evaluate, e.g. HTTPRoute's
URLRewrite rules).

Server-side apply with ``dryRun=All``: full admission and validation, nothing persisted.
"""

from __future__ import annotations

import copy

import pytest

import kube
from components.common.images import ImageRef
from components.gpu.placement import PodPlacement
from tests.support.server_pod import server_pod
from components.serving.llmd import SERVICE_PORT, pool_name, pool_selector_labels
from components.serving.multinode import MultiNodeArgs, leader_worker_set_spec
from infra.synth import synthesize

pytestmark = pytest.mark.timeout(900)

STACKS = ("local", "dev", "staging", "prod", "airgap", "openshift")
KINDS = {"InferenceService", "ServingRuntime", "LLMInferenceService", "KnativeServing", "ScaledObject",
         "LeaderWorkerSet", "InferencePool", "Gateway", "HTTPRoute", "PodMonitor", "ServiceMonitor", "PrometheusRule"}


@pytest.fixture(scope="module")
def serving_objects() -> list[dict]:
    objs = []
    for stack in STACKS:
        objs += [o for o in synthesize(stack).manifests if o["kind"] in KINDS]
    kinds = {o["kind"] for o in objs}
    assert {"InferenceService", "KnativeServing", "ScaledObject", "HTTPRoute", "PodMonitor", "PrometheusRule"} <= kinds, kinds
    return objs


def test_every_serving_and_monitoring_object_is_admitted(kube_client, serving_objects):
    for obj in serving_objects:
        kube_client.admit(obj)


def test_multinode_leader_worker_set_is_admitted(kube_client):
    pod = server_pod(["--model=/mnt/models", "--port=8000", "--tensor-parallel-size=8", "--pipeline-parallel-size=2"],
                     PodPlacement(resources={"nvidia.com/gpu": "8"}, node_selector={}, tolerations=[]),
                     model_uri="s3://models/llama-405b", downloader=ImageRef.parse("docker.io/kserve/storage-initializer:v0.20.0"))
    args = MultiNodeArgs(service="llama-405b", namespace="llm", server=pod, nodes=2)
    for backend in ("mp", "ray"):
        spec = leader_worker_set_spec(MultiNodeArgs(**{**args.__dict__, "backend": backend}))
        kube_client.admit({"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet",
                             "metadata": {"name": f"llama-405b-{backend}", "namespace": "llm"}, "spec": spec})


def test_the_pool_the_router_chart_creates_over_our_labels_is_admitted(kube_client):
    """Shape of llm-d-router's routerlib ``_inferencepool.yaml`` at v0.10.0 with our values."""
    pool = {"apiVersion": "inference.networking.k8s.io/v1", "kind": "InferencePool",
            "metadata": {"name": pool_name("llama-70b"), "namespace": "llm"},
            "spec": {"targetPorts": [{"number": SERVICE_PORT}], "appProtocol": "http",
                     "selector": {"matchLabels": pool_selector_labels("llama-70b")},
                     "endpointPickerRef": {"name": f"{pool_name('llama-70b')}-epp", "port": {"number": 9002},
                                           "failureMode": "FailOpen"}}}
    kube_client.admit(pool)


def test_an_http_route_rewrite_that_breaks_the_api_rules_is_refused(kube_client, serving_objects):
    """The CEL rules are live: ReplacePrefixMatch without a PathPrefix match is refused."""
    route = copy.deepcopy(next(o for o in serving_objects if o["kind"] == "HTTPRoute"))
    route["spec"]["rules"][0]["matches"][0]["path"] = {"type": "Exact", "value": "/x"}
    kube_client.ensure_namespace(route["metadata"]["namespace"])
    with pytest.raises(kube.ApiError) as info:
        kube_client.dry_run_apply(route)
    assert info.value.code == 422, info.value.body
