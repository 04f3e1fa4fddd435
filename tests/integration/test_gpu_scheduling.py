"""Simulated GPU nodes (kwok) and the real kube-scheduler.

Three fake nodes, managed by kwok because they carry the annotation
kwok.x-k8s.io/node=fake:
  it-h100-0  pool gpu-h100, taint nvidia.com/gpu:NoSchedule, nvidia.com/gpu: 8
  it-mig-0   pool gpu-mig,  taint nvidia.com/gpu:NoSchedule,
             nvidia.com/mig-1g.10gb: 7, nvidia.com/mig-3g.40gb: 2
  it-cpu-0   pool cpu, no taint, no accelerators
"""

from __future__ import annotations


import pytest

import kube
from kube import wait_for

pytestmark = pytest.mark.timeout(300)

POOL_LABEL = "llm-platform.dev/pool"
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
BASE_CAPACITY = {"cpu": "96", "memory": "1024Gi", "pods": "110", "ephemeral-storage": "1Ti"}

NODES = {
    "it-h100-0": ("gpu-h100", [GPU_TAINT], {"nvidia.com/gpu": "8"},
                  {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3", "nvidia.com/gpu.count": "8"}),
    "it-mig-0": ("gpu-mig", [GPU_TAINT],
                 {"nvidia.com/mig-1g.10gb": "7", "nvidia.com/mig-3g.40gb": "2"},
                 {"nvidia.com/gpu.product": "NVIDIA-A100-80GB", "nvidia.com/mig.strategy": "mixed"}),
    "it-cpu-0": ("cpu", [], {}, {}),
}


def _node(name: str) -> dict:
    pool, taints, accel, extra_labels = NODES[name]
    resources = {**BASE_CAPACITY, **accel}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {kube.KWOK_NODE_ANNOTATION[0]: kube.KWOK_NODE_ANNOTATION[1]},
            "labels": {
                POOL_LABEL: pool,
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
                **extra_labels,
            },
        },
        "spec": {"taints": taints},
        # kwok's node-initialize stage keeps capacity/allocatable given here.
        "status": {"capacity": resources, "allocatable": resources},
    }


def _ready(client: kube.KubeClient, name: str) -> bool:
    """Ready (kwok's node-initialize stage) and untainted by the node lifecycle
    controller (it adds node.kubernetes.io/not-ready at creation and lifts it
    once it sees the Ready condition)."""
    node = client.get(f"/api/v1/nodes/{name}")
    conds = {c["type"]: c["status"] for c in node.get("status", {}).get("conditions", [])}
    lifecycle_taints = [t for t in node["spec"].get("taints", [])
                        if t["key"].startswith("node.kubernetes.io/")]
    return conds.get("Ready") == "True" and not lifecycle_taints


@pytest.fixture(scope="module")
def gpu_nodes(kube_client):
    for name in NODES:
        kube_client.create("/api/v1/nodes", _node(name))
    try:
        for name in NODES:
            wait_for(lambda: _ready(kube_client, name), 60, what=f"node {name} to be Ready without lifecycle taints")
        yield NODES
    finally:
        for name in NODES:
            try:
                kube_client.delete(f"/api/v1/nodes/{name}")
            except kube.ApiError:
                pass


@pytest.fixture
def namespace(kube_client):
    with kube_client.scratch_namespace("it-sched") as ns:
        yield ns


def _pod(name: str, ns: str, limits: dict[str, str], pool: str | None,
         tolerate_gpu: bool = True) -> dict:
    spec: dict = {
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": 0,
        "containers": [{
            "name": "server",
            "image": "registry.invalid/vllm:test",  # never pulled: kwok runs no containers
            "resources": {"requests": {"cpu": "1", "memory": "1Gi"},
                          "limits": {"memory": "1Gi", **limits}},
        }],
    }
    if pool:
        spec["nodeSelector"] = {POOL_LABEL: pool}
    if tolerate_gpu:
        spec["tolerations"] = [
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
        ]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns}, "spec": spec}


def _create_pod(client: kube.KubeClient, pod: dict) -> str:
    ns = pod["metadata"]["namespace"]
    client.create(f"/api/v1/namespaces/{ns}/pods", pod)
    return f"/api/v1/namespaces/{ns}/pods/{pod['metadata']['name']}"


def _scheduled_condition(pod: dict) -> dict | None:
    for c in pod.get("status", {}).get("conditions", []):
        if c["type"] == "PodScheduled":
            return c
    return None


def _wait_running(client: kube.KubeClient, path: str) -> dict:
    def running():
        pod = client.get(path)
        return pod if pod.get("status", {}).get("phase") == "Running" else None

    return wait_for(running, 60, what=f"{path} to be Running")


def _wait_unschedulable(client: kube.KubeClient, path: str) -> dict:
    def unschedulable():
        pod = client.get(path)
        cond = _scheduled_condition(pod)
        if cond and cond["status"] == "False" and cond.get("reason") == "Unschedulable":
            return pod
        return None

    return wait_for(unschedulable, 60, what=f"{path} to be marked Unschedulable")


def test_kwok_nodes_advertise_gpus(kube_client, gpu_nodes):
    h100 = kube_client.get("/api/v1/nodes/it-h100-0")
    assert h100["status"]["allocatable"]["nvidia.com/gpu"] == "8"
    assert h100["spec"]["taints"][0]["key"] == "nvidia.com/gpu"
    mig = kube_client.get("/api/v1/nodes/it-mig-0")
    assert mig["status"]["allocatable"]["nvidia.com/mig-1g.10gb"] == "7"
    assert mig["status"]["allocatable"]["nvidia.com/mig-3g.40gb"] == "2"
    assert "nvidia.com/gpu" not in mig["status"]["allocatable"]
    # kwok keeps a node lease (held by the kwok controller) fresh, so the node
    # lifecycle controller sees live nodes and adds no not-ready/unreachable taints.
    lease = kube_client.get("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/it-h100-0")
    assert lease["spec"]["renewTime"]
    assert [t["key"] for t in kube_client.get("/api/v1/nodes/it-h100-0")["spec"]["taints"]] == [
        "nvidia.com/gpu"
    ]


def test_gpu_pod_lands_on_its_pool(kube_client, gpu_nodes, namespace):
    path = _create_pod(kube_client, _pod("vllm-gpu", namespace, {"nvidia.com/gpu": "1"}, "gpu-h100"))
    pod = _wait_running(kube_client, path)
    assert pod["spec"]["nodeName"] == "it-h100-0"
    assert _scheduled_condition(pod)["status"] == "True"


def test_mig_slice_pod_lands_on_the_mig_node(kube_client, gpu_nodes, namespace):
    path = _create_pod(kube_client,
                       _pod("vllm-mig3g", namespace, {"nvidia.com/mig-3g.40gb": "1"}, None))
    pod = _wait_running(kube_client, path)
    assert pod["spec"]["nodeName"] == "it-mig-0"


def test_unoffered_mig_profile_stays_pending(kube_client, gpu_nodes, namespace):
    path = _create_pod(kube_client,
                       _pod("vllm-mig2g", namespace, {"nvidia.com/mig-2g.20gb": "1"}, None))
    pod = _wait_unschedulable(kube_client, path)
    assert pod["status"]["phase"] == "Pending"
    assert not pod["spec"].get("nodeName")
    message = _scheduled_condition(pod)["message"]
    assert "Insufficient nvidia.com/mig-2g.20gb" in message, message


def test_gpu_pod_without_toleration_is_not_scheduled(kube_client, gpu_nodes, namespace):
    path = _create_pod(kube_client, _pod("vllm-untolerated", namespace,
                                         {"nvidia.com/gpu": "1"}, "gpu-h100", tolerate_gpu=False))
    pod = _wait_unschedulable(kube_client, path)
    assert not pod["spec"].get("nodeName")
    message = _scheduled_condition(pod)["message"]
    # The two GPU nodes fail on their nvidia.com/gpu taint, the CPU node on the selector.
    assert "2 node(s) had untolerated taint(s)" in message, message


def test_gpu_capacity_is_enforced(kube_client, gpu_nodes, namespace):
    # 8 GPUs on the only gpu-h100 node: a 9-GPU pod cannot fit.
    path = _create_pod(kube_client, _pod("vllm-9gpu", namespace, {"nvidia.com/gpu": "9"}, "gpu-h100"))
    pod = _wait_unschedulable(kube_client, path)
    assert "Insufficient nvidia.com/gpu" in _scheduled_condition(pod)["message"]
