"""Multi-node vLLM: when a replica spans nodes, how the LeaderWorkerSet launches it, and that
the LeaderWorkerSet is what the upstream CRD accepts."""

from __future__ import annotations

import pytest

from components.common.images import ImageRef
from components.gpu.placement import PodPlacement
from components.serving.multinode import MultiNodeArgs, launch_commands, leader_worker_set_spec, nodes_for
from tests.support.schemas import crd_errors
from tests.support.server_pod import server_pod


@pytest.mark.parametrize("tp, pp, gpus, nodes", [(1, 1, 8, 1), (8, 1, 8, 1), (4, 2, 8, 1), (8, 2, 8, 2), (8, 4, 8, 4), (4, 4, 8, 2)])
def test_nodes_for(tp, pp, gpus, nodes):
    assert nodes_for(tp, pp, gpus) == nodes


@pytest.mark.parametrize("tp, pp, gpus, message", [(16, 1, 8, "inside a node"), (3, 3, 8, "whole 8-GPU nodes")])
def test_nodes_for_refuses_layouts_that_do_not_fit(tp, pp, gpus, message):
    with pytest.raises(ValueError, match=message):
        nodes_for(tp, pp, gpus)


def _args(**kw) -> MultiNodeArgs:
    pod = dict(vllm_args=["--model=/mnt/models", "--port=8000", "--tensor-parallel-size=8", "--pipeline-parallel-size=2"],
               placement=PodPlacement(resources={"nvidia.com/gpu": "8"}, node_selector={"llm-platform.io/pool": "h100"},
                                      tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]))
    pod.update({k: kw.pop(k) for k in ("vllm_args", "placement", "model_uri", "downloader", "node_sidecars", "api_sidecars")
                if k in kw})
    base = dict(service="llama-405b", namespace="llm", server=server_pod(port=8000, **pod), nodes=2)
    base.update(kw)
    return MultiNodeArgs(**base)


@pytest.mark.parametrize("backend", ["mp", "ray"])
def test_leader_worker_set_validates_against_the_crd(backend):
    obj = {"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet",
           "metadata": {"name": "llama-405b", "namespace": "llm"}, "spec": leader_worker_set_spec(_args(backend=backend))}
    assert crd_errors(obj) == []
    template = obj["spec"]["leaderWorkerTemplate"]
    assert template["size"] == 2
    for role in ("leaderTemplate", "workerTemplate"):
        pod = template[role]["spec"]
        assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "8"
        assert pod["nodeSelector"] == {"llm-platform.io/pool": "h100"}


def test_mp_backend_ranks_workers_from_lws_and_runs_them_headless():
    leader, worker = launch_commands(_args())
    assert leader[:2] == ["vllm", "serve"] and "--node-rank" in leader and leader[leader.index("--node-rank") + 1] == "0"
    assert worker[worker.index("--node-rank") + 1] == "$(LWS_WORKER_INDEX)" and "--headless" in worker
    for cmd in (leader, worker):
        assert cmd[cmd.index("--master-addr") + 1] == "$(LWS_LEADER_ADDRESS)"
        assert cmd[cmd.index("--nnodes") + 1] == "2"


@pytest.mark.parametrize("change, message", [
    (dict(nodes=1), "runs as a Deployment"),
    (dict(vllm_args=["--port=8000", "--tensor-parallel-size=8", "--pipeline-parallel-size=1"]), "= 8 GPUs, but 2 pods"),
    (dict(vllm_args=["--port=8000", "--tensor-parallel-size=8", "--pipeline-parallel-size=2", "--nnodes=2"]), "set by the launcher"),
])
def test_bad_multinode_args_are_refused(change, message):
    with pytest.raises(ValueError, match=message):
        leader_worker_set_spec(_args(**change))


def test_multinode_pods_run_as_a_fixed_non_root_user():
    spec = leader_worker_set_spec(_args())
    for role in ("leaderTemplate", "workerTemplate"):
        pod = spec["leaderWorkerTemplate"][role]["spec"]
        assert pod["securityContext"]["runAsUser"] == 1000 and pod["securityContext"]["fsGroup"] == 1000
        assert pod["containers"][0]["securityContext"]["runAsNonRoot"] is True
