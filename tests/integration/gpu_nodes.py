"""kwok nodes standing in for a stack's GPU pools: the labels ``node_labels()`` says a pool's
nodes carry, the taints its NodePool (or, for a static pool, ``pool.taint``) puts on them, and
the extended resources ``advertised()`` says they offer once the GPU Operator configured them."""

from __future__ import annotations

import contextlib

import kube
from components.gpu.placement import GPU_TAINT_KEY
from components.gpu.sharing import advertised, node_labels
from kube import wait_for

BASE_CAPACITY = {"cpu": "192", "memory": "2048Gi", "pods": "110", "ephemeral-storage": "2Ti"}


def pool_taints(synth, pool_name: str, pool) -> list[dict]:
    for np_ in synth.objects("NodePool", "karpenter.sh/v1"):
        if np_["spec"]["template"].get("metadata", {}).get("labels", {}).get("llm-platform.io/pool") == pool_name \
                or np_["metadata"]["name"] == pool_name:
            return list(np_["spec"]["template"]["spec"].get("taints", []))
    return [{"key": GPU_TAINT_KEY, "value": "true", "effect": "NoSchedule"}] if pool.taint else []


def pool_node(synth, pool_name: str, name: str) -> dict:
    pool = synth.config.gpu.pools[pool_name]
    resources = {**BASE_CAPACITY, **{k: str(v) for k, v in advertised(pool).items()}}
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {kube.KWOK_NODE_ANNOTATION[0]: kube.KWOK_NODE_ANNOTATION[1]},
            "labels": {**node_labels(pool_name, pool), "kubernetes.io/hostname": name,
                       "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "type": "kwok"},
        },
        "spec": {"taints": pool_taints(synth, pool_name, pool)},
        "status": {"capacity": resources, "allocatable": resources},
    }


def node_ready(client: kube.KubeClient, name: str) -> bool:
    node = client.get(f"/api/v1/nodes/{name}")
    conds = {c["type"]: c["status"] for c in node.get("status", {}).get("conditions", [])}
    lifecycle = [t for t in node["spec"].get("taints", []) if t["key"].startswith("node.kubernetes.io/")]
    return conds.get("Ready") == "True" and not lifecycle


@contextlib.contextmanager
def nodes(client: kube.KubeClient, node_objs: list[dict], timeout: float = 60):
    """Create ``node_objs``, wait until kwok made each Ready, delete them afterwards."""
    try:
        for node in node_objs:
            client.create("/api/v1/nodes", node)
        for node in node_objs:
            name = node["metadata"]["name"]
            wait_for(lambda: node_ready(client, name), timeout, what=f"node {name} Ready without lifecycle taints")
        yield node_objs
    finally:
        for node in node_objs:
            with contextlib.suppress(kube.ApiError):
                client.delete(f"/api/v1/nodes/{node['metadata']['name']}")
