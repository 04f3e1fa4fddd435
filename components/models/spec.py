"""User-facing specs of models, LoRA adapters and the vLLM multi-LoRA services that serve them."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, PositiveInt, field_validator, model_validator

from components.common.fields import bucket_name, Gib, ObjectName, PathSegment, Quantity, ServedName
from components.common.fields import is_dns_label  # noqa: F401  re-exported: its old home (UPGRADE.md)
from components.common.images import ImageRef
from components.common.spec import Spec, check_rules

# Kubernetes DNS-1035 label: service names become Service/Deployment names.
# Adapter names and versions become object-store path segments and served-name parts.
_PATH_SEGMENT = re.compile(r"^[a-z0-9]([-a-z0-9._]{0,61}[a-z0-9])?$")


class PvcModelSource(Spec):
    """Base model weights on a PersistentVolumeClaim, mounted read-only (``pvc://``)."""

    kind: Literal["pvc"] = "pvc"
    """Discriminator: ``pvc``."""
    claim_name: ObjectName
    """PVC name in the serving namespace."""
    path: str = ""
    """Directory inside the volume holding config.json and the weights. Default: the volume root."""
    create: bool = False
    """Create the PVC (protected from deletion) instead of expecting it. Default: false."""
    size_gib: Gib = 200
    """Size when ``create`` is true. Default: 200."""
    storage_class: ObjectName | None = None
    """Storage class when ``create`` is true. Default: the cluster default."""
    access_mode: Literal["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany"] = "ReadOnlyMany"
    """Access mode when ``create`` is true; replicas on several nodes need a many-mode. Default: ReadOnlyMany."""


class S3ModelSource(Spec):
    """Base model weights in the object store, downloaded by KServe's storage initializer."""

    kind: Literal["s3"] = "s3"
    """Discriminator: ``s3``."""
    uri: str
    """``s3://bucket/path`` of the model directory."""

    @field_validator("uri")
    @classmethod
    def _s3_only(cls, uri: str) -> str:
        if not uri.startswith("s3://") or len(uri) <= len("s3://"):
            raise ValueError("must be an s3://bucket/path URI (hf:// and http(s):// sources are not offline-safe)")
        bucket_name(uri[len("s3://"):].partition("/")[0])
        if any(c.isspace() for c in uri) or "/../" in uri + "/" or "//" in uri[len("s3://"):]:
            raise ValueError("must be an s3://bucket/path URI without spaces, '..' or empty path segments")
        return uri


class ModelShapeSpec(Spec):
    """The dimensions of a dense decoder-only transformer (Llama-style: gated MLP, grouped-query
    attention), as its ``config.json`` states them; the capacity planner sizes weights, LoRA
    slots and the KV cache from them."""

    layers: PositiveInt
    """``num_hidden_layers``."""
    hidden_size: PositiveInt
    """``hidden_size``."""
    attention_heads: PositiveInt
    """``num_attention_heads``."""
    kv_heads: PositiveInt
    """``num_key_value_heads`` (equal to attentionHeads without grouped-query attention)."""
    head_dim: PositiveInt | None = None
    """``head_dim``. Default: hiddenSize / attentionHeads."""
    intermediate_size: PositiveInt
    """``intermediate_size`` (the MLP width)."""
    vocab_size: PositiveInt
    """``vocab_size``."""
    max_context: PositiveInt
    """``max_position_embeddings``: the longest sequence the model was built for; maxModelLen may
    not exceed it."""
    tie_word_embeddings: bool = False
    """``tie_word_embeddings``. Default: false."""
    qkv_bias: bool = False
    """Biases on the q/k/v projections (``attention_bias``; Qwen2-style models). Default: false."""
    parameters: PositiveInt | None = None
    """Exact parameter count. Default: computed from the dimensions."""

    @model_validator(mode="after")
    def _heads(self) -> "ModelShapeSpec":
        check_rules(
            ("kvHeads", f"{self.kv_heads} must divide attentionHeads ({self.attention_heads})")
            if self.attention_heads % self.kv_heads else None,
            ("headDim", f"required: hiddenSize {self.hidden_size} is not a multiple of attentionHeads {self.attention_heads}")
            if self.head_dim is None and self.hidden_size % self.attention_heads else None,
        )
        return self


class BaseModelSpec(Spec):
    """A base model shared by many adapters. Exactly one of ``architecture``, ``shape`` and
    ``configFile`` says what it is."""

    architecture: str | None = None
    """Architecture in the capacity planner's catalog, e.g. ``Llama-3.1-8B``; decides the VRAM
    budget. Default: none (then shape or configFile)."""
    shape: ModelShapeSpec | None = None
    """The model's dimensions, for a model the catalog does not know. Default: none."""
    config_file: str | None = None
    """The model's own ``config.json`` (relative to the project root), read for its dimensions
    when the files are at hand. Default: none."""
    source: Annotated[PvcModelSource | S3ModelSource, Field(discriminator="kind")]
    """Where the weights are."""
    served_name: ServedName | None = None
    """OpenAI ``model`` name of the base model and prefix of its adapters' names
    (``<servedName>:<adapter>``). Default: the base model's key."""

    @model_validator(mode="after")
    def _one_description(self) -> "BaseModelSpec":
        given = [k for k, v in (("architecture", self.architecture), ("shape", self.shape),
                                ("configFile", self.config_file)) if v is not None]
        check_rules(
            ("architecture", "say what the model is: an architecture of the capacity catalog, its shape "
                             "(layers, hiddenSize, attentionHeads, kvHeads, intermediateSize, vocabSize, maxContext) "
                             "or its configFile (config.json)") if not given else None,
            (given[1], f"give only one of architecture, shape and configFile; got {', '.join(given)}")
            if len(given) > 1 else None,
        )
        return self


class AdapterSpec(Spec):
    """A LoRA adapter version published to the object store and served by name."""

    name: str
    """Adapter name; the served name is ``<base servedName>:<name>``."""
    base_model: str
    """Key of the base model in ``models.baseModels``."""
    version: str
    """Immutable version folder, e.g. ``v2026-02-17``; ``latest`` is refused (the registry pins versions)."""
    source_dir: str
    """Directory (relative to the project root) with adapter_config.json and adapter weights."""
    rank: PositiveInt
    """LoRA rank ``r``; must not exceed the serving services' ``maxLoraRank``."""
    allow_external_source: bool = False
    """Publish ``sourceDir`` even if it (or a file in it) is a symlink or resolves outside the project
    root. Default: false (a stack publishes only files committed beside it)."""

    @field_validator("name", "version")
    @classmethod
    def _segment(cls, value: str) -> str:
        if not _PATH_SEGMENT.match(value):
            raise ValueError("must be lowercase letters, digits, '-', '.' or '_' (max 63), starting and ending alphanumeric")
        return value

    @field_validator("version")
    @classmethod
    def _pinned(cls, version: str) -> str:
        if version.lower() in {"latest", "current", "stable", "head"}:
            raise ValueError(f"version {version!r} is a moving alias; publish an immutable version such as v2026-02-17")
        return version


class EngineSpec(Spec):
    """vLLM engine options (typed; rendered into the server's arguments)."""

    max_loras: Annotated[int, Field(ge=1, le=256)] = 4
    """Adapters resident on the GPU in one batch (``--max-loras``). Default: 4."""
    max_lora_rank: Literal[1, 8, 16, 32, 64, 128, 256, 320, 512] = 16
    """Largest adapter rank accepted (``--max-lora-rank``; vLLM's allowed values). Default: 16."""
    max_cpu_loras: PositiveInt | None = None
    """Adapters cached in host memory (``--max-cpu-loras``), at least ``maxLoras``. Default: vLLM's (= maxLoras)."""
    gpu_memory_utilization: Annotated[float, Field(gt=0.0, le=0.98)] = 0.9
    """Fraction of device memory vLLM may use (``--gpu-memory-utilization``). Default: 0.9."""
    max_model_len: Annotated[int, Field(ge=256)] = 8192
    """Longest sequence (prompt + output) in tokens (``--max-model-len``). Default: 8192."""
    prefix_caching: bool = True
    """Reuse KV blocks of shared prompt prefixes (``--enable-prefix-caching``). Default: true."""
    kv_cache_dtype: Literal["auto", "fp8", "fp8_e4m3", "fp8_e5m2"] = "auto"
    """KV-cache element type (``--kv-cache-dtype``); fp8 halves KV memory. Default: auto (model dtype)."""
    quantization: Literal["fp8", "awq", "gptq", "compressed-tensors"] | None = None
    """Weight quantization method (``--quantization``). Default: none (model dtype)."""
    dtype: Literal["auto", "bfloat16", "float16"] = "auto"
    """Weight/activation dtype (``--dtype``). Default: auto."""
    structured_outputs_backend: Literal["auto", "xgrammar", "guidance", "outlines"] | None = None
    """Guided-decoding backend for JSON-schema outputs. Default: vLLM's choice."""
    tensor_parallel: PositiveInt = 1
    """Tensor-parallel GPUs per replica (``--tensor-parallel-size``). Default: 1."""
    pipeline_parallel: PositiveInt = 1
    """Pipeline stages (``--pipeline-parallel-size``); stages beyond one node use LeaderWorkerSet. Default: 1."""

    @model_validator(mode="after")
    def _cpu_cache_holds_gpu_set(self) -> "EngineSpec":
        check_rules(
            ("maxCpuLoras", f"must be >= maxLoras ({self.max_loras}), vLLM refuses a smaller host cache")
            if self.max_cpu_loras is not None and self.max_cpu_loras < self.max_loras
            else None
        )
        return self


class GpuRequestSpec(Spec):
    """What one replica asks of its pool; must match the pool's sharing mode."""

    count: PositiveInt = 1
    """Whole (or time-sliced) GPUs per pod, or MIG slices of ``migProfile``. Default: 1."""
    mig_profile: str | None = None
    """MIG profile to request (pool sharing ``mig``/``hybrid``). Default: whole GPUs."""
    dra_claim: str | None = None
    """Name of a claim template in ``gpu.dra.claimTemplates`` (pool sharing ``dra``). Default: none."""


class ReplicaSpec(Spec):
    """Replica bounds of a service."""

    min: Annotated[int, Field(ge=0, le=10_000)] = 1
    """Fewest replicas; 0 (scale to zero) is Knative mode only. Default: 1."""
    max: Annotated[int, Field(ge=1, le=10_000)] = 1
    """Most replicas. Default: 1."""

    @model_validator(mode="after")
    def _ordered(self) -> "ReplicaSpec":
        check_rules(("max", f"must be >= min ({self.min})") if self.max < self.min else None)
        return self


class AutoscalingSpec(Spec):
    """KEDA scaling on vLLM's own queue metrics (Standard mode)."""

    enabled: bool = False
    """Scale with KEDA between ``replicas.min`` and ``replicas.max``. Default: false."""
    metric: Literal["running", "waiting"] = "waiting"
    """``waiting``: ``vllm:num_requests_waiting`` (queueing); ``running``: ``vllm:num_requests_running``. Default: waiting."""
    target: Annotated[float, Field(gt=0)] = 4
    """Per-replica value of the metric above which KEDA adds replicas. Default: 4."""


class LoraServiceSpec(Spec):
    """A vLLM server for one base model and every adapter published for it."""

    base_model: str
    """Key of the base model in ``models.baseModels``."""
    pool: str
    """Key of the GPU pool in ``gpu.pools`` the replicas run on."""
    served_name: ServedName | None = None
    """OpenAI ``model`` name of the base model on this service; adapters are ``<servedName>:<adapter>``.
    Default: the base model's ``servedName``."""
    gpu: GpuRequestSpec = Field(default_factory=GpuRequestSpec)
    """GPU request per replica."""
    engine: EngineSpec = Field(default_factory=EngineSpec)
    """vLLM engine options."""
    adapter_mode: Literal["dynamic", "static"] = "dynamic"
    """``dynamic``: each replica's sync sidecar watches the registry and loads every adapter
    version into its vLLM at runtime; publishing one changes no pod spec. ``static``: ``--lora-modules`` at start-up; every
    adapter change restarts pods. Default: dynamic."""
    replicas: ReplicaSpec = Field(default_factory=ReplicaSpec)
    """Replica bounds."""
    autoscaling: AutoscalingSpec = Field(default_factory=AutoscalingSpec)
    """KEDA autoscaling."""
    frontend: Literal["kserve", "llm-d"] = "kserve"
    """``kserve``: an InferenceService; ``llm-d``: an llm-d model service behind the inference
    gateway's endpoint picker. Default: kserve."""
    auth: bool = False
    """Require a bearer token (``--api-key``) generated per service and kept secret. Default: false."""
    cpu: Quantity = "8"
    """CPU request and limit per replica. Default: 8."""
    memory_gib: Gib = 64
    """Memory request and limit per replica; host LoRA cache and tokenizers live here. Default: 64."""


class ModelsSpec(Spec):
    """Base models and adapters."""

    base_models: dict[PathSegment, BaseModelSpec] = Field(default_factory=dict)
    """Base models by key. Default: none."""
    adapters: list[AdapterSpec] = Field(default_factory=list)
    """Adapter versions to publish and serve. Default: none."""
    vllm_image: ImageRef = ImageRef(registry="docker.io", repository="vllm/vllm-openai", tag="v0.33.0")
    """vLLM server image; its version must match the argument spec the arguments are checked
    against (``components/models/vllm_argspec``). The adapter sync sidecar runs in it too.
    Default: docker.io/vllm/vllm-openai:v0.33.0."""
    lora_sync_interval_seconds: Annotated[int, Field(ge=5, le=3600)] = 15
    """How often each replica's sync sidecar re-checks what its vLLM really serves (a restarted
    engine forgets its adapters). Registry changes arrive through a Kubernetes API watch, not
    this interval. Default: 15."""
    lora_cache_gib: Annotated[int, Field(ge=1, le=1000)] = 10
    """Size limit of each replica's local adapter cache (an emptyDir). Default: 10."""


