"""Container image references: pinned by tag, optionally by digest, rewritable to a mirror."""

from __future__ import annotations

import re

from pydantic import field_validator

from components.common.fields import ImageTag, RegistryHost, Repository
from components.common.spec import Spec

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


class ImageRef(Spec):
    """An OCI image, split so an air-gap mirror can replace the registry and keep the path."""

    registry: RegistryHost
    """Registry host (and port), e.g. ``docker.io`` or ``registry.internal:5000``."""
    repository: Repository
    """Repository path inside the registry, e.g. ``vllm/vllm-openai``."""
    tag: ImageTag
    """Immutable release tag, e.g. ``v0.33.0``; ``latest`` is refused."""
    digest: str | None = None
    """Optional ``sha256:<64 hex>`` digest; when set the reference pins content, not just the tag."""

    @field_validator("tag")
    @classmethod
    def _no_latest(cls, tag: str) -> str:
        if tag == "latest" or not tag:
            raise ValueError("image tags must be a pinned release, not 'latest' or empty")
        return tag

    @field_validator("digest")
    @classmethod
    def _digest_shape(cls, digest: str | None) -> str | None:
        if digest is not None and not _DIGEST.match(digest):
            raise ValueError("digest must look like 'sha256:' followed by 64 lowercase hex characters")
        return digest

    @property
    def ref(self) -> str:
        """The full reference, ``registry/repository:tag[@digest]``."""
        base = f"{self.registry}/{self.repository}:{self.tag}"
        return f"{base}@{self.digest}" if self.digest else base

    @classmethod
    def parse(cls, reference: str) -> "ImageRef":
        """Parse ``registry/repo:tag[@sha256:...]``; the registry part is required."""
        digest = None
        if "@" in reference:
            reference, digest = reference.split("@", 1)
        name, _, tag = reference.rpartition(":")
        if not name or "/" in tag:
            raise ValueError(f"image reference {reference!r} has no tag")
        registry, _, repository = name.partition("/")
        if not repository or ("." not in registry and ":" not in registry and registry != "localhost"):
            raise ValueError(f"image reference {reference!r} must start with a registry host")
        return cls(registry=registry, repository=repository, tag=tag, digest=digest)
