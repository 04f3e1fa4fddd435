"""Rules of the object store's own settings, called by the stack (``storage.minio``) and by
``ObjectStore`` (``spec``), each with its own path prefix."""

from __future__ import annotations

from components.storage.spec import MinioSpec


def minio_tls_rules(spec: MinioSpec, *, path: str) -> list[tuple[str, str]]:
    """With ``tlsSecret`` MinIO serves HTTPS only, so the endpoint adapters are published to must be https."""
    if spec.tls_secret is not None and spec.publish_endpoint is not None and not spec.publish_endpoint.startswith("https://"):
        return [(f"{path}.publishEndpoint", "MinIO serves HTTPS only when tlsSecret is set; use an https:// endpoint")]
    return []
