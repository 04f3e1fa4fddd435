"""The serving layer's wiring: which components the stack's config asks for, in what order."""

from __future__ import annotations

from dataclasses import dataclass

from components.platform.namespaces import NamespaceSpec
from infra.config import PlatformConfig
from infra.context import BuildContext


def namespaces_needed(cfg: PlatformConfig) -> dict[str, NamespaceSpec]:
    """Namespaces this layer's workloads need the platform to own."""
    if not cfg.serving.services:
        return {}
    # vLLM runs as non-root without privilege escalation; baseline is enforced, restricted warned.
    return {cfg.serving.namespace: NamespaceSpec(enforce="baseline", warn="restricted")}


@dataclass
class ServingLayer:
    """What the models and observability layers need from the serving controllers."""


def build(ctx: BuildContext, gpu) -> ServingLayer:
    return ServingLayer()
