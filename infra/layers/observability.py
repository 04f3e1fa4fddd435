"""The observability layer's wiring: which components the stack's config asks for, in what order."""

from __future__ import annotations

from dataclasses import dataclass

from components.platform.namespaces import NamespaceSpec
from infra.config import PlatformConfig
from infra.context import BuildContext


def namespaces_needed(cfg: PlatformConfig) -> dict[str, NamespaceSpec]:
    """Namespaces this layer's workloads need the platform to own."""
    return {}


def build(ctx: BuildContext, gpu, serving, models) -> None:
    return None
