"""The capacity planner applied to a stack: each service's VRAM budget on its own GPU or MIG
slice, the config rule refusing a service that cannot hold one full ``--max-model-len``
sequence, and the GPU count of the whole stack next to one fully fine-tuned model per use case.

Devices come from the GPU hardware catalog (``components/gpu/catalog.yaml``), so the planner and
the pools agree on memory: whole GPUs from ``capacity.DEVICES`` (the catalog's figure: measured
through CUDA, nominal, or the per-GPU memory Karpenter reports, each with its basis); MIG slices
own ``memory_slices``/8 of their GPU, per the MIG catalog (``mig.gpu_spec(gpu).profile(p)``). A time-sliced GPU is planned as the whole GPU:
time slicing shares compute, not memory, so every replica must fit the device on its own
terms (``gpuMemoryUtilization`` is each process's share to keep concurrent replicas apart).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from components.gpu.spec import GpuPoolSpec, HybridSharing, MigSharing, TimeSlicingSharing
from components.models import capacity
from components.models.shape import ShapeError, model_arch
from components.models.spec import LoraServiceSpec

def whole_gpu(gpu: str) -> capacity.Device:
    """The planner's device for a whole GPU named as in ``gpu.pools.*.gpu``."""
    return capacity.whole_gpu_device(gpu)


def service_device(pool: GpuPoolSpec, mig_profile: str | None) -> capacity.Device:
    """What one GPU of a replica is: a whole (possibly time-sliced) GPU or a MIG slice."""
    gpu = whole_gpu(pool.gpu)
    if mig_profile is not None and isinstance(pool.sharing, (MigSharing, HybridSharing)):
        from components.gpu.mig import gpu_spec

        profile = gpu_spec(pool.gpu).profile(mig_profile)
        return gpu.mig_slice(mig_profile, profile.memory_slices)
    return gpu


def service_budget(spec: LoraServiceSpec, architecture: capacity.ModelArch | str, pool: GpuPoolSpec) -> capacity.VramBudget:
    """The per-GPU VRAM budget of one replica of ``spec``."""
    e = spec.engine
    return capacity.plan_vram(
        architecture,
        service_device(pool, spec.gpu.mig_profile),
        max_model_len=e.max_model_len,
        weights=capacity.weight_format_for_quantization(e.quantization, e.dtype),
        kv_cache_dtype=e.kv_cache_dtype,
        gpu_memory_utilization=e.gpu_memory_utilization,
        tensor_parallel=e.tensor_parallel,
        pipeline_parallel=e.pipeline_parallel,
        lora=capacity.LoraSlots(max_loras=e.max_loras, max_lora_rank=e.max_lora_rank, max_cpu_loras=e.max_cpu_loras),
    )


def capacity_rules(cfg) -> list[tuple[str, str]]:
    """Refuse services that cannot hold one full ``maxModelLen`` sequence (every term in GiB).

    Runs after the reference rules: services with an unknown pool or base model are reported
    there and skipped here.
    """
    issues = []
    for name, svc in sorted(cfg.serving.services.items()):
        base = cfg.models.base_models.get(svc.base_model)
        pool = cfg.gpu.pools.get(svc.pool)
        if base is None or pool is None:
            continue
        try:
            arch = model_arch(svc.base_model, base)
        except ShapeError:
            continue  # reported by architecture_rules with every other error
        issues += service_capacity_rules(svc, arch, pool, path=f"serving.services.{name}",
                                         architecture_path=f"models.baseModels.{svc.base_model}.architecture",
                                         gpu_path=f"gpu.pools.{svc.pool}.gpu")
    return issues


def service_capacity_rules(svc: LoraServiceSpec, architecture: capacity.ModelArch | str, pool: GpuPoolSpec, *,
                           path: str, architecture_path: str, gpu_path: str) -> list[tuple[str, str]]:
    """One service's capacity check: refused when a replica cannot hold one full ``maxModelLen``
    sequence. The stack rules and ``VllmLoraService`` both call it with their own paths: ``path``
    of the service spec, ``architecture_path`` of the base model's architecture, ``gpu_path`` of
    the pool's GPU."""
    try:
        budget = service_budget(svc, architecture, pool)
    except KeyError as exc:
        return [(architecture_path if "architecture" in str(exc) else gpu_path, str(exc).strip("'\""))]
    except (ValueError, Exception) as exc:  # MigLayoutError and planner input errors
        return [(f"{path}.engine", str(exc))]
    if not budget.fits:
        try:
            capacity.refuse(budget)
        except capacity.CapacityError as exc:
            return [(f"{path}.engine.maxModelLen", f"{svc.engine.max_model_len} does not fit: {exc}")]
    return []


def architecture_rules(cfg) -> list[tuple[str, str]]:
    """Every base model resolves to dimensions, and no service asks for a longer ``maxModelLen``
    than its model's context (vLLM refuses to start). Independent of every other rule, so its
    errors come with the rest."""
    issues = []
    archs: dict[str, capacity.ModelArch] = {}
    for name, base in sorted(cfg.models.base_models.items()):
        try:
            archs[name] = model_arch(name, base)
        except ShapeError as exc:
            issues.append((f"models.baseModels.{name}.{exc.field}", str(exc)))
    for name, svc in sorted(cfg.serving.services.items()):
        arch = archs.get(svc.base_model)
        if arch is not None and arch.max_context is not None and svc.engine.max_model_len > arch.max_context:
            issues.append((f"serving.services.{name}.engine.maxModelLen",
                           f"{svc.engine.max_model_len} exceeds the maximum context of {svc.base_model!r} "
                           f"({arch.max_context} tokens, max_position_embeddings); vLLM refuses to start"))
    return issues


SHARED_GPU_BUDGET = 0.95
"""Most of a time-sliced GPU's memory the vLLM processes sharing it may claim together (each one's
CUDA context and the driver need the rest)."""


def time_slicing_rules(cfg) -> list[tuple[str, str]]:
    """vLLM pods sharing a time-sliced GPU must not claim more than its memory together.

    Time slicing isolates nothing: the device plugin advertises each GPU ``replicas`` times and
    the scheduler may put that many pods on one GPU. vLLM reserves ``gpuMemoryUtilization`` of
    the *whole* device at start-up, so the pods that can land together (at most ``replicas``,
    and at most the total ``replicas.max`` of the services on the pool) must fit in it.
    """
    issues = []
    groups: dict[tuple[str, str | None], list[str]] = {}
    for name, svc in sorted(cfg.serving.services.items()):
        pool = cfg.gpu.pools.get(svc.pool)
        if pool is None:
            continue
        sharing = pool.sharing
        if isinstance(sharing, TimeSlicingSharing) or (
                isinstance(sharing, HybridSharing) and svc.gpu.mig_profile in sharing.time_sliced):
            groups.setdefault((svc.pool, svc.gpu.mig_profile), []).append(name)
    for (pool_name, profile), names in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        sharing = cfg.gpu.pools[pool_name].sharing
        slots = sharing.replicas if isinstance(sharing, TimeSlicingSharing) else sharing.time_sliced[profile]
        pods = sum(cfg.serving.services[n].replicas.max for n in names)
        sharers = min(slots, pods)
        if sharers < 2:
            continue
        limit = SHARED_GPU_BUDGET / sharers
        where = f"pool {pool_name!r}" + (f" ({profile} slices)" if profile else "")
        for n in names:
            util = cfg.serving.services[n].engine.gpu_memory_utilization
            if util > limit + 1e-9:
                issues.append((f"serving.services.{n}.engine.gpuMemoryUtilization",
                               f"{util:g} on {where}, which time-slices each GPU {slots} ways without memory isolation: "
                               f"up to {sharers} vLLM pods (replicas.max of {', '.join(names)}) can share one GPU and would "
                               f"claim {util * sharers:g} of its memory; use at most {math.floor(limit * 100) / 100:g}, "
                               "or fewer time-slicing replicas"))
    return issues


@dataclass(frozen=True)
class ServicePlan:
    """One service's budget and GPU needs, with the one-model-per-use-case comparison."""

    name: str
    budget: capacity.VramBudget
    gpus_per_replica: int
    """GPUs (or MIG slices) per replica: the tensor x pipeline group."""
    min_replicas: int
    max_replicas: int
    use_cases: int
    """Adapters served (each one a use case that would otherwise be its own fine-tuned model)."""
    comparison: capacity.LoraConsolidation | None
    """Multi-LoRA vs one full fine-tune per use case (None without adapters)."""

    @property
    def slice_unit(self) -> str:
        return "MIG slice" if "MIG" in self.budget.device.name else "GPU"


def plan_services(cfg) -> list[ServicePlan]:
    """Budgets of every service of a validated config."""
    plans = []
    for name, svc in sorted(cfg.serving.services.items()):
        arch = model_arch(svc.base_model, cfg.models.base_models[svc.base_model])
        pool = cfg.gpu.pools[svc.pool]
        budget = service_budget(svc, arch, pool)
        adapters = len(cfg.adapters_for(name))
        comparison = None
        if adapters:
            e = svc.engine
            comparison = capacity.compare_multi_lora(
                arch, budget.device, adapters, max_model_len=e.max_model_len, max_loras=e.max_loras,
                max_lora_rank=e.max_lora_rank, weights=budget.weights_format, kv_cache_dtype=e.kv_cache_dtype,
                gpu_memory_utilization=e.gpu_memory_utilization)
        plans.append(ServicePlan(name=name, budget=budget, gpus_per_replica=budget.gpus,
                                 min_replicas=svc.replicas.min, max_replicas=svc.replicas.max,
                                 use_cases=adapters, comparison=comparison))
    return plans


def physical_gpus(cfg, plans: list[ServicePlan], at: str = "min") -> dict[str, int]:
    """Physical GPUs per pool for every service at ``min`` or ``max`` replicas.

    MIG: the slices of each profile packed ``layout[profile]`` (x time-slicing replicas in
    hybrid pools) to a GPU, and a GPU carries the whole layout, so the pool needs the largest
    of those counts. Time slicing: ``replicas`` pods share one GPU. Otherwise one unit, one GPU.
    """
    units: dict[str, dict[str | None, int]] = {}
    for p in plans:
        svc = cfg.serving.services[p.name]
        count = (p.min_replicas if at == "min" else p.max_replicas) * p.gpus_per_replica
        per_pool = units.setdefault(svc.pool, {})
        per_pool[svc.gpu.mig_profile] = per_pool.get(svc.gpu.mig_profile, 0) + count
    needed = {}
    for pool_name, by_profile in sorted(units.items()):
        sharing = cfg.gpu.pools[pool_name].sharing
        counts = []
        for profile, n in by_profile.items():
            if profile is not None and isinstance(sharing, (MigSharing, HybridSharing)):
                per_gpu = sharing.layout[profile]
                if isinstance(sharing, HybridSharing):
                    per_gpu *= sharing.time_sliced.get(profile, 1)
            elif getattr(sharing, "mode", None) == "time-slicing":
                per_gpu = sharing.replicas
            else:
                per_gpu = 1
            counts.append(gpus_needed(n, per_gpu))
        needed[pool_name] = max(counts) if isinstance(sharing, (MigSharing, HybridSharing)) else sum(counts)
    return needed


def format_plan(stack: str, plans: list[ServicePlan], cfg=None) -> str:
    """The stack's plan as text: per service budget, then totals."""
    out = [f"stack {stack}: VRAM budget per service (per GPU of one replica)", ""]
    total_min = total_max = dedicated = 0
    for p in plans:
        out.append(f"== {p.name}")
        out.append(capacity.format_budget(p.budget))
        out.append(f"replicas {p.min_replicas}..{p.max_replicas} x {p.gpus_per_replica} {p.slice_unit}(s) = "
                   f"{p.min_replicas * p.gpus_per_replica}..{p.max_replicas * p.gpus_per_replica}")
        if p.comparison is not None:
            out.append(capacity.format_consolidation(p.comparison))
            dedicated += max(p.min_replicas, 1) * p.comparison.dedicated_gpus
        out.append("")
        total_min += p.min_replicas * p.gpus_per_replica
        total_max += p.max_replicas * p.gpus_per_replica
    out.append(f"stack total: {total_min} GPUs/MIG slices at minimum replicas, {total_max} at maximum")
    if cfg is not None:
        lo, hi = physical_gpus(cfg, plans, "min"), physical_gpus(cfg, plans, "max")
        for pool in sorted(hi):
            out.append(f"  pool {pool}: {lo.get(pool, 0)}..{hi[pool]} physical {cfg.gpu.pools[pool].gpu} GPUs")
        out.append(f"  physical GPUs: {sum(lo.values())} at minimum replicas, {sum(hi.values())} at maximum")
    if dedicated:
        out.append(f"one fully fine-tuned model per use case instead: {dedicated} GPUs/MIG slices at minimum replicas")
    return "\n".join(out)


def gpus_needed(slices: int, per_gpu: int) -> int:
    """Physical GPUs holding ``slices`` MIG instances of a profile packed ``per_gpu`` to a GPU."""
    return math.ceil(slices / per_gpu)
