"""One typed model of the whole platform, built from a stack's ``llm-platform:*`` config keys.

Each top-level key of the project namespace is one section (``llm-platform:cluster``,
``llm-platform:gpu`` ...). Section shapes live beside the components that consume them
(``components/*/spec.py``); this module composes them and holds every rule that spans more
than one section, so a stack is refused before a single resource is registered.
"""

from __future__ import annotations

from collections import Counter
from typing import Literal

from pydantic import Field, model_validator

from components.airgap.spec import AirgapSpec
from components.common.fields import AwsRegion, ClusterName
from components.gate.rules import gate_rules, tenant_rules
from components.gate.spec import GateSpec, NetworkSpec, TenantName, TenantSpec
from components.common.spec import RuleViolations, Spec
from components.common.suggest import did_you_mean
from components.gpu.pool_ref import GpuPoolRef
from components.gpu.rules import gpu_rules
from components.gpu.spec import DraSharing, GpuSpec, HybridSharing, MigSharing, NoSharing, TimeSlicingSharing
from components.models.planning import architecture_rules
from components.models.rules import duplicate_adapter_rules, service_mode_rules, service_pool_rules
from components.models.spec import ModelsSpec
from components.observability.spec import ObservabilitySpec
from components.openshift.spec import OpenShiftSpec
from components.serving.names import service_name_problems
from components.serving.rules import serving_rules
from components.serving.spec import ServingSpec
from components.storage.rules import minio_tls_rules
from components.storage.spec import StorageSpec

PROJECT = "llm-platform"


class ClusterSpec(Spec):
    """Which cluster the stack targets and how the program reaches it."""

    kind: Literal["render", "eks", "kubeconfig", "openshift"]
    """``render``: no cluster, the Kubernetes provider writes manifests to ``renderDir``;
    ``eks``: an existing EKS cluster (Karpenter, IAM and SQS through pulumi-aws);
    ``kubeconfig``: any existing cluster reached through a kubeconfig (on-prem, air-gapped);
    ``openshift``: an existing OpenShift cluster running OpenShift AI, reached through a
    kubeconfig: KServe is OpenShift AI's, pods get their uid from the namespace
    (``restricted-v2``), see ``llm-platform:openshift``."""
    name: ClusterName | None = None
    """Cluster name (EKS cluster name; Karpenter discovery tag). Default: the stack name."""
    render_dir: str | None = None
    """``render`` only: directory for rendered manifests. Default: ``out/<stack>/manifests``."""
    kubeconfig: str | None = None
    """``kubeconfig``/``eks``: kubeconfig file path. Default: the ambient kubeconfig."""
    context: str | None = None
    """Kubeconfig context. Default: the kubeconfig's current context."""
    region: AwsRegion | None = None
    """``eks`` only: AWS region. Default: none (required for eks)."""
    kubernetes_version: str = "1.34"
    """Kubernetes minor version of the cluster; DRA needs 1.34 or later. Default: 1.34."""


PolicyLevel = Literal["advisory", "mandatory", "disabled"]


class PolicySpec(Spec):
    """How the CrossGuard pack treats violations on this stack."""

    enforcement: Literal["advisory", "mandatory"] = "advisory"
    """Default level of every policy: ``advisory`` reports, ``mandatory`` fails the preview/update.
    Default: advisory."""
    overrides: dict[str, PolicyLevel] = Field(default_factory=dict)
    """Per-policy levels by policy name. Default: none."""


class PlatformConfig(Spec):
    """The whole platform a stack deploys."""

    cluster: ClusterSpec
    """Target cluster."""
    gpu: GpuSpec = Field(default_factory=GpuSpec)
    """GPU pools, sharing and GPU controllers."""
    serving: ServingSpec = Field(default_factory=ServingSpec)
    """Serving controllers and vLLM services."""
    models: ModelsSpec = Field(default_factory=ModelsSpec)
    """Base models and adapters."""
    storage: StorageSpec = Field(default_factory=StorageSpec)
    """Object store."""
    observability: ObservabilitySpec = Field(default_factory=ObservabilitySpec)
    """Metrics, alerts, dashboards."""
    airgap: AirgapSpec = Field(default_factory=AirgapSpec)
    """Air-gap readiness."""
    openshift: OpenShiftSpec | None = None
    """``cluster.kind: openshift`` only: operators through OLM or as prerequisites, and how
    OpenShift AI shows and exposes the services. Default: OpenShiftSpec's defaults there."""
    policy: PolicySpec = Field(default_factory=PolicySpec)
    """Policy enforcement."""
    tenants: dict[TenantName, TenantSpec] = Field(default_factory=dict)
    """Who may call which model, by tenant name: API keys, granted ``<base>:<adapter>`` patterns
    and limits, enforced by the gate in front of every vLLM. Default: none (every gate refuses
    every key)."""
    gate: GateSpec = Field(default_factory=GateSpec)
    """The gate (HAProxy) in every model-server pod."""
    network: NetworkSpec = Field(default_factory=NetworkSpec)
    """NetworkPolicies of the serving and object-store namespaces."""

    @model_validator(mode="after")
    def _cross_field_rules(self) -> "PlatformConfig":
        issues: list[tuple[str, str]] = []
        for rule in (
            _cluster_rules,
            _controller_rules,
            _service_rules,
            _adapter_rules,
            _airgap_rules,
            _openshift_rules,
            architecture_rules,
            _mount_rules,
            _storage_tls_rules,
            _policy_rules,
            lambda c: serving_rules(c.serving, c.gpu.pools, cluster_kind=c.cluster.kind),
            lambda c: gpu_rules(c.gpu, cluster_kind=c.cluster.kind),
            lambda c: tenant_rules(c.tenants, c.served_models()),
            lambda c: gate_rules(c.gate),
        ):
            issues.extend(rule(self))
        if not issues:  # the capacity planner needs valid pool/model references
            from components.models.rules import models_rules

            issues.extend(models_rules(self))
        if issues:
            raise RuleViolations(issues)
        return self

    # Derived views used by components: one place computes them.
    @property
    def rhoai(self) -> OpenShiftSpec | None:
        """The OpenShift AI settings on an ``openshift`` stack (defaults when the section is
        absent), else None."""
        if self.cluster.kind != "openshift":
            return None
        return self.openshift or OpenShiftSpec()

    def served_name(self, service: str) -> str:
        """OpenAI ``model`` name of a service's base model."""
        svc = self.serving.services[service]
        if svc.served_name is not None:
            return svc.served_name
        base = self.models.base_models[svc.base_model]
        return base.served_name or svc.base_model

    def served_models(self) -> dict[str, list[str]]:
        """Every service's base served name -> its adapters' served names (``<base>:<adapter>``)."""
        return {self.served_name(name): [f"{self.served_name(name)}:{a.name}" for a in self.adapters_for(name)]
                for name, svc in self.serving.services.items() if svc.base_model in self.models.base_models}

    def adapters_for(self, service: str) -> list:
        """Adapters a service serves: every adapter of its base model."""
        base = self.serving.services[service].base_model
        return [a for a in self.models.adapters if a.base_model == base]


def _did_you_mean(word: str, options: list[str]) -> str:
    return did_you_mean(word, options)


def _cluster_rules(cfg: PlatformConfig) -> list[tuple[str, str]]:
    issues = []
    c = cfg.cluster
    if c.kind == "eks" and not c.region:
        issues.append(("cluster.region", "required when cluster.kind is 'eks'"))
    if c.kind != "render" and c.render_dir is not None:
        issues.append(("cluster.renderDir", f"only applies to cluster.kind 'render', not {c.kind!r}"))
    if c.kind == "render" and (c.kubeconfig or c.context):
        issues.append(("cluster.kubeconfig", "render mode never contacts a cluster; remove kubeconfig/context"))
    major_minor = c.kubernetes_version.split(".")
    if len(major_minor) != 2 or not all(p.isdigit() for p in major_minor):
        issues.append(("cluster.kubernetesVersion", f"{c.kubernetes_version!r} must be MAJOR.MINOR, e.g. '1.34'"))
    return issues


def _installs(cfg: PlatformConfig) -> dict[str, bool]:
    """Every controller install switch by its config path."""
    return {
        "gpu.karpenter.install": cfg.gpu.karpenter.install,
        "gpu.operator.install": cfg.gpu.operator.install,
        "gpu.dra.install": cfg.gpu.dra.install,
        "serving.kserve.install": cfg.serving.kserve.install,
        "serving.keda.install": cfg.serving.keda.install,
        "serving.lws.install": cfg.serving.lws.install,
        "serving.llmd.enabled": cfg.serving.llmd.enabled,
        "observability.installPrometheusStack": cfg.observability.install_prometheus_stack,
    }


def _controller_rules(cfg: PlatformConfig) -> list[tuple[str, str]]:
    issues = []
    kind = cfg.cluster.kind
    if kind == "render":
        for path, on in _installs(cfg).items():
            if on:
                issues.append(
                    (path, "Helm releases cannot be rendered to a directory (pulumi-kubernetes#1716); "
                           "set it to false on a cluster.kind 'render' stack")
                )
    if kind != "eks":
        if cfg.gpu.karpenter.install:
            issues.append(("gpu.karpenter.install", f"Karpenter needs cluster.kind 'eks', not {kind!r}"))
        if cfg.storage.kind == "s3":
            issues.append(("storage.kind", f"'s3' needs cluster.kind 'eks', not {kind!r}; use 'minio'"))
        for name, pool in cfg.gpu.pools.items():
            if pool.provisioner == "karpenter":
                issues.append((f"gpu.pools.{name}.provisioner", f"'karpenter' needs cluster.kind 'eks', not {kind!r}; use 'static'"))
    for name, pool in cfg.gpu.pools.items():
        if pool.provisioner == "karpenter" and not pool.instance_families:
            issues.append((f"gpu.pools.{name}.instanceFamilies", "required for a karpenter pool, e.g. [p5]"))
        if isinstance(pool.sharing, DraSharing) and not (cfg.gpu.dra.install or kind == "render"):
            issues.append((f"gpu.pools.{name}.sharing.mode", "'dra' needs the NVIDIA DRA driver: set gpu.dra.install"))
    mode = cfg.serving.kserve.mode
    if mode == "Knative":
        if cfg.serving.keda.install:
            issues.append(("serving.keda.install", "KServe Knative mode scales with Knative's autoscaler; KEDA applies to Standard mode only"))
    return issues


def _service_rules(cfg: PlatformConfig) -> list[tuple[str, str]]:
    issues = []
    pools = cfg.gpu.pools
    bases = cfg.models.base_models
    mode = cfg.serving.kserve.mode
    for name, svc in cfg.serving.services.items():
        path = f"serving.services.{name}"
        issues += [(path, problem) for problem in service_name_problems(name, svc.frontend, mode)]
        if svc.base_model not in bases:
            issues.append((f"{path}.baseModel", f"unknown base model {svc.base_model!r}{_did_you_mean(svc.base_model, list(bases))}"))
        if svc.pool not in pools:
            issues.append((f"{path}.pool", f"unknown GPU pool {svc.pool!r}{_did_you_mean(svc.pool, list(pools))}"))
        else:
            issues.extend(_gpu_request_rules(cfg, name))
        issues += service_mode_rules(svc, mode, path=path)
        if svc.frontend == "llm-d" and not cfg.serving.llmd.enabled and cfg.cluster.kind != "render":
            issues.append((f"{path}.frontend", "'llm-d' needs serving.llmd.enabled"))
    served = Counter(cfg.served_name(n) for n, s in cfg.serving.services.items() if s.base_model in bases)
    for name, svc in cfg.serving.services.items():
        if svc.base_model in bases and served[cfg.served_name(name)] > 1:
            issues.append((f"serving.services.{name}.servedName",
                           f"served name {cfg.served_name(name)!r} is used by more than one service; set servedName to tell them apart"))
    return issues


def _gpu_request_rules(cfg: PlatformConfig, service: str) -> list[tuple[str, str]]:
    # The service component checks the same rule against its pool reference (VllmLoraService).
    svc = cfg.serving.services[service]
    return service_pool_rules(svc, GpuPoolRef(svc.pool, cfg.gpu.pools[svc.pool]),
                              claim_templates=dict(cfg.gpu.dra.claim_templates), path=f"serving.services.{service}")


def _adapter_rules(cfg: PlatformConfig) -> list[tuple[str, str]]:
    issues = []
    bases = cfg.models.base_models
    duplicates = dict(duplicate_adapter_rules(cfg.models.adapters, path="models.adapters"))
    for i, adapter in enumerate(cfg.models.adapters):
        path = f"models.adapters[{i}]"
        if adapter.base_model not in bases:
            issues.append((f"{path}.baseModel", f"unknown base model {adapter.base_model!r}{_did_you_mean(adapter.base_model, list(bases))}"))
            continue
        if f"{path}.name" in duplicates:
            issues.append((f"{path}.name", duplicates[f"{path}.name"]))
        for svc_name, svc in cfg.serving.services.items():
            if svc.base_model == adapter.base_model and adapter.rank > svc.engine.max_lora_rank:
                issues.append((f"{path}.rank", f"rank {adapter.rank} exceeds serving.services.{svc_name}.engine.maxLoraRank "
                                               f"({svc.engine.max_lora_rank}); vLLM would refuse to load it"))
    return issues


def _airgap_rules(cfg: PlatformConfig) -> list[tuple[str, str]]:
    a = cfg.airgap
    if not a.enabled:
        return []
    issues = []
    if not a.registry:
        issues.append(("airgap.registry", "required when airgap.enabled: every image is pulled from the internal mirror"))
    if any(_installs(cfg).values()) and not a.chart_mirror:
        issues.append(("airgap.chartMirror", "required when airgap.enabled and any controller is installed: charts come from the mirror"))
    if a.ca_bundle is None:
        issues.append(("airgap.caBundle", "required when airgap.enabled: internal endpoints use the internal CA"))
    return issues


def _openshift_rules(cfg: PlatformConfig) -> list[tuple[str, str]]:
    """What OpenShift AI already provides must not be installed again; what it needs is there."""
    kind = cfg.cluster.kind
    ca = cfg.airgap.ca_bundle if cfg.airgap.enabled else None
    if kind != "openshift":
        issues = []
        if cfg.openshift is not None:
            issues.append(("openshift", f"only applies to cluster.kind 'openshift', not {kind!r}; remove the section"))
        if ca is not None and ca.source != "file":
            issues.append(("airgap.caBundle.source", f"{ca.source!r} needs cluster.kind 'openshift'; use 'file' on {kind!r}"))
        return issues
    issues = []
    k = cfg.serving.kserve
    if k.install:
        issues.append(("serving.kserve.install", "OpenShift AI installs and manages KServe (DataScienceCluster "
                                                 "spec.components.kserve.managementState: Managed); set it to false"))
    if k.mode != "Standard":
        issues.append(("serving.kserve.mode", f"OpenShift AI 3.x serves InferenceServices in Standard (RawDeployment) "
                                              f"mode only, not {k.mode!r}"))
    if cfg.gpu.operator.install:
        issues.append(("gpu.operator.install", "on OpenShift the GPU Operator comes from OLM: set it to false and "
                                               "openshift.operators to 'olm' (the program subscribes) or 'prerequisites'"))
    if ca is not None and ca.source == "file":
        issues.append(("airgap.caBundle.source", "on cluster.kind 'openshift' mount the cluster's trusted bundle: "
                                                 "'openshift-injected' or 'rhoai', not 'file'"))
    for name, svc in sorted(cfg.serving.services.items()):
        if svc.frontend != "kserve":
            issues.append((f"serving.services.{name}.frontend", f"{svc.frontend!r} is not shown or exposed by OpenShift AI "
                                                                "here; use 'kserve' (OpenShift AI's llm-d path is its "
                                                                "LLMInferenceService)"))
    if cfg.rhoai.expose:
        for name, svc in sorted(cfg.serving.services.items()):
            if not svc.auth:
                issues.append((f"serving.services.{name}.auth", "openshift.expose publishes every service through a "
                                                                "Route; set auth: true so the auth proxy checks callers "
                                                                "(or openshift.expose: false)"))
    return issues


def _storage_tls_rules(cfg: PlatformConfig) -> list[tuple[str, str]]:
    m = cfg.storage.minio
    if cfg.storage.kind != "minio" or m.tls_secret is None:
        return []
    issues = []
    if not (cfg.airgap.enabled and cfg.airgap.ca_bundle is not None):
        issues.append(("storage.minio.tlsSecret", "needs the CA that issued it in airgap.caBundle (with airgap.enabled): "
                                                  "every client verifies MinIO's certificate against it"))
    return issues + minio_tls_rules(m, path="storage.minio")


def _mount_rules(cfg: PlatformConfig) -> list[tuple[str, str]]:
    """The CA bundle is mounted into every container: its directory must not collide with the
    platform's own mounts (one would hide the other)."""
    ca = cfg.airgap.ca_bundle
    if ca is None:
        return []
    from components.gate import gate
    from components.models import lora_server
    from components.storage import minio

    platform_mounts = sorted(set(lora_server.MOUNT_PATHS + gate.MOUNT_PATHS + minio.MOUNT_PATHS))
    mine = ca.mount_path.rstrip("/") + "/"
    for other in platform_mounts:
        theirs = other.rstrip("/") + "/"
        if mine.startswith(theirs) or theirs.startswith(mine):
            return [("airgap.caBundle.mountPath", f"{ca.mount_path!r} collides with the platform's mount {other!r}; "
                                                  f"platform mounts: {', '.join(platform_mounts)}")]
    return []


def _policy_rules(cfg: PlatformConfig) -> list[tuple[str, str]]:
    from policies.llm_platform_policies import POLICY_NAMES

    return [(f"policy.overrides.{name}", f"unknown policy{_did_you_mean(name, POLICY_NAMES)}")
            for name in cfg.policy.overrides if name not in POLICY_NAMES]
