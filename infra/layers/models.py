"""The models layer's wiring: which components the stack's config asks for, in what order."""

from __future__ import annotations

from dataclasses import dataclass

from components.platform.namespaces import NamespaceSpec
from infra.config import PlatformConfig
from infra.context import BuildContext


def namespaces_needed(cfg: PlatformConfig) -> dict[str, NamespaceSpec]:
    """Namespaces this layer's workloads need the platform to own."""
    wanted: dict[str, NamespaceSpec] = {}
    if cfg.storage.kind == "minio" and (cfg.models.adapters or cfg.serving.services):
        # MinIO's PVC holds every adapter: deleting the namespace would delete it.
        wanted[cfg.storage.minio.namespace] = NamespaceSpec(enforce="restricted", warn="restricted", holds_data=True)
    return wanted


@dataclass
class ModelsLayer:
    """What observability needs from the model services."""


def build(ctx: BuildContext, gpu, serving) -> ModelsLayer:
    return ModelsLayer()
