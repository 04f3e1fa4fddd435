"""Karpenter core (sigs.k8s.io/karpenter v1.14.1) with its kwok cloud provider provisioning nodes for
a stack's GPU pools, on the loopback control plane.

The NodePools are prod's, unchanged except ``nodeClassRef``, which names a ``KWOKNodeClass``
instead of the ``EC2NodeClass`` (requirements, labels, taints, limits, disruption: ours). The
kwok provider offers instance types shaped like the AWS ones our requirements select on
(``karpenter.k8s.aws/instance-family``, ``instance-gpu-name``, ``instance-gpu-count`` as
offering requirements), plus a decoy family the requirements must not pick. The nodes it
creates are run by kwok; the real scheduler binds the pods.

Shown end to end: the two-stage scaling. A GPU workload is scaled out first (as KEDA scales a
predictor on queue depth); its pods go Pending; Karpenter provisions p5 nodes of the pool for
them, and stops at the pool's ``nvidia.com/gpu`` limit, leaving the excess pods Pending.
Cannot exercise: the AWS part (EC2NodeClass AMI/subnet/security-group resolution, capacity
reservations and the ``reserved`` capacity type, spot interruption via SQS/EventBridge, IAM),
which needs the AWS provider and an AWS account.
"""

from __future__ import annotations

import contextlib
import copy
import json

import pytest

import controllers
import kube
from infra.synth import synthesize
from kube import wait_for
from tests.support import helm_render

pytestmark = [pytest.mark.timeout(900), pytest.mark.gotools("helm", "karpenter")]

STACK = "prod"
POOL = "h100-full"
NAMESPACE = "it-karpenter"
NODE_CLASS = {"apiVersion": "karpenter.kwok.sh/v1alpha1", "kind": "KWOKNodeClass", "metadata": {"name": "default"}}


def _instance_type(name: str, family: str, gpu_name: str, gpus: int, cpu: int, memory_gib: int, price: float) -> dict:
    aws = {"karpenter.k8s.aws/instance-family": family, "karpenter.k8s.aws/instance-gpu-name": gpu_name,
           "karpenter.k8s.aws/instance-gpu-count": str(gpus)}
    return {
        "name": name, "architecture": "amd64", "operatingSystems": ["linux"],
        "resources": {"cpu": str(cpu), "memory": f"{memory_gib}Gi", "pods": "110", "nvidia.com/gpu": str(gpus),
                      "ephemeral-storage": "2Ti"},
        "offerings": [{
            "Price": price, "Available": True,
            "Requirements": [{"key": "karpenter.sh/capacity-type", "operator": "In", "values": [ct]},
                             {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["test-zone-a"]}]
                            + [{"key": k, "operator": "In", "values": [v]} for k, v in aws.items()],
        } for ct in ("on-demand", "spot")],
    }


INSTANCE_TYPES = [
    _instance_type("p5.48xlarge", "p5", "h100", 8, 192, 2048, 98.32),
    # Cheaper and GPU-bearing: the pool's family / GPU requirements must keep Karpenter off it.
    _instance_type("g6e.48xlarge", "g6e", "l40s", 8, 192, 1536, 30.13),
]


def _kwok_node_pools(synth) -> list[dict]:
    out = []
    for np_ in synth.objects("NodePool", "karpenter.sh/v1"):
        np_ = kube.wire_ints(copy.deepcopy(np_))
        np_["spec"]["template"]["spec"]["nodeClassRef"] = {"group": "karpenter.kwok.sh", "kind": "KWOKNodeClass",
                                                           "name": "default"}
        out.append(np_)
    return out


@pytest.fixture(scope="module")
def prod():
    return synthesize(STACK)


@pytest.fixture(scope="module")
def karpenter(kube_cluster, kube_client, karpenter_bin, helm_bin, api_versions, prod):
    [crd_release] = [r for r in helm_render.releases(prod) if r.chart_dir.parent.name == "karpenter-crd"]
    rendered = helm_render.render(crd_release, api_versions=api_versions,
                                  kube_version=helm_render.kube_version(prod.config.cluster.kubernetes_version))
    crds = kube_cluster.workdir / "karpenter-crds.json"
    crds.write_text("\n---\n".join(json.dumps(o) for o in rendered if o["kind"] == "CustomResourceDefinition"))
    kube_cluster.apply_crds([crds, karpenter_bin.parent / "karpenter.kwok.sh_kwoknodeclasses.yaml"])
    kube_client.apply(kube_client.object_path(NODE_CLASS), NODE_CLASS)

    types = kube_cluster.workdir / "kwok-instance-types.json"
    types.write_text(json.dumps(INSTANCE_TYPES))
    health = kube.free_port()
    ctl = controllers.start(kube_cluster, "karpenter", karpenter_bin, [], env={
        "DISABLE_LEADER_ELECTION": "true", "HEALTH_PROBE_PORT": str(health), "METRICS_PORT": str(kube.free_port()),
        "INSTANCE_TYPES_FILE_PATH": str(types), "LOG_LEVEL": "info",
        # As prod's karpenter release sets settings.featureGates.nodeOverlay.
        "FEATURE_GATES": "NodeOverlay=true",
        "SYSTEM_NAMESPACE": "kube-system",
    }, ready_url=f"http://127.0.0.1:{health}/readyz")
    pools = _kwok_node_pools(prod)
    try:
        for np_ in pools:
            kube_client.apply(kube_client.object_path(np_), np_)
        yield ctl, pools
    finally:
        for np_ in pools:
            with contextlib.suppress(kube.ApiError):
                kube_client.delete(kube_client.object_path(np_))
        # NodeClaims carry Karpenter's termination finalizer: wait for Karpenter to remove them.
        with contextlib.suppress(TimeoutError):
            wait_for(lambda: not kube_client.get("/apis/karpenter.sh/v1/nodeclaims")["items"], 120, interval=1,
                     what="NodeClaims removed")
        ctl.stop()


def _deployment(replicas: int, gpus: int) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "gpu-load", "namespace": NAMESPACE},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "gpu-load"}},
                     "template": {"metadata": {"labels": {"app": "gpu-load"}}, "spec": {
                         "nodeSelector": {"llm-platform.io/pool": POOL},
                         "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                         "terminationGracePeriodSeconds": 0, "automountServiceAccountToken": False,
                         "containers": [{"name": "vllm", "image": "registry.invalid/vllm:test",
                                         "resources": {"limits": {"nvidia.com/gpu": str(gpus)},
                                                       "requests": {"cpu": "8", "memory": "64Gi",
                                                                    "nvidia.com/gpu": str(gpus)}}}]}}}}


def _pods(client) -> list[dict]:
    return client.get(f"/api/v1/namespaces/{NAMESPACE}/pods", params={"labelSelector": "app=gpu-load"})["items"]


def _pool_nodes(client) -> list[dict]:
    return client.get("/api/v1/nodes", params={"labelSelector": f"karpenter.sh/nodepool={POOL}"})["items"]


def test_pending_gpu_pods_get_pool_nodes_up_to_the_gpu_limit(kube_client, karpenter, prod):
    _, pools = karpenter
    [pool] = [p for p in pools if p["metadata"]["name"] == POOL]
    limit = int(pool["spec"]["limits"]["nvidia.com/gpu"])
    per_node = prod.config.gpu.pools[POOL].gpus_per_node
    max_nodes = limit // per_node
    kube_client.ensure_namespace(NAMESPACE)
    dep = _deployment(replicas=2, gpus=per_node)
    path = kube_client.object_path(dep)
    try:
        # Stage one: two replicas, two nodes.
        kube_client.apply(path, dep)
        wait_for(lambda: sum(p.get("status", {}).get("phase") == "Running" for p in _pods(kube_client)) == 2, 180,
                 interval=1, what="2 GPU pods Running on provisioned nodes")
        assert len(_pool_nodes(kube_client)) == 2
        # Stage two: the workload scales past the pool's limit (KEDA would do this on queue depth).
        dep["spec"]["replicas"] = max_nodes + 2
        kube_client.apply(path, dep)
        wait_for(lambda: sum(p.get("status", {}).get("phase") == "Running" for p in _pods(kube_client)) == max_nodes,
                 240, interval=1, what=f"{max_nodes} GPU pods Running")
        nodes = _pool_nodes(kube_client)
        assert len(nodes) == max_nodes, [n["metadata"]["name"] for n in nodes]
        for node in nodes:
            labels = node["metadata"]["labels"]
            assert labels["node.kubernetes.io/instance-type"] == "p5.48xlarge"
            assert labels["llm-platform.io/pool"] == POOL
            assert labels["karpenter.sh/capacity-type"] == "on-demand"   # reserved needs AWS capacity reservations
            assert {"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"} in node["spec"]["taints"]

        # The limit holds: the excess replicas stay Pending, no further NodeClaim appears.
        def pool_at_limit():
            np_ = kube_client.get(kube_client.object_path(pool))
            return np_ if np_.get("status", {}).get("resources", {}).get("nvidia.com/gpu") == str(limit) else None

        wait_for(pool_at_limit, 60, what=f"NodePool {POOL} status at {limit} GPUs")
        with pytest.raises(TimeoutError):
            wait_for(lambda: len(kube_client.get("/apis/karpenter.sh/v1/nodeclaims")["items"]) > max_nodes, 20,
                     interval=1, what="a NodeClaim beyond the limit")
        pending = [p for p in _pods(kube_client) if p.get("status", {}).get("phase") == "Pending"]
        assert len(pending) == 2
    finally:
        with contextlib.suppress(kube.ApiError):
            kube_client.delete(path)
