"""The models layer's wiring: which components the stack's config asks for, in what order."""

from __future__ import annotations

from dataclasses import dataclass, field

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


@dataclass(frozen=True)
class ServedService:
    """One model service as observability and exports see it."""

    name: str
    """Service name (InferenceService / model service name)."""
    namespace: str
    """Namespace it runs in."""
    served_name: str
    """OpenAI ``model`` name of the base model; adapters are ``<served_name>:<adapter>``."""
    adapters: tuple[str, ...]
    """Served names of its adapters."""
    pod_labels: dict[str, str]
    """Labels selecting its vLLM pods (for PodMonitors)."""
    metrics_port: str = "http"
    """Name of the container port serving ``/metrics``."""


@dataclass
class ModelsLayer:
    """What observability needs from the model services."""

    services: dict[str, ServedService] = field(default_factory=dict)
    """Model services by name."""


def build(ctx: BuildContext, gpu, serving) -> ModelsLayer:
    return ModelsLayer()
