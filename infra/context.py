"""What every layer of the platform receives: the validated config, the stack, the providers
and the namespaces the platform owns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s

from components.platform.namespaces import PlatformNamespaces
from infra.config import PlatformConfig

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Providers:
    k8s: k8s.Provider
    """Kubernetes provider: render mode (manifests to a directory) or a real cluster."""
    aws: "pulumi.ProviderResource | None" = None
    """AWS provider on ``eks`` stacks, else None."""


@dataclass
class BuildContext:
    stack: str
    cfg: PlatformConfig
    providers: Providers
    namespaces: PlatformNamespaces | None = None
    exports: dict[str, object] = field(default_factory=dict)
    """Stack outputs layers contribute (``pulumi.export`` once, at the end, in sorted order)."""

    def k8s_opts(self, **kwargs) -> pulumi.ResourceOptions:
        """Options for a top-level Kubernetes component: the stack's Kubernetes provider."""
        return pulumi.ResourceOptions(providers={"kubernetes": self.providers.k8s}, **kwargs)

    def namespace(self, name: str) -> pulumi.Input[str]:
        """The platform-owned namespace ``name`` as an Output (so users wait for its creation)."""
        if self.namespaces is None or name not in self.namespaces.names:
            raise KeyError(f"namespace {name!r} is not owned by the platform; add it in the layer's namespaces_needed()")
        return self.namespaces.names[name]

    def path(self, relative: str) -> Path:
        """A project-relative path from config, resolved against the repository root."""
        return (REPO_ROOT / relative).resolve()
