"""What the policies need to know about the stack they check ("platform facts").

The facts are derived from the stack's validated config by :func:`facts_for_config` and handed to
every policy as its ``platform`` config value: ``infra.policy_check`` passes them in-process and
writes them into the ``--policy-pack-config`` file for ``pulumi preview``, so both checks read
the same facts. When the engine runs the pack without that file, a policy derives the facts
itself from the stack named in the resource URN (``urn:pulumi:<stack>::...``) by reading
``stacks/Pulumi.<stack>.yaml`` (the pack runs from this repository).
"""

from __future__ import annotations

from components.airgap.workloads import is_seq

import functools
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

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
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_config(cls, value: Mapping[str, Any]) -> "PlatformFacts":
        known = {f for f in cls.__dataclass_fields__}
        kw = {k: tuple(v) if is_seq(v) else v for k, v in value.items() if k in known}
        return cls(**kw)


def _host(ref: str) -> str:
    ref = ref.split("://", 1)[-1]
    return ref.split("/", 1)[0]


def mig_resource_names() -> tuple[str, ...]:
    """``nvidia.com/mig-<profile>`` for every profile of every GPU in the MIG catalog."""
    from components.gpu import mig

    names: set[str] = set()
    for gpu in mig.catalog():
        for profile in getattr(gpu, "profile_names", ()) or ():
            names.add(f"nvidia.com/mig-{profile}")
    return tuple(sorted(names))


def facts_for_config(cfg, stack: str) -> PlatformFacts:
    """Facts of a validated ``PlatformConfig``."""
    a = cfg.airgap
    internal = tuple(h for h in (_host(a.registry) if a.registry else None, _host(a.chart_mirror) if a.chart_mirror else None) if h)
    return PlatformFacts(
        stack=stack,
        airgap=a.enabled,
        registry=a.registry if a.enabled else None,
        chart_mirror=a.chart_mirror if a.enabled else None,
        allowed_registries=(a.registry,) if a.enabled and a.registry else PUBLIC_REGISTRIES,
        require_digests=a.enabled and a.require_digests,
        ca_config_map=a.ca_bundle.bundle_config_map if a.enabled and a.ca_bundle else None,
        ca_for_storage_initializer=not (a.enabled and a.ca_bundle and a.ca_bundle.source != "file"),
        ca_created_by_stack=not (a.enabled and a.ca_bundle and a.ca_bundle.source == "rhoai"),
        internal_hosts=internal,
        privileged_namespaces=tuple(sorted({cfg.gpu.operator.namespace, cfg.gpu.dra.namespace, "kube-system"})),
        gpu_taint=any(p.taint for p in cfg.gpu.pools.values()) if cfg.gpu.pools else True,
        mig_resources=mig_resource_names(),
    )


@functools.lru_cache(maxsize=None)
def facts_for_stack(stack: str) -> PlatformFacts:
    """Facts read from ``stacks/Pulumi.<stack>.yaml`` (engine runs without a pack config)."""
    from infra.config_loading import load_stack

    return facts_for_config(load_stack(stack), stack)


def stack_of_urn(urn: str) -> str:
    """``urn:pulumi:<stack>::<project>::...`` -> stack."""
    parts = urn.split("::")
    return parts[0].split(":", 2)[-1] if parts and parts[0].startswith("urn:pulumi:") else ""


def facts_of(args) -> PlatformFacts:
    """The facts a policy runs with: its ``platform`` config, else derived from the URN's stack."""
    config = args.get_config() or {}
    platform = config.get("platform")
    if platform:
        return PlatformFacts.from_config(platform)
    urn = getattr(args, "urn", None) or next((r.urn for r in getattr(args, "resources", []) or []), "")
    stack = stack_of_urn(urn or "")
    try:
        return facts_for_stack(stack) if stack else PlatformFacts()
    except Exception:  # noqa: BLE001 - an unknown stack falls back to connected-stack defaults
        return PlatformFacts(stack=stack)
