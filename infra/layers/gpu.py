"""The gpu layer's wiring: Karpenter (EKS), GPU pools, sharing ConfigMaps, GPU Operator, DRA driver.

Order: Karpenter controller (its CRDs and node role) -> one GpuNodePool per Karpenter pool ->
sharing ConfigMaps (every stack with MIG or time-sliced pools, static ones included) -> GPU
Operator (after the ConfigMaps it names) -> DRA driver and claim templates. The serving and
models layers get a :class:`GpuLayer`: per pool the pod placement and the resources GPU
workloads should wait for.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi

from components.gpu.dra import DraDriver, DraDriverArgs, dra_values
from components.gpu.karpenter import KarpenterArgs, KarpenterController
from components.gpu.node_pool import GpuNodePool, GpuNodePoolArgs
from components.gpu.operator import GpuOperator, GpuOperatorArgs, operator_values
from components.gpu.placement import PodPlacement, placement_for
from components.gpu.sharing import advertised, node_labels, overlay_capacity, sharing_config
from components.gpu.sharing_config import GpuSharingConfig, GpuSharingConfigArgs
from components.gpu.spec import DraSharing, GpuPoolSpec
from components.platform.namespaces import NamespaceSpec
from infra.config import PlatformConfig
from infra.context import BuildContext

PRIVILEGED = NamespaceSpec(enforce="privileged", warn="privileged")


def cluster_name(cfg: PlatformConfig, stack: str) -> str:
    """EKS cluster name (Karpenter discovery tag value)."""
    return cfg.cluster.name or stack


def _needs_sharing_config(cfg: PlatformConfig) -> bool:
    sc = sharing_config(cfg.gpu.pools)
    return sc.mig_parted is not None or bool(sc.device_plugin)


def _claims_namespace(cfg: PlatformConfig) -> str | None:
    has_dra_pool = any(isinstance(p.sharing, DraSharing) for p in cfg.gpu.pools.values())
    return cfg.serving.namespace if cfg.gpu.dra.claim_templates and has_dra_pool else None


def _olm(cfg: PlatformConfig) -> bool:
    """The GPU Operator and NFD come through OLM Subscriptions of this stack (OpenShift)."""
    return cfg.rhoai is not None and cfg.rhoai.operators == "olm"


def _owns_operator_namespace(cfg: PlatformConfig) -> bool:
    """Whether the platform creates the GPU Operator's namespace; on OpenShift with the operator
    as a prerequisite it exists already and only receives the sharing ConfigMaps."""
    if cfg.rhoai is not None:
        return _olm(cfg)
    return cfg.gpu.operator.install or _needs_sharing_config(cfg)


# OpenShift's cluster Prometheus scrapes a namespace only with this label (DCGM's ServiceMonitor).
CLUSTER_MONITORING = {"openshift.io/cluster-monitoring": "true"}


def namespaces_needed(cfg: PlatformConfig) -> dict[str, NamespaceSpec]:
    """Namespaces this layer's workloads need the platform to own."""
    wanted: dict[str, NamespaceSpec] = {}
    if _owns_operator_namespace(cfg):
        # Driver, toolkit, device plugin and MIG manager pods are privileged host agents.
        wanted[cfg.gpu.operator.namespace] = PRIVILEGED
    if _olm(cfg):
        wanted[cfg.gpu.operator.namespace] = PRIVILEGED.model_copy(update={"labels": CLUSTER_MONITORING})
        wanted[cfg.rhoai.nfd_namespace] = PRIVILEGED  # nfd-worker reads host devices
    if cfg.gpu.dra.install:
        wanted[cfg.gpu.dra.namespace] = PRIVILEGED
    claims = _claims_namespace(cfg)
    if claims is not None:
        # ResourceClaimTemplates live beside the serving pods that use them; those pods meet "restricted".
        wanted[claims] = NamespaceSpec(enforce="restricted", warn="restricted")
    return wanted


@dataclass
class GpuLayer:
    """What the serving and models layers need from the GPU layer."""

    pools: dict[str, GpuPoolSpec] = field(default_factory=dict)
    """Pools by name, as configured."""
    node_pools: dict[str, GpuNodePool] = field(default_factory=dict)
    """Karpenter pools by name (static pools have none)."""
    claim_templates: dict[str, pulumi.Output[str]] = field(default_factory=dict)
    """DRA claim template name -> created ResourceClaimTemplate name."""
    readiness: list[pulumi.Resource] = field(default_factory=list)
    """Resources GPU workloads should ``depends_on`` (operator and DRA releases, NodePools,
    sharing ConfigMaps): a pod created earlier would sit Pending or land on an unconfigured GPU."""
    karpenter: KarpenterController | None = None
    """The Karpenter controller, when installed here."""
    operator: GpuOperator | None = None
    """The GPU Operator, when installed here."""
    dra: DraDriver | None = None
    """The DRA driver and claim templates, when any."""

    def placement(self, pool: str, count: int = 1, mig_profile: str | None = None,
                  dra_claim: str | None = None) -> PodPlacement:
        """How a pod asks for ``count`` GPUs / a MIG slice / a DRA claim on ``pool``."""
        return placement_for(pool, self.pools[pool], count=count, mig_profile=mig_profile, dra_claim=dra_claim)


def _openshift_operators(ctx: BuildContext, layer: GpuLayer, values: dict, sharing_cms) -> None:
    """OLM Subscriptions and the ClusterPolicy, or (operators as prerequisites) the ClusterPolicy
    settings an administrator must give the existing one."""
    from components.openshift.operators import OlmOperators, OlmOperatorsArgs, cluster_policy_spec

    cfg = ctx.cfg
    spec = cluster_policy_spec(values)
    if _olm(cfg):
        olm = OlmOperators("gpu-olm", OlmOperatorsArgs(
            gpu_operator=cfg.rhoai.gpu_operator, gpu_operator_namespace=ctx.namespace(cfg.gpu.operator.namespace),
            nfd=cfg.rhoai.nfd, nfd_namespace=ctx.namespace(cfg.rhoai.nfd_namespace), cluster_policy=spec,
            depends_on=sharing_cms.resources if sharing_cms else []), ctx.k8s_opts())
        layer.readiness += olm.ready
    else:
        # What the existing ClusterPolicy must say for the sharing ConfigMaps to take effect.
        ctx.exports["gpuOperatorClusterPolicy"] = {k: spec[k] for k in ("mig", "migManager", "devicePlugin") if k in spec}


def build(ctx: BuildContext) -> GpuLayer:
    cfg = ctx.cfg
    gpu = cfg.gpu
    layer = GpuLayer(pools=dict(gpu.pools))
    if not gpu.pools and not (gpu.karpenter.install or gpu.operator.install or gpu.dra.install or _olm(cfg)):
        return layer
    cluster = cluster_name(cfg, ctx.stack)
    mirror = cfg.airgap.chart_mirror if cfg.airgap.enabled else None
    providers = {"kubernetes": ctx.providers.k8s}
    if ctx.providers.aws is not None:
        providers["aws"] = ctx.providers.aws

    karpenter_pools = {n: p for n, p in sorted(gpu.pools.items()) if p.provisioner == "karpenter"}
    if gpu.karpenter.install:
        k = gpu.karpenter
        layer.karpenter = KarpenterController("karpenter", KarpenterArgs(
            cluster_name=cluster, region=cfg.cluster.region or "", chart=k.chart.mirrored(mirror),
            crd_chart=k.crd_chart.mirrored(mirror),
            namespace=k.namespace, identity=k.identity, interruption_queue=k.interruption_queue,
            node_overlay=k.node_overlay and any(overlay_capacity(p) for p in karpenter_pools.values()),
        ), pulumi.ResourceOptions(providers=providers))
        ctx.exports["karpenterNodeRole"] = layer.karpenter.node_role_name
        if layer.karpenter.queue_name is not None:
            ctx.exports["karpenterInterruptionQueue"] = layer.karpenter.queue_name

    # Without the controller here, Karpenter is managed elsewhere with the same role naming.
    node_role = layer.karpenter.node_role_name if layer.karpenter else f"KarpenterNode-{cluster}"
    after_karpenter = [layer.karpenter.release] if layer.karpenter else []
    for name, pool in karpenter_pools.items():
        layer.node_pools[name] = GpuNodePool(f"gpu-pool-{name}", GpuNodePoolArgs(
            pool_name=name, pool=pool, cluster_name=cluster, node_role=node_role, node_overlay=gpu.karpenter.node_overlay,
            depends_on=after_karpenter,
        ), ctx.k8s_opts())

    sharing = sharing_config(gpu.pools)
    sharing_cms = None
    operator_ns = ctx.namespace(gpu.operator.namespace) if _owns_operator_namespace(cfg) else gpu.operator.namespace
    if sharing.mig_parted is not None or sharing.device_plugin:
        sharing_cms = GpuSharingConfig("gpu-sharing", GpuSharingConfigArgs(
            namespace=operator_ns, config=sharing), ctx.k8s_opts())
        layer.readiness += sharing_cms.resources

    driver = gpu.operator.driver if gpu.operator.driver is not None else cfg.cluster.kind != "eks"
    values = operator_values(
        driver=driver, mig_strategy=sharing.strategy,
        mig_config_map=sharing_cms.mig_parted_config_map if sharing_cms else None,
        device_plugin_config_map=sharing_cms.device_plugin_config_map if sharing_cms else None,
        device_plugin_default=sharing_cms.device_plugin_default if sharing_cms else None,
        dcgm_exporter=gpu.operator.dcgm_exporter,
        # OpenShift's cluster monitoring reads ServiceMonitors in labelled namespaces.
        service_monitor=cfg.observability.enabled and (cfg.observability.install_prometheus_stack or cfg.rhoai is not None),
        release_label=cfg.observability.release_label if cfg.rhoai is None else None,
    )
    if cfg.rhoai is not None:
        _openshift_operators(ctx, layer, values, sharing_cms)
    if gpu.operator.install:
        layer.operator = GpuOperator("gpu-operator", GpuOperatorArgs(
            chart=gpu.operator.chart.mirrored(mirror), namespace=ctx.namespace(gpu.operator.namespace), values=values,
            depends_on=sharing_cms.resources if sharing_cms else []), ctx.k8s_opts())
        layer.readiness.append(layer.operator.release)

    claims_ns = _claims_namespace(cfg)
    if gpu.dra.install or claims_ns is not None:
        operator_driver = gpu.operator.install and (gpu.operator.driver if gpu.operator.driver is not None
                                                    else cfg.cluster.kind != "eks")
        root = gpu.dra.driver_root or ("/run/nvidia/driver" if operator_driver else "/")
        layer.dra = DraDriver("gpu-dra", DraDriverArgs(
            claim_templates=dict(gpu.dra.claim_templates),
            claims_namespace=ctx.namespace(claims_ns) if claims_ns else None,
            chart=gpu.dra.chart.mirrored(mirror) if gpu.dra.install else None,
            namespace=ctx.namespace(gpu.dra.namespace) if gpu.dra.install else None,
            values=dra_values(driver_root=root, dynamic_mig=gpu.dra.dynamic_mig),
        ), ctx.k8s_opts())
        layer.claim_templates = dict(layer.dra.claim_template_names)
        if layer.dra.release is not None:
            layer.readiness.append(layer.dra.release)
    layer.readiness += list(layer.node_pools.values())

    ctx.exports["gpuPools"] = {
        name: {
            "provisioner": pool.provisioner,
            "sharing": pool.sharing.mode,
            # Static nodes must carry exactly these labels (kubectl label node ...); Karpenter sets them itself.
            "nodeLabels": node_labels(name, pool),
            "resourcesPerNode": advertised(pool),
        }
        for name, pool in sorted(gpu.pools.items())
    }
    return layer
