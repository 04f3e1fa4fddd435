"""The PromQL builders produce scoped single-series queries and the checker tells scoped from
unscoped, single from multi-series."""

from __future__ import annotations

import pytest

from components.observability import promql


@pytest.mark.parametrize("query", [
    promql.service_sum("vllm:num_requests_waiting", "llm", "m"),
    promql.service_max("vllm:kv_cache_usage_perc", "llm", "m"),
    promql.service_rate_sum("http_requests_total", "llm", "m", status="4xx", regex={"handler": "/v1/.*"}),
    promql.service_quantile("vllm:time_to_first_token_seconds", "llm", "m"),
    promql.gpu_memory_used_ratio("llm", "m") + " > 0.98",
    'count(up{namespace="llm",model_name="m"} == 0) > 0',
    r'sum(vllm:num_requests_waiting{namespace="llm",model_name=~"m(:.*)?"})',
])
def test_scoped_single_series_queries_pass(query):
    assert promql.check_query(query, "llm", "m") == []


@pytest.mark.parametrize("query, problem", [
    ("vllm:num_requests_waiting", "not aggregated"),
    ('sum(vllm:num_requests_waiting{model_name="m"})', "not scoped to namespace"),
    ('sum(vllm:num_requests_waiting{namespace="llm"})', "not scoped to model_name"),
    ('sum by (pod) (vllm:num_requests_waiting{namespace="llm",model_name="m"})', "not aggregated"),
    ('max(vllm:x{namespace="llm",model_name="m"}) + max(vllm:y{namespace="llm",model_name="m"})', "not aggregated"),
    ('sum(vllm:num_requests_waiting{namespace="llm",model_name=~".*"})', "not scoped to model_name"),
    ('max(DCGM_FI_DEV_FB_USED{namespace="llm"})', "not scoped to model_name"),
    ('sum(vllm:x{namespace="llm",model_name="m"}) / sum(vllm:total)', "without label matchers"),
    ('histogram_quantile(0.9, sum by (le, pod) (rate(vllm:t_bucket{namespace="llm",model_name="m"}[5m])))', "not aggregated"),
])
def test_unscoped_or_multi_series_queries_fail(query, problem):
    problems = promql.check_query(query, "llm", "m")
    assert any(problem in p for p in problems), problems


def test_label_values_are_escaped():
    assert promql.selector("up", 'a"b', "m") == 'up{namespace="a\\"b",model_name="m"}'
