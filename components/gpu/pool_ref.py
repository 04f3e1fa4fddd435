"""``GpuPoolRef``: what a workload needs to know about the GPU pool it runs on, as one typed value.

A ``GpuNodePool`` produces one (``pool.pool_ref``); a static pool (nodes that already exist,
on-prem or local) is declared with ``GpuPoolRef(name, spec)``. Workload components take the
reference and check their GPU request against it before they create anything, so a service
asking for a MIG slice the pool does not offer fails at construction, not as a Pending pod.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from components.gpu.placement import GPU_TAINT_KEY
from components.gpu.sharing import advertised, node_labels
from components.gpu.spec import GpuPoolSpec, HybridSharing, MigSharing


@dataclass(frozen=True)
class GpuPoolRef:
    """One GPU pool as its workloads see it."""

    name: str
    """Pool key (``gpu.pools.<name>``): the ``llm-platform.io/pool`` label value of its nodes."""
    spec: GpuPoolSpec
    """The pool's spec; every fact below is derived from it in the GPU layer's one place."""

    @property
    def node_labels(self) -> dict[str, str]:
        """Every label the pool's nodes carry (pool, sharing and user labels)."""
        return node_labels(self.name, self.spec)

    @property
    def taint(self) -> str | None:
        """The taint its nodes carry (``nvidia.com/gpu:NoSchedule``), or None."""
        return f"{GPU_TAINT_KEY}:NoSchedule" if self.spec.taint else None

    @property
    def gpus_per_node(self) -> int:
        """Physical GPUs per node."""
        return self.spec.gpus_per_node

    @property
    def mig_layout(self) -> Mapping[str, int]:
        """MIG profile -> slices per GPU; empty without MIG."""
        sharing = self.spec.sharing
        return dict(sharing.layout) if isinstance(sharing, (MigSharing, HybridSharing)) else {}

    @property
    def offered_resources(self) -> dict[str, int]:
        """Extended resources (name -> count) one node advertises once configured; empty with DRA."""
        return advertised(self.spec)
