"""User-facing spec of monitoring: scrape targets, alerts, dashboards, and Prometheus itself."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from components.common.fields import HttpUrl, LabelValue, Namespace, PrometheusLabelName
from components.common.helm import ChartRef
from components.common.spec import Spec

Fraction = Annotated[float, Field(gt=0, le=1)]


class AlertThresholdsSpec(Spec):
    """When the paging alerts of every model service fire."""

    kv_cache_usage: Fraction = 0.9
    """KV-cache use of the fullest pod (``vllm:kv_cache_usage_perc``) that warns. Default: 0.9."""
    requests_waiting: Annotated[float, Field(gt=0)] = 10
    """Requests queued across a service (``vllm:num_requests_waiting``) that page. Default: 10."""
    gpu_memory_used: Fraction = 0.98
    """Framebuffer use of the fullest GPU/MIG slice (DCGM) that pages; vLLM itself preallocates
    ``gpuMemoryUtilization`` (0.9), so keep this above it. Default: 0.98."""
    adapter_failures_per_second: Annotated[float, Field(gt=0)] = 0.1
    """4xx answers per second on the completion routes (unknown/unloadable adapters) that warn. Default: 0.1."""


class ObservabilitySpec(Spec):
    """Metrics for vLLM, GPUs (DCGM) and the endpoint picker, with alerts and dashboards."""

    enabled: bool = True
    """Emit PodMonitors/ServiceMonitors, alert rules and dashboards (needs the Prometheus Operator
    CRDs). Default: true."""
    install_prometheus_stack: bool = False
    """Install kube-prometheus-stack (Prometheus Operator, Prometheus, Grafana). Default: false."""
    namespace: Namespace = "monitoring"
    """Namespace of Prometheus and the dashboards. Default: monitoring."""
    chart: ChartRef = ChartRef(
        name="kube-prometheus-stack", version="79.5.0", repository="https://prometheus-community.github.io/helm-charts"
    )
    """kube-prometheus-stack chart. Default: 79.5.0."""
    prometheus_url: HttpUrl = "http://prometheus-operated.monitoring.svc:9090"
    """Prometheus KEDA queries go to. Default: the Prometheus Operator's service in ``monitoring``."""
    release_label: LabelValue = "kube-prometheus-stack"
    """``release`` label Prometheus selects monitors and rules by. Default: kube-prometheus-stack."""
    alerts: bool = True
    """Create PrometheusRules for paging conditions. Default: true."""
    dashboards: bool = True
    """Create Grafana dashboard ConfigMaps for the Grafana sidecar. Default: true."""
    thresholds: AlertThresholdsSpec = Field(default_factory=AlertThresholdsSpec)
    """Alert thresholds. Default: see each field."""
    extra_alert_labels: dict[PrometheusLabelName, str] = Field(default_factory=dict)
    """Labels added to every alert (e.g. routing team). Default: none."""
