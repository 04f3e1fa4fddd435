"""What the policy pack needs to know about the stack it checks ("platform facts").

The one module both sides import: the program derives the facts from a stack's config
(``infra.policy_check.facts_for_config``) and writes them into the ``--policy-pack-config`` file
(each policy's ``platform`` value); the pack (``policies/``) reads them back from there. Plain
values only, so the pack can check any project's stacks given a pack config, and never reads a
stack file itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

PUBLIC_REGISTRIES = (
    "docker.io", "quay.io", "ghcr.io", "nvcr.io", "registry.k8s.io", "public.ecr.aws", "gcr.io",
    "cr.kgateway.dev", "docker.io/istio", "gcr.io/istio-release",
)
"""Upstream registries a connected stack may pull from (the upstream images the components pin)."""

INTERNAL_HOST_SUFFIXES = (".svc", ".svc.cluster.local", ".cluster.local", ".internal", ".local", ".invalid")
"""Host suffixes that never leave the cluster or the private network."""


@dataclass(frozen=True)
class PlatformFacts:
    stack: str = ""
    """Stack name."""
    airgap: bool = False
    """``airgap.enabled``."""
    registry: str | None = None
    """Internal registry prefix (air-gapped stacks)."""
    chart_mirror: str | None = None
    """Internal chart mirror (air-gapped stacks)."""
    allowed_registries: tuple[str, ...] = PUBLIC_REGISTRIES
    """Image prefixes pods may pull from."""
    require_digests: bool = False
    """Every image must carry a digest."""
    ca_config_map: str | None = None
    """CA bundle ConfigMap every pod must mount (air-gapped stacks)."""
    ca_for_storage_initializer: bool = True
    """KServe's S3 credentials must name that ConfigMap (false where OpenShift AI configures the
    storage initializer's CA itself)."""
    ca_created_by_stack: bool = True
    """The stack creates that ConfigMap in its namespaces (false for OpenShift AI's own bundle)."""
    internal_hosts: tuple[str, ...] = ()
    """Extra hosts that are internal (registry, chart mirror, custom endpoints)."""
    privileged_namespaces: tuple[str, ...] = ("gpu-operator", "dra-driver-nvidia-gpu", "kube-system")
    """Namespaces whose system workloads may run privileged (GPU operator, DRA driver)."""
    gpu_taint: bool = True
    """Some GPU pool taints its nodes ``nvidia.com/gpu:NoSchedule``."""
    mig_resources: tuple[str, ...] = field(default_factory=tuple)
    """Every ``nvidia.com/mig-<profile>`` resource name of the MIG catalog."""

    def to_config(self) -> dict[str, Any]:
        """The JSON value of a policy's ``platform`` config."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_config(cls, value: Mapping[str, Any]) -> "PlatformFacts":
        """Back from a ``platform`` config value (a dict, or the policy SDK's read-only proxy);
        unknown keys are ignored, so an older pack reads a newer program's file."""
        known = set(cls.__dataclass_fields__)
        kw = {k: tuple(v) if isinstance(v, Sequence) and not isinstance(v, (str, bytes)) else v
              for k, v in value.items() if k in known}
        return cls(**kw)


def mig_resource_names() -> tuple[str, ...]:
    """Every ``mixed``-strategy MIG resource of every GPU in the hardware catalog, named as the
    device plugin advertises it (``nvidia.com/mig-1g.10gb.me`` for ``1g.10gb+me``)."""
    from components.gpu import mig

    return tuple(sorted({p.resource_name for gpu in mig.catalog() for p in gpu.profiles}))
