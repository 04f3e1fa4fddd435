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
        service="llama-405b", namespace=ns, image=vllm_image,
        vllm_args=opts.to_args(),            # --model, --port, --tensor-parallel-size, --pipeline-parallel-size ...
        nodes=nodes_for(tp, pp, pool.gpus_per_node), placement=placement_for(...),
        replicas=1, env=[...]),
        opts=pulumi.ResourceOptions(parent=self, depends_on=serving.lws_ready))
"""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass
from typing import Any, Literal, Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.common.images import ImageRef
from components.common.labels import standard_labels
from components.gpu.placement import PodPlacement
from components.common.pod_security import RUN_AS, container_security_context, pod_security_context

API_VERSION = "leaderworkerset.x-k8s.io/v1"
LWS_NAME_LABEL = "leaderworkerset.sigs.k8s.io/name"
ROLE_LABEL = "llm-platform.io/lws-role"
RAY_SCRIPT = "/vllm-workspace/examples/online_serving/multi-node-serving.sh"
MASTER_PORT = 29501


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


@dataclass(frozen=True)
class MultiNodeArgs:
    """One multi-node vLLM service."""

    service: str
    """Service name: LeaderWorkerSet and leader Service name."""
    namespace: pulumi.Input[str]
    """Namespace (pass the platform namespace Output to wait for it)."""
    image: ImageRef
    """vLLM image (with Ray for the ``ray`` backend)."""
    vllm_args: Sequence[str]
    """vLLM arguments for every node, including ``--tensor-parallel-size`` and ``--pipeline-parallel-size``."""
    nodes: int
    """Pods (= nodes) per replica: 1 leader + nodes-1 workers; see ``nodes_for``."""
    placement: PodPlacement
    """GPU resources, node selector, tolerations, DRA claims of ONE pod (one node's GPUs)."""
    replicas: int = 1
    """Groups (model replicas)."""
    backend: Literal["mp", "ray"] = "mp"
    """Launcher: vLLM multiprocessing across nodes, or Ray."""
    port: int = 8000
    """Port the leader serves the OpenAI API on (must equal ``--port`` in ``vllm_args``)."""
    env: Sequence[dict[str, Any]] = ()
    """Environment of the vLLM containers (EnvVar wire shape)."""
    labels: Mapping[str, str] | None = None
    """Extra pod labels (e.g. selectors of a PodMonitor or an InferencePool)."""
    cpu: str = "32"
    """CPU request and limit per pod."""
    memory: str = "256Gi"
    """Memory request and limit per pod."""
    shm_size: str = "32Gi"
    """Size of ``/dev/shm`` (NCCL buffers)."""
    volumes: Sequence[dict[str, Any]] = ()
    """Extra pod volumes (e.g. the model PVC)."""
    ephemeral_storage: str | None = None
    """``ephemeral-storage`` request and limit of each vLLM container (downloads, /tmp, adapter cache)."""
    volume_mounts: Sequence[dict[str, Any]] = ()
    """Extra mounts of the vLLM container."""
    init_containers: Sequence[dict[str, Any]] = ()
    """Init containers of every pod (e.g. a model downloader)."""
    leader_sidecars: Sequence[dict[str, Any]] = ()
    """Extra containers of the leader pod only (e.g. the adapter sync sidecar)."""
    service_account: str | None = None
    """ServiceAccount of the pods; default: the namespace's default."""
    image_pull_secrets: Sequence[str] = ()
    """Pull secrets."""
    run_as: int = RUN_AS
    """uid/gid of the containers (the vLLM image would otherwise run as root)."""

    def problems(self) -> list[str]:
        """Everything wrong with these args (empty when fine)."""
        out = []
        if self.nodes < 2:
            out.append(f"nodes={self.nodes}: a replica that fits one node runs as a Deployment, not a LeaderWorkerSet")
        if self.replicas < 1:
            out.append(f"replicas={self.replicas} must be >= 1")
        if _flag_int(self.vllm_args, "--port", 8000) != self.port:
            out.append(f"--port in vllm_args must equal port={self.port}")
        tp = _flag_int(self.vllm_args, "--tensor-parallel-size")
        pp = _flag_int(self.vllm_args, "--pipeline-parallel-size")
        gpus_per_pod = sum(int(v) for v in self.placement.resources.values()) or None
        if gpus_per_pod is not None and tp * pp != gpus_per_pod * self.nodes:
            out.append(f"tensor {tp} x pipeline {pp} = {tp * pp} GPUs, but {self.nodes} pods x {gpus_per_pod} GPUs "
                       f"= {gpus_per_pod * self.nodes}")
        for flag in ("--nnodes", "--node-rank", "--master-addr", "--headless", "--distributed-executor-backend"):
            if any(t == flag or t.startswith(flag + "=") for t in self.vllm_args):
                out.append(f"{flag} is set by the launcher; remove it from vllm_args")
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
    amounts = {"cpu": args.cpu, "memory": args.memory, **args.placement.resources}
    if args.ephemeral_storage is not None:
        amounts["ephemeral-storage"] = args.ephemeral_storage
    resources: dict[str, Any] = {"limits": dict(amounts), "requests": dict(amounts)}
    if args.placement.container_claims:
        resources["claims"] = [dict(c) for c in args.placement.container_claims]
    container: dict[str, Any] = {
        "name": "vllm",
        "image": args.image.ref,
        "command": command,
        "env": list(args.env),
        "resources": resources,
        "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}, *args.volume_mounts],
        "securityContext": container_security_context(args.run_as, read_only_root=True),
    }
    if role == "leader":
        container["ports"] = [{"containerPort": args.port, "name": "http", "protocol": "TCP"}]
        container["readinessProbe"] = {"httpGet": {"path": "/health", "port": args.port}, "periodSeconds": 10}
        container["startupProbe"] = {"httpGet": {"path": "/health", "port": args.port},
                                     "periodSeconds": 10, "failureThreshold": 360}
    spec: dict[str, Any] = {
        "containers": [container, *(args.leader_sidecars if role == "leader" else ())],
        "volumes": [{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": args.shm_size}}, *args.volumes],
        "nodeSelector": dict(args.placement.node_selector),
        "tolerations": [dict(t) for t in args.placement.tolerations],
        "securityContext": pod_security_context(args.run_as),
    }
    if args.init_containers:
        spec["initContainers"] = list(args.init_containers)
    if args.placement.resource_claims:
        spec["resourceClaims"] = [dict(c) for c in args.placement.resource_claims]
    if args.service_account:
        spec["serviceAccountName"] = args.service_account
    if args.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": s} for s in args.image_pull_secrets]
    labels = {**standard_labels("model-server", args.service), **(args.labels or {}), ROLE_LABEL: role}
    return {"metadata": {"labels": labels}, "spec": spec}


def leader_worker_set_spec(args: MultiNodeArgs) -> dict[str, Any]:
    """Spec of the LeaderWorkerSet (pure; validated by tests against the upstream CRD)."""
    problems = args.problems()
    if problems:
        raise ValueError(f"multi-node service {args.service!r}: " + "; ".join(problems))
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
    """A LeaderWorkerSet of vLLM groups and a Service in front of the leaders."""

    service_name: str
    """Name of the Service selecting the leader pods (the OpenAI endpoint)."""
    pod_labels: dict[str, str]
    """Labels every pod of the service carries (for PodMonitors)."""

    def __init__(self, name: str, args: MultiNodeArgs, opts: pulumi.ResourceOptions | None = None):
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
