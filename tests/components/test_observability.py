"""Monitoring of the model services: scrape configs select the right pods with the release label
Prometheus selects on, every alert and dashboard query is scoped to its service and one series,
dashboards reach the Grafana sidecar, and Grafana's password never appears in plain text."""

from __future__ import annotations

import json

import pytest

from components.observability import promql
from components.observability.observability import (AlertThresholds, MonitoredService, alert_rules, dashboard,
                                                    pod_monitor_spec)
from tests.conftest import STACKS
from tests.support.schemas import crd_errors

SVC = MonitoredService(name="llama-8b", namespace="llm", served_name="llama-3.1-8b",
                       pod_labels={"serving.kserve.io/inferenceservice": "llama-8b"}, metrics_port="http1")


@pytest.mark.parametrize("stack", STACKS)
def test_every_served_service_is_scraped_alerted_and_has_a_dashboard(stack, synthesized):
    s = synthesized(stack)
    o = s.config.observability
    monitors = {m["metadata"]["name"]: m for m in s.objects("PodMonitor")}
    rules = {r["metadata"]["name"]: r for r in s.objects("PrometheusRule")}
    dashboards = {c["metadata"]["name"]: c for c in s.objects("ConfigMap") if c["metadata"]["labels"].get("grafana_dashboard") == "1"}
    for svc in s.config.serving.services:
        assert f"{svc}-vllm" in monitors, f"{stack}: {svc} is not scraped"
        monitor = monitors[f"{svc}-vllm"]
        assert monitor["metadata"]["labels"]["release"] == o.release_label
        assert monitor["spec"]["podMetricsEndpoints"][0]["honorLabels"] is True
        if o.alerts:
            assert rules[f"{svc}-vllm"]["metadata"]["labels"]["release"] == o.release_label
        if o.dashboards:
            assert f"dashboard-vllm-{svc}" in dashboards
            assert dashboards[f"dashboard-vllm-{svc}"]["metadata"]["namespace"] == o.namespace


@pytest.mark.parametrize("stack", STACKS)
def test_every_alert_is_scoped_to_its_service_and_single_series(stack, synthesized):
    s = synthesized(stack)
    count = 0
    for rule_obj in s.objects("PrometheusRule"):
        for group in rule_obj["spec"]["groups"]:
            for rule in group["rules"]:
                svc = rule["labels"]["service"]
                model = s.config.served_name(svc)
                assert promql.check_query(rule["expr"], rule_obj["metadata"]["namespace"], model) == [], rule["alert"]
                count += 1
    if s.config.observability.alerts:
        # 5 vLLM alerts per service, 2 more where the adapter sync sidecar is scraped
        synced = [n for n, v in s.config.serving.services.items()
                  if v.adapter_mode == "dynamic" and (v.frontend != "kserve" or s.config.serving.kserve.mode != "Knative")]
        assert count == 5 * len(s.config.serving.services) + 2 * len(synced)


def test_alerts_cover_the_paging_conditions():
    exprs = {r["alert"]: r["expr"] for r in alert_rules(SVC, AlertThresholds())}
    assert "vllm:kv_cache_usage_perc" in exprs["VllmKvCacheNearlyFull"]
    assert "vllm:num_requests_waiting" in exprs["VllmRequestsQueueing"]
    assert "DCGM_FI_DEV_FB_USED" in exprs["VllmGpuMemoryNearlyExhausted"] and "DCGM_FI_DEV_FB_FREE" in exprs["VllmGpuMemoryNearlyExhausted"]
    assert 'status="4xx"' in exprs["VllmAdapterRequestsFailing"]
    assert "up{" in exprs["VllmPodsDown"]
    for expr in exprs.values():
        assert promql.check_query(expr, "llm", "llama-3.1-8b") == []
        assert promql.check_query(expr, "other-ns", "llama-3.1-8b"), "scoping must be to this namespace"


def test_pod_monitor_labels_non_vllm_series_with_the_model_and_validates():
    spec = pod_monitor_spec(SVC)
    endpoint = spec["podMetricsEndpoints"][0]
    assert endpoint["port"] == "http1"
    assert {"action": "replace", "targetLabel": "model_name", "replacement": "llama-3.1-8b"} in endpoint["relabelings"]
    obj = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor",
           "metadata": {"name": "x", "namespace": "llm"}, "spec": spec}
    assert crd_errors(obj) == []


def test_dashboard_queries_are_namespace_and_model_scoped():
    board = dashboard(SVC)
    assert board["panels"]
    for panel in board["panels"]:
        for target in panel["targets"]:
            for metric, matchers in promql.selectors(target["expr"]):
                assert matchers.get("namespace") == "llm", (panel["title"], metric)
            assert 'model_name="llama-3.1-8b"' in target["expr"], panel["title"]
    json.dumps(board)  # serialisable as the ConfigMap payload


def test_grafana_admin_password_is_generated_and_secret(synthesized):
    s = synthesized("prod")
    release = [r for r in s.by_type("kubernetes:helm.sh/v3:Release") if r.name == s.config.observability.release_label][0]
    admin = release.inputs["values"]["grafana"]["admin"]
    assert admin == {"existingSecret": "grafana-admin", "userKey": "admin-user", "passwordKey": "admin-password"}
    assert "adminPassword" not in release.inputs["values"]["grafana"], "the chart's default password would be used/stored"
    secret = [r for r in s.registrations if r.type == "kubernetes:core/v1:Secret" and r.name == "observability-grafana-admin"][0]
    assert any(p.startswith("stringData") for p in secret.secret_paths) and "admin-password" not in json.dumps(secret.inputs)
    selector = release.inputs["values"]["prometheus"]["prometheusSpec"]["podMonitorSelector"]
    assert selector == {"matchLabels": {"release": s.config.observability.release_label}}


@pytest.mark.parametrize("stack", ["prod"])
def test_dcgm_scrape_keeps_the_gpu_owning_pods_labels_the_gpu_alert_joins_on(stack, synthesized):
    s = synthesized(stack)
    operator = [r for r in s.by_type("kubernetes:helm.sh/v3:Release") if r.inputs["chart"].endswith("gpu-operator")][0]
    monitor = operator.inputs["values"]["dcgmExporter"]["serviceMonitor"]
    assert monitor["enabled"], "the GPU-memory alert needs DCGM metrics in Prometheus"
    assert monitor.get("honorLabels") is True, "without it the GPU pod's namespace/pod become exported_* and the join is empty"


def test_adapter_sync_sidecars_are_scraped_and_alerted_on_where_they_run(synthesized):
    """Standard-mode services scrape the sync sidecar of every replica and alert on adapters
    not live everywhere; Knative-mode ones (no second port allowed) do not."""
    from components.observability import promql as q

    svc = MonitoredService(name="llama-8b", namespace="llm", served_name="llama-3.1-8b",
                           pod_labels={"serving.kserve.io/inferenceservice": "llama-8b"}, metrics_port="http1",
                           adapter_sync_port="lora-sync")
    spec = pod_monitor_spec(svc)
    assert [e["port"] for e in spec["podMetricsEndpoints"]] == ["http1", "lora-sync"]
    rules = {r["alert"]: r["expr"] for r in alert_rules(svc, AlertThresholds())}
    assert rules["LoraAdapterNotLiveOnEveryReplica"] == \
        'max(lora_sync_adapters_pending{namespace="llm",model_name="llama-3.1-8b"}) > 0'
    assert q.check_query(rules["LoraSyncFailing"].rsplit(" >", 1)[0], "llm", "llama-3.1-8b") == []
    without = MonitoredService(**{**svc.__dict__, "adapter_sync_port": None})
    assert "LoraAdapterNotLiveOnEveryReplica" not in {r["alert"] for r in alert_rules(without, AlertThresholds())}
    for stack, expected in (("local", True), ("dev", False)):
        monitors = [m for m in synthesized(stack).objects("PodMonitor")]
        ports = {e["port"] for m in monitors for e in m["spec"]["podMetricsEndpoints"]}
        assert ("lora-sync" in ports) is expected, (stack, ports)
