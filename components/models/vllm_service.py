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
  (``adapters/<base>/<adapter>/<version>/``) and the sha256 of every file. The **only** object
  that changes when adapters are added, bumped or removed; a Role lets the pods' ServiceAccount
  get/list/watch it and nothing else.
* ``ConfigMap <svc>-lora-sync`` -- the sync sidecar's script; its content never depends on
  the adapters.
* ``Secret <svc>-api-key`` when ``auth`` is on (vLLM reads ``VLLM_API_KEY``; never an argument).

Dynamic mode (default): vLLM runs with ``--enable-lora`` and ``VLLM_ALLOW_RUNTIME_LORA_UPDATING``
and no plugin; the sync sidecar (``components.models.lora_sync``) watches the registry through
the Kubernetes API (the mounted ConfigMap is its fallback), verifies each version's files
against their pinned digests and loads it into the pod's vLLM from a per-version path. The
pod is Ready only when every registry entry is live. See ``components.models.lora_server``
for the pod every frontend renders.

Static mode (for comparison): an init container downloads every registry entry once and vLLM
gets ``--lora-modules name=path`` for each, on the InferenceService -- so every adapter change
changes the pod template and restarts every replica.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s

from components.common.images import ImageRef
from components.common.input_errors import refuse_inputs, value_issues
from components.common.labels import standard_labels
from components.gpu.placement import placement_for
from components.gpu.pool_ref import GpuPoolRef
from components.gpu.spec import GpuPoolSpec
from components.models.lora_server import (AdapterRegistry, AdapterStoreRef, PublishedAdapter, engine_options,
                                           lora_server_pod, static_lora_modules)
from components.models.planning import service_capacity_rules
from components.models.rules import adapter_mode_rules, service_mode_rules, service_pool_rules, vllm_image_rules
from components.models.spec import BaseModelSpec, LoraServiceSpec, ModelsSpec, PvcModelSource
from components.models.vllm_args import check_args
from components.common.pod_security import RUN_AS, RunAs
from components.models.shape import ShapeError, model_arch
from components.openshift.dashboard import RhoaiPresentation
from components.serving.names import service_name_problems
from components.serving.rules import parallelism_rules
from components.serving.inference_service import AUTOSCALER_CLASS_ANNOTATION, inference_service
from components.gate.gate import GateSidecar
from components.serving.vllm_pod import ModelMount, VllmServerPod

HTTP_PORT = 8080
PORT_NAME = "http1"  # the only names Knative accepts (http1/h2c); harmless in Standard mode
MODEL_FORMAT = "vLLM"


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


def split_args(spec: LoraServiceSpec, served_name: str, adapter_names: list[str]) -> tuple[list[str], list[str]]:
    """(ServingRuntime args, InferenceService args). KServe concatenates them (runtime first).

    Everything that does not depend on adapters goes to the runtime; in static mode the
    ``--lora-modules`` list goes to the InferenceService, so an adapter change visibly changes
    it (and restarts pods), while in dynamic mode the InferenceService has no arguments.
    """
    runtime = engine_options(spec, served_name, HTTP_PORT).to_args()
    if spec.adapter_mode == "dynamic" or not adapter_names:
        return runtime, []
    full = engine_options(spec, served_name, HTTP_PORT, static_lora_modules(adapter_names)).to_args()
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


# ------------------------------------------------------------------ component


@dataclass(frozen=True)
class VllmLoraServiceArgs:
    """Everything one service needs, resolved by the models layer."""

    name: str
    """Kubernetes name of the InferenceService (the service's key). Required."""
    namespace: pulumi.Input[str]
    """Serving namespace (Output of the namespace's creation). Required."""
    namespace_name: str
    """Serving namespace as plain text (for PromQL). Required."""
    mode: str
    """KServe deployment mode: Standard or Knative. Required."""
    spec: LoraServiceSpec
    """The service's config (``serving.services.<name>``): checked against ``pool`` and ``model`` before anything
    is created. Required."""
    served_name: str
    """OpenAI ``model`` name of the base model (vLLM ``--served-model-name``). Required."""
    model: BaseModelSpec
    """Base model: its architecture (VRAM budget) and its weights' source. Required."""
    pool_name: str
    """GPU pool key (``gpu.pools.<name>``): the ``llm-platform.io/pool`` label of its nodes. Required."""
    pool: GpuPoolSpec
    """The GPU pool's spec; with ``pool_name`` it is the service's :class:`GpuPoolRef`. Required."""
    adapters: dict[str, PublishedAdapter]
    """Adapter served name -> published version (prefix and pinned digests). Required."""
    store: AdapterStoreRef | None
    """Adapter store; None when the stack has no adapters. Required."""
    image: ImageRef
    """vLLM image (its tag must be the version the arguments are checked against). Required."""
    prometheus_url: str
    """Prometheus URL the KEDA autoscaler queries. Required."""
    sync_interval_seconds: int = 15
    """How often each replica's adapter sync sidecar re-checks what its vLLM serves, in seconds. Default: 15
    (as ``models.loraSyncIntervalSeconds``)."""
    lora_cache_gib: int = 10
    """Size limit in GiB of each replica's adapter cache (an emptyDir). Default: 10 (as
    ``models.loraCacheGib``)."""
    depends_on: list[pulumi.Resource] = field(default_factory=list)
    """Serving controllers that must exist first (KServe CRDs and webhook). Default: none."""
    gate: GateSidecar | None = None
    """The tenant gate in front of vLLM (it takes ``HTTP_PORT``; vLLM moves to 127.0.0.1). Default: None: no
    gate, vLLM serves ``HTTP_PORT`` itself."""
    metrics_port: int = HTTP_PORT
    """Port serving vLLM's ``/metrics`` to Prometheus (the gate's metrics port behind a gate). Default:
    ``HTTP_PORT`` (8080, vLLM's own port without a gate)."""
    run_as: RunAs = RUN_AS
    """uid/gid of every container; None where the cluster assigns it (OpenShift). Default: 1000."""
    rhoai: RhoaiPresentation | None = None
    """How OpenShift AI shows and exposes the service (dashboard metadata, Route, auth proxy). Default: None
    (not on OpenShift AI)."""

    @property
    def pool_ref(self) -> GpuPoolRef:
        """The pool the service runs on, as a typed reference (``GpuNodePool.pool_ref`` gives the same)."""
        return GpuPoolRef(self.pool_name, self.pool)


def problems(args: VllmLoraServiceArgs) -> list[tuple[str, str]]:
    """Everything wrong with ``args`` (paths relative to them), by the same rule functions the
    stack applies to ``serving.services.<name>``: the names KServe derives from ``name``, the vLLM
    image tag, what the spec asks of the KServe mode, the GPU request against what the pool offers
    (a MIG slice it does not have, more GPUs than a node, tensor parallelism above the GPU count),
    the parallel layout on the pool's nodes, then the VRAM budget (a model that does not fit its
    GPU), and the vLLM arguments against the pinned argument spec."""
    spec = args.spec
    issues = [("name", problem) for problem in service_name_problems(args.name, "kserve", args.mode)]
    issues += vllm_image_rules(args.image, path="image")
    issues += value_issues(ModelsSpec, "lora_sync_interval_seconds", args.sync_interval_seconds, path="syncIntervalSeconds")
    issues += value_issues(ModelsSpec, "lora_cache_gib", args.lora_cache_gib, path="loraCacheGib")
    issues += service_mode_rules(spec, args.mode, path="spec") + adapter_mode_rules(spec, args.mode, path="spec")
    placement = service_pool_rules(spec, args.pool_ref, claim_templates=None, path="spec")
    placement += parallelism_rules(spec.engine, args.pool_name, args.pool, path="spec")
    if placement:  # the planner needs a request that fits the pool
        return issues + placement
    try:
        arch = model_arch(spec.base_model, args.model)
    except ShapeError as exc:
        return issues + [(f"model.{exc.field}", str(exc))]
    issues += service_capacity_rules(spec, arch, args.pool, path="spec",
                                     architecture_path="model.architecture", gpu_path="pool.gpu")
    runtime_args, isvc_args = split_args(spec, args.served_name, sorted(args.adapters))
    rejected = check_args(runtime_args + isvc_args)
    if rejected:
        issues.append(("spec.engine", f"vLLM arguments rejected by the pinned argument spec: {rejected}"))
    return issues


class VllmLoraService(pulumi.ComponentResource):
    """A vLLM multi-LoRA service; see the module docstring.

    Raises ``pulumi.InputPropertiesError`` listing every problem of its args (:func:`problems`)
    before it registers anything."""

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
        refuse_inputs("VllmLoraService", name, problems(args))
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

        # Under OpenShift AI the auth proxy in front of the pod checks the caller (see RhoaiPresentation).
        support = AdapterRegistry(f"{name}-adapters", svc, ns, args.adapters, spec.auth and args.rhoai is None,
                                  args.store.service_account_name if args.store is not None else None, child)
        self.api_key = support.api_key

        runtime_args, isvc_args = split_args(spec, args.served_name, self.adapter_names)

        placement = placement_for(args.pool_name, args.pool, count=spec.gpu.count, mig_profile=spec.gpu.mig_profile,
                                  dra_claim=spec.gpu.dra_claim)
        pod = lora_server_pod(
            spec=spec, served_name=args.served_name, port=HTTP_PORT, image=args.image, base=args.model,
            model=ModelMount(uri=storage_uri(args.model)), placement=placement, registry=support, store=args.store,
            adapter_names=self.adapter_names, sync_interval_seconds=args.sync_interval_seconds,
            cache_gib=args.lora_cache_gib, shm_size="8Gi", static_modules_in_args=False, gate=args.gate,
            run_as=args.run_as)
        # KServe's storage initializer puts the model at /mnt/models from storageUri; the
        # runtime carries everything else of the pod, the InferenceService the placement.
        runtime_name = f"{svc}-vllm"
        runtime_meta: dict[str, Any] = {"name": runtime_name, "namespace": ns, "labels": labels}
        pod_annotations = {"prometheus.kserve.io/port": str(args.metrics_port), "prometheus.kserve.io/path": "/metrics"}
        if args.rhoai is not None:
            runtime_meta["labels"] = labels | args.rhoai.runtime_labels()
            runtime_meta["annotations"] = args.rhoai.runtime_annotations(sorted(placement.resources))
            pod_annotations |= args.rhoai.runtime_pod_annotations()
        runtime = k8s.apiextensions.CustomResource(
            f"{name}-runtime",
            api_version="serving.kserve.io/v1alpha1",
            kind="ServingRuntime",
            metadata=runtime_meta,
            spec={
                "annotations": pod_annotations,
                "supportedModelFormats": [{"name": MODEL_FORMAT, "version": "1", "autoSelect": False}],
                "multiModel": False,
                "containers": [self._runtime_container(pod), *self._companions(pod, knative=args.mode == "Knative")],
                "volumes": pod.pod_volumes(with_model=False),
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[support] + list(args.depends_on)),
        )

        predictor = self._predictor(args, pod, runtime_name, isvc_args)
        annotations = {}
        if args.mode == "Standard" and spec.autoscaling.enabled:
            annotations[AUTOSCALER_CLASS_ANNOTATION] = "keda"
        isvc_labels = labels
        if args.rhoai is not None:
            isvc_labels = labels | args.rhoai.isvc_labels()
            annotations |= args.rhoai.isvc_annotations()
        self.inference_service = inference_service(
            f"{name}-isvc",
            name=svc,
            namespace=ns,
            mode=args.mode,
            spec={"predictor": predictor},
            labels=isvc_labels,
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
    def _companions(pod: VllmServerPod, knative: bool) -> list[dict[str, Any]]:
        """Knative admits one container with ports and probes (the serving one): companions
        lose theirs there, so the sync sidecar neither gates readiness nor is scraped in
        Knative mode (Standard mode has both)."""
        if not knative:
            return pod.companions(api=True)
        return [{k: v for k, v in c.items() if k not in ("ports", "readinessProbe", "livenessProbe", "startupProbe")}
                for c in pod.companions(api=True)]

    @staticmethod
    def _runtime_container(pod: VllmServerPod) -> dict[str, Any]:
        """vLLM in the ServingRuntime: KServe merges the predictor's resources into it."""
        container = pod.vllm_container("kserve-container", PORT_NAME, with_model=False)
        del container["resources"]
        return container

    @staticmethod
    def _predictor(args: VllmLoraServiceArgs, pod: VllmServerPod, runtime_name: str, isvc_args: list[str]) -> dict[str, Any]:
        spec = args.spec
        model: dict[str, Any] = {
            "modelFormat": {"name": MODEL_FORMAT},
            "runtime": runtime_name,
            "storageUri": pod.model.uri,
            "resources": pod.resources(),
        }
        if isvc_args:
            model["args"] = isvc_args
        predictor: dict[str, Any] = {
            "minReplicas": spec.replicas.min,
            "maxReplicas": spec.replicas.max,
            "model": model,
            "securityContext": pod.pod_security_context(knative=args.mode == "Knative"),
            **pod.placement_fields(),
        }
        if pod.service_account is not None:
            predictor["serviceAccountName"] = pod.service_account
        if args.mode == "Standard" and spec.autoscaling.enabled:
            predictor["autoScaling"] = {"metrics": [{
                "type": "External",
                "external": {
                    "metric": {"backend": "prometheus", "serverAddress": args.prometheus_url,
                               "query": scaling_query(args.namespace_name, args.served_name, spec.autoscaling.metric)},
                    "target": {"type": "Value", "value": _quantity(spec.autoscaling.target)},
                },
            }]}
        if pod.init_containers:
            # Static mode: every registry entry downloaded once, before vLLM starts.
            predictor["initContainers"] = pod.pod_init_containers(with_model=False)
        return predictor
