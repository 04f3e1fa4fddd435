"""vLLM across several nodes on a LeaderWorkerSet: tensor parallel inside a node, pipeline
parallel across nodes, one LWS group (1 leader + size-1 workers) per replica.

Use it when a replica needs more GPUs than one node has: ``nodes_for(tp, pp, gpus_per_node)``
says how many nodes a replica spans (1 means "not multi-node, use a normal Deployment").

Two launch backends:

* ``mp`` (default): vLLM's own multiprocessing executor across nodes (``--nnodes``,
  ``--node-rank``, ``--master-addr``; workers run ``--headless``). No Ray in the image.
* ``ray``: the LeaderWorkerSet project's documented recipe: the leader starts a Ray head,
  workers join it (``multi-node-serving.sh`` shipped in the vLLM image), then the leader runs
  ``vllm serve --distributed-executor-backend ray``.

LeaderWorkerSet injects ``LWS_LEADER_ADDRESS``, ``LWS_GROUP_SIZE`` and ``LWS_WORKER_INDEX`` into
every container; the arguments reference them with Kubernetes' ``$(VAR)`` expansion.

Calling it (models layer)::

    MultiNodeVllm(f"{name}-multinode", MultiNodeArgs(
        service="llama-405b", namespace=ns,
        server=lora_server_pod(..., port=LEADER_PORT),   # a VllmServerPod; placement: one node's GPUs
        nodes=nodes_for(tp, pp, pool.gpus_per_node), replicas=1),
        opts=pulumi.ResourceOptions(parent=self, depends_on=serving.lws_ready))
"""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass
from typing import Any, Literal, Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.common.input_errors import refuse_inputs
from components.common.labels import standard_labels
from components.gpu.pool_ref import GpuPoolRef
from components.gpu.requests import placement_rules
from components.serving.vllm_pod import VllmServerPod

API_VERSION = "leaderworkerset.x-k8s.io/v1"
LWS_NAME_LABEL = "leaderworkerset.sigs.k8s.io/name"
ROLE_LABEL = "llm-platform.io/lws-role"
RAY_SCRIPT = "/vllm-workspace/examples/online_serving/multi-node-serving.sh"
MASTER_PORT = 29501
LEADER_PORT = 8000
"""Port the leader serves the OpenAI API on (vLLM's default; the leader Service targets it)."""


def nodes_for(tensor_parallel: int, pipeline_parallel: int, gpus_per_node: int) -> int:
    """Nodes one replica spans, or ValueError when the parallelism cannot be laid out.

    Tensor parallelism must stay inside a node (it all-reduces every layer); pipeline stages
    may span nodes. 1 means a single-node replica.
    """
    if min(tensor_parallel, pipeline_parallel, gpus_per_node) < 1:
        raise ValueError("tensor_parallel, pipeline_parallel and gpus_per_node must be >= 1")
    total = tensor_parallel * pipeline_parallel
    if total <= gpus_per_node:
        return 1
    if tensor_parallel > gpus_per_node:
        raise ValueError(f"tensor parallel {tensor_parallel} exceeds the {gpus_per_node} GPUs of one node; "
                         "keep tensor parallelism inside a node and span nodes with pipeline parallelism")
    if total % gpus_per_node:
        raise ValueError(f"tensor x pipeline = {total} GPUs does not fill whole {gpus_per_node}-GPU nodes")
    return math.ceil(total / gpus_per_node)


def _flag_int(args: Sequence[str], flag: str, default: int = 1) -> int:
    for i, token in enumerate(args):
        if token.startswith(flag + "="):
            return int(token.split("=", 1)[1])
        if token == flag and i + 1 < len(args):
            return int(args[i + 1])
    return default


def layout_problem(tensor_parallel: int, pipeline_parallel: int, pool_name: str, gpus_per_node: int) -> str | None:
    """Why tensor x pipeline parallelism cannot be laid out on the pool's nodes, or None.

    One rule, two callers: the stack applies it to ``serving.services.<name>.engine`` and
    :class:`MultiNodeVllm` / ``LlmdModelService`` to their server's arguments."""
    try:
        nodes_for(tensor_parallel, pipeline_parallel, gpus_per_node)
    except ValueError as exc:
        return (f"tensor {tensor_parallel} x pipeline {pipeline_parallel} on pool {pool_name!r} "
                f"({gpus_per_node} GPUs per node): {exc}")
    return None


def replicas_problem(nodes: int, replicas: int) -> str | None:
    """A group spanning nodes cannot scale to zero (LeaderWorkerSet keeps whole groups), or None."""
    if replicas < 1:
        return f"a multi-node service ({nodes} nodes) cannot scale to zero; use at least 1 replica (got {replicas})"
    return None


@dataclass(frozen=True)
class MultiNodeArgs:
    """One multi-node vLLM service."""

    service: str
    """Service name: LeaderWorkerSet and leader Service name. Required."""
    namespace: pulumi.Input[str]
    """Namespace (pass the platform namespace Output to wait for it). Required."""
    server: VllmServerPod
    """The model-server pod of every node (engine arguments including ``--port``, ``--tensor-parallel-size``
    and ``--pipeline-parallel-size``; the image has Ray for the ``ray`` backend); see ``vllm_pod``. Its
    placement is ONE pod's (one node's GPUs). Required."""
    nodes: int
    """Pods (= nodes) per replica: 1 leader + nodes-1 workers; see ``nodes_for``. Required."""
    replicas: int = 1
    """Groups (model replicas), at least 1: a multi-node service cannot scale to zero. Default: 1."""
    backend: Literal["mp", "ray"] = "mp"
    """Launcher: vLLM multiprocessing across nodes (``mp``) or Ray (``ray``). Default: mp."""
    labels: Mapping[str, str] | None = None
    """Extra pod labels (e.g. selectors of a PodMonitor or an InferencePool). Default: none."""
    image_pull_secrets: Sequence[str] = ()
    """Pull secrets of every pod of the group. Default: none."""
    pool: GpuPoolRef | None = None
    """The GPU pool the group runs on: the parallelism of ``server.args`` must lay out on its
    nodes, ``nodes`` must be the node count it lays out to, and ``server.placement`` must ask for
    what the pool offers, the way ``placement_for`` places a pod on it. Default: None (only the
    group's own arithmetic is checked)."""

    @property
    def vllm_args(self) -> tuple[str, ...]:
        return self.server.args

    @property
    def port(self) -> int:
        return self.server.port

    def problems(self) -> list[tuple[str, str]]:
        """Everything wrong with these args, as ``(path, reason)`` relative to them (empty when fine)."""
        out = [("server", p) for p in self.server.problems()]
        tp = _flag_int(self.vllm_args, "--tensor-parallel-size")
        pp = _flag_int(self.vllm_args, "--pipeline-parallel-size")
        if self.nodes < 2:
            out.append(("nodes", f"nodes={self.nodes}: a replica that fits one node runs as a Deployment, not a LeaderWorkerSet"))
        if (problem := replicas_problem(self.nodes, self.replicas)) is not None:
            out.append(("replicas", problem))
        if self.pool is not None:
            layout = layout_problem(tp, pp, self.pool.name, self.pool.gpus_per_node)
            if layout is not None:
                out.append(("server.args", layout))
            elif (spans := nodes_for(tp, pp, self.pool.gpus_per_node)) != self.nodes:
                out.append(("nodes", f"tensor {tp} x pipeline {pp} on pool {self.pool.name!r} "
                                     f"({self.pool.gpus_per_node} GPUs per node) spans {spans} nodes, not {self.nodes}"))
            out += placement_rules(self.server.placement, self.pool, tensor_parallel=tp, path="server.placement",
                                   tensor_path="server.args")
        gpus_per_pod = sum(int(v) for v in self.server.placement.resources.values()) or None
        if gpus_per_pod is not None and tp * pp != gpus_per_pod * self.nodes:
            out.append(("server.placement", f"tensor {tp} x pipeline {pp} = {tp * pp} GPUs, but {self.nodes} pods x "
                                            f"{gpus_per_pod} GPUs = {gpus_per_pod * self.nodes}"))
        for flag in ("--nnodes", "--node-rank", "--master-addr", "--headless", "--distributed-executor-backend"):
            if any(t == flag or t.startswith(flag + "=") for t in self.vllm_args):
                out.append(("server.args", f"{flag} is set by the launcher; remove it from vllm_args"))
        return out


def launch_commands(args: MultiNodeArgs) -> tuple[list[str], list[str]]:
    """(leader command, worker command) for the chosen backend."""
    serve = ["vllm", "serve", *args.vllm_args]
    if args.backend == "mp":
        common = ["--distributed-executor-backend", "mp", "--nnodes", str(args.nodes),
                  "--master-addr", "$(LWS_LEADER_ADDRESS)", "--master-port", str(MASTER_PORT)]
        return [*serve, *common, "--node-rank", "0"], [*serve, *common, "--node-rank", "$(LWS_WORKER_INDEX)", "--headless"]
    # Ray: a shell is needed to start Ray before vLLM; $(VAR) is still expanded by Kubernetes.
    serve_line = " ".join(shlex.quote(a) for a in [*serve, "--distributed-executor-backend", "ray"])
    leader = ["/bin/bash", "-c", f"bash {RAY_SCRIPT} leader --ray_cluster_size=$(LWS_GROUP_SIZE); exec {serve_line}"]
    worker = ["/bin/bash", "-c", f"bash {RAY_SCRIPT} worker --ray_address=$(LWS_LEADER_ADDRESS)"]
    return leader, worker


def _pod_template(args: MultiNodeArgs, role: str, command: list[str]) -> dict[str, Any]:
    pod = args.server
    leader = role == "leader"
    container = pod.vllm_container("vllm", "http", command=command, serves_api=leader)
    # Every companion starts before vLLM and keeps running: native sidecars (init containers
    # with restartPolicy Always), after the model download and one-shot init containers.
    sidecars = [c | {"restartPolicy": "Always"} for c in pod.companions(api=leader)]
    spec: dict[str, Any] = {
        "containers": [container],
        "volumes": pod.pod_volumes(),
        "tolerations": [dict(t) for t in pod.placement.tolerations],
        "securityContext": pod.pod_security_context(),
        **pod.placement_fields(),
    }
    init = [*pod.pod_init_containers(), *sidecars]
    if init:
        spec["initContainers"] = init
    if pod.service_account:
        spec["serviceAccountName"] = pod.service_account
    if args.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": s} for s in args.image_pull_secrets]
    labels = {**standard_labels("model-server", args.service), **(args.labels or {}), ROLE_LABEL: role}
    return {"metadata": {"labels": labels}, "spec": spec}


def leader_worker_set_spec(args: MultiNodeArgs) -> dict[str, Any]:
    """Spec of the LeaderWorkerSet (pure; validated by tests against the upstream CRD)."""
    problems = args.problems()
    if problems:
        raise ValueError(f"multi-node service {args.service!r}: " + "; ".join(f"{p}: {r}" for p, r in problems))
    leader, worker = launch_commands(args)
    return {
        "replicas": args.replicas,
        "startupPolicy": "LeaderCreated",
        "rolloutStrategy": {"type": "RollingUpdate", "rollingUpdateConfiguration": {"maxUnavailable": 1, "maxSurge": 0}},
        "leaderWorkerTemplate": {
            "size": args.nodes,
            # A dead worker breaks the whole pipeline: restart the group together.
            "restartPolicy": "RecreateGroupOnPodRestart",
            "leaderTemplate": _pod_template(args, "leader", leader),
            "workerTemplate": _pod_template(args, "worker", worker),
        },
    }


class MultiNodeVllm(pulumi.ComponentResource):
    """A LeaderWorkerSet of vLLM groups and a Service in front of the leaders.

    Raises ``pulumi.InputPropertiesError`` listing every problem of its args
    (:meth:`MultiNodeArgs.problems`) before it registers anything."""

    service_name: str
    """Name of the Service selecting the leader pods (the OpenAI endpoint)."""
    pod_labels: dict[str, str]
    """Labels every pod of the service carries (for PodMonitors)."""

    def __init__(self, name: str, args: MultiNodeArgs, opts: pulumi.ResourceOptions | None = None):
        refuse_inputs("MultiNodeVllm", name, args.problems())
        super().__init__("llmplatform:serving:MultiNodeVllm", name, None, opts)
        spec = leader_worker_set_spec(args)
        labels = standard_labels("model-server", args.service)
        lws = k8s.apiextensions.CustomResource(
            f"{name}-lws",
            api_version=API_VERSION,
            kind="LeaderWorkerSet",
            metadata={"name": args.service, "namespace": args.namespace, "labels": labels},
            spec=spec,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.service_name = args.service
        self.pod_labels = {LWS_NAME_LABEL: args.service}
        k8s.core.v1.Service(
            f"{name}-leader",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=args.service, namespace=args.namespace, labels=labels),
            spec=k8s.core.v1.ServiceSpecArgs(
                selector={LWS_NAME_LABEL: args.service, ROLE_LABEL: "leader"},
                ports=[k8s.core.v1.ServicePortArgs(name="http", port=args.port, target_port="http", protocol="TCP")],
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[lws]),
        )
        self.register_outputs({"service_name": self.service_name})
