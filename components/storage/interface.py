"""What every object store backend gives the rest of the platform (MinIO in-cluster, AWS S3).

The models layer, the adapter publisher and the vLLM services depend on these attributes only,
so ``storage.kind`` switches backends without touching them.
"""

from __future__ import annotations

import pulumi


class ObjectStoreOutputs:
    """Outputs of an object store component."""

    endpoint: str
    """S3 endpoint URL as model pods reach it (MinIO: ``http://minio.<ns>.svc.cluster.local:9000``)."""
    endpoint_host: str
    """``host[:port]`` of the endpoint (KServe's ``s3-endpoint`` annotation form)."""
    use_https: bool
    """Whether the endpoint is TLS."""
    adapters_bucket: str
    """Adapters bucket name."""
    models_bucket: str
    """Models bucket name."""
    region: str
    """Signing region."""
    service_account_name: pulumi.Output[str] | None
    """ServiceAccount in the serving namespace listing the KServe S3 Secret (None without serving)."""
    s3_secret_name: pulumi.Output[str] | None
    """KServe S3 Secret (reader credentials) in the serving namespace; also read by sync sidecars."""
    data_connection_name: pulumi.Output[str] | None
    """OpenShift AI data-connection Secret in the serving namespace."""
    publisher_access_key: pulumi.Output[str]
    """Publisher access key (secret output)."""
    publisher_secret_key: pulumi.Output[str]
    """Publisher secret key (secret output)."""
    ready: list[pulumi.Resource]
    """Resources after which buckets and the publisher's credentials work."""
