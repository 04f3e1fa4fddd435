"""Where a GPU workload runs and what it asks for, derived from its pool's sharing mode.

One function decides the extended resource (whole GPU, time-sliced GPU, MIG slice or DRA
claim), the node selector and the tolerations, so every workload (InferenceService,
llm-d model service, LeaderWorkerSet) requests GPUs the same way its pool advertises them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from components.gpu.spec import DraSharing, GpuPoolSpec, HybridSharing, MigSharing, TimeSlicingSharing

POOL_LABEL = "llm-platform.io/pool"
GPU_TAINT_KEY = "nvidia.com/gpu"

ACCELERATOR_RESOURCE = {"nvidia": "nvidia.com/gpu", "amd": "amd.com/gpu", "habana": "habana.ai/gaudi"}


@dataclass(frozen=True)
class PodPlacement:
    """What a pod template needs to land on its pool with the GPUs it asked for."""

    resources: dict[str, str]
    """Extended resources for the container's requests and limits (empty with DRA)."""
    node_selector: dict[str, str]
    """Labels selecting the pool's nodes."""
    tolerations: list[dict[str, str]]
    """Tolerations of the pool's GPU taint (Kubernetes wire shape)."""
    resource_claims: list[dict[str, str]] = field(default_factory=list)
    """Pod-level ``resourceClaims`` entries (``{name, resourceClaimTemplateName}``) for DRA."""
    container_claims: list[dict[str, str]] = field(default_factory=list)
    """Container ``resources.claims`` entries (``{name}``) for DRA."""


def pool_node_labels(pool_name: str, pool: GpuPoolSpec) -> dict[str, str]:
    """Labels the pool's nodes carry (Karpenter sets them at launch; static nodes must have them)."""
    if pool.provisioner == "static" and pool.node_selector:
        return dict(pool.node_selector)
    return {POOL_LABEL: pool_name}


def gpu_resource_name(pool: GpuPoolSpec, mig_profile: str | None = None) -> str:
    """The extended resource a pod requests on ``pool``."""
    sharing = pool.sharing
    base = ACCELERATOR_RESOURCE[pool.accelerator]
    if isinstance(sharing, MigSharing):
        if sharing.strategy == "single":
            return base
        return f"nvidia.com/mig-{mig_profile}"
    if isinstance(sharing, HybridSharing):
        return f"nvidia.com/mig-{mig_profile}"
    if isinstance(sharing, TimeSlicingSharing) and sharing.rename_by_default:
        return f"{base}.shared"
    return base


def placement_for(pool_name: str, pool: GpuPoolSpec, count: int = 1, mig_profile: str | None = None,
                  dra_claim: str | None = None, claim_name: str = "gpu") -> PodPlacement:
    """Placement of a pod asking ``count`` GPUs (or MIG slices, or one DRA claim) on ``pool``."""
    tolerations = [{"key": GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}] if pool.taint else []
    selector = pool_node_labels(pool_name, pool)
    if isinstance(pool.sharing, DraSharing):
        if dra_claim is None:
            raise ValueError(f"pool {pool_name!r} allocates GPUs through DRA: a claim template is required")
        return PodPlacement(
            resources={},
            node_selector=selector,
            tolerations=tolerations,
            resource_claims=[{"name": claim_name, "resourceClaimTemplateName": dra_claim}],
            container_claims=[{"name": claim_name}],
        )
    if isinstance(pool.sharing, (MigSharing, HybridSharing)) and mig_profile is None:
        if not (isinstance(pool.sharing, MigSharing) and pool.sharing.strategy == "single"):
            raise ValueError(f"pool {pool_name!r} is MIG-partitioned: a MIG profile is required")
    return PodPlacement(
        resources={gpu_resource_name(pool, mig_profile): str(count)},
        node_selector=selector,
        tolerations=tolerations,
    )
