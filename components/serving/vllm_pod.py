"""``VllmServerPod``: everything a vLLM model-server pod carries, as one typed value that every
frontend renders -- the KServe ServingRuntime + InferenceService (``components.models.
vllm_service``), the llm-d model service (``components.serving.llmd``) and the LeaderWorkerSet
(``components.serving.multinode``).

The value holds the engine arguments, the environment, the base model's mount, the GPU
placement, the security context, the probes, and the containers, ports and volumes that sit
beside vLLM. A frontend only decides *where* those pieces go in its own object (chart values,
``ServingRuntime.containers``, ``leaderTemplate``...), never *what* they are, so adding a
container, a port or a volume to every model server is a change to the value's builder
(``components.models.lora_server.lora_server_pod``), made once.

Two kinds of companion containers, because a multi-node replica splits the roles:

* ``node_sidecars`` run in every pod that holds weights (the adapter sync: each node's workers
  read the adapter files themselves). On a LeaderWorkerSet they run in leader and workers, as
  native sidecars (init containers with ``restartPolicy: Always``) so they start first.
* ``api_sidecars`` run only in pods that serve the API (on a LeaderWorkerSet, the leader).

Everywhere else both kinds are plain containers of every model-server pod.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from typing import Any, Sequence

from components.common.images import ImageRef
from components.common.pod_security import RUN_AS, RunAs, container_security_context, pod_security_context
from components.gpu.placement import PodPlacement

MODEL_DIR = "/mnt/models"
"""Where every model server finds its base model (vLLM ``--model``)."""
SHM_VOLUME = "dshm"
TMP_VOLUME = "tmp"
MODEL_VOLUME = "model-storage"
VLLM_DEFAULT_PORT = 8000
TMP_GIB = 20
"""Default size of the writable ``/tmp`` (HOME, compile and kernel caches: vLLM's root file system is read-only)."""


@dataclass(frozen=True)
class ModelMount:
    """How the base model reaches ``MODEL_DIR``.

    ``pvc://<claim>/<path>``: the claim is mounted read-only with the path as ``subPath``.
    ``s3://<bucket>/<path>``: the storage initializer downloads it into an emptyDir first.
    KServe does this itself from ``uri`` (``storageUri``); the other frontends render
    ``volume``/``mount``/``init_containers``."""

    uri: str
    """``pvc://<claim>/<path>`` or ``s3://<bucket>/<path>``."""
    downloader: ImageRef | None = None
    """Storage initializer image (needed for ``s3://`` outside KServe)."""
    download_env: tuple[dict[str, Any], ...] = ()
    """Environment of the downloader (S3 endpoint, credentials from a Secret)."""
    cache_size: str = "200Gi"
    """emptyDir size limit for a downloaded model."""

    @property
    def scheme(self) -> str:
        return self.uri.partition("://")[0]

    def problems(self) -> list[str]:
        if self.scheme not in ("pvc", "s3"):
            return [f"model uri {self.uri!r} must be pvc://<claim>/<path> or s3://<bucket>/<path>"]
        if self.scheme == "s3" and self.downloader is None:
            return ["an s3:// model needs a storage initializer image (the downloader)"]
        return []

    def volume(self) -> dict[str, Any]:
        if self.scheme == "pvc":
            claim = self.uri.partition("://")[2].partition("/")[0]
            return {"name": MODEL_VOLUME, "persistentVolumeClaim": {"claimName": claim, "readOnly": True}}
        return {"name": MODEL_VOLUME, "emptyDir": {"sizeLimit": self.cache_size}}

    def mount(self) -> dict[str, Any]:
        mount = {"name": MODEL_VOLUME, "mountPath": MODEL_DIR, "readOnly": True}
        sub_path = self.uri.partition("://")[2].partition("/")[2].strip("/")
        if self.scheme == "pvc" and sub_path:
            mount["subPath"] = sub_path
        return mount

    def init_containers(self, run_as: RunAs) -> list[dict[str, Any]]:
        if self.scheme != "s3":
            return []
        assert self.downloader is not None, "checked by problems()"
        return [{
            "name": "storage-initializer",
            "image": self.downloader.ref,
            "args": [self.uri, MODEL_DIR],
            "env": list(self.download_env),
            "volumeMounts": [{"name": MODEL_VOLUME, "mountPath": MODEL_DIR}],
            "resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "4Gi"}},
            "securityContext": container_security_context(run_as),
        }]


@dataclass(frozen=True)
class VllmServerPod:
    """One vLLM model-server pod, whichever frontend runs it (see the module docstring)."""

    image: ImageRef
    """vLLM image."""
    args: tuple[str, ...]
    """Complete engine arguments (``--model MODEL_DIR``, ``--port port``, served name...)."""
    env: tuple[dict[str, Any], ...]
    """Environment of the vLLM container (Kubernetes EnvVar wire shape)."""
    port: int
    """Port the pod serves the OpenAI API and ``/health`` on, the one the frontend routes to and
    probes hit: vLLM's own (``--port``), or the gate's when ``engine_port`` is set."""
    model: ModelMount
    """The base model."""
    placement: PodPlacement
    """GPU resources, node selector, tolerations and DRA claims of one pod."""
    cpu: str
    """CPU request and limit of the vLLM container."""
    memory: str
    """Memory request and limit of the vLLM container."""
    command: tuple[str, ...] = ("python3", "-m", "vllm.entrypoints.openai.api_server")
    """vLLM entrypoint (single-node frontends; the LeaderWorkerSet launcher builds its own)."""
    shm_size: str = "16Gi"
    """Size of ``/dev/shm`` (tensor-parallel workers and NCCL buffers)."""
    tmp_size: str = f"{TMP_GIB}Gi"
    """Size of the writable ``/tmp`` (HOME, HF and vLLM caches point there; the root file system is read-only)."""
    ephemeral_storage: str | None = None
    """``ephemeral-storage`` request and limit of the vLLM container: the node-local disk one pod may
    fill (/tmp, the adapter cache, an ``s3://`` download), so the scheduler only picks nodes with room
    and the kubelet evicts a runaway pod instead of letting it fill the node."""
    node_sidecars: tuple[dict[str, Any], ...] = ()
    """Containers of every pod holding weights (the adapter sync sidecar)."""
    api_sidecars: tuple[dict[str, Any], ...] = ()
    """Containers of every pod serving the API."""
    init_containers: tuple[dict[str, Any], ...] = ()
    """Init containers run before vLLM (after the model download), e.g. a static adapter fetch."""
    volumes: tuple[dict[str, Any], ...] = ()
    """Pod volumes besides shm, tmp and the model."""
    vllm_mounts: tuple[dict[str, Any], ...] = ()
    """vLLM container mounts besides shm, tmp and the model."""
    service_account: "pulumi.Input[str] | None" = None
    """ServiceAccount of the pods; None: the frontend's default."""
    run_as: RunAs = RUN_AS
    """uid/gid of every container (the vLLM image would otherwise run as root); None where the
    cluster assigns one per namespace (OpenShift ``restricted-v2``). The pod applies it to vLLM,
    the storage initializer and every companion and init container (``with_identity``), so a
    container builder never decides it."""
    engine_port: int | None = None
    """Port vLLM listens on, on 127.0.0.1 only, when the tenant gate (an API sidecar) owns
    ``port`` and forwards to it; None: vLLM itself serves ``port`` on every address."""

    @property
    def vllm_port(self) -> int:
        """The port vLLM itself listens on (what ``--port`` must say)."""
        return self.engine_port if self.engine_port is not None else self.port

    def problems(self) -> list[str]:
        """Everything wrong with this pod (empty when fine)."""
        out = self.model.problems()
        ports = [a.split("=", 1)[1] for a in self.args if a.startswith("--port=")]
        ports += [self.args[i + 1] for i, a in enumerate(self.args[:-1]) if a == "--port"]
        if (ports or [str(VLLM_DEFAULT_PORT)]) != [str(self.vllm_port)]:
            out.append(f"--port must be given at most once and equal {self.vllm_port} "
                       f"(absent: vLLM's {VLLM_DEFAULT_PORT}), got {ports or 'none'}")
        if self.engine_port is not None:
            hosts = [a.split("=", 1)[1] for a in self.args if a.startswith("--host=")]
            if hosts != ["127.0.0.1"]:
                out.append(f"behind the gate vLLM must listen on --host=127.0.0.1 only, got {hosts or 'every address'}")
            if self.engine_port == self.port:
                out.append(f"engine_port {self.engine_port} equals port: the gate and vLLM cannot share it")
        names = [c["name"] for c in self.companions(api=True)]
        if len(set(names)) != len(names):
            out.append(f"companion container names repeat: {names}")
        return out

    # ------------------------------------------------------------- pieces the frontends place

    def with_identity(self, container: dict[str, Any]) -> dict[str, Any]:
        """``container`` with this pod's security context (its ``run_as``; a read-only root
        filesystem kept where the container asked for one)."""
        read_only = bool(container.get("securityContext", {}).get("readOnlyRootFilesystem"))
        return container | {"securityContext": container_security_context(self.run_as, read_only_root=read_only)}

    def companions(self, api: bool) -> list[dict[str, Any]]:
        """Containers beside vLLM in a pod (``api``: the pod serves the API)."""
        return [self.with_identity(c) for c in (*self.node_sidecars, *(self.api_sidecars if api else ()))]

    def resources(self) -> dict[str, Any]:
        amounts = {"cpu": self.cpu, "memory": self.memory, **self.placement.resources}
        if self.ephemeral_storage is not None:
            amounts["ephemeral-storage"] = self.ephemeral_storage
        res: dict[str, Any] = {"requests": dict(amounts), "limits": dict(amounts)}
        if self.placement.container_claims:
            res["claims"] = [dict(c) for c in self.placement.container_claims]
        return res

    def probes(self) -> dict[str, Any]:
        """vLLM's probes, on ``port`` (through the gate, which passes ``/health`` without a key, when
        there is one). ``/health`` stays open when ``VLLM_API_KEY`` is set (vLLM guards /v1 only)."""
        probe = {"httpGet": {"path": "/health", "port": self.port}}
        return {
            "startupProbe": probe | {"periodSeconds": 10, "failureThreshold": 180},
            "readinessProbe": probe | {"periodSeconds": 10, "failureThreshold": 3},
            "livenessProbe": probe | {"periodSeconds": 20, "failureThreshold": 6},
        }

    def vllm_mount_list(self, with_model: bool = True) -> list[dict[str, Any]]:
        own = [{"name": SHM_VOLUME, "mountPath": "/dev/shm"}, {"name": TMP_VOLUME, "mountPath": "/tmp"}]
        return [*own, *([self.model.mount()] if with_model else []), *self.vllm_mounts]

    def vllm_container(self, name: str, port_name: str, with_model: bool = True,
                       command: Sequence[str] | None = None, serves_api: bool = True) -> dict[str, Any]:
        """The vLLM container (``with_model=False``: the frontend mounts the model itself)."""
        container: dict[str, Any] = {
            "name": name,
            "image": self.image.ref,
            "command": list(self.command if command is None else command),
        }
        if command is None:
            container["args"] = list(self.args)
        container |= {
            "env": list(self.env),
            "resources": self.resources(),
            # Read-only root: vLLM writes only to /tmp, /dev/shm and its mounts.
            "securityContext": container_security_context(self.run_as, read_only_root=True),
            "volumeMounts": self.vllm_mount_list(with_model),
        }
        if serves_api:
            container["ports"] = [{"name": port_name, "containerPort": self.port, "protocol": "TCP"}]
            container |= self.probes()
        return container

    def pod_volumes(self, with_model: bool = True) -> list[dict[str, Any]]:
        own = [{"name": SHM_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": self.shm_size}},
               {"name": TMP_VOLUME, "emptyDir": {"sizeLimit": self.tmp_size}}]
        return [*own, *([self.model.volume()] if with_model else []), *self.volumes]

    def pod_init_containers(self, with_model: bool = True) -> list[dict[str, Any]]:
        return [*(self.model.init_containers(self.run_as) if with_model else []),
                *(self.with_identity(c) for c in self.init_containers)]

    def pod_security_context(self, knative: bool = False) -> dict[str, Any]:
        return pod_security_context(self.run_as, knative=knative)

    def placement_fields(self) -> dict[str, Any]:
        """nodeSelector, tolerations and resourceClaims in PodSpec shape (empty ones left out)."""
        out: dict[str, Any] = {"nodeSelector": dict(self.placement.node_selector)}
        if self.placement.tolerations:
            out["tolerations"] = [dict(t) for t in self.placement.tolerations]
        if self.placement.resource_claims:
            out["resourceClaims"] = [dict(c) for c in self.placement.resource_claims]
        return out
