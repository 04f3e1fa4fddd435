"""The observability layer's wiring: scrape configs, alerts and dashboards for every model
service the models layer reports, plus kube-prometheus-stack when the stack installs it."""

from __future__ import annotations

from components.observability.observability import AlertThresholds, MonitoredService, Observability, ObservabilityArgs
from components.platform.namespaces import NamespaceSpec
from infra.config import PlatformConfig
from infra.context import BuildContext
from infra.layers.serving import chart


def namespaces_needed(cfg: PlatformConfig) -> dict[str, NamespaceSpec]:
    """Namespaces this layer's workloads need the platform to own: the monitoring namespace only
    when this stack installs kube-prometheus-stack there. Otherwise Prometheus and Grafana already
    run in it and own it; dashboards are added to it without creating it."""
    o = cfg.observability
    if not (o.enabled and o.install_prometheus_stack):
        return {}
    # node-exporter (kube-prometheus-stack) runs with host network and PID: privileged.
    return {o.namespace: NamespaceSpec(enforce="privileged", warn="privileged")}


def build(ctx: BuildContext, gpu, serving, models) -> Observability | None:
    o = ctx.cfg.observability
    if not o.enabled:
        return None
    services = [
        MonitoredService(name=s.name, namespace=s.namespace, served_name=s.served_name,
                         pod_labels=dict(s.pod_labels), metrics_port=s.metrics_port,
                         adapter_sync_port=s.adapter_sync_port, scrape_port=s.scrape_port)
        for s in (models.services.values() if models is not None else ())
    ]
    if not services and not o.install_prometheus_stack:
        return None
    obs = Observability("observability", ObservabilityArgs(
        namespace=ctx.namespace(o.namespace) if o.install_prometheus_stack else o.namespace, namespace_name=o.namespace, release_label=o.release_label,
        services=services, alerts=o.alerts, thresholds=AlertThresholds(**o.thresholds.model_dump()), dashboards=o.dashboards, extra_alert_labels=dict(o.extra_alert_labels),
        prometheus_stack_chart=chart(ctx.cfg, o.chart) if o.install_prometheus_stack else None,
    ), ctx.k8s_opts())
    ctx.exports["monitoredServices"] = sorted(obs.pod_monitors)
    return obs
