"""PromQL for one model service, built in one place so every query (KEDA triggers, alerts,
dashboards) is scoped to its service and aggregated to a single series.

KEDA's Prometheus scaler needs "a vector/scalar single element response" and KServe passes
a query through unchanged; an alert without scope fires for the wrong tenant. So every query
here selects ``namespace`` and ``model_name`` (vLLM labels every metric with ``model_name`` =
the served name) and wraps the result in an aggregation without ``by``.

``check_query`` is the inverse: a small parser used by tests (and usable by anyone) to prove a
query is scoped and single-series.
"""

from __future__ import annotations

import re
from typing import Literal

Aggregation = Literal["sum", "max", "avg", "min"]


def selector(metric: str, namespace: str, model_name: str | None = None, *,
             regex: dict[str, str] | None = None, **extra: str) -> str:
    """``metric{namespace="..", model_name="..", label="..", label=~"re"}`` with values escaped."""
    labels = {"namespace": namespace}
    if model_name is not None:
        labels["model_name"] = model_name
    labels.update(extra)
    parts = [f'{k}="{_escape(v)}"' for k, v in labels.items()]
    parts += [f'{k}=~"{_escape(v)}"' for k, v in (regex or {}).items()]
    return f"{metric}{{{','.join(parts)}}}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def service_sum(metric: str, namespace: str, model_name: str) -> str:
    """Total of a vLLM gauge over a service's pods: one series."""
    return f"sum({selector(metric, namespace, model_name)})"


def service_max(metric: str, namespace: str, model_name: str) -> str:
    """Worst pod's value of a vLLM gauge for a service: one series."""
    return f"max({selector(metric, namespace, model_name)})"


def service_rate_sum(metric: str, namespace: str, model_name: str, window: str = "5m", *,
                     regex: dict[str, str] | None = None, **extra: str) -> str:
    """Per-second rate of a counter summed over a service's pods: one series."""
    return f"sum(rate({selector(metric, namespace, model_name, regex=regex, **extra)}[{window}]))"


def gpu_memory_used_ratio(namespace: str, model_name: str) -> str:
    """Highest framebuffer use (0..1) of any GPU (or MIG slice) held by a service's pods.

    DCGM metrics carry the GPU-owning pod's ``namespace``/``pod`` (dcgm-exporter's Kubernetes
    mapping, kept by ``honorLabels``) but no model label, so they are joined on the pod to the
    service's own ``up`` series (which the vLLM PodMonitor labels with ``model_name``).
    """
    used = selector("DCGM_FI_DEV_FB_USED", namespace)
    free = selector("DCGM_FI_DEV_FB_FREE", namespace)
    pods = f"max by (namespace, pod) ({selector('up', namespace, model_name)})"
    return f"max(({used} / ({used} + {free})) * on (namespace, pod) group_left() (0 * {pods} + 1))"


def service_quantile(histogram: str, namespace: str, model_name: str, q: float = 0.95, window: str = "5m") -> str:
    """Quantile of a vLLM histogram over a service's pods: one series."""
    return (f"histogram_quantile({q}, sum by (le) (rate({selector(histogram + '_bucket', namespace, model_name)}[{window}])))")


# ----------------------------------------------------------------------------------------
# checking

_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}")
_MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!=|!~|=)\s*"((?:[^"\\]|\\.)*)"')
_BARE_METRIC = re.compile(r"(?<![\w:\"{])([a-zA-Z_:][a-zA-Z0-9_:]*:[a-zA-Z0-9_:]+|DCGM_[A-Z0-9_]+|kube_[a-z0-9_]+)(?![\w:{(])")


def selectors(query: str) -> list[tuple[str, dict[str, str]]]:
    """Every ``metric{...}`` selector in ``query`` with its equality matchers."""
    found = []
    for metric, body in _SELECTOR.findall(query):
        matchers = {name: value for name, op, value in _MATCHER.findall(body) if op == "="}
        found.append((metric, matchers))
    return found


def regex_selectors(query: str) -> list[tuple[str, dict[str, str]]]:
    """Every ``metric{...}`` selector in ``query`` with its ``=~`` matchers (PromQL-unescaped)."""
    return [(metric, {name: value.replace("\\\\", "\\") for name, op, value in _MATCHER.findall(body) if op == "=~"})
            for metric, body in _SELECTOR.findall(query)]


def _matches_model(matchers: dict[str, str], re_matchers: dict[str, str], model_name: str) -> bool:
    """``model_name="<model>"``, or ``model_name=~"<re>"`` where the anchored regex accepts the
    model (and, e.g., its ``<model>:<adapter>`` names) but not every name."""
    if matchers.get("model_name") == model_name:
        return True
    pattern = re_matchers.get("model_name")
    if pattern is None:
        return False
    try:
        compiled = re.compile(pattern)
    except re.error:
        return False
    return bool(compiled.fullmatch(model_name)) and not compiled.fullmatch("some-other-model")


def _outer_aggregation(query: str) -> str | None:
    """The aggregation wrapping the whole query (``sum``/``max``/``avg``/``min``/``count``) if it
    has no ``by``/``without`` clause, else None. A trailing comparison (``> 0.9``) is allowed."""
    q = query.strip()
    hq = re.match(r"^histogram_quantile\s*\(\s*[0-9.]+\s*,\s*sum\s+by\s*\(\s*le\s*\)\s*(\(.*\))\s*\)$", q, re.S)
    if hq:  # the quantile over buckets summed by le alone is one series
        return "histogram_quantile"
    m = re.match(r"^(sum|max|avg|min|count)\s*\(", q)
    if not m:
        return None
    depth, i = 0, m.end() - 1
    for i in range(m.end() - 1, len(q)):
        if q[i] == "(":
            depth += 1
        elif q[i] == ")":
            depth -= 1
            if depth == 0:
                break
    rest = q[i + 1:].strip()
    if rest and not re.match(r"^(>|<|==|!=|>=|<=)\s*[-0-9.e+]+$", rest):
        return None
    between = q[len(m.group(1)):m.end() - 1]
    if re.search(r"\b(by|without)\b", between):
        return None
    return m.group(1)


def check_query(query: str, namespace: str, model_name: str | None) -> list[str]:
    """Problems that make ``query`` unscoped or multi-series (empty when fine).

    * one aggregation without ``by``/``without`` around everything (optionally compared to a
      number);
    * every metric selector matches ``namespace`` exactly and no metric appears bare;
    * with ``model_name``: every selector matches it exactly, except DCGM GPU metrics (which
      carry no model label), which must be joined ``on (namespace, pod)`` to a selector that does.
    """
    problems = []
    if _outer_aggregation(query) is None:
        problems.append(f"not aggregated to one series (need an outer sum/max/avg/min/count without by): {query}")
    sels = selectors(query)
    if not sels:
        problems.append(f"no metric selector: {query}")
    joined = bool(re.search(r"\bon\s*\(\s*namespace\s*,\s*pod\s*\)", query))
    res = regex_selectors(query)
    scoped = [model_name is not None and _matches_model(m, r[1], model_name) for (_, m), r in zip(sels, res)]
    for (metric, matchers), is_scoped in zip(sels, scoped):
        if matchers.get("namespace") != namespace:
            problems.append(f"{metric}: not scoped to namespace {namespace!r} ({matchers})")
        if model_name is None or is_scoped:
            continue
        if metric.startswith("DCGM_") and joined and any(scoped):
            continue
        problems.append(f"{metric}: not scoped to model_name {model_name!r} ({matchers})")
    stripped = _SELECTOR.sub("", query)
    for bare in _BARE_METRIC.findall(stripped):
        problems.append(f"{bare}: metric without label matchers")
    return problems
