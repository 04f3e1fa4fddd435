"""What every object store backend gives the rest of the platform (MinIO in-cluster, AWS S3).

The models layer, the adapter publisher and the vLLM services depend on these attributes only,
so ``storage.kind`` switches backends without touching them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pulumi


@dataclass(frozen=True)
class StoreRole:
    """One set of object-store credentials and what it may touch (least privilege per bucket and use)."""

    name: str
    """Role name (MinIO user policy ``platform-<name>``, IAM user ``<store>-<name>``)."""
    bucket: Literal["adapters", "models"]
    """The one bucket the role reaches."""
    write: bool
    """Whether it may put objects."""

    @property
    def env_prefix(self) -> str:
        """Prefix of its ``<PREFIX>_ACCESS_KEY``/``<PREFIX>_SECRET_KEY`` variables in the setup job."""
        return self.name.upper().replace("-", "_")


STORE_ROLES = (
    StoreRole("adapters-reader", "adapters", write=False),  # adapter sync sidecars, data connection
    StoreRole("models-reader", "models", write=False),      # KServe storage initializer (s3:// base models)
    StoreRole("publisher", "adapters", write=True),         # the adapter publisher; never writes base models
)
"""Every role of every backend."""


def bucket_policy(name: str, buckets: list[str], write: bool) -> dict:
    """IAM-style policy (MinIO and AWS alike): list+read on ``buckets`` (and put when ``write``)."""
    sid = "".join(part.title() for part in name.split("-"))
    actions = ["s3:GetObject"] + (["s3:PutObject"] if write else [])
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": f"{sid}List", "Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
             "Resource": [f"arn:aws:s3:::{b}" for b in buckets]},
            {"Sid": f"{sid}Objects", "Effect": "Allow", "Action": actions,
             "Resource": [f"arn:aws:s3:::{b}/*" for b in buckets]},
        ],
    }


def role_policy(role: StoreRole, adapters_bucket: str, models_bucket: str) -> dict:
    """The policy of ``role`` over this store's buckets."""
    bucket = adapters_bucket if role.bucket == "adapters" else models_bucket
    return bucket_policy(role.name, [bucket], role.write)


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
    """KServe S3 Secret in the serving namespace: models-bucket reader credentials (storage initializer)."""
    adapters_secret_name: pulumi.Output[str] | None
    """Secret in the serving namespace with adapters-bucket reader credentials (sync sidecars)."""
    data_connection_name: pulumi.Output[str] | None
    """OpenShift AI data-connection Secret in the serving namespace."""
    publisher_access_key: pulumi.Output[str]
    """Publisher access key (secret output)."""
    publisher_secret_key: pulumi.Output[str]
    """Publisher secret key (secret output)."""
    ready: list[pulumi.Resource]
    """Resources after which buckets and the publisher's credentials work."""
