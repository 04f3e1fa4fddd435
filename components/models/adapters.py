"""Publishing LoRA adapter versions to the object store, from the machine running ``pulumi up``.

Why a Pulumi dynamic provider (and not an in-cluster Job)
---------------------------------------------------------
Adapter weights live next to the program (``adapters/<base>/<adapter>/<version>/``, or a
directory a training pipeline drops them in); the cluster has no way to reach them, and in an
air-gapped cluster there is no Hugging Face or artifact server to pull from either. A Job would
need the files packed into the cluster first (ConfigMaps cap at 1 MiB; real adapters weigh
tens to hundreds of MB), so the upload has to start where the files are. A dynamic provider
(``pulumi.dynamic.ResourceProvider``) built on the pinned ``minio`` S3 SDK does exactly that,
and makes publishing part of the same plan as everything else:

* the adapter is checked before any byte moves (``adapter_checks``: LoRA only, declared rank,
  no DoRA, no ``modules_to_save``) and its ``base_model_name_or_path`` is rewritten to the
  server's ``--model`` value, so vLLM's filesystem resolver accepts it;
* the SHA-256 of every file is a resource input: ``pulumi preview`` shows an unchanged adapter
  as unchanged (no-op) and a new version as a create, and refuses changed content under a
  version already published (versions are immutable);
* objects are stored under an immutable version path with their digest as metadata; a re-run
  skips files already stored with the same digest;
* objects are never deleted on destroy or replacement: published versions are data (a running
  server may still resolve them; rollback is a registry edit, not a re-upload);
* the registry ConfigMap is built from this resource's outputs, so a version is only
  advertised to servers after it has landed.

It needs the object store's S3 endpoint to be reachable from where the program runs
(``storage.minio.publishEndpoint``: an ingress, a LoadBalancer or a port-forward). Stacks
without a reachable endpoint (``render`` stacks) run the publisher in ``verify`` mode: every
check and digest still runs, nothing is uploaded.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

import pulumi
import pulumi.dynamic

from components.common.input_errors import refuse_inputs

from components.models.adapter_checks import (
    KSERVE_MODEL_PATH,
    AdapterCheckError,
    PreparedAdapter,
    adapter_prefix,
    diff_inputs,
    plan_publish,
    prepare_adapter,
    republish_refusal,
)
from components.models.rules import duplicate_adapter_rules
from components.models.spec import AdapterSpec

DIGEST_METADATA = "sha256"
"""User metadata key (``x-amz-meta-sha256``) holding each object's content digest."""

PublishMode = Literal["upload", "verify"]


def parse_endpoint(endpoint: str) -> tuple[str, bool]:
    """``http(s)://host:port`` -> (``host:port``, secure)."""
    parsed = urlparse(endpoint)
    if parsed.scheme not in ("http", "https") or not parsed.netloc or parsed.path not in ("", "/"):
        raise ValueError(f"S3 endpoint {endpoint!r} must be http(s)://host[:port] with no path")
    return parsed.netloc, parsed.scheme == "https"


def s3_client(endpoint: str, access_key: str, secret_key: str, region: str = "us-east-1", verify_ssl: bool = True,
              ca_file: str | None = None):
    """A ``minio`` SDK client for ``endpoint``; ``ca_file``: PEM bundle the endpoint's certificate is verified
    against instead of the system store (the stack's internal CA)."""
    import urllib3
    from minio import Minio

    host, secure = parse_endpoint(endpoint)
    http_client = None
    if secure and verify_ssl and ca_file:
        http_client = urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_certs=ca_file,
                                          retries=urllib3.Retry(total=5, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]))
    return Minio(host, access_key=access_key, secret_key=secret_key, secure=secure, region=region, cert_check=verify_ssl,
                 http_client=http_client)


def stored_digests(client, bucket: str, prefix: str, names: list[str]) -> dict[str, str | None]:
    """Digest metadata of ``prefix/<name>`` objects (None when missing or stored by someone else)."""
    from minio.error import S3Error

    found: dict[str, str | None] = {}
    for name in names:
        try:
            stat = client.stat_object(bucket, prefix + name)
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject", "NotFound", "ResourceNotFound"):
                found[name] = None
                continue
            raise
        meta = {k.lower(): v for k, v in (stat.metadata or {}).items()}
        found[name] = meta.get(f"x-amz-meta-{DIGEST_METADATA}")
    return found


def publish(client, bucket: str, prefix: str, prepared: PreparedAdapter) -> list[str]:
    """Upload the files whose stored digest differs; return the names uploaded."""
    if not client.bucket_exists(bucket):
        raise RuntimeError(f"bucket {bucket!r} does not exist on the object store; the ObjectStore's setup job creates it")
    digests = prepared.digests
    plan = plan_publish(digests, stored_digests(client, bucket, prefix, sorted(digests)), prefix)
    # Config last: a reader that sees the config finds the weights already there.
    order = sorted(plan.upload, key=lambda n: (n == "adapter_config.json", n))
    for name in order:
        data = prepared.files[name]
        client.put_object(
            bucket, prefix + name, io.BytesIO(data), len(data),
            content_type="application/json" if name.endswith(".json") else "application/octet-stream",
            metadata={DIGEST_METADATA: digests[name]},
        )
    return list(order)


def _arch(name: str | None):
    """The base architecture's dimensions for the tensor checks (None: not checked)."""
    if not name:
        return None
    from components.models.capacity import get_arch

    return get_arch(name)


class AdapterVersionProvider(pulumi.dynamic.ResourceProvider):
    """CRUD of one published adapter version. Inputs (all plain strings except digests):

    ``sourceDir``, ``rank``, ``modelPath``, ``architecture`` (base dimensions for the tensor
    checks; empty: not checked), ``endpoint``, ``bucket``, ``prefix``, ``region``,
    ``verifySsl``, ``mode`` (upload|verify), ``digests`` (file -> sha256, computed at program
    time), ``accessKey``/``secretKey`` (secret; never returned as outputs).
    """

    # Pulumi pickles the provider (dill) into the state and unpickles it in a separate provider
    # process. The class is pickled by reference (``components.models.adapters``), which that
    # process imports from the installed project (pyproject.toml, `make venv`): no sys.path edit
    # and no eval in the pickle. States written before carry the older, self-locating pickle,
    # which still loads; ``diff_inputs`` ignores ``__provider``, so the new one changes nothing.

    def _prepare(self, props: dict) -> PreparedAdapter:
        prepared = prepare_adapter(props["sourceDir"], int(props["rank"]), props["modelPath"],
                                   _arch(props.get("architecture")))
        if prepared.digests != dict(props["digests"]):
            raise AdapterCheckError(props["sourceDir"], ["files changed between planning and publishing; run again"])
        return prepared

    def _publish(self, props: dict) -> dict[str, Any]:
        prepared = self._prepare(props)
        uploaded: list[str] = []
        if props["mode"] == "upload":
            client = s3_client(props["endpoint"], props["accessKey"], props["secretKey"], props.get("region", "us-east-1"),
                               bool(props.get("verifySsl", True)), props.get("caFile"))
            uploaded = publish(client, props["bucket"], props["prefix"], prepared)
        return outputs_of(props, uploaded)

    def check(self, olds, news):
        failures = []
        try:
            parse_endpoint(news["endpoint"])
        except ValueError as exc:
            failures.append(pulumi.dynamic.CheckFailure("endpoint", str(exc)))
        refusal = republish_refusal(olds, news)
        if refusal:
            # No property: the engine then prints the reason alone, not the whole digests map.
            failures.append(pulumi.dynamic.CheckFailure("", refusal))
        return pulumi.dynamic.CheckResult(news, failures)

    def diff(self, _id, olds, news):
        changes, replaces, _ = diff_inputs(olds, news)
        return pulumi.dynamic.DiffResult(changes=changes, replaces=replaces, delete_before_replace=False)

    def create(self, props):
        outs = self._publish(props)
        return pulumi.dynamic.CreateResult(id_=f"{props['bucket']}/{props['prefix']}", outs=outs)

    def update(self, _id, _olds, news):
        return pulumi.dynamic.UpdateResult(outs=self._publish(news))

    def delete(self, _id, _props):
        # Published versions are data: never deleted by the program (see the module docstring).
        return None


def outputs_of(props: dict, uploaded: list[str]) -> dict[str, Any]:
    """A publisher's outputs: its inputs minus credentials, plus what the last run uploaded."""
    outs = {k: v for k, v in props.items() if k not in ("accessKey", "secretKey", "__provider")}
    outs["uploaded"] = uploaded
    return outs


class AdapterVersion(pulumi.dynamic.Resource, module="models", name="AdapterVersion"):
    """One adapter version in the object store."""

    prefix: pulumi.Output[str]
    uploaded: pulumi.Output[list]

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None):
        super().__init__(AdapterVersionProvider(), name, {**props, "uploaded": None}, opts)


@dataclass(frozen=True)
class StoreConnection:
    """How the program reaches the object store to publish (not how pods reach it)."""

    endpoint: str | None
    """``http(s)://host:port`` reachable from where ``pulumi up`` runs; None: verify only, upload nothing."""
    bucket: str
    """Adapters bucket."""
    access_key: pulumi.Input[str] = ""
    """Publisher access key (secret)."""
    secret_key: pulumi.Input[str] = ""
    """Publisher secret key (secret)."""
    region: str = "us-east-1"
    """S3 region."""
    verify_ssl: bool = True
    """Verify the endpoint's TLS certificate."""
    ca_file: str | None = None
    """PEM bundle (absolute path) to verify it against; default: the system trust store."""
    ready: list[pulumi.Resource] = field(default_factory=list)
    """Resources that must exist before uploading (bucket and user setup)."""


@dataclass(frozen=True)
class AdapterCatalogArgs:
    """Adapters to publish."""

    adapters: list[AdapterSpec]
    """Adapter versions (every one is checked, even in verify mode). Required."""
    store: StoreConnection
    """Where to publish: the store's endpoint, bucket and publisher credentials. Required."""
    root: Path
    """Directory ``sourceDir`` values are relative to (the project root). Required."""
    model_path: str = KSERVE_MODEL_PATH
    """The serving ``--model`` value written into ``base_model_name_or_path``. Default: ``/mnt/models`` (where
    KServe mounts the base model)."""
    architectures: dict[str, str] = field(default_factory=dict)
    """Base model key -> architecture name in ``capacity.CATALOG``: tensor shapes and target modules are
    checked against it before publishing. Default: none (adapters of an unlisted base model get no
    tensor-shape check)."""


def prepare_all(args: AdapterCatalogArgs) -> tuple[list[PreparedAdapter | None], list[tuple[str, str]]]:
    """Every adapter checked and prepared, and everything wrong with ``args`` (paths relative to
    them): an adapter declared twice (the stack's ``duplicate_adapter_rules``), an architecture the
    capacity catalog does not have, and each adapter's files by ``prepare_adapter`` (the check the
    stack runs on ``models.adapters[i].sourceDir``, here with the base's tensor shapes too)."""
    issues = duplicate_adapter_rules(args.adapters, path="adapters")
    prepared: list[PreparedAdapter | None] = []
    for i, adapter in enumerate(args.adapters):
        try:
            base = _arch(args.architectures.get(adapter.base_model))
        except KeyError as exc:
            issues.append((f"architectures.{adapter.base_model}", str(exc.args[0])))
            prepared.append(None)
            continue
        try:
            prepared.append(prepare_adapter((args.root / adapter.source_dir).resolve(), adapter.rank, args.model_path, base))
        except AdapterCheckError as exc:
            issues.append((f"adapters[{i}].sourceDir", f"{adapter.source_dir!r}: " + "; ".join(exc.problems)))
            prepared.append(None)
        except OSError as exc:
            issues.append((f"adapters[{i}].sourceDir", f"{adapter.source_dir!r}: cannot be read ({exc.strerror})"))
            prepared.append(None)
    return prepared, issues


class AdapterCatalog(pulumi.ComponentResource):
    """Every declared adapter version, checked and published at ``adapters/<base>/<adapter>/<version>/``.

    Raises ``pulumi.InputPropertiesError`` listing every problem of its args (:func:`prepare_all`)
    before it registers anything."""

    object_paths: dict[tuple[str, str], pulumi.Output[str]]
    """(base model, adapter) -> published object prefix (resolves after the upload)."""
    uris: dict[tuple[str, str], pulumi.Output[str]]
    """(base model, adapter) -> ``s3://bucket/prefix`` URI."""
    digests: dict[tuple[str, str], dict[str, str]]
    """(base model, adapter) -> file name -> SHA-256 of the published bytes (what registries pin)."""

    def __init__(self, name: str, args: AdapterCatalogArgs, opts: pulumi.ResourceOptions | None = None):
        ready, issues = prepare_all(args)
        refuse_inputs("AdapterCatalog", name, issues)
        super().__init__("llmplatform:models:AdapterCatalog", name, None, opts)
        store = args.store
        mode: PublishMode = "upload" if store.endpoint else "verify"
        self.object_paths = {}
        self.uris = {}
        self.digests = {}
        for adapter, prepared in zip(args.adapters, ready):
            assert prepared is not None, "refused above"
            # Checked at program time too (prepare_all): a bad adapter fails preview, not the update.
            source = (args.root / adapter.source_dir).resolve()
            architecture = args.architectures.get(adapter.base_model)
            prefix = adapter_prefix(adapter.base_model, adapter.name, adapter.version)
            props: dict[str, Any] = {
                "sourceDir": str(source),
                "rank": adapter.rank,
                "modelPath": args.model_path,
                "architecture": architecture or "",
                "endpoint": store.endpoint or "http://verify-only.invalid",
                "bucket": store.bucket,
                "prefix": prefix,
                "region": store.region,
                "verifySsl": store.verify_ssl,
                "caFile": store.ca_file,
                "mode": mode,
                "digests": prepared.digests,
                "accessKey": pulumi.Output.secret(store.access_key),
                "secretKey": pulumi.Output.secret(store.secret_key),
            }
            res = AdapterVersion(
                f"{name}-{adapter.base_model}-{adapter.name}-{adapter.version}",
                props,
                pulumi.ResourceOptions(parent=self, depends_on=list(store.ready),
                                       additional_secret_outputs=["accessKey", "secretKey"]),
            )
            key = (adapter.base_model, adapter.name)
            self.object_paths[key] = res.prefix
            self.digests[key] = prepared.digests
            self.uris[key] = res.prefix.apply(lambda p, b=store.bucket: f"s3://{b}/{p}")
        self.register_outputs({"uris": {f"{b}/{a}": u for (b, a), u in self.uris.items()}})
