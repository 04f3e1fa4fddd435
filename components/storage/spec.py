"""User-facing spec of the object store holding adapters (and optionally base models)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from components.common.fields import AwsRegion, BucketName, DnsSubdomain, Gib, HttpUrl, Namespace, ObjectName, Quantity
from components.common.images import ImageRef
from components.common.spec import Spec


class MinioSpec(Spec):
    """A single-node MinIO server on a protected PVC (in-cluster, air-gap friendly)."""

    namespace: Namespace = "minio"
    """Namespace. Default: minio."""
    image: ImageRef = ImageRef(registry="quay.io", repository="minio/minio", tag="RELEASE.2025-09-07T16-13-09Z")
    """Server image, pinned. Default: quay.io/minio/minio RELEASE.2025-09-07T16-13-09Z."""
    client_image: ImageRef = ImageRef(registry="quay.io", repository="minio/mc", tag="RELEASE.2025-08-13T08-35-41Z")
    """``mc`` client image used by in-cluster jobs (bucket setup, adapter sync). Default: pinned quay.io/minio/mc."""
    storage_gib: Gib = 100
    """Data volume size. Default: 100."""
    storage_class: DnsSubdomain | None = None
    """Storage class of the data volume. Default: the cluster default."""
    cpu: Quantity = "1"
    """CPU request and limit. Default: 1."""
    memory_gib: Gib = 2
    """Memory request and limit. Default: 2."""
    publish_endpoint: HttpUrl | None = None
    """``http(s)://host:port`` of this MinIO's S3 API as reachable from where ``pulumi up`` runs
    (an ingress, LoadBalancer or ``kubectl port-forward``); adapters are uploaded through it.
    Default: none, adapters are checked and fingerprinted but not uploaded (render stacks, or a
    pipeline uploads them)."""
    publish_verify_ssl: bool = True
    """Verify the TLS certificate of an ``https://`` publish endpoint. Default: true."""
    tls_secret: ObjectName | None = None
    """``kubernetes.io/tls`` Secret in MinIO's namespace with a certificate for
    ``minio.<namespace>.svc.cluster.local`` issued by a CA in ``airgap.caBundle``: MinIO then serves
    HTTPS only, and the setup job, the KServe storage initializer, the adapter sync sidecars and
    the publisher verify it against that CA. Default: none (plain HTTP inside the cluster)."""
    console: bool = False
    """Run and expose MinIO's web console (port 9001): an admin UI on the data, reachable by anyone
    who reaches the Service. Default: false."""


class S3Spec(Spec):
    """AWS S3 buckets (EKS stacks): private, encrypted, versioned, protected from deletion."""

    versioning: bool = True
    """Keep previous object versions (an overwritten adapter version can be recovered). Default: true."""
    kms_key_arn: str | None = None
    """KMS key for SSE-KMS. Default: SSE-S3 (AES256, AWS-managed keys)."""


class StorageSpec(Spec):
    """Object storage for adapters and models."""

    kind: Literal["minio", "s3"] = "minio"
    """``minio``: in-cluster MinIO; ``s3``: AWS S3 buckets (EKS stacks). Default: minio."""
    minio: MinioSpec = Field(default_factory=MinioSpec)
    """MinIO settings (kind ``minio``)."""
    s3: S3Spec = Field(default_factory=S3Spec)
    """S3 settings (kind ``s3``); bucket names must then be globally unique."""
    adapters_bucket: BucketName = "adapters"
    """Bucket holding ``adapters/<base>/<adapter>/<version>/``. Default: adapters."""
    models_bucket: BucketName = "models"
    """Bucket for base models downloaded with ``s3://`` URIs. Default: models."""
    region: AwsRegion = "us-east-1"
    """S3 region (MinIO ignores it but clients need one; kind ``s3`` uses the cluster's region).
    Default: us-east-1."""
