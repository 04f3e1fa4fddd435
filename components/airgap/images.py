"""Image references as Kubernetes objects and chart values carry them (plain strings), and their
rewriting to an internal mirror. Pure functions: no Pulumi."""

from __future__ import annotations

import re
from dataclasses import dataclass

DOCKER_HUB = "docker.io"
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class ParsedImage:
    """An image reference split the way a container runtime resolves it."""

    registry: str
    """Registry host[:port] (Docker Hub references resolve to ``docker.io``)."""
    repository: str
    """Path inside the registry (``library/`` added for official Docker Hub images)."""
    tag: str | None
    """Tag, or None for a digest-only or bare reference (which pulls ``latest``)."""
    digest: str | None
    """``sha256:...`` digest, or None."""

    @property
    def upstream_key(self) -> str:
        """``registry/repository:tag`` (the key of ``airgap.imageDigests``)."""
        return f"{self.registry}/{self.repository}:{self.tag}"

    @property
    def mutable(self) -> bool:
        """Whether the reference can point at different content over time (no digest)."""
        return self.digest is None

    def under(self, prefix: str) -> bool:
        """Whether the image is pulled from ``prefix`` (``host[:port][/path]``)."""
        return f"{self.registry}/{self.repository}".startswith(prefix.rstrip("/") + "/")


def parse_image(reference: str) -> ParsedImage:
    """Parse ``[registry/]repository[:tag][@digest]`` like the container runtime does."""
    ref = reference.strip()
    digest = None
    if "@" in ref:
        ref, digest = ref.split("@", 1)
    tag = None
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        ref, tag = ref.rsplit(":", 1)
    first, _, rest = ref.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, rest
    else:
        registry, repository = DOCKER_HUB, ref
        if "/" not in repository:
            repository = f"library/{repository}"
    return ParsedImage(registry=registry, repository=repository, tag=tag, digest=digest)


def mirror_image(reference: str, mirror: str, digests: dict[str, str] | None = None) -> str:
    """``reference`` pulled from ``mirror`` under its upstream repository path, pinned by the
    digest listed for it in ``digests`` (keyed by upstream ``registry/repository:tag``; the mirror
    keeps only the repository path, so a listed digest also matches by repository path and tag).

    Images already under the mirror keep their path (and get a listed digest if they lack one).
    """
    mirror = mirror.rstrip("/")
    image = parse_image(reference)
    digests = digests or {}
    if image.under(mirror):
        # Already mirrored (a component rewrote it): the path after the prefix is the upstream repository.
        repo_path = f"{image.registry}/{image.repository}"
        repository = repo_path[len(mirror) + 1:]
    else:
        repo_path = f"{mirror}/{image.repository}"
        repository = image.repository
    by_path = {(parse_image(k).repository, parse_image(k).tag): d for k, d in digests.items()}
    digest = image.digest or digests.get(image.upstream_key) or by_path.get((repository, image.tag))
    out = repo_path + (f":{image.tag}" if image.tag else "")
    return out + (f"@{digest}" if digest else "")
