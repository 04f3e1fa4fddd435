"""Metrics, alerts and dashboards for the model services.

Per served service (``MonitoredService``):

* a ``PodMonitor`` scraping vLLM's ``/metrics`` on the pods' metrics port. ``honorLabels`` keeps
  vLLM's own ``model_name``; every other series of the target (``up``, the HTTP server's
  ``http_requests_total``) gets ``model_name`` = the served name from a relabeling, so every
  query can be scoped by namespace and model;
* a ``PrometheusRule`` with the paging conditions: KV cache nearly full, requests queueing,
  GPU memory nearly exhausted (DCGM), adapter requests failing, pods down. Every expression
  comes from ``components.observability.promql`` (scoped, one series);
* a Grafana dashboard ConfigMap labelled ``grafana_dashboard: "1"`` for the Grafana sidecar.

Every monitor and rule carries ``release: <observability.releaseLabel>``, the label the
Prometheus of kube-prometheus-stack selects on. With ``installPrometheusStack`` the component
also installs kube-prometheus-stack (Grafana's admin password generated and kept in a Secret),
and every monitor/rule waits for it (its CRDs).

DCGM (GPU) metrics are scraped by the GPU Operator's own ServiceMonitor; the GPU-memory alert
joins them to the service's pods ``on (namespace, pod)``, which needs that ServiceMonitor's
``honorLabels: true`` (dcgm-exporter then reports the GPU-owning pod's namespace and pod).
The endpoint picker's ServiceMonitor comes from the llm-d router chart with the same
``release`` label (``components.serving.llmd.router_values``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.common.helm import ChartRef, helm_release
from components.common.input_errors import refuse_inputs, value_issues
from components.common.labels import standard_labels
from components.observability import promql
from components.observability.spec import AlertThresholdsSpec, ObservabilitySpec

MONITORING_API = "monitoring.coreos.com/v1"
DASHBOARD_LABEL = "grafana_dashboard"


@dataclass(frozen=True)
class AlertThresholds:
    """When the paging alerts fire."""

    kv_cache_usage: float = 0.9
    """Fraction of KV-cache blocks in use on the fullest pod (``vllm:kv_cache_usage_perc``)."""
    requests_waiting: float = 10
    """Requests queued across the service (``vllm:num_requests_waiting``)."""
    gpu_memory_used: float = 0.98
    """Framebuffer use of the fullest GPU/MIG slice; vLLM preallocates ``gpu-memory-utilization``
    (0.9 by default), so only more than that means something else is eating the GPU."""
    adapter_failures_per_second: float = 0.1
    """4xx answers per second on the completion routes (unknown or unloadable adapters)."""


@dataclass(frozen=True)
class MonitoredService:
    """One model service as observability sees it."""

    name: str
    """Service name."""
    namespace: str
    """Namespace it runs in."""
    served_name: str
    """vLLM ``--served-model-name`` (the ``model_name`` label)."""
    pod_labels: Mapping[str, str]
    """Labels selecting its vLLM pods."""
    metrics_port: str = "http"
    """Name of the container port serving ``/metrics`` (the pod's API port)."""
    adapter_sync_port: str | None = None
    """Name of the adapter sync sidecar's status port (``lora_sync_*`` metrics), or None."""
    scrape_port: int | None = None
    """Port Prometheus actually scrapes: the tenant gate's metrics port, which no container
    declares (Knative allows one container with ports), reached by rewriting the address of the
    ``metrics_port`` target. None: ``metrics_port`` itself."""


@dataclass(frozen=True)
class ObservabilityArgs:
    """What to monitor and where Prometheus/Grafana live."""

    namespace: pulumi.Input[str]
    """Namespace of dashboards and (optionally) kube-prometheus-stack. Required."""
    namespace_name: str
    """The same namespace as a plain string. Required."""
    release_label: str
    """``release`` label Prometheus selects monitors and rules by. Required."""
    services: Sequence[MonitoredService] = ()
    """Model services to scrape and alert on. Default: none."""
    alerts: bool = True
    """Create a PrometheusRule per service. Default: true."""
    dashboards: bool = True
    """Create Grafana dashboard ConfigMaps. Default: true."""
    thresholds: AlertThresholds = field(default_factory=AlertThresholds)
    """Alert thresholds. Default: :class:`AlertThresholds`' defaults (the config's
    ``observability.thresholds`` defaults)."""
    extra_alert_labels: Mapping[str, str] = field(default_factory=dict)
    """Labels added to every alert (routing). Default: none."""
    prometheus_stack_chart: ChartRef | None = None
    """kube-prometheus-stack chart to install. Default: None: Prometheus already runs; only monitors, rules
    and dashboards are created."""
    depends_on: Sequence[pulumi.Resource] = ()
    """What the monitors wait for (e.g. the model services). Default: none."""


# ----------------------------------------------------------------------------------------
# pure builders


def pod_monitor_spec(svc: MonitoredService) -> dict[str, Any]:
    """PodMonitor of a service's vLLM pods (see the module docstring for the labels)."""
    def endpoint(port: str, scrape_port: int | None = None) -> dict[str, Any]:
        return {
            "port": port,
            "path": "/metrics",
            "interval": "15s",
            "honorLabels": True,
            "relabelings": [
                *([{"action": "replace", "sourceLabels": ["__address__"], "regex": "(.+):\\d+",
                    "targetLabel": "__address__", "replacement": f"$1:{scrape_port}"}] if scrape_port else []),
                {"action": "replace", "targetLabel": "model_name", "replacement": svc.served_name},
                {"action": "replace", "targetLabel": "llm_service", "replacement": svc.name},
            ],
        }

    # The adapter sync sidecar of every replica: which adapters are live, go-live and load
    # latency, failures (``components.models.lora_sync``).
    endpoints = [endpoint(svc.metrics_port, svc.scrape_port)]
    if svc.adapter_sync_port:
        endpoints.append(endpoint(svc.adapter_sync_port))
    return {
        "selector": {"matchLabels": dict(svc.pod_labels)},
        "namespaceSelector": {"matchNames": [svc.namespace]},
        "podMetricsEndpoints": endpoints,
    }


def alert_rules(svc: MonitoredService, t: AlertThresholds, extra_labels: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Paging rules of one service; every ``expr`` is scoped to it and one series."""
    ns, model = svc.namespace, svc.served_name

    def rule(alert: str, expr: str, duration: str, severity: str, summary: str) -> dict[str, Any]:
        return {
            "alert": alert,
            "expr": expr,
            "for": duration,
            "labels": {"severity": severity, "service": svc.name, "namespace": ns, **dict(extra_labels or {})},
            "annotations": {"summary": summary, "description": f"{summary} (service {svc.name}, model {model}, namespace {ns})."},
        }

    # vLLM's HTTP server counts answers by route and status class; an adapter the resolver cannot
    # find or load is answered 404/400 on the completion routes.
    failing = promql.service_rate_sum("http_requests_total", ns, model, status="4xx",
                                      regex={"handler": "/v1/(chat/)?completions"})
    return [
        rule("VllmKvCacheNearlyFull", f"{promql.service_max('vllm:kv_cache_usage_perc', ns, model)} > {t.kv_cache_usage}",
             "10m", "warning", f"KV cache above {t.kv_cache_usage:.0%} on the fullest pod; requests will be preempted"),
        rule("VllmRequestsQueueing", f"{promql.service_sum('vllm:num_requests_waiting', ns, model)} > {t.requests_waiting:g}",
             "5m", "critical", f"more than {t.requests_waiting:g} requests waiting; the service is saturated"),
        rule("VllmGpuMemoryNearlyExhausted", f"{promql.gpu_memory_used_ratio(ns, model)} > {t.gpu_memory_used}",
             "15m", "critical", f"a GPU (or MIG slice) of the service is above {t.gpu_memory_used:.0%} framebuffer use"),
        rule("VllmAdapterRequestsFailing", f"{failing} > {t.adapter_failures_per_second:g}",
             "10m", "warning", "completion requests are rejected (unknown or unloadable LoRA adapter)"),
        rule("VllmPodsDown", f"count({promql.selector('up', ns, model)} == 0) > 0",
             "10m", "critical", "a vLLM pod of the service is not serving metrics (crashing or not ready)"),
    ] + ([
        # A published registry entry that some replica does not serve at its pinned version
        # (or a removed one it still serves): the sidecar counts them per replica.
        rule("LoraAdapterNotLiveOnEveryReplica", f"{promql.service_max('lora_sync_adapters_pending', ns, model)} > 0",
             "2m", "warning", "an adapter in the registry is not live at its pinned version on every replica"),
        rule("LoraSyncFailing", f"{promql.service_rate_sum('lora_sync_failures_total', ns, model)} > 0",
             "10m", "warning", "the adapter sync sidecar keeps failing (download, digest check, load or unload)"),
    ] if svc.adapter_sync_port else [])


def dashboard(svc: MonitoredService) -> dict[str, Any]:
    """Grafana dashboard JSON of one service (queries from the same scoped builders)."""
    ns, model = svc.namespace, svc.served_name
    panels = [
        ("Requests running", promql.service_sum("vllm:num_requests_running", ns, model), "short"),
        ("Requests waiting", promql.service_sum("vllm:num_requests_waiting", ns, model), "short"),
        ("KV cache usage (fullest pod)", promql.service_max("vllm:kv_cache_usage_perc", ns, model), "percentunit"),
        ("Generated tokens/s", promql.service_rate_sum("vllm:generation_tokens_total", ns, model), "short"),
        ("Time to first token p95", promql.service_quantile("vllm:time_to_first_token_seconds", ns, model), "s"),
        ("End-to-end latency p95", promql.service_quantile("vllm:e2e_request_latency_seconds", ns, model), "s"),
        ("GPU memory used (fullest GPU)", promql.gpu_memory_used_ratio(ns, model), "percentunit"),
        ("Prefix cache hit rate", f"sum(rate({promql.selector('vllm:prefix_cache_hits_total', ns, model)}[5m])) / "
                                  f"sum(rate({promql.selector('vllm:prefix_cache_queries_total', ns, model)}[5m]))", "percentunit"),
    ]
    return {
        "uid": f"llm-{svc.namespace}-{svc.name}"[:40],
        "title": f"vLLM {svc.name} ({model})",
        "tags": ["llm-platform", "vllm"],
        "timezone": "browser",
        "schemaVersion": 39,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "panels": [
            {"id": i + 1, "type": "timeseries", "title": title,
             "gridPos": {"h": 8, "w": 12, "x": 12 * (i % 2), "y": 8 * (i // 2)},
             "datasource": {"type": "prometheus", "uid": "prometheus"},
             "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
             "targets": [{"refId": "A", "expr": expr, "legendFormat": svc.name}]}
            for i, (title, expr, unit) in enumerate(panels)
        ],
    }


def prometheus_stack_values(release_label: str, grafana_secret: str) -> dict[str, Any]:
    """kube-prometheus-stack values: select monitors/rules by ``release`` only, Grafana sidecar on."""
    selector = {"matchLabels": {"release": release_label}}
    # No ``*SelectorNilUsesHelmValues``: the chart reads them only when the selector itself is unset.
    return {
        "prometheus": {"prometheusSpec": {
            "serviceMonitorSelector": selector,
            "podMonitorSelector": selector,
            "ruleSelector": selector,
            "serviceMonitorNamespaceSelector": {}, "podMonitorNamespaceSelector": {}, "ruleNamespaceSelector": {},
        }},
        "grafana": {
            "admin": {"existingSecret": grafana_secret, "userKey": "admin-user", "passwordKey": "admin-password"},
            "sidecar": {"dashboards": {"enabled": True, "label": DASHBOARD_LABEL, "labelValue": "1", "searchNamespace": "ALL"}},
        },
    }


# ----------------------------------------------------------------------------------------
# component


def problems(args: ObservabilityArgs) -> list[tuple[str, str]]:
    """Everything wrong with ``args`` (paths relative to them), by the rules the stack applies to
    ``observability``: the ``release`` label, the alert labels and every threshold (the field
    types of ``ObservabilitySpec`` and ``AlertThresholdsSpec``: fractions in (0, 1], rates above 0)."""
    issues = value_issues(ObservabilitySpec, "release_label", args.release_label, path="releaseLabel")
    issues += value_issues(ObservabilitySpec, "extra_alert_labels", dict(args.extra_alert_labels), path="extraAlertLabels")
    for name, camel in (("kv_cache_usage", "kvCacheUsage"), ("requests_waiting", "requestsWaiting"),
                        ("gpu_memory_used", "gpuMemoryUsed"), ("adapter_failures_per_second", "adapterFailuresPerSecond")):
        issues += value_issues(AlertThresholdsSpec, name, getattr(args.thresholds, name), path=f"thresholds.{camel}")
    return issues


class Observability(pulumi.ComponentResource):
    """Scrape configs, alerts and dashboards of the model services (optionally Prometheus too).

    Raises ``pulumi.InputPropertiesError`` listing every problem of its args (:func:`problems`)
    before it registers anything."""

    pod_monitors: dict[str, k8s.apiextensions.CustomResource]
    """PodMonitor per service."""
    rules: dict[str, k8s.apiextensions.CustomResource]
    """PrometheusRule per service (empty when alerts are off)."""
    dashboards: dict[str, k8s.core.v1.ConfigMap]
    """Dashboard ConfigMap per service (empty when dashboards are off)."""
    prometheus_stack: k8s.helm.v3.Release | None
    """kube-prometheus-stack release when installed here."""

    def __init__(self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None):
        refuse_inputs("Observability", name, problems(args))
        super().__init__("llmplatform:observability:Observability", name, None, opts)
        self.prometheus_stack = None
        crd_deps: list[pulumi.Resource] = list(args.depends_on)
        if args.prometheus_stack_chart is not None:
            password = random.RandomPassword(f"{name}-grafana-admin", length=32, special=False,
                                             opts=pulumi.ResourceOptions(parent=self))
            secret_name = "grafana-admin"
            secret = k8s.core.v1.Secret(
                f"{name}-grafana-admin",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=secret_name, namespace=args.namespace,
                                                    labels=standard_labels("grafana", "admin")),
                string_data={"admin-user": "admin", "admin-password": pulumi.Output.secret(password.result)},
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.prometheus_stack = helm_release(
                args.release_label, args.prometheus_stack_chart, args.namespace_name,
                prometheus_stack_values(args.release_label, secret_name),
                pulumi.ResourceOptions(parent=self, depends_on=[secret]), create_namespace=False)
            crd_deps.append(self.prometheus_stack)
        child = pulumi.ResourceOptions(parent=self, depends_on=crd_deps)
        self.pod_monitors, self.rules, self.dashboards = {}, {}, {}
        for svc in sorted(args.services, key=lambda s: s.name):
            labels = standard_labels("monitoring", svc.name, release=args.release_label)
            self.pod_monitors[svc.name] = k8s.apiextensions.CustomResource(
                f"{name}-{svc.name}-vllm",
                api_version=MONITORING_API, kind="PodMonitor",
                metadata={"name": f"{svc.name}-vllm", "namespace": svc.namespace, "labels": labels},
                spec=pod_monitor_spec(svc), opts=child)
            if args.alerts:
                self.rules[svc.name] = k8s.apiextensions.CustomResource(
                    f"{name}-{svc.name}-alerts",
                    api_version=MONITORING_API, kind="PrometheusRule",
                    metadata={"name": f"{svc.name}-vllm", "namespace": svc.namespace, "labels": labels},
                    spec={"groups": [{"name": f"vllm-{svc.name}", "rules": alert_rules(svc, args.thresholds, args.extra_alert_labels)}]},
                    opts=child)
            if args.dashboards:
                self.dashboards[svc.name] = k8s.core.v1.ConfigMap(
                    f"{name}-{svc.name}-dashboard",
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        name=f"dashboard-vllm-{svc.name}", namespace=args.namespace,
                        labels={**standard_labels("dashboard", svc.name), DASHBOARD_LABEL: "1"}),
                    data={f"vllm-{svc.name}.json": json.dumps(dashboard(svc), indent=1, sort_keys=True)},
                    opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({"services": sorted(self.pod_monitors)})
