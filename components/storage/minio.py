"""``ObjectStore``: an in-cluster MinIO holding LoRA adapters (and optionally base models).

One single-node MinIO server on a protected PVC, with credentials that never leave Kubernetes
Secrets and Pulumi secret state:

* root credentials come from pulumi-random and are used only by the server and by the setup
  Job; nothing that serves models ever sees them;
* the setup Job (the pinned ``mc`` image, idempotent: it may run any number of times) creates
  the buckets and one user per role of ``STORE_ROLES``, each reaching one bucket: an adapters
  reader (sync sidecars), a models reader (KServe's storage initializer) and a publisher
  (``s3:PutObject`` on the adapters bucket only, so it can never overwrite base models); it
  reads every key from its environment (Secrets) and hands secret keys to ``mc`` on stdin;
* the web console is off unless ``console`` is set;
* in the serving namespace it writes what KServe and OpenShift AI expect: a KServe S3 Secret
  (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` + ``serving.kserve.io/s3-*`` annotations)
  listed by a ServiceAccount that InferenceServices run as, and an ODH data-connection Secret
  for the adapters bucket, each with the reader of its bucket.

The publisher credentials are exposed as secret outputs for the adapter publisher, which runs
where ``pulumi up`` runs (see ``components.models.adapters``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.common.input_errors import refuse_inputs, value_issues
from components.common.labels import standard_labels
from components.common.pod_security import RUN_AS, RunAs, container_security_context, pod_security_context
from components.common.protection import protected
from components.storage.interface import STORE_ROLES, ObjectStoreOutputs, role_policy
from components.storage.rules import minio_tls_rules
from components.storage.spec import MinioSpec, StorageSpec

API_PORT = 9000
CONSOLE_PORT = 9001
CERTS_DIR = "/etc/minio/certs"
MOUNT_PATHS = ("/data", "/tmp", "/setup", "/policies", CERTS_DIR)
"""Directories the MinIO server and its setup job mount volumes at."""
SETUP_SCRIPT = r"""#!/bin/sh
# Idempotent MinIO setup: buckets, one policy and one user per role. Safe to run any number of times.
# Credentials come from the environment (Secrets) only; a secret key reaches mc on stdin through the
# shell's printf builtin, never as an argument (arguments are visible to anyone listing processes).
set -eu
export HOME=/tmp MC_CONFIG_DIR="${MC_CONFIG_DIR:-/tmp/.mc}"
POLICY_DIR="${POLICY_DIR:-/policies}"
export MC_HOST_store="${MINIO_SCHEME}://${MINIO_ROOT_USER}:${MINIO_ROOT_PASSWORD}@${MINIO_HOSTPORT}"
tries=0
until mc ready store >/dev/null 2>&1; do
  tries=$((tries + 1)); [ "$tries" -lt 60 ] || { echo "MinIO not ready after 5 minutes" >&2; exit 1; }
  sleep 5
done
for bucket in $BUCKETS; do
  mc mb --ignore-existing "store/$bucket"
done
attach() {  # policy user: attaching twice is reported as an error by mc; treat it as done
  out=$(mc admin policy attach store "$1" --user "$2" 2>&1) && return 0
  case "$out" in *"already"*) return 0 ;; esac
  echo "$out" >&2; return 1
}
for entry in $ROLES; do  # role:ENV_PREFIX
  role=${entry%%:*}; prefix=${entry#*:}
  eval "access=\${${prefix}_ACCESS_KEY}; secret=\${${prefix}_SECRET_KEY}"
  mc admin policy create store "platform-$role" "$POLICY_DIR/$role.json" >/dev/null
  printf '%s\n' "$secret" | mc admin user add store "$access" >/dev/null
  attach "platform-$role" "$access"
done
echo "buckets ($BUCKETS) and roles ($ROLES) are in place"
"""


Keys = tuple[pulumi.Input[str], pulumi.Input[str]]


def serving_credentials(name: str, namespace: pulumi.Input[str], labels: dict[str, str], opts: pulumi.ResourceOptions, *,
                        models_reader: Keys, adapters_reader: Keys, endpoint_url: str,
                        endpoint_host: str, use_https: bool, region: str, bucket: str
                        ) -> tuple[pulumi.Output[str], pulumi.Output[str], pulumi.Output[str], pulumi.Output[str]]:
    """What model servers in ``namespace`` read the store with (read-only, one bucket each):

    * ``<name>-kserve-s3``: models-bucket reader in ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``
      (the key names of KServe's shipped ``credentials.s3`` config) with the ``serving.kserve.io/s3-*``
      annotations the storage initializer turns into S3_ENDPOINT, S3_USE_HTTPS, S3_VERIFY_SSL,
      AWS_DEFAULT_REGION;
    * ``<name>-kserve-s3`` ServiceAccount listing it in ``secrets`` (InferenceServices run as it);
    * ``<name>-adapters-reader``: adapters-bucket reader for the adapter sync sidecars;
    * ``aws-connection-<bucket>``: an OpenShift AI / Open Data Hub data connection (adapters reader).

    Returns (ServiceAccount name, S3 Secret name, adapters Secret name, data-connection Secret name).
    """
    def secret(role: str, k8s_name: str, data: dict[str, pulumi.Input[str]], meta_labels: dict[str, str],
               annotations: dict[str, str]) -> k8s.core.v1.Secret:
        return k8s.core.v1.Secret(
            f"{name}-{role}",
            # No annotations at all rather than {}: the API server drops an empty map, and the
            # provider would then see a metadata diff on every up.
            metadata=k8s.meta.v1.ObjectMetaArgs(name=k8s_name, namespace=namespace, labels=meta_labels,
                                                annotations=annotations or None),
            type="Opaque",
            string_data={k: pulumi.Output.secret(v) for k, v in data.items()},
            opts=opts,
        )

    flag = "1" if use_https else "0"
    models = {"AWS_ACCESS_KEY_ID": models_reader[0], "AWS_SECRET_ACCESS_KEY": models_reader[1]}
    reader = {"AWS_ACCESS_KEY_ID": adapters_reader[0], "AWS_SECRET_ACCESS_KEY": adapters_reader[1]}
    adapters_secret = secret("adapters-reader", f"{name}-adapters-reader", reader, labels, {})
    s3_secret = secret("kserve-s3", f"{name}-kserve-s3", models, labels, {
        "serving.kserve.io/s3-endpoint": endpoint_host,
        "serving.kserve.io/s3-usehttps": flag,
        "serving.kserve.io/s3-verifyssl": flag,
        "serving.kserve.io/s3-region": region,
    })
    sa = k8s.core.v1.ServiceAccount(
        f"{name}-kserve-s3",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{name}-kserve-s3", namespace=namespace, labels=labels),
        secrets=[k8s.core.v1.ObjectReferenceArgs(name=s3_secret.metadata.name)],
        automount_service_account_token=False,
        opts=opts,
    )
    connection = secret(
        "data-connection", f"aws-connection-{bucket}",
        reader | {"AWS_S3_ENDPOINT": endpoint_url, "AWS_S3_BUCKET": bucket, "AWS_DEFAULT_REGION": region},
        labels | {"opendatahub.io/dashboard": "true", "opendatahub.io/managed": "true"},
        # -protocol is the 3.x connections API; -ref and the bare type what older dashboards list.
        {"opendatahub.io/connection-type-protocol": "s3", "opendatahub.io/connection-type-ref": "s3",
         "opendatahub.io/connection-type": "s3", "openshift.io/display-name": f"{bucket} (LoRA adapters, read-only)"},
    )
    return sa.metadata.name, s3_secret.metadata.name, adapters_secret.metadata.name, connection.metadata.name


@dataclass(frozen=True)
class ObjectStoreArgs:
    """What the object store needs to know."""

    spec: MinioSpec
    """MinIO settings (``storage.minio``): image, size, TLS, publish endpoint. Required."""
    namespace: pulumi.Input[str]
    """Namespace of the server (platform-owned, protected: it holds the PVC). Required."""
    serving_namespace: pulumi.Input[str] | None
    """Namespace of the model servers, which gets the KServe S3 Secret, its ServiceAccount and the data
    connection; None when nothing is served. Required."""
    adapters_bucket: str = "adapters"
    """Bucket of adapter versions. Default: adapters."""
    models_bucket: str = "models"
    """Bucket of base models (``s3://`` sources). Default: models."""
    region: str = "us-east-1"
    """Region clients sign requests for. Default: us-east-1."""
    run_as: RunAs = RUN_AS
    """uid/gid of the server and its jobs; None where the cluster assigns it (OpenShift). Default: 1000."""


def problems(args: ObjectStoreArgs) -> list[tuple[str, str]]:
    """Everything wrong with ``args`` (paths relative to them), by the rules the stack applies to
    ``storage``: bucket names and region (the ``StorageSpec`` field types), HTTPS publishing with TLS."""
    return (value_issues(StorageSpec, "adapters_bucket", args.adapters_bucket, path="adaptersBucket")
            + value_issues(StorageSpec, "models_bucket", args.models_bucket, path="modelsBucket")
            + value_issues(StorageSpec, "region", args.region, path="region")
            + minio_tls_rules(args.spec, path="spec"))


class ObjectStore(ObjectStoreOutputs, pulumi.ComponentResource):
    """MinIO server, buckets, least-privilege users and KServe/ODH credential wiring.

    Raises ``pulumi.InputPropertiesError`` listing every problem of its args (:func:`problems`)
    before it registers anything."""

    def __init__(self, name: str, args: ObjectStoreArgs, opts: pulumi.ResourceOptions | None = None):
        refuse_inputs("ObjectStore", name, problems(args))
        super().__init__("llmplatform:storage:ObjectStore", name, None, opts)
        spec = args.spec
        child = pulumi.ResourceOptions(parent=self)
        labels = standard_labels("object-store", name)
        selector = {"app.kubernetes.io/component": "object-store", "app.kubernetes.io/instance": name}
        ns = args.namespace
        ns_name = spec.namespace
        self.endpoint_host = f"{name}.{ns_name}.svc.cluster.local:{API_PORT}"
        self.use_https = spec.tls_secret is not None
        scheme = "https" if self.use_https else "http"
        self.endpoint = f"{scheme}://{self.endpoint_host}"
        self.adapters_bucket = args.adapters_bucket
        self.models_bucket = args.models_bucket
        self.region = args.region

        def password(role: str, length: int) -> pulumi.Output[str]:
            # Alphanumeric: usable verbatim in MC_HOST_* URLs and env vars.
            return random.RandomPassword(f"{name}-{role}", length=length, special=False, opts=child).result

        root_user, root_password = password("root-user", 20), password("root-password", 40)
        keys = {role.name: (password(f"{role.name}-key", 20), password(f"{role.name}-secret", 40)) for role in STORE_ROLES}
        self.publisher_access_key = pulumi.Output.secret(keys["publisher"][0])
        self.publisher_secret_key = pulumi.Output.secret(keys["publisher"][1])

        def secret(role: str, namespace: pulumi.Input[str], data: dict[str, pulumi.Input[str]], **meta) -> k8s.core.v1.Secret:
            return k8s.core.v1.Secret(
                f"{name}-{role}",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=meta.pop("k8s_name", f"{name}-{role}"), namespace=namespace,
                                                    labels=meta.pop("labels", labels), annotations=meta.pop("annotations", None)),
                type="Opaque",
                string_data={k: pulumi.Output.secret(v) for k, v in data.items()},
                opts=child,
            )

        root = secret("root", ns, {"MINIO_ROOT_USER": root_user, "MINIO_ROOT_PASSWORD": root_password})
        users = secret("users", ns, {f"{role.env_prefix}_{part}": value for role in STORE_ROLES
                                     for part, value in zip(("ACCESS_KEY", "SECRET_KEY"), keys[role.name])})

        pvc = k8s.core.v1.PersistentVolumeClaim(
            f"{name}-data",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{name}-data", namespace=ns, labels=labels),
            spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                access_modes=["ReadWriteOnce"],
                storage_class_name=spec.storage_class,
                resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests={"storage": f"{spec.storage_gib}Gi"}),
            ),
            opts=protected(child),
        )
        resources = {"cpu": spec.cpu, "memory": f"{spec.memory_gib}Gi"}
        probe = lambda path, delay: {"httpGet": {"path": path, "port": "api", "scheme": scheme.upper()},  # noqa: E731
                                     "initialDelaySeconds": delay, "periodSeconds": 10}
        # MinIO reads public.crt/private.key from its certs dir; the Secret is group-readable by fsGroup only.
        tls_volumes = [{"name": "tls", "secret": {"secretName": spec.tls_secret, "defaultMode": 0o440, "items": [
            {"key": "tls.crt", "path": "public.crt"}, {"key": "tls.key", "path": "private.key"}]}}] if self.use_https else []
        tls_mounts = [{"name": "tls", "mountPath": CERTS_DIR, "readOnly": True}] if self.use_https else []
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-server",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=ns, labels=labels),
            spec={
                "replicas": 1,
                # One RWO volume: the old pod must release it before the new one starts.
                "strategy": {"type": "Recreate"},
                "selector": {"matchLabels": selector},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "securityContext": pod_security_context(args.run_as),
                        "automountServiceAccountToken": False,
                        "containers": [{
                            "name": "minio",
                            "image": spec.image.ref,
                            "args": ["server", "/data", "--address", f":{API_PORT}",
                                     "--certs-dir", CERTS_DIR if self.use_https else "/tmp/certs",
                                     *(["--console-address", f":{CONSOLE_PORT}"] if spec.console else [])],
                            "env": [
                                {"name": "MINIO_ROOT_USER", "valueFrom": {"secretKeyRef": {"name": root.metadata.name, "key": "MINIO_ROOT_USER"}}},
                                {"name": "MINIO_ROOT_PASSWORD", "valueFrom": {"secretKeyRef": {"name": root.metadata.name, "key": "MINIO_ROOT_PASSWORD"}}},
                                # The web console is an admin UI on the data: off unless asked for.
                                {"name": "MINIO_BROWSER", "value": "on" if spec.console else "off"},
                                {"name": "MINIO_BROWSER_REDIRECT", "value": "false"},
                                {"name": "HOME", "value": "/tmp"},
                            ],
                            "ports": [{"name": "api", "containerPort": API_PORT, "protocol": "TCP"},
                                      *([{"name": "console", "containerPort": CONSOLE_PORT, "protocol": "TCP"}]
                                        if spec.console else [])],
                            "readinessProbe": probe("/minio/health/ready", 5),
                            "livenessProbe": probe("/minio/health/live", 30),
                            "resources": {"requests": resources, "limits": resources},
                            "securityContext": container_security_context(args.run_as, read_only_root=True),
                            "volumeMounts": [{"name": "data", "mountPath": "/data"}, {"name": "tmp", "mountPath": "/tmp"},
                                             *tls_mounts],
                        }],
                        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": pvc.metadata.name}},
                                    {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}, *tls_volumes],
                    },
                },
            },
            opts=child,
        )
        service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=ns, labels=labels),
            spec={"selector": selector, "ports": [
                {"name": "api", "port": API_PORT, "targetPort": "api", "protocol": "TCP"},
                *([{"name": "console", "port": CONSOLE_PORT, "targetPort": "console", "protocol": "TCP"}] if spec.console else []),
            ]},
            opts=child,
        )

        buckets = [args.adapters_bucket, args.models_bucket]
        policies = {f"{role.name}.json": json.dumps(role_policy(role, args.adapters_bucket, args.models_bucket), indent=2,
                                                     sort_keys=True) for role in STORE_ROLES}
        policies["setup.sh"] = SETUP_SCRIPT
        setup_config = k8s.core.v1.ConfigMap(
            f"{name}-setup",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{name}-setup", namespace=ns, labels=labels),
            data=policies,
            opts=child,
        )
        # The pod template carries the digest of what the Job applies: a change replaces the Job,
        # which runs again (Jobs are immutable); otherwise the completed Job is left alone.
        digest = hashlib.sha256(json.dumps([policies, buckets, spec.client_image.ref], sort_keys=True).encode()).hexdigest()[:16]
        job_labels = standard_labels("object-store-setup", name)
        self.setup_job = k8s.batch.v1.Job(
            f"{name}-setup",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{name}-setup", namespace=ns, labels=job_labels),
            spec={
                "backoffLimit": 6,
                "activeDeadlineSeconds": 900,
                "template": {
                    "metadata": {"labels": job_labels, "annotations": {"llm-platform.io/setup-digest": digest}},
                    "spec": {
                        "restartPolicy": "OnFailure",
                        "automountServiceAccountToken": False,
                        "securityContext": pod_security_context(args.run_as),
                        "containers": [{
                            "name": "mc",
                            "image": spec.client_image.ref,
                            "command": ["/bin/sh", "/setup/setup.sh"],
                            "env": [
                                {"name": "MINIO_SCHEME", "value": scheme},
                                {"name": "MINIO_HOSTPORT", "value": self.endpoint_host},
                                {"name": "BUCKETS", "value": " ".join(buckets)},
                                {"name": "ROLES", "value": " ".join(f"{r.name}:{r.env_prefix}" for r in STORE_ROLES)},
                            ],
                            "envFrom": [{"secretRef": {"name": root.metadata.name}}, {"secretRef": {"name": users.metadata.name}}],
                            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
                            "securityContext": container_security_context(args.run_as, read_only_root=True),
                            "volumeMounts": [
                                {"name": "setup", "mountPath": "/setup", "readOnly": True},
                                {"name": "setup", "mountPath": "/policies", "readOnly": True},
                                {"name": "tmp", "mountPath": "/tmp"},
                            ],
                        }],
                        "volumes": [{"name": "setup", "configMap": {"name": setup_config.metadata.name}},
                                    {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
                    },
                },
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.deployment, service]),
        )
        self.ready = [self.setup_job]

        self.service_account_name = None
        self.s3_secret_name = None
        self.adapters_secret_name = None
        self.data_connection_name = None
        if args.serving_namespace is not None:
            wiring = serving_credentials(
                name, args.serving_namespace, labels, child, models_reader=keys["models-reader"],
                adapters_reader=keys["adapters-reader"], endpoint_url=self.endpoint, endpoint_host=self.endpoint_host,
                use_https=self.use_https, region=args.region, bucket=args.adapters_bucket)
            self.service_account_name, self.s3_secret_name, self.adapters_secret_name, self.data_connection_name = wiring

        self.register_outputs({
            "endpoint": self.endpoint,
            "adaptersBucket": self.adapters_bucket,
            "modelsBucket": self.models_bucket,
            "serviceAccountName": self.service_account_name,
            "s3SecretName": self.s3_secret_name,
            "adaptersSecretName": self.adapters_secret_name,
            "dataConnectionName": self.data_connection_name,
            "publisherAccessKey": self.publisher_access_key,
            "publisherSecretKey": self.publisher_secret_key,
        })
