"""User-facing spec of air-gap readiness: internal registry and chart mirror, trusted CA, offline mode."""

from __future__ import annotations

from pydantic import Field

from components.common.spec import Spec


class CaBundleSpec(Spec):
    """A trusted CA bundle for TLS to internal endpoints (registry, MinIO, proxies)."""

    file: str
    """PEM file (relative to the project root) with the internal CA certificates."""
    config_map: str = "trusted-ca-bundle"
    """ConfigMap created in every workload namespace. Default: trusted-ca-bundle."""
    key: str = "ca-bundle.crt"
    """Key of the bundle in the ConfigMap. Default: ca-bundle.crt."""


class AirgapSpec(Spec):
    """Make every workload of the stack run without reaching a public network."""

    enabled: bool = False
    """Rewrite images and charts to the mirror, force offline mode, mount the CA bundle. Default: false."""
    registry: str | None = None
    """Internal image registry (host[:port][/prefix]) that mirrors every upstream image. Default: none."""
    chart_mirror: str | None = None
    """``oci://`` or ``https://`` base where every chart is mirrored. Default: none."""
    require_digests: bool = False
    """Refuse images without a digest in ``imageDigests``. Default: false."""
    image_digests: dict[str, str] = Field(default_factory=dict)
    """Upstream ``repository:tag`` -> ``sha256:...`` digest of the mirrored copy. Default: none."""
    image_pull_secrets: list[str] = Field(default_factory=list)
    """Existing pull secrets for the internal registry added to every pod. Default: none."""
    ca_bundle: CaBundleSpec | None = None
    """Internal CA bundle. Default: none."""
