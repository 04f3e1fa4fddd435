"""``S3ObjectStore``: the ``ObjectStore`` interface on AWS S3 (EKS stacks, ``storage.kind: s3``).

Two private buckets (public access blocked, SSE-S3 or SSE-KMS, versioned), protected from
deletion like the MinIO volume, and two IAM users holding exactly the MinIO users' policies
(``bucket_policy``: readers ``s3:GetObject``/``s3:ListBucket``, publishers also
``s3:PutObject``). Their access keys go where MinIO's credentials go: the reader's into the
KServe S3 Secret / ServiceAccount / data connection in the serving namespace (same
``serving_credentials``), the publisher's into secret outputs for the adapter publisher, which
reaches the regional S3 endpoint directly (no port-forward needed).

Static access keys keep the one credential path every consumer already speaks (KServe's
storage initializer, the stdlib sync sidecar, the publisher). EKS Pod Identity would remove
them from the cluster; it needs the sidecar to read container credentials, left for later.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.common.input_errors import refuse_inputs, value_issues
from components.common.labels import standard_labels
from components.common.protection import protected
from components.storage.interface import STORE_ROLES, ObjectStoreOutputs, role_policy
from components.storage.minio import serving_credentials
from components.storage.spec import S3Spec, StorageSpec


@dataclass(frozen=True)
class S3ObjectStoreArgs:
    """What the S3 store needs."""

    spec: S3Spec
    """S3 settings (``storage.s3``). Required."""
    serving_namespace: pulumi.Input[str] | None
    """Namespace of the model servers (credential wiring); None when nothing is served. Required."""
    adapters_bucket: str
    """Adapters bucket (globally unique name). Required."""
    models_bucket: str
    """Models bucket (globally unique name). Required."""
    region: str
    """AWS region of the buckets (the cluster's). Required."""
    tags: dict[str, str]
    """Tags of every AWS resource. Required."""


def problems(args: S3ObjectStoreArgs) -> list[tuple[str, str]]:
    """Bucket names and region, by the rules the stack applies to ``storage`` (the ``StorageSpec``
    field types); paths relative to the args."""
    return (value_issues(StorageSpec, "adapters_bucket", args.adapters_bucket, path="adaptersBucket")
            + value_issues(StorageSpec, "models_bucket", args.models_bucket, path="modelsBucket")
            + value_issues(StorageSpec, "region", args.region, path="region"))


class S3ObjectStore(ObjectStoreOutputs, pulumi.ComponentResource):
    """Buckets, least-privilege IAM users and the same Kubernetes wiring as ``ObjectStore``.

    Raises ``pulumi.InputPropertiesError`` listing every problem of its args (:func:`problems`)
    before it registers anything."""

    def __init__(self, name: str, args: S3ObjectStoreArgs, opts: pulumi.ResourceOptions | None = None):
        refuse_inputs("S3ObjectStore", name, problems(args))
        super().__init__("llmplatform:storage:S3ObjectStore", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.region = args.region
        self.endpoint_host = f"s3.{args.region}.amazonaws.com"
        self.endpoint = f"https://{self.endpoint_host}"
        self.use_https = True
        self.adapters_bucket = args.adapters_bucket
        self.models_bucket = args.models_bucket
        tags = dict(args.tags)
        ready: list[pulumi.Resource] = []
        for role, bucket_name in (("adapters", args.adapters_bucket), ("models", args.models_bucket)):
            bucket = aws.s3.Bucket(f"{name}-{role}", bucket=bucket_name, force_destroy=False, tags=tags,
                                   opts=protected(child))
            ready.append(aws.s3.BucketPublicAccessBlock(
                f"{name}-{role}-private", bucket=bucket.id, block_public_acls=True, block_public_policy=True,
                ignore_public_acls=True, restrict_public_buckets=True, opts=child))
            default = {"sse_algorithm": "aws:kms", "kms_master_key_id": args.spec.kms_key_arn} if args.spec.kms_key_arn \
                else {"sse_algorithm": "AES256"}
            ready.append(aws.s3.BucketServerSideEncryptionConfiguration(
                f"{name}-{role}-encryption", bucket=bucket.id,
                rules=[{"apply_server_side_encryption_by_default": default, "bucket_key_enabled": bool(args.spec.kms_key_arn)}],
                opts=child))
            if args.spec.versioning:
                ready.append(aws.s3.BucketVersioning(f"{name}-{role}-versioning", bucket=bucket.id,
                                                     versioning_configuration={"status": "Enabled"}, opts=child))
        keys = {}
        for store_role in STORE_ROLES:
            role, write = store_role.name, store_role.write
            user = aws.iam.User(f"{name}-{role}", name=f"{name}-{role}", tags=tags, opts=child)
            policy = role_policy(store_role, args.adapters_bucket, args.models_bucket)
            if args.spec.kms_key_arn:
                policy["Statement"].append({"Sid": "".join(p.title() for p in role.split("-")) + "Kms", "Effect": "Allow",
                                            "Action": ["kms:Decrypt"] + (["kms:GenerateDataKey"] if write else []),
                                            "Resource": [args.spec.kms_key_arn]})
            ready.append(aws.iam.UserPolicy(f"{name}-{role}", user=user.name, policy=json.dumps(policy, sort_keys=True),
                                            opts=child))
            key = aws.iam.AccessKey(f"{name}-{role}", user=user.name, opts=child)
            keys[role] = (pulumi.Output.secret(key.id), pulumi.Output.secret(key.secret))
        self.publisher_access_key, self.publisher_secret_key = keys["publisher"]
        self.ready = ready

        self.service_account_name = None
        self.s3_secret_name = None
        self.adapters_secret_name = None
        self.data_connection_name = None
        if args.serving_namespace is not None:
            (self.service_account_name, self.s3_secret_name, self.adapters_secret_name,
             self.data_connection_name) = serving_credentials(
                name, args.serving_namespace, standard_labels("object-store", name), child,
                models_reader=keys["models-reader"], adapters_reader=keys["adapters-reader"], endpoint_url=self.endpoint,
                endpoint_host=self.endpoint_host, use_https=True, region=args.region, bucket=args.adapters_bucket)
        self.register_outputs({
            "endpoint": self.endpoint,
            "adaptersBucket": self.adapters_bucket,
            "modelsBucket": self.models_bucket,
            "serviceAccountName": self.service_account_name,
            "s3SecretName": self.s3_secret_name,
            "publisherAccessKey": self.publisher_access_key,
            "publisherSecretKey": self.publisher_secret_key,
        })
