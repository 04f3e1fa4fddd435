"""Every stack's InferenceService predictors, as pods, on simulated nodes of the stack's GPU pools.

For each stack (synthesized offline, no engine needed), kwok nodes stand in for one node of every
GPU pool: the labels ``node_labels()`` says the pool's nodes carry, the taint Karpenter's NodePool
(or, for static pools, ``pool.taint``) puts on them, and the extended resources ``advertised()``
says the pool's nodes advertise once the GPU Operator configured them (whole GPUs, MIG slices,
``.shared`` time-sliced replicas). Each InferenceService's predictor is turned into the pod
KServe would run (the predictor's PodSpec fields plus a ``kserve-container`` with the model's
resources) and handed to the real kube-scheduler: it must land on a node of the service's pool.

Not modelled here: volumes (a PVC-backed model volume needs a bound claim; scheduling by
resources and placement is the point), the storage-initializer init container, and DRA-backed
predictors (``resourceClaims``), which test_gpu_dra_scheduling.py covers with a ResourceSlice.
"""

from __future__ import annotations


import pytest

import kserve_pods
import kube
from kube import wait_for
from components.gpu.placement import GPU_TAINT_KEY
from components.gpu.sharing import advertised, node_labels
from infra.synth import synthesize

pytestmark = pytest.mark.timeout(600)

STACKS = ("local", "dev", "staging", "prod", "airgap")
BASE_CAPACITY = {"cpu": "192", "memory": "2048Gi", "pods": "110", "ephemeral-storage": "2Ti"}
_synth_cache: dict[str, object] = {}


def _synth(stack: str):
    if stack not in _synth_cache:
        _synth_cache[stack] = synthesize(stack)
    return _synth_cache[stack]


def _pool_taints(synth, pool_name: str, pool) -> list[dict]:
    for np_ in synth.objects("NodePool", "karpenter.sh/v1"):
        if np_["spec"]["template"].get("metadata", {}).get("labels", {}).get("llm-platform.io/pool") == pool_name \
                or np_["metadata"]["name"] == pool_name:
            return [t for t in np_["spec"]["template"]["spec"].get("taints", [])]
    return [{"key": GPU_TAINT_KEY, "value": "true", "effect": "NoSchedule"}] if pool.taint else []


def _node_name(stack: str, pool_name: str) -> str:
    return f"it-{stack}-{pool_name}-0"


def _pool_nodes(synth, stack: str) -> dict[str, dict]:
    nodes = {}
    for pool_name, pool in synth.config.gpu.pools.items():
        name = _node_name(stack, pool_name)
        resources = {**BASE_CAPACITY, **{k: str(v) for k, v in advertised(pool).items()}}
        nodes[pool_name] = {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {
                "name": name,
                "annotations": {kube.KWOK_NODE_ANNOTATION[0]: kube.KWOK_NODE_ANNOTATION[1]},
                "labels": {**node_labels(pool_name, pool), "kubernetes.io/hostname": name,
                           "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "type": "kwok"},
            },
            "spec": {"taints": _pool_taints(synth, pool_name, pool)},
            "status": {"capacity": resources, "allocatable": resources},
        }
    return nodes


def _runtime_image(synth, isvc: dict) -> str:
    runtime = isvc["spec"]["predictor"].get("model", {}).get("runtime")
    for kind in ("ServingRuntime", "ClusterServingRuntime"):
        for rt in synth.objects(kind):
            if rt["metadata"]["name"] == runtime and rt["spec"].get("containers"):
                return rt["spec"]["containers"][0]["image"]
    return kserve_pods.PLACEHOLDER_IMAGE


def predictor_pod(synth, isvc: dict, namespace: str) -> dict:
    return kserve_pods.predictor_pod(isvc, namespace, _runtime_image(synth, isvc))


def _cases():
    out = []
    for stack in STACKS:
        for isvc in _synth(stack).objects("InferenceService"):
            name = isvc["metadata"]["name"]
            marks = []
            if isvc["spec"]["predictor"].get("resourceClaims"):
                marks.append(pytest.mark.skip(reason="DRA-backed predictor: see test_gpu_dra_scheduling.py"))
            out.append(pytest.param(stack, name, id=f"{stack}-{name}", marks=marks))
    return out


@pytest.fixture(scope="module")
def stack_nodes(request, kube_client):
    """kwok nodes for one stack's pools (the stack name comes by indirect parametrization; pytest
    groups the tests by stack, so pools of the same name in two stacks never coexist)."""
    stack = request.param
    synth = _synth(stack)
    nodes = _pool_nodes(synth, stack)
    for node in nodes.values():
        kube_client.create("/api/v1/nodes", node)

    def ready(name: str) -> bool:
        node = kube_client.get(f"/api/v1/nodes/{name}")
        conds = {c["type"]: c["status"] for c in node.get("status", {}).get("conditions", [])}
        lifecycle = [t for t in node["spec"].get("taints", []) if t["key"].startswith("node.kubernetes.io/")]
        return conds.get("Ready") == "True" and not lifecycle

    try:
        for node in nodes.values():
            wait_for(lambda: ready(node["metadata"]["name"]), 60,
                     what=f"node {node['metadata']['name']} Ready without lifecycle taints")
        yield stack, synth, nodes
    finally:
        for node in nodes.values():
            try:
                kube_client.delete(f"/api/v1/nodes/{node['metadata']['name']}")
            except kube.ApiError:
                pass


@pytest.fixture
def namespace(kube_client):
    with kube_client.scratch_namespace("it-isvc") as ns:
        yield ns


def _create(kube_client, pod: dict) -> str:
    ns = pod["metadata"]["namespace"]
    sa = pod["spec"].get("serviceAccountName")
    if sa and sa != "default":
        kube_client.create(f"/api/v1/namespaces/{ns}/serviceaccounts",
                           {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": sa}})
    kube_client.create(f"/api/v1/namespaces/{ns}/pods", pod)
    return f"/api/v1/namespaces/{ns}/pods/{pod['metadata']['name']}"


_scheduled = kserve_pods.scheduled_condition


@pytest.mark.parametrize("stack_nodes,isvc_name", _cases(), indirect=["stack_nodes"])
def test_predictor_pod_lands_on_its_pool(kube_client, stack_nodes, namespace, isvc_name):
    stack, synth, nodes = stack_nodes
    [isvc] = [o for o in synth.objects("InferenceService") if o["metadata"]["name"] == isvc_name]
    pool = synth.config.serving.services[isvc_name].pool
    path = _create(kube_client, predictor_pod(synth, isvc, namespace))

    def placed():
        pod = kube_client.get(path)
        cond = _scheduled(pod)
        if cond.get("reason") == "Unschedulable":
            raise AssertionError(f"{stack}/{isvc_name} unschedulable: {cond.get('message')}")
        return pod if pod.get("status", {}).get("phase") == "Running" else None

    pod = wait_for(placed, 60, what=f"{stack}/{isvc_name} predictor to run")
    assert pod["spec"]["nodeName"] == nodes[pool]["metadata"]["name"]


@pytest.mark.parametrize("stack_nodes", ["prod"], indirect=True)
def test_a_predictor_asking_for_a_slice_its_pool_does_not_cut_stays_pending(kube_client, stack_nodes, namespace):
    """The same check catches a predictor/pool mismatch: prod's MIG predictor asking for a MIG
    profile that the pool's layout does not produce is refused by the scheduler."""
    stack, synth, _ = stack_nodes
    [isvc] = [o for o in synth.objects("InferenceService") if o["metadata"]["name"] == "llama-8b"]
    pod = predictor_pod(synth, isvc, namespace)
    pod["metadata"]["name"] = "llama-8b-wrong-slice"
    res = pod["spec"]["containers"][0]["resources"]
    [mig] = [k for k in res["limits"] if k.startswith("nvidia.com/mig-")]
    for part in ("limits", "requests"):
        if mig in res.get(part, {}):
            res[part]["nvidia.com/mig-7g.80gb"] = res[part].pop(mig)
    path = _create(kube_client, pod)

    def unschedulable():
        got = kube_client.get(path)
        return got if _scheduled(got).get("reason") == "Unschedulable" else None

    got = wait_for(unschedulable, 60, what="the wrong-slice predictor to be Unschedulable")
    assert not got["spec"].get("nodeName")
    assert "Insufficient nvidia.com/mig-7g.80gb" in _scheduled(got)["message"]
