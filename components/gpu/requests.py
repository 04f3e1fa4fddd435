"""A pod's GPU request against the pool it runs on: one rule, every caller.

The stack checks ``serving.services.<name>.gpu`` with it (through
``components.models.rules.service_pool_rules``); ``VllmLoraService`` its spec; the frontends that
take a ready-made pod placement (``LlmdModelService``, ``MultiNodeVllm``) read the request back
from that placement (:func:`request_of`) and check it the same way, then check that the placement
is the one :func:`placement_for` gives on the pool. So a MIG slice the pool does not have is
refused with the same facts whichever way the component was built.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from components.common.suggest import did_you_mean
from components.gpu.placement import PodPlacement, placement_for
from components.gpu.pool_ref import GpuPoolRef
from components.gpu.spec import DraSharing, HybridSharing, MigSharing, NoSharing, TimeSlicingSharing

MIG_RESOURCE_PREFIX = "nvidia.com/mig-"


@dataclass(frozen=True)
class GpuRequest:
    """What one pod asks of its pool."""

    count: int = 1
    """Whole (or time-sliced) GPUs, or MIG slices of ``mig_profile``. Default: 1."""
    mig_profile: str | None = None
    """MIG profile (``3g.40gb``). Default: None (whole GPUs)."""
    dra_claim: str | None = None
    """Claim template name (DRA pools). Default: None."""


def request_rules(req: GpuRequest, pool_ref: GpuPoolRef, *, tensor_parallel: int, pipeline_parallel: int,
                  claim_templates: Collection[str] | None) -> list[tuple[str, str]]:
    """``req`` against what ``pool_ref`` offers (MIG slices, DRA claims, GPUs per node, tensor
    parallelism), as ``(field, reason)`` with ``field`` one of ``gpu.migProfile``, ``gpu.count``,
    ``gpu.draClaim``, ``engine.tensorParallel``: each caller puts them under its own path.
    ``claim_templates``: the claim template names that exist, or None when unknown."""
    pool, pool_name = pool_ref.spec, pool_ref.name
    sharing = pool.sharing
    issues = []
    if req.mig_profile is not None:
        if not isinstance(sharing, (MigSharing, HybridSharing)):
            issues.append(("gpu.migProfile", f"pool {pool_name!r} shares GPUs by {sharing.mode!r}, not MIG; remove migProfile or use a MIG pool"))
        elif req.mig_profile not in sharing.layout:
            issues.append(("gpu.migProfile",
                           f"pool {pool_name!r} ({pool.gpu}) is partitioned into {sorted(sharing.layout)}; {req.mig_profile!r} is not among them"))
        elif req.count > sharing.layout[req.mig_profile] * pool.gpus_per_node * pipeline_parallel:
            per_node = sharing.layout[req.mig_profile] * pool.gpus_per_node
            issues.append(("gpu.count", f"{req.count} {req.mig_profile} slices per pod exceed the {per_node} a "
                                        f"{pool_name!r} node holds ({sharing.layout[req.mig_profile]} per GPU x "
                                        f"{pool.gpus_per_node} GPUs)"))
    elif isinstance(sharing, (MigSharing, HybridSharing)) and not (isinstance(sharing, MigSharing) and sharing.strategy == "single"):
        issues.append(("gpu.migProfile", f"pool {pool_name!r} is MIG-partitioned (mixed strategy); choose one of {sorted(sharing.layout)}"))
    if req.dra_claim is not None:
        if not isinstance(sharing, DraSharing):
            issues.append(("gpu.draClaim", f"pool {pool_name!r} shares GPUs by {sharing.mode!r}; DRA claims need a pool with sharing.mode 'dra'"))
        elif claim_templates is not None and req.dra_claim not in claim_templates:
            issues.append(("gpu.draClaim", f"unknown claim template {req.dra_claim!r}{did_you_mean(req.dra_claim, list(claim_templates))}"))
    elif isinstance(sharing, DraSharing):
        issues.append(("gpu.draClaim", f"pool {pool_name!r} allocates GPUs through DRA; name a claim template"))
    if isinstance(sharing, (NoSharing, TimeSlicingSharing)) and req.count > pool.gpus_per_node * pipeline_parallel:
        issues.append(("gpu.count", f"{req.count} GPUs per pod exceeds the {pool.gpus_per_node} GPUs of a {pool_name!r} node"))
    if isinstance(sharing, TimeSlicingSharing) and sharing.fail_requests_greater_than_one and req.count > 1:
        issues.append(("gpu.count", f"pool {pool_name!r} time-slices GPUs with failRequestsGreaterThanOne; a pod may request only 1"))
    if isinstance(sharing, NoSharing) and tensor_parallel > req.count:
        issues.append(("engine.tensorParallel",
                       f"tensor parallel {tensor_parallel} needs at least as many GPUs per pod (gpu.count is {req.count})"))
    return issues


def request_of(placement: PodPlacement) -> GpuRequest | None:
    """The request a placement carries (its one GPU resource or DRA claim), or None for a pod
    without GPUs; ValueError when it asks for several GPU resources at once."""
    if placement.resource_claims:
        return GpuRequest(dra_claim=placement.resource_claims[0]["resourceClaimTemplateName"])
    if not placement.resources:
        return None
    if len(placement.resources) > 1:
        raise ValueError(f"asks for several GPU resources at once ({sorted(placement.resources)}); a pod takes one kind")
    (name, count), = placement.resources.items()
    profile = name.removeprefix(MIG_RESOURCE_PREFIX) if name.startswith(MIG_RESOURCE_PREFIX) else None
    return GpuRequest(count=int(count), mig_profile=profile)


def placement_rules(placement: PodPlacement, pool_ref: GpuPoolRef, *, tensor_parallel: int, path: str,
                    tensor_path: str) -> list[tuple[str, str]]:
    """A ready-made placement on ``pool_ref``: the request it carries by :func:`request_rules`
    (under ``path``; tensor parallelism under ``tensor_path``), then the placement itself against
    :func:`placement_for` on the pool (resource name, node selector, tolerations, claims)."""
    try:
        req = request_of(placement)
    except ValueError as exc:
        return [(path, str(exc))]
    if req is None:
        return [(path, f"requests no GPU; pool {pool_ref.name!r} is a GPU pool (use placement_for)")]
    issues = [(tensor_path if field == "engine.tensorParallel" else path, reason)
              for field, reason in request_rules(req, pool_ref, tensor_parallel=tensor_parallel, pipeline_parallel=1,
                                                 claim_templates=None)]
    if issues:
        return issues
    claim_name = placement.resource_claims[0]["name"] if placement.resource_claims else "gpu"
    expected = placement_for(pool_ref.name, pool_ref.spec, count=req.count, mig_profile=req.mig_profile,
                             dra_claim=req.dra_claim, claim_name=claim_name)
    for what in ("resources", "node_selector", "tolerations", "resource_claims", "container_claims"):
        if getattr(placement, what) != getattr(expected, what):
            issues.append((path, f"{what} {getattr(placement, what)!r} do not place the pod on pool {pool_ref.name!r}: "
                                 f"it needs {getattr(expected, what)!r} (components.gpu.placement_for gives the placement)"))
    return issues
