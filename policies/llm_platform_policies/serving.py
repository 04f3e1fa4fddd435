"""Serving policies: every InferenceService is bounded and monitored."""

from __future__ import annotations

from .base import resource_policy, stack_policy
from .k8s import meta, object_name

ISVC = "kubernetes:serving.kserve.io/v1beta1:InferenceService"
LLMISVC_TYPES = ("kubernetes:serving.kserve.io/v1alpha1:LLMInferenceService", "kubernetes:serving.kserve.io/v1alpha2:LLMInferenceService")
MONITORS = ("kubernetes:monitoring.coreos.com/v1:PodMonitor", "kubernetes:monitoring.coreos.com/v1:ServiceMonitor")


def _bounds(args, report):
    name = object_name(args.props, args.name)
    spec = args.props.get("spec") or {}
    if args.resource_type == ISVC:
        pred = spec.get("predictor") or {}
        lo, hi = pred.get("minReplicas"), pred.get("maxReplicas")
        where = "spec.predictor"
    elif args.resource_type in LLMISVC_TYPES:
        scaling = spec.get("scaling") or {}
        lo, hi = scaling.get("minReplicas", spec.get("replicas")), scaling.get("maxReplicas", spec.get("replicas"))
        where = "spec.scaling"
    else:
        return
    if lo is None or hi is None:
        report(f"{name}: {where} sets no {'minReplicas' if lo is None else 'maxReplicas'}; unbounded GPU replicas cost money")
    elif float(hi) < float(lo) or float(hi) < 1:
        report(f"{name}: {where} maxReplicas {hi} is below minReplicas {lo} or zero")


autoscaling_bounds = resource_policy(
    "inference-services-bounded",
    "Every InferenceService / LLMInferenceService sets minReplicas and maxReplicas (max >= min, max >= 1).",
    _bounds,
)


def isvc_pod_labels(props: dict) -> dict[str, str]:
    """Labels KServe puts on an InferenceService's predictor pods (object labels, predictor
    labels, and the ones the controller adds)."""
    name = meta(props).get("name")
    pred = (props.get("spec") or {}).get("predictor") or {}
    labels = dict(meta(props).get("labels") or {})
    labels.update(pred.get("labels") or {})
    labels.update({"serving.kserve.io/inferenceservice": str(name), "component": "predictor",
                   "app": f"isvc.{name}-predictor"})
    return labels


def _selects(monitor_props: dict, ns: str | None, labels: dict[str, str]) -> bool:
    spec = monitor_props.get("spec") or {}
    ns_sel = spec.get("namespaceSelector") or {}
    mon_ns = meta(monitor_props).get("namespace")
    if not ns_sel.get("any"):
        names = ns_sel.get("matchNames") or [mon_ns]
        if ns not in names:
            return False
    selector = spec.get("selector") or {}
    match = selector.get("matchLabels") or {}
    if any(labels.get(k) != v for k, v in match.items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        value = labels.get(expr.get("key"))
        op, values = expr.get("operator"), expr.get("values") or []
        if (op == "In" and value not in values) or (op == "NotIn" and value in values) \
                or (op == "Exists" and value is None) or (op == "DoesNotExist" and value is not None):
            return False
    return bool(match or selector.get("matchExpressions"))


def _monitored(args, report):
    monitors = [r for r in args.resources if r.resource_type in MONITORS]
    for r in args.resources:
        if r.resource_type != ISVC:
            continue
        ns = meta(r.props).get("namespace")
        labels = isvc_pod_labels(r.props)
        if not any(_selects(m.props or {}, ns, labels) for m in monitors):
            report(f"InferenceService {object_name(r.props, r.name)} has no PodMonitor/ServiceMonitor selecting its "
                   "predictor pods; its vLLM metrics (queue, KV cache, adapters) would not be scraped", r.urn)


monitored = stack_policy(
    "inference-services-monitored",
    "Every InferenceService's predictor pods are selected by a PodMonitor or ServiceMonitor.",
    _monitored,
)

POLICIES = [autoscaling_bounds, monitored]
