"""User-facing spec of air-gap readiness: internal registry and chart mirror, trusted CA, offline mode."""

from __future__ import annotations

import posixpath
import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from components.common.fields import ObjectName, RegistryWithPrefix
from components.common.spec import Spec, check_rules

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")

# KServe's storage initializer reads the CA bundle from this key of the ConfigMap named by the
# ``serving.kserve.io/s3-cabundle-configmap`` annotation / ``cabundle_configmap`` storage-config
# field (kserve docs/model-serving/storage/certificate/self-signed.md; PR #3250).
KSERVE_CA_BUNDLE_KEY = "cabundle.crt"
# Mounting a ConfigMap over one of these hides the image's own files.
_SYSTEM_DIRS = {"/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib64", "/mnt", "/opt", "/proc", "/root", "/run",
                "/sbin", "/srv", "/sys", "/tmp", "/usr", "/var", "/etc/ssl", "/etc/pki", "/usr/local", "/usr/lib", "/usr/bin"}


CaSource = Literal["file", "openshift-injected", "rhoai"]

OPENSHIFT_INJECT_LABEL = "config.openshift.io/inject-trusted-cabundle"
"""ConfigMaps with this label set to "true" get the cluster's trusted bundle (system trust store
plus ``Proxy/cluster`` ``spec.trustedCA``) written into key ``ca-bundle.crt`` by the
cluster-network-operator, and rewritten when it changes (CNO ``configmap_ca_injector``)."""
OPENSHIFT_INJECTED_KEY = "ca-bundle.crt"
RHOAI_CA_CONFIG_MAP = "odh-kserve-custom-ca-bundle"
"""odh-model-controller's per-namespace bundle (key ``cabundle.crt``): the injected cluster bundle,
``DSCInitialization.spec.trustedCABundle.customCABundle`` and the service CA, concatenated; the
same file RHOAI's storage initializer reads (OMC ``configmap_controller.go``)."""
_DEFAULT_CONFIG_MAP = {"file": "trusted-ca-bundle", "openshift-injected": "llm-platform-trusted-ca"}


class CaBundleSpec(Spec):
    """A trusted CA bundle for TLS to internal endpoints (registry, MinIO, proxies)."""

    source: CaSource = "file"
    """Where the bundle comes from. ``file``: a PEM file of this project, put into a ConfigMap the
    program creates in every platform namespace. ``openshift-injected`` (cluster.kind openshift):
    the cluster's trusted bundle, injected by OpenShift into a ConfigMap the program creates
    empty with the ``config.openshift.io/inject-trusted-cabundle`` label. ``rhoai`` (cluster.kind
    openshift): OpenShift AI's ``odh-kserve-custom-ca-bundle`` in each namespace (needs
    ``DSCInitialization.spec.trustedCABundle.managementState: Managed``), which adds the DSCI's
    ``customCABundle``; the program creates nothing. Default: file."""
    file: str | None = None
    """``file`` only: PEM file (relative to the project root) with every CA certificate workloads
    must trust; it replaces the image's system trust store for Python, Go and AWS SDK clients.
    Default: none (required for source file)."""
    config_map: ObjectName | None = None
    """ConfigMap created in every platform namespace and mounted into every pod. Default:
    trusted-ca-bundle (file), llm-platform-trusted-ca (openshift-injected); for rhoai it is always
    odh-kserve-custom-ca-bundle."""
    key: str = KSERVE_CA_BUNDLE_KEY
    """``file`` only: key of the bundle in the ConfigMap; KServe's storage initializer only reads
    ``cabundle.crt``. Default: cabundle.crt. (openshift-injected: ca-bundle.crt; rhoai: cabundle.crt.)"""
    mount_path: str = "/etc/llm-platform/ca"
    """Directory the ConfigMap is mounted at (read-only) in every container; ``SSL_CERT_FILE``,
    ``REQUESTS_CA_BUNDLE`` and ``AWS_CA_BUNDLE`` point at ``<mountPath>/<key>``.
    Default: /etc/llm-platform/ca."""

    @field_validator("key")
    @classmethod
    def _kserve_key(cls, key: str) -> str:
        if key != KSERVE_CA_BUNDLE_KEY:
            raise ValueError(f"KServe's storage initializer only reads key {KSERVE_CA_BUNDLE_KEY!r}; got {key!r}")
        return key

    @field_validator("mount_path")
    @classmethod
    def _absolute(cls, path: str) -> str:
        clean = posixpath.normpath(path) if path.startswith("/") else ""
        if clean != path.rstrip("/") or clean in _SYSTEM_DIRS or clean.startswith(("/etc/ssl", "/proc/", "/sys/", "/dev/")):
            raise ValueError(f"mountPath {path!r} must be a normalized absolute directory that does not shadow a system "
                             "directory or the image's trust store, e.g. /etc/llm-platform/ca")
        return clean

    @model_validator(mode="after")
    def _source_fields(self) -> "CaBundleSpec":
        check_rules(
            ("file", "required when source is 'file' (a PEM file relative to the project root)")
            if self.source == "file" and not self.file else None,
            ("file", f"only applies to source 'file'; source {self.source!r} takes the bundle from the cluster")
            if self.source != "file" and self.file else None,
            ("configMap", f"source 'rhoai' always mounts {RHOAI_CA_CONFIG_MAP!r}; remove configMap")
            if self.source == "rhoai" and self.config_map else None,
        )
        return self

    @property
    def bundle_config_map(self) -> str:
        """The ConfigMap mounted into every pod."""
        if self.source == "rhoai":
            return RHOAI_CA_CONFIG_MAP
        return self.config_map or _DEFAULT_CONFIG_MAP[self.source]

    @property
    def bundle_key(self) -> str:
        """The key of the bundle file in that ConfigMap."""
        return OPENSHIFT_INJECTED_KEY if self.source == "openshift-injected" else self.key


class AirgapSpec(Spec):
    """Make every workload of the stack run without reaching a public network."""

    enabled: bool = False
    """Rewrite images and charts to the mirror, force offline mode, mount the CA bundle. Default: false."""
    registry: RegistryWithPrefix | None = None
    """Internal image registry (host[:port][/prefix]) that mirrors every upstream image under its
    upstream repository path: ``quay.io/minio/minio:T`` is pulled as ``<registry>/minio/minio:T``.
    Default: none (required when enabled)."""
    chart_mirror: str | None = None
    """``oci://`` or ``https://`` base where every chart is mirrored under its chart name. Default:
    none (required when enabled and a controller is installed)."""
    require_digests: bool = False
    """Every image must be pinned by a digest from ``imageDigests`` (or already carry one); the
    policy pack refuses tag-only images. Default: false (tags are pinned, digests optional)."""
    image_digests: dict[str, str] = Field(default_factory=dict)
    """Upstream ``registry/repository:tag`` -> ``sha256:...`` digest of the mirrored copy; matching
    images are pulled as ``<registry>/<repository>:<tag>@<digest>``. Default: none."""
    image_pull_secrets: list[ObjectName] = Field(default_factory=list)
    """Existing pull secrets for the internal registry added to every pod. Default: none."""
    ca_bundle: CaBundleSpec | None = None
    """Internal CA bundle. Default: none (required when enabled)."""

    @field_validator("image_digests")
    @classmethod
    def _digests(cls, digests: dict[str, str]) -> dict[str, str]:
        bad = [f"{ref}: {d!r}" for ref, d in digests.items() if not _DIGEST.match(d)]
        if bad:
            raise ValueError("digests must be 'sha256:' and 64 lowercase hex characters; got " + ", ".join(bad))
        bad_refs = [ref for ref in digests if ":" not in ref.rsplit("/", 1)[-1] or "/" not in ref]
        if bad_refs:
            raise ValueError("keys must be upstream 'registry/repository:tag' references; got " + ", ".join(bad_refs))
        return digests

    @field_validator("registry")
    @classmethod
    def _registry(cls, registry: str | None) -> str | None:
        if registry is not None and ("://" in registry or registry.endswith("/") or not registry):
            raise ValueError(f"registry {registry!r} must be host[:port][/prefix] without scheme or trailing slash")
        return registry


    @model_validator(mode="after")
    def _consistent(self) -> "AirgapSpec":
        check_rules(
            ("imageDigests", "requireDigests is true but no digests are listed; add 'registry/repository:tag: sha256:...' "
                             "entries for every mirrored image")
            if self.enabled and self.require_digests and not self.image_digests else None,
            ("chartMirror", f"{self.chart_mirror!r} must start with oci://, https:// or http://")
            if self.chart_mirror is not None and not self.chart_mirror.startswith(("oci://", "https://", "http://")) else None,
        )
        return self
