"""VRAM capacity planner for vLLM services (pure functions, no Pulumi).

Answers, before anything is deployed: does this model, at this precision,
with these LoRA slots and this ``max_model_len``, fit on its GPU (or MIG
slice, or tensor-parallel group), and how many full-length sequences does the
KV cache then hold? A service that cannot hold one sequence is refused with
every term in GiB, because vLLM would otherwise crash-loop at start-up with
"max seq len is larger than the maximum number of tokens that can be stored
in KV cache".

The model, per GPU of a ``tp x pp`` group (all sizes in bytes, GiB = 2**30):

  usable     = device memory x gpu_memory_utilization            (vLLM's budget)
  weights    = (linear params x B_w + scale overhead
                + embedding/lm_head params x B_16) / (tp x pp)
  lora       = max_loras x rank x sum over wrapped modules of
               (in + out, sharded per tensor parallelism) x layers/pp x B_lora
  reserve    = activation peak + non-torch memory + CUDA graphs  (stated, default 2 GiB)
  kv space   = usable - weights - lora - reserve
  kv/token   = layers/pp x max(1, kv_heads / tp) x head_dim x 2 (K and V) x B_kv
  kv tokens  = kv space / kv/token, rounded down to whole 16-token blocks
  sequences  = kv tokens // max_model_len                       (refused when 0)

Approximations, stated once: weights split evenly across the group (the
vocab-parallel embedding does split; norms, a few MB, are counted as linear
weights); quantised checkpoints keep the embedding and lm_head in 16 bit (true
for vLLM's fp8 and for AWQ/GPTQ checkpoints; checkpoint-specific schemes such
as Meta's 405B FP8, which also keeps attention in bf16, are heavier); the
reserve is a constant, not a profile.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from components.gpu.catalog import GIB, HARDWARE, MIB

KIB = 2**10
KV_BLOCK_TOKENS = 16  # vLLM's default --block-size on CUDA: KV is allocated per block
DEFAULT_OVERHEAD_GIB = 2.0
# vLLM's memory profile of Llama-3.1-8B on an H100 logs non_torch 0.12-0.65 GiB and
# an activation peak of 1.19-1.24 GiB; 2 GiB covers that plus CUDA graphs.


class CapacityError(ValueError):
    """The service does not fit; the message carries every budget term in GiB."""


# --------------------------------------------------------------------------
# architectures


@dataclass(frozen=True)
class ModelArch:
    """A dense decoder-only transformer (Llama-style: gated MLP, GQA)."""

    name: str
    parameters: int
    layers: int
    hidden_size: int
    attention_heads: int
    kv_heads: int
    head_dim: int
    intermediate_size: int
    vocab_size: int
    max_context: int = 0
    """``max_position_embeddings`` of config.json: the longest ``--max-model-len`` vLLM accepts."""
    tie_word_embeddings: bool = False
    qkv_bias: bool = False
    max_context: int | None = None
    """``max_position_embeddings``: the longest ``max_model_len`` vLLM accepts (None: unknown)."""
    source: str = ""

    @property
    def embedding_parameters(self) -> int:
        """Input embedding plus lm_head (one matrix when tied)."""
        return self.vocab_size * self.hidden_size * (1 if self.tie_word_embeddings else 2)

    @property
    def linear_parameters(self) -> int:
        """Everything but the embedding/lm_head: what weight quantisation shrinks."""
        return self.parameters - self.embedding_parameters

    def estimated_parameters(self) -> int:
        """Parameter count from the dimensions (checks the catalog's figure)."""
        h, q, kv = self.hidden_size, self.attention_heads * self.head_dim, self.kv_heads * self.head_dim
        attn = h * q + 2 * h * kv + q * h + (q + 2 * kv if self.qkv_bias else 0)
        mlp = 3 * h * self.intermediate_size
        per_layer = attn + mlp + 2 * h  # two RMSNorms
        return self.layers * per_layer + self.embedding_parameters + h  # + final norm

    def lora_modules(self) -> dict[str, tuple[int, int, str]]:
        """Modules vLLM wraps with LoRA by default: name -> (in, out, parallelism).

        vLLM keeps one A/B pair per slice of its packed qkv_proj and
        gate_up_proj, so the sum equals PEFT's q/k/v/o/gate/up/down modules.
        """
        h, q, kv, i = self.hidden_size, self.attention_heads * self.head_dim, self.kv_heads * self.head_dim, self.intermediate_size
        return {
            "q_proj": (h, q, "column"),
            "k_proj": (h, kv, "column"),
            "v_proj": (h, kv, "column"),
            "o_proj": (q, h, "row"),
            "gate_proj": (h, i, "column"),
            "up_proj": (h, i, "column"),
            "down_proj": (i, h, "row"),
        }

    def kv_bytes_per_token(self, kv_bytes: float, tp: int = 1, pp: int = 1) -> int:
        """KV cache per token on one GPU: layers x KV heads x head_dim x 2 (K, V) x bytes."""
        layers = math.ceil(self.layers / pp)
        heads = max(1, self.kv_heads // tp)  # vLLM replicates KV heads when tp > kv_heads
        return int(layers * heads * self.head_dim * 2 * kv_bytes)


# Figures from each model's config.json on the Hugging Face hub; `parameters` is
# the exact count (equal to estimated_parameters(), which a test checks).
CATALOG: Mapping[str, ModelArch] = MappingProxyType({
    a.name: a
    for a in (
        ModelArch("Llama-3.1-8B", 8_030_261_248, layers=32, hidden_size=4096, attention_heads=32, kv_heads=8,
                  head_dim=128, intermediate_size=14336, vocab_size=128256, max_context=131072,
                  source="huggingface.co/meta-llama/Llama-3.1-8B config.json"),
        ModelArch("Llama-3.1-70B", 70_553_706_496, layers=80, hidden_size=8192, attention_heads=64, kv_heads=8,
                  head_dim=128, intermediate_size=28672, vocab_size=128256, max_context=131072,
                  source="huggingface.co/meta-llama/Llama-3.1-70B config.json"),
        ModelArch("Llama-3.1-405B", 405_853_388_800, layers=126, hidden_size=16384, attention_heads=128, kv_heads=8,
                  head_dim=128, intermediate_size=53248, vocab_size=128256, max_context=131072,
                  source="huggingface.co/meta-llama/Llama-3.1-405B config.json"),
        ModelArch("Qwen2.5-7B", 7_615_616_512, layers=28, hidden_size=3584, attention_heads=28, kv_heads=4,
                  head_dim=128, intermediate_size=18944, vocab_size=152064, qkv_bias=True, max_context=131072,
                  source="huggingface.co/Qwen/Qwen2.5-7B config.json"),
        ModelArch("Mistral-7B-v0.3", 7_248_023_552, layers=32, hidden_size=4096, attention_heads=32, kv_heads=8,
                  head_dim=128, intermediate_size=14336, vocab_size=32768, max_context=32768,
                  source="huggingface.co/mistralai/Mistral-7B-v0.3 config.json"),
    )
})


def get_arch(name: str) -> ModelArch:
    try:
        return CATALOG[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(CATALOG), n=2, cutoff=0.5)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise KeyError(f"no architecture {name!r} in the capacity catalog ({', '.join(CATALOG)}){hint}") from None


# --------------------------------------------------------------------------
# precisions


@dataclass(frozen=True)
class WeightFormat:
    name: str
    bytes_per_param: float
    scale_bytes_per_param: float = 0.0  # quantisation scales/zeros
    note: str = ""

    @property
    def quantized(self) -> bool:
        return self.bytes_per_param < 2


WEIGHT_FORMATS: Mapping[str, WeightFormat] = MappingProxyType({
    "bf16": WeightFormat("bf16", 2),
    "fp16": WeightFormat("fp16", 2),
    "fp8": WeightFormat("fp8", 1, note="per-tensor/per-channel scales: negligible"),
    "int8": WeightFormat("int8", 1, note="per-channel scales: negligible"),
    # 4-bit with group size 128: an fp16 scale (2 B) and a packed 4-bit zero point
    # (0.5 B) per 128 weights.
    "int4": WeightFormat("int4", 0.5, 2.5 / 128, note="group 128: +2.5 B of scale/zero per 128 weights"),
})
WEIGHT_FORMATS = MappingProxyType({**WEIGHT_FORMATS, "awq": WEIGHT_FORMATS["int4"], "gptq": WEIGHT_FORMATS["int4"]})

# vLLM --quantization values -> the weight format they load (4-bit assumed for AWQ/GPTQ).
QUANTIZATION_TO_WEIGHTS: Mapping[str, str] = MappingProxyType({
    "fp8": "fp8", "fp8_per_tensor": "fp8", "fp8_per_channel": "fp8", "fp8_per_block": "fp8",
    "fbgemm_fp8": "fp8", "modelopt": "fp8",
    "awq": "int4", "awq_marlin": "int4", "auto_awq": "int4",
    "gptq": "int4", "gptq_marlin": "int4", "auto_gptq": "int4",
    "int8_per_channel_weight_only": "int8", "experts_int8": "int8",
})

# --kv-cache-dtype -> bytes per element; "auto" follows the activation dtype.
KV_DTYPE_BYTES: Mapping[str, float] = MappingProxyType({
    "bfloat16": 2, "float16": 2, "fp8": 1, "fp8_e4m3": 1, "fp8_e5m2": 1, "fp8_inc": 1,
})


def weight_format(name: str) -> WeightFormat:
    try:
        return WEIGHT_FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown weight format {name!r} (known: {', '.join(WEIGHT_FORMATS)})") from None


def weight_format_for_quantization(quantization: str | None, dtype: str = "bf16") -> WeightFormat:
    """The weight format vLLM loads for a ``--quantization`` value."""
    if quantization is None:
        return weight_format("fp16" if dtype in ("float16", "half", "fp16") else "bf16")
    if quantization not in QUANTIZATION_TO_WEIGHTS:
        raise ValueError(f"cannot size --quantization {quantization!r} from its name (the checkpoint decides); "
                         f"pass the weight format explicitly ({', '.join(WEIGHT_FORMATS)})")
    return weight_format(QUANTIZATION_TO_WEIGHTS[quantization])


def checkpoint_gib(architecture: str, quantization: str | None, dtype: str = "bf16") -> int:
    """GiB a checkpoint of ``architecture`` takes on disk (quantised: embeddings stay 16-bit), rounded up
    with 5% for tokenizer files and safetensors headers."""
    arch = get_arch(architecture)
    fmt = weight_format_for_quantization(quantization, dtype)
    if fmt.quantized:
        total = arch.linear_parameters * (fmt.bytes_per_param + fmt.scale_bytes_per_param) + arch.embedding_parameters * 2
    else:
        total = arch.parameters * fmt.bytes_per_param
    return math.ceil(total * 1.05 / GIB)


def kv_bytes(kv_cache_dtype: str, activation_bytes: float = 2) -> float:
    if kv_cache_dtype == "auto":
        return activation_bytes
    try:
        return KV_DTYPE_BYTES[kv_cache_dtype]
    except KeyError:
        raise ValueError(f"the planner cannot size --kv-cache-dtype {kv_cache_dtype!r} "
                         f"(known: auto, {', '.join(KV_DTYPE_BYTES)})") from None


# --------------------------------------------------------------------------
# devices


@dataclass(frozen=True)
class Device:
    """A GPU or MIG slice as the CUDA runtime sizes it."""

    name: str
    memory_bytes: int
    basis: str  # where the figure comes from

    @property
    def memory_gib(self) -> float:
        return self.memory_bytes / GIB

    def mig_slice(self, profile: str, memory_slices: int) -> "Device":
        """A MIG instance owning ``memory_slices`` of the GPU's 8 memory slices."""
        total = HARDWARE.mig_geometry.memory_slices
        if not 1 <= memory_slices <= total:
            raise ValueError(f"a MIG instance owns 1..{total} memory slices, not {memory_slices}")
        return Device(f"{self.name} MIG {profile}", self.memory_bytes * memory_slices // total,
                      f"{memory_slices}/{total} of {self.name} (estimate: nvidia-smi shows a little less)")


DEVICES: Mapping[str, Device] = MappingProxyType({
    hw.model: Device(hw.model, hw.memory.bytes, hw.memory.basis)
    for hw in HARDWARE.gpus if hw.memory.bytes is not None
})
"""Whole GPUs the planner can size: every GPU of the hardware catalog (``components/gpu/catalog.yaml``)
with a memory figure, and that figure's basis (CUDA-visible, nominal, or Karpenter's per-GPU memory)."""


def mig_memory_slices(gpu: str) -> Mapping[str, int]:
    """MIG profile -> memory slices of ``gpu`` (empty for a GPU without MIG or not in the catalog).
    Per GPU, because one name can mean two profiles (``1g.10gb`` is 1 slice on A100-80GB, 2 on
    A100-40GB)."""
    hw = HARDWARE.gpu(gpu)
    if hw is None or hw.mig is None:
        return MappingProxyType({})
    geometry = HARDWARE.mig_geometry
    return MappingProxyType({name: geometry.kind(kind).memory_slices for kind, name in hw.mig.profiles})


def whole_gpu_device(gpu: str) -> Device:
    """The planner's device for a whole GPU of the catalog (model or alias, case-insensitive)."""
    hw = HARDWARE.gpu(gpu)
    if hw is None or hw.memory.bytes is None:
        why = f": {hw.memory.basis}" if hw is not None else " in the GPU hardware catalog"
        raise KeyError(f"no memory figure for GPU {gpu!r}{why} (known: {', '.join(sorted(DEVICES))})")
    return DEVICES[hw.model]


def get_device(name: str) -> Device:
    """``H100-80GB`` or a MIG slice such as ``H100-80GB/3g.40gb``."""
    gpu, _, profile = name.partition("/")
    hw = HARDWARE.gpu(gpu)
    if hw is None or hw.memory.bytes is None:
        why = f" ({hw.memory.basis})" if hw is not None else ""
        raise KeyError(f"no device {gpu!r}{why} (known: {', '.join(DEVICES)}); pass a Device(name, memory_bytes, basis)")
    device = DEVICES[hw.model]
    if not profile:
        return device
    slices = mig_memory_slices(hw.model)
    if profile not in slices:
        known = ", ".join(slices) if slices else "none, it has no MIG"
        raise KeyError(f"no MIG profile {profile!r} on {hw.model} (known: {known})")
    return device.mig_slice(profile, slices[profile])


# --------------------------------------------------------------------------
# the budget


@dataclass(frozen=True)
class LoraSlots:
    """GPU LoRA slots vLLM preallocates (``--max-loras`` x ``--max-lora-rank``)."""

    max_loras: int = 0
    max_lora_rank: int = 16
    target_modules: tuple[str, ...] | None = None  # None: every module vLLM wraps (its default)
    dtype_bytes: float = 2  # lora_dtype auto = model dtype
    fully_sharded: bool = False
    max_cpu_loras: int | None = None  # host cache, defaults to max_loras


def adapter_bytes(arch: ModelArch, rank: int, target_modules: Sequence[str] | None = None, dtype_bytes: float = 2) -> int:
    """One adapter: rank x sum over modules of (in + out) x layers x bytes."""
    mods = arch.lora_modules()
    names = target_modules or tuple(mods)
    unknown = sorted(set(names) - set(mods))
    if unknown:
        raise ValueError(f"unknown LoRA target modules {unknown} (known: {', '.join(mods)})")
    per_layer = sum(mods[m][0] + mods[m][1] for m in names)
    return int(rank * per_layer * arch.layers * dtype_bytes)


def lora_slot_bytes(arch: ModelArch, slots: LoraSlots, tp: int = 1, pp: int = 1) -> int:
    """GPU memory of the LoRA slots on one GPU of a tp x pp group.

    vLLM shards LoRA B of column-parallel layers and LoRA A of row-parallel
    layers; the other matrix is whole on every rank unless fully_sharded.
    """
    if slots.max_loras <= 0:
        return 0
    mods = arch.lora_modules()
    names = slots.target_modules or tuple(mods)
    per_layer = 0.0
    for m in names:
        fan_in, fan_out, kind = mods[m]
        if slots.fully_sharded:
            per_layer += (fan_in + fan_out) / tp
        elif kind == "column":
            per_layer += fan_in + fan_out / tp
        else:
            per_layer += fan_in / tp + fan_out
    layers = math.ceil(arch.layers / pp)
    return int(slots.max_loras * slots.max_lora_rank * per_layer * layers * slots.dtype_bytes)


@dataclass(frozen=True)
class VramBudget:
    """The per-GPU memory budget of one replica (bytes, except where named)."""

    arch: ModelArch
    device: Device
    weights_format: WeightFormat
    kv_cache_dtype: str
    kv_element_bytes: float
    tensor_parallel: int
    pipeline_parallel: int
    gpu_memory_utilization: float
    max_model_len: int
    lora: LoraSlots
    usable_bytes: int
    model_weights_bytes: int  # whole model, before the tp x pp split
    weights_bytes: int
    lora_bytes: int
    overhead_bytes: int
    kv_bytes_per_token: int
    host_lora_cache_bytes: int

    @property
    def gpus(self) -> int:
        return self.tensor_parallel * self.pipeline_parallel

    @property
    def kv_space_bytes(self) -> int:
        return self.usable_bytes - self.weights_bytes - self.lora_bytes - self.overhead_bytes

    @property
    def kv_tokens(self) -> int:
        if self.kv_space_bytes <= 0:
            return 0
        blocks = self.kv_space_bytes // (self.kv_bytes_per_token * KV_BLOCK_TOKENS)
        return int(blocks * KV_BLOCK_TOKENS)

    @property
    def sequence_bytes(self) -> int:
        """KV of one full max_model_len sequence on one GPU."""
        return self.kv_bytes_per_token * self.max_model_len

    @property
    def max_sequences(self) -> int:
        """Full-length sequences the KV cache holds at once."""
        return self.kv_tokens // self.max_model_len

    @property
    def fits(self) -> bool:
        return self.max_sequences >= 1

    def describe(self) -> str:
        return (f"{self.arch.name} ({self.weights_format.name} weights, KV {self.kv_cache_dtype}"
                f"={self.kv_element_bytes:g} B) on {self.gpus} x {self.device.name} "
                f"(tp={self.tensor_parallel}, pp={self.pipeline_parallel}) at gpu_memory_utilization "
                f"{self.gpu_memory_utilization:g}")


def plan_vram(
    arch: ModelArch | str,
    device: Device | str,
    *,
    max_model_len: int,
    weights: str | WeightFormat = "bf16",
    kv_cache_dtype: str = "auto",
    gpu_memory_utilization: float = 0.9,
    tensor_parallel: int = 1,
    pipeline_parallel: int = 1,
    lora: LoraSlots | None = None,
    overhead_gib: float = DEFAULT_OVERHEAD_GIB,
    activation_bytes: float = 2,
) -> VramBudget:
    """The per-GPU VRAM budget of one replica (never raises for lack of room: see ``refuse``)."""
    arch = get_arch(arch) if isinstance(arch, str) else arch
    device = get_device(device) if isinstance(device, str) else device
    fmt = weight_format(weights) if isinstance(weights, str) else weights
    lora = lora or LoraSlots()
    if not 0 < gpu_memory_utilization <= 1:
        raise ValueError(f"gpu_memory_utilization {gpu_memory_utilization} must be in (0, 1]")
    if max_model_len < 1:
        raise ValueError(f"max_model_len {max_model_len} must be >= 1")
    if tensor_parallel < 1 or pipeline_parallel < 1:
        raise ValueError("tensor_parallel and pipeline_parallel must be >= 1")
    if arch.attention_heads % tensor_parallel:
        raise ValueError(f"{arch.name}: {arch.attention_heads} attention heads do not split over tp={tensor_parallel}")
    if lora.max_loras < 0 or (lora.max_cpu_loras is not None and lora.max_cpu_loras < lora.max_loras):
        raise ValueError("max_cpu_loras must be >= max_loras >= 0")
    if fmt.quantized:
        total = arch.linear_parameters * (fmt.bytes_per_param + fmt.scale_bytes_per_param) + arch.embedding_parameters * 2
    else:
        total = arch.parameters * fmt.bytes_per_param
    kvb = kv_bytes(kv_cache_dtype, activation_bytes)
    group = tensor_parallel * pipeline_parallel
    cpu_loras = lora.max_cpu_loras if lora.max_cpu_loras is not None else lora.max_loras
    return VramBudget(
        arch=arch,
        device=device,
        weights_format=fmt,
        kv_cache_dtype=kv_cache_dtype,
        kv_element_bytes=kvb,
        tensor_parallel=tensor_parallel,
        pipeline_parallel=pipeline_parallel,
        gpu_memory_utilization=gpu_memory_utilization,
        max_model_len=max_model_len,
        lora=lora,
        usable_bytes=int(device.memory_bytes * gpu_memory_utilization),
        model_weights_bytes=math.ceil(total),
        weights_bytes=math.ceil(total / group),
        lora_bytes=lora_slot_bytes(arch, lora, tensor_parallel, pipeline_parallel),
        overhead_bytes=int(overhead_gib * GIB),
        kv_bytes_per_token=arch.kv_bytes_per_token(kvb, tensor_parallel, pipeline_parallel),
        host_lora_cache_bytes=cpu_loras * adapter_bytes(arch, lora.max_lora_rank, lora.target_modules, lora.dtype_bytes)
        if lora.max_loras else 0,
    )


def _gib(n: float) -> str:
    return f"{n / GIB:.2f} GiB"


def refuse(budget: VramBudget) -> VramBudget:
    """Return ``budget`` if one full ``max_model_len`` sequence fits, else raise CapacityError."""
    if budget.fits:
        return budget
    b = budget
    used = b.weights_bytes + b.lora_bytes + b.overhead_bytes
    raise CapacityError(
        f"{b.describe()} cannot hold one {b.max_model_len}-token sequence: "
        f"usable {_gib(b.usable_bytes)} = {_gib(b.device.memory_bytes)} x {b.gpu_memory_utilization:g}; "
        f"weights {_gib(b.weights_bytes)} + LoRA slots {_gib(b.lora_bytes)} + activation/overhead reserve "
        f"{_gib(b.overhead_bytes)} = {_gib(used)} leaves {_gib(b.kv_space_bytes)} for the KV cache "
        f"({b.kv_tokens} tokens); one sequence needs {_gib(b.sequence_bytes)} "
        f"({b.max_model_len} tokens x {b.kv_bytes_per_token / KIB:.2f} KiB/token). "
        "Lower max_model_len, quantise weights or KV cache (fp8), or add GPUs (tensor parallelism)."
    )


def plan_or_refuse(*args, **kwargs) -> VramBudget:
    return refuse(plan_vram(*args, **kwargs))


# --------------------------------------------------------------------------
# sizing and the multi-LoRA comparison

# (tp, pp) groups tried in order: one node of up to 8 GPUs first, then pipeline stages.
PARALLEL_LAYOUTS: tuple[tuple[int, int], ...] = ((1, 1), (2, 1), (4, 1), (8, 1), (8, 2), (8, 4))


def smallest_fit(arch: ModelArch | str, device: Device | str, *, min_sequences: int = 1, **kwargs) -> VramBudget:
    """The smallest tp x pp group on which ``min_sequences`` full sequences fit."""
    last = None
    for tp, pp in PARALLEL_LAYOUTS:
        a = get_arch(arch) if isinstance(arch, str) else arch
        if a.attention_heads % tp:
            continue
        last = plan_vram(arch, device, tensor_parallel=tp, pipeline_parallel=pp, **kwargs)
        if last.max_sequences >= min_sequences:
            return last
    assert last is not None
    refuse(last)
    raise CapacityError(f"{last.describe()} holds {last.max_sequences} sequences, fewer than {min_sequences}")


@dataclass(frozen=True)
class LoraConsolidation:
    """GPUs for N use cases: one multi-LoRA base vs one full fine-tune each."""

    use_cases: int
    shared: VramBudget  # one replica serving every adapter
    dedicated: VramBudget  # one replica of one fully fine-tuned model

    @property
    def shared_gpus(self) -> int:
        return self.shared.gpus

    @property
    def dedicated_gpus(self) -> int:
        return self.use_cases * self.dedicated.gpus

    @property
    def gpus_saved(self) -> int:
        return self.dedicated_gpus - self.shared_gpus

    @property
    def stored_bytes_shared(self) -> int:
        """Base weights once plus every adapter."""
        a = self.shared
        return a.model_weights_bytes + self.use_cases * adapter_bytes(
            a.arch, a.lora.max_lora_rank, a.lora.target_modules, a.lora.dtype_bytes)

    @property
    def stored_bytes_dedicated(self) -> int:
        return self.use_cases * self.dedicated.model_weights_bytes


def compare_multi_lora(
    arch: ModelArch | str,
    device: Device | str,
    use_cases: int,
    *,
    max_model_len: int,
    max_loras: int = 4,
    max_lora_rank: int = 16,
    min_sequences: int = 1,
    **kwargs,
) -> LoraConsolidation:
    """GPUs needed for ``use_cases`` adapters on one shared base vs N full models.

    Memory only, one replica each: it says nothing about throughput, which
    the shared base divides between use cases (add replicas for load in
    either design). Adapters beyond ``max_loras`` wait in the host cache
    (``max_cpu_loras`` = ``use_cases``), so GPU slots do not grow with N.
    """
    if use_cases < 1:
        raise ValueError("use_cases must be >= 1")
    slots = LoraSlots(max_loras=min(max_loras, use_cases), max_lora_rank=max_lora_rank,
                      max_cpu_loras=max(use_cases, min(max_loras, use_cases)))
    shared = smallest_fit(arch, device, max_model_len=max_model_len, lora=slots, min_sequences=min_sequences, **kwargs)
    dedicated = smallest_fit(arch, device, max_model_len=max_model_len, min_sequences=min_sequences, **kwargs)
    return LoraConsolidation(use_cases, shared, dedicated)


# --------------------------------------------------------------------------
# rendering


def _table(rows: Sequence[tuple[str, str]]) -> str:
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def format_budget(b: VramBudget) -> str:
    """The budget as a plain-text table (per GPU)."""
    f = b.weights_format
    lora = b.lora
    rows = [
        ("device memory", f"{b.device.memory_gib:8.2f} GiB  ({b.device.basis})"),
        (f"usable (x {b.gpu_memory_utilization:g})", f"{b.usable_bytes / GIB:8.2f} GiB"),
        (f"- weights ({f.name}, {b.arch.parameters / 1e9:.2f} B params / {b.gpus})", f"{b.weights_bytes / GIB:8.2f} GiB"),
        (f"- LoRA slots ({lora.max_loras} x r{lora.max_lora_rank})", f"{b.lora_bytes / GIB:8.2f} GiB"),
        ("- activation/overhead reserve", f"{b.overhead_bytes / GIB:8.2f} GiB"),
        ("= KV cache space", f"{b.kv_space_bytes / GIB:8.2f} GiB"),
        (f"KV per token ({b.kv_cache_dtype}, {b.kv_element_bytes:g} B)", f"{b.kv_bytes_per_token / KIB:8.2f} KiB"),
        ("KV tokens", f"{b.kv_tokens:>8,}"),
        (f"sequences of {b.max_model_len} tokens", f"{b.max_sequences:>8,}"),
        ("verdict", "fits" if b.fits else "REFUSED: not one full sequence fits"),
    ]
    if b.host_lora_cache_bytes:
        cpu = lora.max_cpu_loras if lora.max_cpu_loras is not None else lora.max_loras
        rows.append(("host RAM, LoRA CPU cache", f"{b.host_lora_cache_bytes / GIB:8.2f} GiB  ({cpu} adapters)"))
    return b.describe() + "\n" + _table(rows)


def format_consolidation(c: LoraConsolidation) -> str:
    rows = [
        ("design", "GPUs (or MIG slices)"),
        (f"multi-LoRA: 1 base + {c.use_cases} adapters", f"{c.shared_gpus} (tp={c.shared.tensor_parallel}, pp={c.shared.pipeline_parallel})"),
        (f"full fine-tunes: {c.use_cases} models", f"{c.dedicated_gpus} ({c.use_cases} x {c.dedicated.gpus})"),
        ("GPUs saved", f"{c.gpus_saved}"),
        ("weights stored, multi-LoRA", f"{c.stored_bytes_shared / GIB:.2f} GiB"),
        ("weights stored, full fine-tunes", f"{c.stored_bytes_dedicated / GIB:.2f} GiB"),
    ]
    return f"{c.shared.arch.name} on {c.shared.device.name}, max_model_len {c.shared.max_model_len}\n" + _table(rows)


__all__ = [
    "GIB", "CapacityError", "ModelArch", "CATALOG", "get_arch", "WeightFormat", "WEIGHT_FORMATS",
    "weight_format", "weight_format_for_quantization", "kv_bytes", "Device", "DEVICES",
    "get_device", "mig_memory_slices", "whole_gpu_device", "LoraSlots", "adapter_bytes", "lora_slot_bytes", "VramBudget", "plan_vram", "refuse",
    "plan_or_refuse", "smallest_fit", "LoraConsolidation", "compare_multi_lora", "format_budget",
    "format_consolidation",
]
