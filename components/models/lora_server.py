"""The multi-LoRA model server as every frontend runs it: ``lora_server_pod`` builds the one
``VllmServerPod`` value (engine options, env, adapter sync sidecar, volumes, model mount,
placement, security context) that the KServe, llm-d and LeaderWorkerSet frontends render.
Anything every multi-LoRA pod needs is added here, once.

Also the per-service objects the pods reference (``AdapterRegistry``: the registry ConfigMap,
the sync script ConfigMap, the optional API key).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.common.images import ImageRef
from components.common.labels import standard_labels
from components.common.pod_security import RUN_AS, RunAs, container_security_context
from components.gpu.placement import PodPlacement
from components.models.spec import BaseModelSpec, LoraServiceSpec
from components.models.vllm_args import LoraModule, VllmEngineOptions
from components.gate.gate import GateSidecar
from components.serving.vllm_pod import MODEL_DIR, TMP_GIB, ModelMount, VllmServerPod

CACHE_DIR = "/mnt/lora-cache"
REGISTRY_DIR = "/etc/lora-registry"
REGISTRY_KEY = "registry.json"
SYNC_DIR = "/opt/lora-sync"
SYNC_SCRIPT = Path(__file__).resolve().parent / "lora_sync.py"
CACHE_MOUNT = {"name": "lora-cache", "mountPath": CACHE_DIR, "readOnly": True}
"""vLLM reads the adapter cache; only the sync sidecar writes it."""
MOUNT_PATHS = (MODEL_DIR, CACHE_DIR, REGISTRY_DIR, SYNC_DIR, "/dev/shm", "/tmp")
"""Directories the multi-LoRA pods mount volumes at (nothing else may be mounted over them)."""


def ephemeral_storage(spec: LoraServiceSpec, base: BaseModelSpec, cache_gib: int) -> str:
    """Node-local disk one replica may fill: /tmp, the adapter cache and, for ``s3://`` weights, the download."""
    from components.models.capacity import checkpoint_gib

    total = TMP_GIB + cache_gib
    if base.source.kind == "s3":
        total += checkpoint_gib(base.architecture, spec.engine.quantization,
                                "fp16" if spec.engine.dtype == "float16" else "bf16")
    return f"{total}Gi"


def engine_options(spec: LoraServiceSpec, served_name: str, port: int, lora_modules: tuple[LoraModule, ...] = (),
                   model: str = MODEL_DIR, host: str | None = None) -> VllmEngineOptions:
    """The typed vLLM options of a service (validated against the pinned argument spec)."""
    e = spec.engine
    return VllmEngineOptions(
        model=model,
        served_model_name=(served_name,),
        host=host,
        port=port,
        dtype=e.dtype,
        quantization=e.quantization,
        max_model_len=e.max_model_len,
        gpu_memory_utilization=e.gpu_memory_utilization,
        kv_cache_dtype=e.kv_cache_dtype,
        enable_prefix_caching=e.prefix_caching,
        tensor_parallel_size=e.tensor_parallel,
        pipeline_parallel_size=e.pipeline_parallel,
        structured_outputs_backend=e.structured_outputs_backend,
        enable_lora=True,
        max_loras=e.max_loras,
        max_lora_rank=e.max_lora_rank,
        max_cpu_loras=e.max_cpu_loras,
        lora_modules=lora_modules,
    )


def static_lora_modules(adapter_names: list[str]) -> tuple[LoraModule, ...]:
    """``--lora-modules`` entries of static mode: each adapter from the local cache."""
    return tuple(LoraModule(name=n, path=f"{CACHE_DIR}/{n}") for n in sorted(adapter_names))


def vllm_env(spec: LoraServiceSpec, api_key_secret: pulumi.Input[str] | None) -> list[dict[str, Any]]:
    """Environment of the vLLM container (offline, writable dirs under /tmp, runtime LoRA
    updating in dynamic mode). No plugin at all (``VLLM_PLUGINS`` empty): the sync sidecar
    loads every adapter explicitly from its per-version path; the filesystem resolver would
    resolve one path for every version (see ``lora_sync``)."""
    env: list[dict[str, Any]] = [
        {"name": "HOME", "value": "/tmp"},
        {"name": "HF_HOME", "value": "/tmp/hf_home"},
        {"name": "HF_HUB_OFFLINE", "value": "1"},
        {"name": "TRANSFORMERS_OFFLINE", "value": "1"},
        {"name": "VLLM_CONFIG_ROOT", "value": "/tmp/vllm-config"},
        {"name": "VLLM_CACHE_ROOT", "value": "/tmp/vllm-cache"},
        {"name": "VLLM_NO_USAGE_STATS", "value": "1"},
        {"name": "DO_NOT_TRACK", "value": "1"},
        {"name": "VLLM_WORKER_MULTIPROC_METHOD", "value": "spawn"},
    ]
    if spec.adapter_mode == "dynamic":
        env += [
            {"name": "VLLM_ALLOW_RUNTIME_LORA_UPDATING", "value": "True"},
            {"name": "VLLM_PLUGINS", "value": ""},
        ]
    if api_key_secret is not None:
        env.append({"name": "VLLM_API_KEY", "valueFrom": {"secretKeyRef": {"name": api_key_secret, "key": "VLLM_API_KEY"}}})
    return env


def store_env(store: "AdapterStoreRef") -> list[dict[str, Any]]:
    """S3 endpoint and reader credentials (from the KServe S3 Secret) for the sync script."""
    return [
        {"name": "S3_ENDPOINT", "value": store.endpoint},
        {"name": "S3_BUCKET", "value": store.bucket},
        {"name": "AWS_DEFAULT_REGION", "value": store.region},
        {"name": "S3_VERIFY_SSL", "value": "1" if store.verify_ssl else "0"},
        {"name": "AWS_ACCESS_KEY_ID", "valueFrom": {"secretKeyRef": {"name": store.s3_secret_name, "key": "AWS_ACCESS_KEY_ID"}}},
        {"name": "AWS_SECRET_ACCESS_KEY", "valueFrom": {"secretKeyRef": {"name": store.s3_secret_name, "key": "AWS_SECRET_ACCESS_KEY"}}},
    ]


STATUS_PORT = 9400
"""The sync sidecar's /ready and /metrics."""
STATUS_PORT_NAME = "lora-sync"


def sync_container(image: ImageRef, store: "AdapterStoreRef | None", interval_seconds: int, once: bool = False,
                   vllm_port: int | None = None, api_key_secret: pulumi.Input[str] | None = None,
                   registry_configmap: str | None = None) -> dict[str, Any]:
    """The adapter sync sidecar (``once``: the static mode's init container, one strict pass).

    ``vllm_port``: the pod's vLLM, which the sidecar loads and unloads adapters on (with the
    API key when ``api_key_secret`` is set). ``registry_configmap``: watched through the
    Kubernetes API (the mounted file is the fallback). ``interval_seconds``: how often the
    sidecar re-checks what vLLM really serves."""
    env = (store_env(store) if store is not None else []) + [
        {"name": "REGISTRY_FILE", "value": f"{REGISTRY_DIR}/{REGISTRY_KEY}"},
        {"name": "CACHE_DIR", "value": CACHE_DIR},
        {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
    ]
    if once:
        env.append({"name": "SYNC_ONCE", "value": "1"})
    else:
        env += [{"name": "RESYNC_SECONDS", "value": str(interval_seconds)},
                {"name": "STATUS_PORT", "value": str(STATUS_PORT)}]
        if registry_configmap is not None:
            env += [{"name": "REGISTRY_SOURCE", "value": "kube"},
                    {"name": "REGISTRY_CONFIGMAP", "value": registry_configmap},
                    {"name": "REGISTRY_KEY", "value": REGISTRY_KEY},
                    {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}]
    if vllm_port is not None and not once:
        env.append({"name": "VLLM_URL", "value": f"http://localhost:{vllm_port}"})
        if api_key_secret is not None:
            env.append({"name": "VLLM_API_KEY", "valueFrom": {"secretKeyRef": {"name": api_key_secret, "key": "VLLM_API_KEY"}}})
    limits = {"cpu": "1", "memory": "512Mi"} if once else {"cpu": "500m", "memory": "256Mi"}
    container: dict[str, Any] = {
        "name": "lora-fetch" if once else "lora-sync",
        "image": image.ref,
        "command": ["python3", f"{SYNC_DIR}/lora_sync.py"],
        "env": env,
        "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": limits},
        "securityContext": container_security_context(read_only_root=True),
        "volumeMounts": [
            {"name": "lora-cache", "mountPath": CACHE_DIR},
            {"name": "lora-registry", "mountPath": REGISTRY_DIR, "readOnly": True},
            {"name": "lora-sync", "mountPath": SYNC_DIR, "readOnly": True},
        ],
    }
    if not once:
        container["ports"] = [{"name": STATUS_PORT_NAME, "containerPort": STATUS_PORT, "protocol": "TCP"}]
        # The pod is Ready only when every registry entry is live in its vLLM at the pinned version.
        container["readinessProbe"] = {"httpGet": {"path": "/ready", "port": STATUS_PORT},
                                       "periodSeconds": 2, "failureThreshold": 1}
    return container


def adapter_volumes(registry_name: pulumi.Input[str], sync_name: pulumi.Input[str], cache_gib: int) -> list[dict[str, Any]]:
    """Pod volumes of the adapter cache, the registry and the sync script."""
    return [
        {"name": "lora-cache", "emptyDir": {"sizeLimit": f"{cache_gib}Gi"}},
        # A whole-ConfigMap volume (no subPath): the kubelet swaps its content in place when it changes.
        {"name": "lora-registry", "configMap": {"name": registry_name}},
        {"name": "lora-sync", "configMap": {"name": sync_name}},
    ]


def registry_reader_rules(registry_name: str) -> list[dict[str, Any]]:
    """RBAC rules of the model-server pods: read and watch their registry ConfigMap, nothing else."""
    return [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": [registry_name],
             "verbs": ["get", "list", "watch"]}]


@dataclass(frozen=True)
class PublishedAdapter:
    """One adapter version as the registry pins it."""

    prefix: pulumi.Input[str]
    """Object prefix (``adapters/<base>/<adapter>/<version>/``; resolves after the upload)."""
    files: dict[str, str]
    """File name -> SHA-256 of the published bytes (the publisher computes them)."""


@dataclass(frozen=True)
class AdapterStoreRef:
    """How model pods reach the adapters bucket (outputs of the ObjectStore)."""

    endpoint: str
    """In-cluster S3 endpoint URL."""
    bucket: str
    """Adapters bucket."""
    region: str
    """Signing region."""
    s3_secret_name: pulumi.Input[str]
    """Secret in the serving namespace with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (reader)."""
    service_account_name: pulumi.Input[str] | None
    """ServiceAccount listing that Secret (storage initializer credentials for ``s3://``)."""
    verify_ssl: bool = True
    """Verify TLS for ``https://`` endpoints."""


class AdapterRegistry(pulumi.ComponentResource):
    """Per service: the adapter registry ConfigMap, the sync script ConfigMap and the optional API key.

    Shared by the KServe (``VllmLoraService``) and llm-d frontends so both roll adapters out the
    same way.
    """

    registry_name: str
    """Registry ConfigMap name (``<svc>-lora-registry``). Plain text on purpose: pods reference it
    by name and order after it through ``depends_on``, so a registry update never turns their
    inputs unknown in a preview."""
    sync_name: str
    """Sync script ConfigMap name (``<svc>-lora-sync``)."""
    api_key: pulumi.Output[str] | None
    """Bearer token (secret output) when ``auth`` is on."""
    api_key_secret_name: pulumi.Output[str] | None
    """Secret holding ``VLLM_API_KEY`` when ``auth`` is on."""
    service_account_name: pulumi.Input[str]
    """ServiceAccount of the model-server pods: the only subject allowed to read and watch the
    registry ConfigMap (``reader_service_account`` when given, else ``<svc>-model-server``)."""

    def __init__(self, name: str, service: str, namespace: pulumi.Input[str], adapters: dict[str, "PublishedAdapter"],
                 auth: bool, reader_service_account: pulumi.Input[str] | None = None,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmplatform:models:AdapterRegistry", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        prefixes = {n: adapters[n].prefix for n in sorted(adapters)}
        files = {n: dict(sorted(adapters[n].files.items())) for n in sorted(adapters)}
        # Keys sorted: equal registries, equal bytes (no spurious updates).
        registry_json = pulumi.Output.all(**prefixes).apply(
            lambda p: json.dumps({n: {"prefix": p[n], "files": files[n]} for n in sorted(p)}, indent=2, sort_keys=True)
            + "\n") if prefixes else pulumi.Output.from_input("{}\n")
        k8s.core.v1.ConfigMap(
            f"{name}-registry",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{service}-lora-registry", namespace=namespace,
                                                labels=standard_labels("lora-registry", service)),
            data={REGISTRY_KEY: registry_json},
            opts=child,
        )
        k8s.core.v1.ConfigMap(
            f"{name}-sync",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{service}-lora-sync", namespace=namespace,
                                                labels=standard_labels("lora-sync", service)),
            data={"lora_sync.py": SYNC_SCRIPT.read_text()},
            opts=child,
        )
        self.registry_name = f"{service}-lora-registry"
        self.sync_name = f"{service}-lora-sync"
        if reader_service_account is None:
            sa = k8s.core.v1.ServiceAccount(
                f"{name}-sa", metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=f"{service}-model-server", namespace=namespace, labels=standard_labels("model-server", service)),
                opts=child)
            reader_service_account = sa.metadata.name
        self.service_account_name = reader_service_account
        # The sidecar watches the registry through the API: get/list/watch of that one object.
        role = k8s.rbac.v1.Role(
            f"{name}-registry-reader",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{service}-lora-registry-reader", namespace=namespace,
                                                labels=standard_labels("lora-registry", service)),
            rules=[k8s.rbac.v1.PolicyRuleArgs(api_groups=r["apiGroups"], resources=r["resources"],
                                              resource_names=r["resourceNames"], verbs=r["verbs"])
                   for r in registry_reader_rules(self.registry_name)],
            opts=child)
        k8s.rbac.v1.RoleBinding(
            f"{name}-registry-reader",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{service}-lora-registry-reader", namespace=namespace,
                                                labels=standard_labels("lora-registry", service)),
            role_ref=k8s.rbac.v1.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="Role", name=role.metadata.name),
            subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=reader_service_account, namespace=namespace)],
            opts=child)
        self.api_key = None
        self.api_key_secret_name = None
        if auth:
            token = random.RandomPassword(f"{name}-api-key", length=48, special=False, opts=child).result
            self.api_key = pulumi.Output.secret(token)
            secret = k8s.core.v1.Secret(
                f"{name}-api-key",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{service}-api-key", namespace=namespace,
                                                    labels=standard_labels("model-server", service)),
                type="Opaque",
                string_data={"VLLM_API_KEY": self.api_key},
                opts=child,
            )
            self.api_key_secret_name = secret.metadata.name
        self.register_outputs({"registryName": self.registry_name, "syncName": self.sync_name})



def lora_server_pod(*, spec: LoraServiceSpec, served_name: str, port: int, image: ImageRef, base: BaseModelSpec,
                    model: ModelMount, placement: PodPlacement, registry: AdapterRegistry, store: AdapterStoreRef | None,
                    adapter_names: list[str], sync_interval_seconds: int, cache_gib: int,
                    shm_size: str = "16Gi", static_modules_in_args: bool = True,
                    gate: GateSidecar | None = None, run_as: RunAs = RUN_AS) -> VllmServerPod:
    """The multi-LoRA model-server pod of one service.

    Dynamic mode: the sync sidecar runs beside vLLM and materialises the registry into the
    resolver cache. Static mode: one strict pass of the same script as an init container, and
    ``--lora-modules`` in the engine arguments (``static_modules_in_args=False``: the frontend
    places them itself, as KServe does on the InferenceService so that an adapter change
    changes it visibly).

    ``gate``: the tenant gate takes ``port`` (what the frontend routes to and probes hit) and
    vLLM moves to 127.0.0.1:``gate.vllm_port``, reachable only by the gate and the sync sidecar.
    ``run_as``: the uid of every container of the pod (None: assigned by the cluster, OpenShift);
    the pod value applies it to the companions built here."""
    modules = static_lora_modules(adapter_names) if spec.adapter_mode == "static" and static_modules_in_args else ()
    engine_port = gate.vllm_port if gate is not None else port
    args = tuple(engine_options(spec, served_name, engine_port, modules,
                                host="127.0.0.1" if gate is not None else None).to_args())
    sidecars: tuple[dict[str, Any], ...] = ()
    init: tuple[dict[str, Any], ...] = ()
    if spec.adapter_mode == "dynamic":
        sidecars = (sync_container(image, store, sync_interval_seconds, vllm_port=engine_port,
                                   api_key_secret=registry.api_key_secret_name,
                                   registry_configmap=registry.registry_name),)
    elif adapter_names:
        init = (sync_container(image, store, sync_interval_seconds, once=True),)
    return VllmServerPod(
        image=image,
        args=args,
        env=tuple(vllm_env(spec, registry.api_key_secret_name)),
        port=port,
        model=model,
        placement=placement,
        cpu=spec.cpu,
        memory=f"{spec.memory_gib}Gi",
        ephemeral_storage=ephemeral_storage(spec, base, cache_gib),
        shm_size=shm_size,
        node_sidecars=sidecars,
        init_containers=init,
        api_sidecars=(gate.container,) if gate is not None else (),
        volumes=tuple(adapter_volumes(registry.registry_name, registry.sync_name, cache_gib))
        + (tuple(gate.volumes) if gate is not None else ()),
        vllm_mounts=(CACHE_MOUNT,),
        service_account=registry.service_account_name,
        engine_port=gate.vllm_port if gate is not None else None,
        run_as=run_as,
    )
