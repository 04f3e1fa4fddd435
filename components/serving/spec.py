"""User-facing specs of the serving layer's controllers: KServe (Standard or Knative mode),
cert-manager, Knative, KEDA, LeaderWorkerSet and llm-d. The vLLM services themselves are in
``components.models.spec``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from components.common.fields import DnsSubdomain, Namespace
from components.common.helm import ChartRef
from components.common.images import ImageRef
from components.common.spec import Spec
from components.models.spec import LoraServiceSpec

KSERVE_VERSION = "v0.20.0"
_KSERVE_CHARTS = "oci://ghcr.io/kserve/charts"


class CertManagerSpec(Spec):
    """cert-manager, which issues the KServe webhook certificates."""

    install: bool = True
    """Install cert-manager with KServe (turn off if the cluster already runs it). Default: true."""
    namespace: Namespace = "cert-manager"
    """Namespace. Default: cert-manager."""
    chart: ChartRef = ChartRef(name="cert-manager", version="v1.17.0", repository="https://charts.jetstack.io")
    """Chart. Default: v1.17.0, the version KServe v0.20.0 is tested with."""


class KnativeSpec(Spec):
    """Knative Serving, installed through the Knative operator (KServe Knative mode only)."""

    networking: Literal["istio", "kourier"] = "kourier"
    """Networking layer. ``kourier`` is self-contained; ``istio`` expects an existing Istio.
    Default: kourier."""
    domain: DnsSubdomain = "example.com"
    """Domain of generated service URLs. Default: example.com."""
    kourier_service_type: Literal["ClusterIP", "LoadBalancer", "NodePort"] = "ClusterIP"
    """Service type of Kourier's gateway (``kourier`` networking only). ``LoadBalancer`` provisions a
    cloud load balancer (it costs money); Default: ClusterIP (reach it in-cluster or put your own
    ingress in front)."""
    serving_version: str = "1.21.1"
    """Knative Serving version the operator installs. Default: 1.21.1."""
    operator_chart: ChartRef = ChartRef(
        name="knative-operator", version="v1.21.1", repository="https://knative.github.io/operator"
    )
    """Knative operator chart. Default: v1.21.1."""


class KServeSpec(Spec):
    """KServe controller and CRDs."""

    install: bool = False
    """Install KServe (CRDs, controller, cert-manager, Knative in Knative mode). Default: false
    (the cluster already runs it)."""
    mode: Literal["Standard", "Knative"] = "Standard"
    """Deployment mode of every InferenceService: ``Standard`` (raw Deployments, KEDA/HPA) or
    ``Knative`` (serverless, scale to zero). Changing it replaces InferenceServices (KServe refuses
    an in-place change). Default: Standard."""
    ingress: Literal["none", "istio"] = "none"
    """Standard mode: ``none`` creates no Ingress per InferenceService (clients use the in-cluster
    predictor Service, or the llm-d gateway); ``istio`` creates one of class ``istio`` (Istio must
    run). Knative mode routes through Knative's own networking layer either way. Default: none."""
    namespace: Namespace = "kserve"
    """Controller namespace. Default: kserve."""
    crd_chart: ChartRef = ChartRef(name="kserve-crd", version=KSERVE_VERSION, repository=_KSERVE_CHARTS)
    """CRD chart. Default: kserve-crd v0.20.0."""
    chart: ChartRef = ChartRef(name="kserve-resources", version=KSERVE_VERSION, repository=_KSERVE_CHARTS)
    """Controller chart. Default: kserve-resources v0.20.0."""
    cert_manager: CertManagerSpec = Field(default_factory=CertManagerSpec)
    """cert-manager. Default: installed from its pinned chart."""
    knative: KnativeSpec = Field(default_factory=KnativeSpec)
    """Knative settings (used in Knative mode only). Default: Kourier, example.com, Serving 1.21.1."""


class KedaSpec(Spec):
    """KEDA, which scales Standard-mode predictors on vLLM queue metrics."""

    install: bool = False
    """Install KEDA. Default: false."""
    namespace: Namespace = "keda"
    """Namespace. Default: keda."""
    chart: ChartRef = ChartRef(name="keda", version="2.18.0", repository="https://kedacore.github.io/charts")
    """Chart. Default: 2.18.0, the version KServe v0.20.0 is tested with."""


class LwsSpec(Spec):
    """LeaderWorkerSet controller for multi-node vLLM."""

    install: bool = False
    """Install LeaderWorkerSet. Default: false."""
    namespace: Namespace = "lws-system"
    """Namespace. Default: lws-system."""
    chart: ChartRef = ChartRef(name="lws", version="0.10.0", repository="oci://registry.k8s.io/lws/charts")
    """Chart. Default: 0.10.0."""


class LlmdSpec(Spec):
    """llm-d: inference gateway, inference pool with endpoint picker, and model services.

    The cluster must already run the Gateway API CRDs (v1.4+), the InferencePool CRD
    (``inference.networking.k8s.io/v1``) and the gateway implementation named by
    ``gatewayProvider`` (e.g. Istio): llm-d's own guides install them as prerequisites."""

    enabled: bool = False
    """Deploy llm-d for services whose ``frontend`` is ``llm-d``. Default: false."""
    gateway_provider: Literal["istio", "kgateway", "agentgateway", "gke-l7-regional-external-managed"] = "istio"
    """Gateway implementation behind the llm-d gateway. Default: istio."""
    gateway_service_type: Literal["ClusterIP", "LoadBalancer", "NodePort"] = "ClusterIP"
    """Service type of the gateway proxy; LoadBalancer exposes it outside the cluster. Default: ClusterIP."""
    infra_chart: ChartRef = ChartRef(
        name="llm-d-infra", version="v1.4.0", repository="https://llm-d-incubation.github.io/llm-d-infra/"
    )
    """Gateway chart. Default: llm-d-infra v1.4.0."""
    router_chart: ChartRef = ChartRef(name="llm-d-router-gateway", version="v0.10.0", repository="oci://ghcr.io/llm-d/charts")
    """Inference pool + endpoint picker chart. The Gateway API Inference Extension ``inferencepool``
    chart was removed after v1.5.0; its maintained successor is llm-d-router's
    ``llm-d-router-gateway`` (attaches the pool to the llm-d gateway). Default: v0.10.0."""
    modelservice_chart: ChartRef = ChartRef(
        name="llm-d-modelservice", version="v0.4.12", repository="https://llm-d-incubation.github.io/llm-d-modelservice/"
    )
    """Model service chart. Default: llm-d-modelservice v0.4.12."""
    epp_image: ImageRef = ImageRef(registry="ghcr.io", repository="llm-d/llm-d-router-endpoint-picker", tag="v0.10.0")
    """Endpoint picker image, versioned with the router chart (whose default tag is ``main``). Default: v0.10.0."""
    routing_sidecar_image: ImageRef = ImageRef(registry="ghcr.io", repository="llm-d/llm-d-routing-sidecar", tag="v0.4.0")
    """Routing sidecar of decode pods (prefill/decode disaggregation). Default: v0.4.0."""
    storage_initializer_image: ImageRef = ImageRef(registry="docker.io", repository="kserve/storage-initializer", tag="v0.20.0")
    """Downloads ``s3://`` base models into llm-d model-server pods (KServe's initializer). Default: v0.20.0."""


class ServingSpec(Spec):
    """The serving layer's controllers and where the model services run."""

    namespace: Namespace = "llm"
    """Namespace of InferenceServices, model services and their adapters. Default: llm."""
    kserve: KServeSpec = Field(default_factory=KServeSpec)
    """KServe. Default: not installed here, Standard mode."""
    keda: KedaSpec = Field(default_factory=KedaSpec)
    """KEDA. Default: not installed here."""
    lws: LwsSpec = Field(default_factory=LwsSpec)
    """LeaderWorkerSet. Default: not installed here."""
    llmd: LlmdSpec = Field(default_factory=LlmdSpec)
    """llm-d. Default: off."""
    services: dict[str, LoraServiceSpec] = Field(default_factory=dict)
    """vLLM multi-LoRA services by name (the name becomes the InferenceService name). Default: none."""
