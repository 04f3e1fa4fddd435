"""KServe: CRDs and controller from the v0.20.0 charts, cert-manager for its webhook
certificates and, in Knative mode, Knative Serving through the Knative operator.

Order (each step waits for the previous through ``depends_on``)::

    cert-manager (chart, CRDs on) ─┐
    kserve-crd (chart) ────────────┼─> kserve-resources (controller, webhooks)
    Knative mode only:             │
      knative-operator (chart) ─> KnativeServing CR ─┘

``ready`` lists what an InferenceService must wait for: the CRD release and the controller
release (and the KnativeServing CR in Knative mode). ``mode`` is the deployment mode every
InferenceService must carry (``components.serving.inference_service``).

Scale to zero exists only in Knative mode (``enable-scale-to-zero`` in the KnativeServing
autoscaler config); Standard mode never scales below one replica.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.common.helm import ChartRef, helm_release
from components.common.input_errors import refuse_inputs, value_issues
from components.common.labels import standard_labels
from components.serving.inference_service import check_mode
from components.serving.names import knative_domain_rules

KNATIVE_OPERATOR_API = "operator.knative.dev/v1beta1"
KOURIER_INGRESS_CLASS = "kourier.ingress.networking.knative.dev"
ISTIO_INGRESS_CLASS = "istio.ingress.networking.knative.dev"
KNATIVE_SERVING_NAMESPACE = "knative-serving"
# Knative refuses these pod fields unless their feature flag is on (config-features defaults are
# "disabled"); GPU services need them: node selector and tolerations place pods on GPU pools,
# affinity spreads them, the pod securityContext (fsGroup, runAs*) makes vLLM non-root with
# readable model volumes, PVCs hold base models (pvc://). Flags cannot be safely turned off once on.
KNATIVE_FEATURES = {
    "kubernetes.podspec-nodeselector": "enabled",
    "kubernetes.podspec-tolerations": "enabled",
    "kubernetes.podspec-affinity": "enabled",
    "kubernetes.podspec-securitycontext": "enabled",
    "kubernetes.podspec-persistent-volume-claim": "enabled",
}
KNATIVE_OPERATOR_NAMESPACE = "knative-operator"


@dataclass(frozen=True)
class KnativeArgs:
    """Knative Serving as KServe's Knative mode needs it."""

    version: str
    """Knative Serving version the operator installs (``spec.version``). Required."""
    domain: str
    """Domain of generated URLs (``config.domain``). Required."""
    networking: Literal["istio", "kourier"]
    """Networking layer; ``istio`` expects an existing Istio. Required."""
    operator_chart: ChartRef
    """``knative-operator`` chart. Required."""
    serving_namespace: pulumi.Input[str] = KNATIVE_SERVING_NAMESPACE
    """Namespace of the KnativeServing CR (must exist: pass the platform namespace Output to wait for it).
    Default: knative-serving."""
    kourier_service_type: str = "ClusterIP"
    """Service type of Kourier's gateway (a LoadBalancer costs money). Default: ClusterIP."""


@dataclass(frozen=True)
class KServeArgs:
    """KServe and what it needs."""

    mode: str
    """``Standard`` or ``Knative``: the controller's default and every InferenceService's annotation.
    Required."""
    namespace: str
    """Controller namespace (created by the release). Required."""
    crd_chart: ChartRef
    """``kserve-crd`` chart. Required."""
    chart: ChartRef
    """``kserve-resources`` chart. Required."""
    cert_manager_chart: ChartRef | None
    """cert-manager chart, or None when the cluster already runs cert-manager. Required."""
    cert_manager_namespace: str = "cert-manager"
    """cert-manager namespace. Default: cert-manager."""
    knative: KnativeArgs | None = None
    """Knative settings; required in Knative mode, ignored in Standard mode. Default: None."""
    ingress: Literal["none", "istio"] = "none"
    """Standard mode: ``none`` (no Ingress per InferenceService) or ``istio`` (Ingress of class istio, needs
    an existing Istio). Default: none."""
    depends_on: Sequence[pulumi.Resource] = field(default_factory=tuple)
    """Resources to wait for. Default: none."""


def knative_serving_spec(args: KnativeArgs) -> dict[str, Any]:
    """Spec of the KnativeServing CR: version, domain, networking layer, scale to zero on, and the
    pod-spec features GPU services need (``KNATIVE_FEATURES``)."""
    ingress_class = KOURIER_INGRESS_CLASS if args.networking == "kourier" else ISTIO_INGRESS_CLASS
    spec: dict[str, Any] = {
        "version": args.version,
        "config": {
            "domain": {args.domain: ""},
            "network": {"ingress-class": ingress_class},
            "autoscaler": {"enable-scale-to-zero": "true"},
            "features": dict(KNATIVE_FEATURES),
            "deployment": {
                # KServe's quick install: do not resolve tags of these registries to digests.
                "registries-skipping-tag-resolving": "nvcr.io,index.docker.io",
                # A cold start may wait for a GPU node (Karpenter), a multi-GB image and the
                # weights download; Knative's default 600s would fail the revision first.
                "progress-deadline": "1800s",
            },
            # Streamed generations outlive Knative's default 300s request timeout.
            "defaults": {"revision-timeout-seconds": "900", "max-revision-timeout-seconds": "3600"},
        },
    }
    if args.networking == "kourier":
        spec["ingress"] = {"kourier": {"enabled": True, "service-type": args.kourier_service_type}}
    else:
        spec["ingress"] = {"istio": {"enabled": True}}
    return spec


def problems(args: KServeArgs) -> list[tuple[str, str]]:
    """Everything wrong with ``args`` (paths relative to them), by the rules the stack applies to
    ``serving.kserve``: the mode KServe v0.20 knows, Knative settings in Knative mode (its domain,
    networking layer and Kourier service type), the ingress choice."""
    from components.serving.spec import KnativeSpec, KServeSpec  # the specs import the models layer, which imports this layer

    try:
        mode = check_mode(args.mode)
    except ValueError as exc:
        return [("mode", str(exc))]
    issues = value_issues(KServeSpec, "ingress", args.ingress, path="ingress")
    if mode == "Knative":
        if args.knative is None:
            return issues + [("knative", "KServe Knative mode needs KServeArgs.knative")]
        k = args.knative
        issues += value_issues(KnativeSpec, "domain", k.domain, path="knative.domain")
        issues += knative_domain_rules(k.domain, path="knative.domain")
        issues += value_issues(KnativeSpec, "networking", k.networking, path="knative.networking")
        issues += value_issues(KnativeSpec, "kourier_service_type", k.kourier_service_type, path="knative.kourierServiceType")
    return issues


def kserve_values(args: KServeArgs) -> dict[str, Any]:
    """Values of the ``kserve-resources`` chart."""
    mode = check_mode(args.mode)
    controller: dict[str, Any] = {"deploymentMode": mode}
    if mode == "Standard" and args.ingress == "none":
        # Without it KServe creates an Ingress of class istio per InferenceService that nothing serves.
        controller["gateway"] = {"disableIngressCreation": True}
    if mode == "Knative":
        assert args.knative is not None
        controller["gateway"] = {"domain": args.knative.domain}
        if args.knative.networking == "kourier":
            # No Istio: KServe must not create Istio VirtualServices for the top-level route.
            controller["gateway"]["disableIstioVirtualHost"] = True
    return {"kserve": {"controller": controller}}


class KServe(pulumi.ComponentResource):
    """KServe controller and CRDs, cert-manager, and Knative Serving in Knative mode.

    Raises ``pulumi.InputPropertiesError`` listing every problem of its args (:func:`problems`)
    before it registers anything."""

    mode: str
    """Deployment mode of every InferenceService (``Standard`` or ``Knative``)."""
    scale_to_zero: bool
    """Whether services may scale to zero (Knative mode only)."""
    ready: list[pulumi.Resource]
    """What InferenceServices/ServingRuntimes must wait for."""
    releases: list[k8s.helm.v3.Release]
    """Every Helm release of the component, in install order."""

    def __init__(self, name: str, args: KServeArgs, opts: pulumi.ResourceOptions | None = None):
        refuse_inputs("KServe", name, problems(args))
        super().__init__("llmplatform:serving:KServe", name, None, opts)
        self.mode = check_mode(args.mode)
        self.scale_to_zero = self.mode == "Knative"
        base = list(args.depends_on)
        self.releases = []
        controller_deps: list[pulumi.Resource] = list(base)

        if args.cert_manager_chart is not None:
            cert_manager = helm_release(f"{name}-cert-manager", args.cert_manager_chart, args.cert_manager_namespace,
                                        {"crds": {"enabled": True, "keep": True}}, pulumi.ResourceOptions(parent=self, depends_on=base))
            self.releases.append(cert_manager)
            controller_deps.append(cert_manager)

        crds = helm_release(f"{name}-crd", args.crd_chart, args.namespace, {},
                            pulumi.ResourceOptions(parent=self, depends_on=base), holds_crds=True)
        self.releases.append(crds)
        controller_deps.append(crds)

        knative_ready: list[pulumi.Resource] = []
        if self.mode == "Knative":
            assert args.knative is not None
            operator = helm_release(f"{name}-knative-operator", args.knative.operator_chart, KNATIVE_OPERATOR_NAMESPACE,
                                    {}, pulumi.ResourceOptions(parent=self, depends_on=base))
            self.releases.append(operator)
            serving = k8s.apiextensions.CustomResource(
                f"{name}-knative-serving",
                api_version=KNATIVE_OPERATOR_API,
                kind="KnativeServing",
                metadata={"name": "knative-serving", "namespace": args.knative.serving_namespace,
                          "labels": standard_labels("knative-serving"),
                          # The KServe controller (next) needs Knative's CRDs and webhooks up: the
                          # provider waits for the operator to report the install Ready.
                          "annotations": {"pulumi.com/waitFor": "condition=Ready"}},
                spec=knative_serving_spec(args.knative),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[operator],
                                            custom_timeouts=pulumi.CustomTimeouts(create="20m", update="20m")),
            )
            knative_ready = [serving]
            controller_deps.append(serving)

        controller = helm_release(f"{name}-controller", args.chart, args.namespace, kserve_values(args),
                                  pulumi.ResourceOptions(parent=self, depends_on=controller_deps))
        self.releases.append(controller)
        self.ready = [crds, controller, *knative_ready]
        self.register_outputs({"mode": self.mode, "scale_to_zero": self.scale_to_zero})
