"""The serving layer's wiring: which components the stack's config asks for, in what order.

cert-manager -> KServe CRDs -> (Knative operator -> KnativeServing) -> KServe controller;
KEDA; LeaderWorkerSet; the llm-d gateway. The models layer gets a ``ServingLayer``: the
deployment mode, what InferenceServices / ScaledObjects / LeaderWorkerSets must wait for, and
the llm-d platform handle for ``LlmdModelService``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi

from components.common.helm import ChartRef
from components.common.images import ImageRef
from components.openshift.dashboard import PROJECT_LABELS
from components.platform.namespaces import NamespaceSpec
from components.serving.keda import Keda, KedaArgs
from components.serving.kserve import KNATIVE_SERVING_NAMESPACE, KnativeArgs, KServe, KServeArgs
from components.serving.llmd import LlmD, LlmdArgs, LlmdPlatform
from components.serving.lws import LeaderWorkerSetController, LwsArgs
from infra.config import PlatformConfig
from infra.context import BuildContext


def namespaces_needed(cfg: PlatformConfig) -> dict[str, NamespaceSpec]:
    """Namespaces this layer's workloads need the platform to own."""
    wanted: dict[str, NamespaceSpec] = {}
    if cfg.serving.services or cfg.serving.llmd.enabled:
        # Every platform pod here meets "restricted" (components/common/pod_security.py, KServe's storage
        # initializer with its chart's containerSecurityContext). llm-d's charts do not: the endpoint
        # picker has no securityContext and the routing sidecar keeps its capabilities, so a namespace
        # serving through llm-d enforces baseline and warns on restricted.
        # On OpenShift AI the namespace is a data science project the dashboard lists.
        llmd = cfg.serving.llmd.enabled or any(s.frontend == "llm-d" for s in cfg.serving.services.values())
        project = PROJECT_LABELS if cfg.rhoai is not None else {}
        wanted[cfg.serving.namespace] = NamespaceSpec(enforce="baseline" if llmd else "restricted", warn="restricted",
                                                      labels=project)
    if cfg.serving.kserve.install and cfg.serving.kserve.mode == "Knative":
        # The KnativeServing CR lives here; the operator installs activator/autoscaler/kourier into it.
        wanted[KNATIVE_SERVING_NAMESPACE] = NamespaceSpec(enforce="baseline", warn="restricted")
    return wanted


def chart(cfg: PlatformConfig, ref: ChartRef) -> ChartRef:
    """``ref`` from the stack's chart mirror on an air-gapped stack, else as configured."""
    return ref.mirrored(cfg.airgap.chart_mirror if cfg.airgap.enabled else None)


def image(cfg: PlatformConfig, ref: ImageRef) -> ImageRef:
    """``ref`` pulled from the internal registry on an air-gapped stack (same repository path),
    pinned to the mirrored digest when ``airgap.imageDigests`` knows it."""
    a = cfg.airgap
    if not a.enabled or not a.registry:
        return ref
    digest = a.image_digests.get(f"{ref.repository}:{ref.tag}", ref.digest)
    return ref.model_copy(update={"registry": a.registry, "digest": digest})


@dataclass
class ServingLayer:
    """What the models and observability layers need from the serving controllers."""

    mode: str
    """KServe deployment mode every InferenceService carries (``Standard`` or ``Knative``)."""
    namespace: str
    """Namespace of the model services."""
    scale_to_zero: bool = False
    """Services may scale to zero (Knative mode only)."""
    ready: list[pulumi.Resource] = field(default_factory=list)
    """What InferenceServices/ServingRuntimes wait for (KServe CRDs + controller; empty when KServe
    is not installed by this stack)."""
    keda_ready: list[pulumi.Resource] = field(default_factory=list)
    """What ScaledObjects wait for (empty when KEDA is not installed by this stack)."""
    lws_ready: list[pulumi.Resource] = field(default_factory=list)
    """What LeaderWorkerSets wait for (empty when LWS is not installed by this stack)."""
    llmd: LlmdPlatform | None = None
    """llm-d platform handle for ``LlmdModelService`` (None when llm-d is off)."""
    prometheus_url: str = ""
    """Prometheus that KEDA queries."""
    kserve: KServe | None = None
    """The KServe component when this stack installs it."""


def build(ctx: BuildContext, gpu) -> ServingLayer:
    cfg = ctx.cfg
    s = cfg.serving
    layer = ServingLayer(mode=s.kserve.mode, namespace=s.namespace, scale_to_zero=s.kserve.mode == "Knative",
                         prometheus_url=cfg.observability.prometheus_url)
    if s.kserve.install:
        k = s.kserve
        knative = None
        if k.mode == "Knative":
            knative = KnativeArgs(version=k.knative.serving_version, domain=k.knative.domain,
                                  networking=k.knative.networking, operator_chart=chart(cfg, k.knative.operator_chart),
                                  serving_namespace=ctx.namespace(KNATIVE_SERVING_NAMESPACE),
                                  kourier_service_type=k.knative.kourier_service_type)
        layer.kserve = KServe("kserve", KServeArgs(
            mode=k.mode, namespace=k.namespace, crd_chart=chart(cfg, k.crd_chart), chart=chart(cfg, k.chart),
            cert_manager_chart=chart(cfg, k.cert_manager.chart) if k.cert_manager.install else None,
            cert_manager_namespace=k.cert_manager.namespace, knative=knative, ingress=k.ingress,
        ), ctx.k8s_opts())
        layer.ready = list(layer.kserve.ready)
    if s.keda.install:
        keda = Keda("keda", KedaArgs(namespace=s.keda.namespace, chart=chart(cfg, s.keda.chart)), ctx.k8s_opts())
        layer.keda_ready = list(keda.ready)
    if s.lws.install:
        deps = [layer.kserve.releases[0]] if layer.kserve is not None and s.kserve.cert_manager.install else []
        lws = LeaderWorkerSetController("lws", LwsArgs(namespace=s.lws.namespace, chart=chart(cfg, s.lws.chart),
                                                       depends_on=deps), ctx.k8s_opts())
        layer.lws_ready = list(lws.ready)
    if s.llmd.enabled and cfg.cluster.kind != "render":
        l = s.llmd
        o = cfg.observability
        llmd = LlmD("llm-d", LlmdArgs(
            namespace=ctx.namespace(s.namespace), namespace_name=s.namespace, provider=l.gateway_provider,
            infra_chart=chart(cfg, l.infra_chart), router_chart=chart(cfg, l.router_chart),
            modelservice_chart=chart(cfg, l.modelservice_chart), epp_image=image(cfg, l.epp_image),
            routing_sidecar_image=image(cfg, l.routing_sidecar_image),
            storage_initializer_image=image(cfg, l.storage_initializer_image), prometheus_url=o.prometheus_url,
            monitoring_release_label=o.release_label if o.enabled else None, service_type=l.gateway_service_type,
            keda_ready=tuple(layer.keda_ready),
            image_pull_secrets=tuple(cfg.airgap.image_pull_secrets) if cfg.airgap.enabled else (),
        ), ctx.k8s_opts())
        layer.llmd = llmd.platform
        ctx.exports["llmdGatewayHost"] = llmd.platform.gateway_host
    ctx.exports["kserveMode"] = layer.mode
    if cfg.rhoai is not None:
        # Nothing here waits for KServe: OpenShift AI's operator owns it (config rules refuse an install).
        ctx.exports["kserveProvidedBy"] = "OpenShift AI (DataScienceCluster spec.components.kserve.managementState: Managed)"
    return layer
