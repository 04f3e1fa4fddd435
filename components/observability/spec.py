"""User-facing spec of monitoring: scrape targets, alerts, dashboards, and Prometheus itself."""

from __future__ import annotations

from pydantic import Field

from components.common.helm import ChartRef
from components.common.spec import Spec


class ObservabilitySpec(Spec):
    """Metrics for vLLM, GPUs (DCGM) and the endpoint picker, with alerts and dashboards."""

    enabled: bool = True
    """Emit PodMonitors/ServiceMonitors, alert rules and dashboards (needs the Prometheus Operator
    CRDs). Default: true."""
    install_prometheus_stack: bool = False
    """Install kube-prometheus-stack (Prometheus Operator, Prometheus, Grafana). Default: false."""
    namespace: str = "monitoring"
    """Namespace of Prometheus and the dashboards. Default: monitoring."""
    chart: ChartRef = ChartRef(
        name="kube-prometheus-stack", version="79.5.0", repository="https://prometheus-community.github.io/helm-charts"
    )
    """kube-prometheus-stack chart. Default: 79.5.0."""
    prometheus_url: str = "http://prometheus-operated.monitoring.svc:9090"
    """Prometheus KEDA queries go to. Default: the Prometheus Operator's service in ``monitoring``."""
    release_label: str = "kube-prometheus-stack"
    """``release`` label Prometheus selects monitors and rules by. Default: kube-prometheus-stack."""
    alerts: bool = True
    """Create PrometheusRules for paging conditions. Default: true."""
    dashboards: bool = True
    """Create Grafana dashboard ConfigMaps for the Grafana sidecar. Default: true."""
    extra_alert_labels: dict[str, str] = Field(default_factory=dict)
    """Labels added to every alert (e.g. routing team). Default: none."""
