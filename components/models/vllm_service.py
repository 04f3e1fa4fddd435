"""``VllmLoraService``: one base model served by vLLM under KServe, with many LoRA adapters that
roll out without restarting anything.

Objects (all in the serving namespace, all with fixed names):

* ``ServingRuntime <svc>-vllm`` -- a native vLLM runtime (``python3 -m
  vllm.entrypoints.openai.api_server``), not KServe's huggingface runtime, which only registers
  ``--lora-modules`` given at start-up and has no route to runtime-loaded adapters. Every engine
  argument is built by ``vllm_args.VllmEngineOptions`` from the typed ``EngineSpec`` and checked
  against the pinned vLLM argument spec.
* ``InferenceService <svc>`` through ``components.serving.inference_service`` (explicit
  deployment mode, replaced when the mode changes): base model from ``pvc://`` or ``s3://``,
  the GPU request and placement of the pool's sharing mode (whole GPU, MIG slice, time-sliced
  GPU or DRA claim), KEDA autoscaling on vLLM's queue metrics in Standard mode.
* ``ConfigMap <svc>-lora-registry`` -- served name (``<base>:<adapter>``) -> pinned object prefix
  (``adapters/<base>/<adapter>/<version>/``). The **only** object that changes when adapters
  are added, bumped or removed.
* ``ConfigMap <svc>-lora-sync`` -- the sync sidecar's script; its content never depends on
  the adapters.
* ``Secret <svc>-api-key`` when ``auth`` is on (vLLM reads ``VLLM_API_KEY``; never an argument).

Dynamic mode (default): vLLM runs with ``--enable-lora``, ``VLLM_ALLOW_RUNTIME_LORA_UPDATING``
and the ``lora_filesystem_resolver`` plugin over ``/mnt/lora-cache``. The registry is mounted
as a *volume* (no ``subPath``, no env: both would freeze it at pod start), the sidecar
materialises each entry atomically at ``/mnt/lora-cache/<served name>/``, and the first request
naming an adapter makes vLLM load it. Publishing adapters sets ``base_model_name_or_path`` to
``/mnt/models``, the value the resolver compares against.

Static mode (for comparison): an init container downloads every registry entry once and vLLM
gets ``--lora-modules name=path`` for each, on the InferenceService -- so every adapter change
changes the pod template and restarts every replica.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.common.images import ImageRef
from components.common.labels import standard_labels
from components.common.pod_security import container_security_context, pod_security_context
from components.gpu.placement import PodPlacement, placement_for
from components.gpu.spec import GpuPoolSpec
from components.models.adapter_checks import KSERVE_MODEL_PATH
from components.models.spec import BaseModelSpec, LoraServiceSpec, PvcModelSource
from components.models.vllm_args import LoraModule, VllmEngineOptions, check_args
from components.serving.inference_service import AUTOSCALER_CLASS_ANNOTATION, inference_service

HTTP_PORT = 8080
PORT_NAME = "http1"  # the only names Knative accepts (http1/h2c); harmless in Standard mode
CACHE_DIR = "/mnt/lora-cache"
REGISTRY_DIR = "/etc/lora-registry"
REGISTRY_KEY = "registry.json"
SYNC_DIR = "/opt/lora-sync"
SYNC_SCRIPT = Path(__file__).resolve().parent / "lora_sync.py"
MODEL_FORMAT = "vLLM"
TMP_GIB = 20
"""Size of each vLLM pod's /tmp emptyDir (HOME, compile and kernel caches; the root file system is read-only)."""
MOUNT_PATHS = (KSERVE_MODEL_PATH, CACHE_DIR, REGISTRY_DIR, SYNC_DIR, "/dev/shm", "/tmp")
"""Directories the vLLM pods mount volumes at (nothing else may be mounted over them)."""


# ------------------------------------------------------------------ pure helpers


def adapter_served_name(base_served: str, adapter: str) -> str:
    """OpenAI ``model`` name of an adapter: ``<base served name>:<adapter>``."""
    return f"{base_served}:{adapter}"


def storage_uri(model: BaseModelSpec) -> str:
    """KServe ``storageUri`` of a base model (``pvc://claim/path`` or ``s3://...``)."""
    src = model.source
    if isinstance(src, PvcModelSource):
        path = src.path.strip("/")
        return f"pvc://{src.claim_name}/{path}" if path else f"pvc://{src.claim_name}"
    return src.uri


def engine_options(spec: LoraServiceSpec, served_name: str,
                   lora_modules: tuple[LoraModule, ...] = ()) -> VllmEngineOptions:
    """The typed vLLM options of a service (validated against the pinned argument spec)."""
    e = spec.engine
    return VllmEngineOptions(
        model=KSERVE_MODEL_PATH,
        served_model_name=(served_name,),
        port=HTTP_PORT,
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


def split_args(spec: LoraServiceSpec, served_name: str, adapter_names: list[str]) -> tuple[list[str], list[str]]:
    """(ServingRuntime args, InferenceService args). KServe concatenates them (runtime first).

    Everything that does not depend on adapters goes to the runtime; in static mode the
    ``--lora-modules`` list goes to the InferenceService, so an adapter change visibly changes
    it (and restarts pods), while in dynamic mode the InferenceService has no arguments.
    """
    runtime = engine_options(spec, served_name).to_args()
    if spec.adapter_mode == "dynamic" or not adapter_names:
        return runtime, []
    full = engine_options(spec, served_name, static_lora_modules(adapter_names)).to_args()
    extra = full[full.index("--lora-modules"):]
    return runtime, extra


def scaling_query(namespace: str, served_name: str, metric: Literal["running", "waiting"]) -> str:
    """PromQL KServe hands to KEDA unchanged: one number for this service only."""
    name = f"vllm:num_requests_{metric}"
    pattern = _promql_regex_escape(served_name) + "(:.*)?"
    return f'sum({name}{{namespace="{namespace}",model_name=~"{pattern}"}})'


def _promql_regex_escape(value: str) -> str:
    # PromQL strings are Go strings: a regex backslash is written twice.
    out = []
    for ch in value:
        out.append("\\\\" + ch if ch in ".+*?()[]{}|^$\\" else ch)
    return "".join(out)


def _quantity(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def vllm_env(spec: LoraServiceSpec, api_key_secret: pulumi.Input[str] | None) -> list[dict[str, Any]]:
    """Environment of the vLLM container (offline, writable dirs under /tmp, resolver in dynamic mode)."""
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
            {"name": "VLLM_PLUGINS", "value": "lora_filesystem_resolver"},
            {"name": "VLLM_LORA_RESOLVER_CACHE_DIR", "value": CACHE_DIR},
        ]
    if api_key_secret is not None:
        env.append({"name": "VLLM_API_KEY", "valueFrom": {"secretKeyRef": {"name": api_key_secret, "key": "VLLM_API_KEY"}}})
    return env


def tmp_volume() -> tuple[dict[str, Any], dict[str, Any]]:
    """(volume, mount) of the writable /tmp every vLLM container gets (its root file system is read-only)."""
    return {"name": "tmp", "emptyDir": {"sizeLimit": f"{TMP_GIB}Gi"}}, {"name": "tmp", "mountPath": "/tmp"}


def ephemeral_storage(spec: LoraServiceSpec, model: BaseModelSpec, lora_cache_gib: int) -> str:
    """Node-local disk one replica may fill: /tmp, the adapter cache and, for ``s3://`` weights, the
    download; declared as the ``ephemeral-storage`` request and limit so the scheduler only picks nodes
    with room and the kubelet evicts a runaway pod instead of letting it fill the node."""
    from components.models.capacity import checkpoint_gib

    total = TMP_GIB + lora_cache_gib
    if model.source.kind == "s3":
        total += checkpoint_gib(model.architecture, spec.engine.quantization,
                                "fp16" if spec.engine.dtype == "float16" else "bf16")
    return f"{total}Gi"


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


def sync_container(image: ImageRef, store: "AdapterStoreRef | None", interval_seconds: int, once: bool = False,
                   vllm_port: int | None = None, api_key_secret: pulumi.Input[str] | None = None) -> dict[str, Any]:
    """The adapter sync sidecar (``once``: the static mode's init container, one strict pass).

    ``vllm_port``: the pod's vLLM, which the sidecar asks to unload an adapter whose version
    changed or which left the registry (with the API key when ``api_key_secret`` is set)."""
    env = (store_env(store) if store is not None else []) + [
        {"name": "REGISTRY_FILE", "value": f"{REGISTRY_DIR}/{REGISTRY_KEY}"},
        {"name": "CACHE_DIR", "value": CACHE_DIR},
        {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
    ]
    env.append({"name": "SYNC_ONCE", "value": "1"} if once else {"name": "SYNC_INTERVAL_SECONDS", "value": str(interval_seconds)})
    if vllm_port is not None and not once:
        env.append({"name": "VLLM_URL", "value": f"http://localhost:{vllm_port}"})
        if api_key_secret is not None:
            env.append({"name": "VLLM_API_KEY", "valueFrom": {"secretKeyRef": {"name": api_key_secret, "key": "VLLM_API_KEY"}}})
    limits = {"cpu": "1", "memory": "512Mi"} if once else {"cpu": "500m", "memory": "256Mi"}
    return {
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


def adapter_volumes(registry_name: pulumi.Input[str], sync_name: pulumi.Input[str], cache_gib: int) -> list[dict[str, Any]]:
    """Pod volumes of the adapter cache, the registry and the sync script."""
    return [
        {"name": "lora-cache", "emptyDir": {"sizeLimit": f"{cache_gib}Gi"}},
        # A whole-ConfigMap volume (no subPath): the kubelet swaps its content in place when it changes.
        {"name": "lora-registry", "configMap": {"name": registry_name}},
        {"name": "lora-sync", "configMap": {"name": sync_name}},
    ]


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

    def __init__(self, name: str, service: str, namespace: pulumi.Input[str], adapters: dict[str, pulumi.Input[str]],
                 auth: bool, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmplatform:models:AdapterRegistry", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        entries = {n: adapters[n] for n in sorted(adapters)}
        # Keys sorted: equal registries, equal bytes (no spurious updates).
        registry_json = pulumi.Output.all(**entries).apply(
            lambda e: json.dumps(dict(sorted(e.items())), indent=2, sort_keys=True) + "\n") if entries \
            else pulumi.Output.from_input("{}\n")
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


# ------------------------------------------------------------------ component


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


@dataclass(frozen=True)
class VllmLoraServiceArgs:
    """Everything one service needs, resolved by the models layer."""

    name: str
    """Kubernetes name of the InferenceService (the service's key)."""
    namespace: pulumi.Input[str]
    """Serving namespace (Output of the namespace's creation)."""
    namespace_name: str
    """Serving namespace as plain text (for PromQL)."""
    mode: str
    """KServe deployment mode: Standard or Knative."""
    spec: LoraServiceSpec
    """The service's config."""
    served_name: str
    """OpenAI name of the base model."""
    model: BaseModelSpec
    """Base model."""
    pool_name: str
    """GPU pool key."""
    pool: GpuPoolSpec
    """GPU pool."""
    adapters: dict[str, pulumi.Input[str]]
    """Adapter served name -> published object prefix."""
    store: AdapterStoreRef | None
    """Adapter store; None when the stack has no adapters."""
    image: ImageRef
    """vLLM image."""
    prometheus_url: str
    """Prometheus KEDA queries."""
    sync_interval_seconds: int = 15
    """Sidecar poll interval."""
    lora_cache_gib: int = 10
    """emptyDir size limit of the adapter cache."""
    depends_on: list[pulumi.Resource] = field(default_factory=list)
    """Serving controllers that must exist first (KServe CRDs and webhook)."""


class VllmLoraService(pulumi.ComponentResource):
    """A vLLM multi-LoRA service; see the module docstring."""

    endpoint: str
    """In-cluster URL of the OpenAI API."""
    served_name: str
    """Base model's OpenAI name."""
    adapter_names: list[str]
    """Adapters' OpenAI names."""
    registry_name: str
    """Name of the registry ConfigMap."""
    pod_labels: dict[str, str]
    """Labels on the service's pods (KServe adds ``serving.kserve.io/inferenceservice``)."""
    api_key: pulumi.Output[str] | None
    """Bearer token (secret output) when ``auth`` is on."""

    def __init__(self, name: str, args: VllmLoraServiceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmplatform:models:VllmLoraService", name, None, opts)
        spec = args.spec
        svc = args.name
        ns = args.namespace
        child = pulumi.ResourceOptions(parent=self)
        labels = standard_labels("model-server", svc)
        self.served_name = args.served_name
        self.adapter_names = sorted(args.adapters)
        self.registry_name = f"{svc}-lora-registry"
        self.pod_labels = {"serving.kserve.io/inferenceservice": svc}
        # KServe's predictor Service in both modes (a Deployment's Service in Standard mode, the
        # Knative Service's cluster-local address in Knative mode): status.address.url.
        self.endpoint = f"http://{svc}-predictor.{args.namespace_name}.svc.cluster.local"

        support = AdapterRegistry(f"{name}-adapters", svc, ns, args.adapters, spec.auth, child)
        self.api_key = support.api_key
        api_key_secret = support.api_key_secret_name

        runtime_args, isvc_args = split_args(spec, args.served_name, self.adapter_names)
        problems = check_args(runtime_args + isvc_args)
        if problems:
            raise ValueError(f"{svc}: vLLM arguments rejected by the pinned argument spec: {problems}")

        sync = sync_container(args.image, args.store, args.sync_interval_seconds, vllm_port=HTTP_PORT,
                              api_key_secret=api_key_secret)
        probe = {"httpGet": {"path": "/health", "port": HTTP_PORT}}
        vllm_container: dict[str, Any] = {
            "name": "kserve-container",
            "image": args.image.ref,
            "command": ["python3", "-m", "vllm.entrypoints.openai.api_server"],
            "args": runtime_args,
            "env": vllm_env(spec, api_key_secret),
            "ports": [{"name": PORT_NAME, "containerPort": HTTP_PORT, "protocol": "TCP"}],
            # /health and /metrics stay open when VLLM_API_KEY is set (vLLM guards /v1 only).
            "startupProbe": probe | {"periodSeconds": 10, "failureThreshold": 180},
            "readinessProbe": probe | {"periodSeconds": 10, "failureThreshold": 3},
            "livenessProbe": probe | {"periodSeconds": 20, "failureThreshold": 6},
            "securityContext": container_security_context(read_only_root=True),
            "volumeMounts": [
                {"name": "devshm", "mountPath": "/dev/shm"},
                tmp_volume()[1],
                {"name": "lora-cache", "mountPath": CACHE_DIR, "readOnly": True},
            ],
        }
        containers = [vllm_container] + ([sync] if spec.adapter_mode == "dynamic" else [])
        volumes = [
            {"name": "devshm", "emptyDir": {"medium": "Memory", "sizeLimit": "8Gi"}},
            tmp_volume()[0],
        ] + adapter_volumes(support.registry_name, support.sync_name, args.lora_cache_gib)
        runtime_name = f"{svc}-vllm"
        runtime = k8s.apiextensions.CustomResource(
            f"{name}-runtime",
            api_version="serving.kserve.io/v1alpha1",
            kind="ServingRuntime",
            metadata={"name": runtime_name, "namespace": ns, "labels": labels},
            spec={
                "annotations": {"prometheus.kserve.io/port": str(HTTP_PORT), "prometheus.kserve.io/path": "/metrics"},
                "supportedModelFormats": [{"name": MODEL_FORMAT, "version": "1", "autoSelect": False}],
                "multiModel": False,
                "containers": containers,
                "volumes": volumes,
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[support] + list(args.depends_on)),
        )

        placement = placement_for(args.pool_name, args.pool, count=spec.gpu.count, mig_profile=spec.gpu.mig_profile,
                                  dra_claim=spec.gpu.dra_claim)
        predictor = self._predictor(args, runtime_name, isvc_args, placement)
        annotations = {}
        if args.mode == "Standard" and spec.autoscaling.enabled:
            annotations[AUTOSCALER_CLASS_ANNOTATION] = "keda"
        self.inference_service = inference_service(
            f"{name}-isvc",
            name=svc,
            namespace=ns,
            mode=args.mode,
            spec={"predictor": predictor},
            labels=labels,
            annotations=annotations,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[runtime, support] + list(args.depends_on)),
        )
        self.register_outputs({
            "endpoint": self.endpoint,
            "servedName": self.served_name,
            "adapterNames": self.adapter_names,
            "registryName": self.registry_name,
        })

    @staticmethod
    def _predictor(args: VllmLoraServiceArgs, runtime_name: str, isvc_args: list[str], placement: PodPlacement) -> dict[str, Any]:
        spec = args.spec
        amounts = {"cpu": spec.cpu, "memory": f"{spec.memory_gib}Gi",
                   "ephemeral-storage": ephemeral_storage(spec, args.model, args.lora_cache_gib)}
        resources: dict[str, Any] = {"requests": amounts | placement.resources, "limits": amounts | placement.resources}
        if placement.container_claims:
            resources["claims"] = list(placement.container_claims)
        model: dict[str, Any] = {
            "modelFormat": {"name": MODEL_FORMAT},
            "runtime": runtime_name,
            "storageUri": storage_uri(args.model),
            "resources": resources,
        }
        if isvc_args:
            model["args"] = isvc_args
        predictor: dict[str, Any] = {
            "minReplicas": spec.replicas.min,
            "maxReplicas": spec.replicas.max,
            "model": model,
            "securityContext": pod_security_context(knative=args.mode == "Knative"),
            "nodeSelector": dict(placement.node_selector),
        }
        if placement.tolerations:
            predictor["tolerations"] = [dict(t) for t in placement.tolerations]
        if placement.resource_claims:
            predictor["resourceClaims"] = [dict(c) for c in placement.resource_claims]
        if args.store is not None and args.store.service_account_name is not None:
            predictor["serviceAccountName"] = args.store.service_account_name
        if args.mode == "Standard" and spec.autoscaling.enabled:
            predictor["autoScaling"] = {"metrics": [{
                "type": "External",
                "external": {
                    "metric": {"backend": "prometheus", "serverAddress": args.prometheus_url,
                               "query": scaling_query(args.namespace_name, args.served_name, spec.autoscaling.metric)},
                    "target": {"type": "Value", "value": _quantity(spec.autoscaling.target)},
                },
            }]}
        if spec.adapter_mode == "static" and args.adapters:
            # Download every registry entry once, before vLLM starts (same script, one strict pass).
            predictor["initContainers"] = [sync_container(args.image, args.store, args.sync_interval_seconds, once=True)]
        return predictor
