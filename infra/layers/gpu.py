"""The gpu layer's wiring: which components the stack's config asks for, in what order."""

from __future__ import annotations

from dataclasses import dataclass

from components.platform.namespaces import NamespaceSpec
from infra.config import PlatformConfig
from infra.context import BuildContext


def namespaces_needed(cfg: PlatformConfig) -> dict[str, NamespaceSpec]:
    """Namespaces this layer's workloads need the platform to own."""
    return {}


@dataclass
class GpuLayer:
    """What the serving and models layers need from the GPU layer."""


def build(ctx: BuildContext) -> GpuLayer:
    return GpuLayer()
