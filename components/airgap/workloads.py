"""Where pod specs and containers live in the objects the platform emits, for every workload kind
(built-in controllers, KServe, LeaderWorkerSet, Knative, KEDA). Shared by the air-gap transforms
(which write them) and the policy pack (which checks them), so both see the same pods.

Paths use Kubernetes wire names (camelCase). Pure data and functions: no Pulumi. Objects may be
plain dicts/lists or the policy SDK's read-only proxies (``Mapping``/``Sequence``, what the engine
hands a policy), so nothing here tests for ``dict`` or ``list`` or concatenates lists.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Iterator


def is_map(value: Any) -> bool:
    """A JSON object: a dict, or the read-only mapping proxy the policy SDK hands policies."""
    return isinstance(value, Mapping)


def is_seq(value: Any) -> bool:
    """A JSON array: a list, or the policy SDK's sequence proxy (never a string)."""
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


@dataclass(frozen=True)
class PodLocation:
    """A pod spec (or a pod-spec-like object) inside an object."""

    path: tuple[str, ...]
    """Keys from the object root to the pod spec."""
    security_context: bool = True
    """Whether a pod-level ``securityContext`` is accepted there."""
    single_containers: tuple[str, ...] = ()
    """Keys of single container-like objects beside ``containers`` (KServe ``predictor.model``)."""


_TEMPLATE = (PodLocation(("spec", "template", "spec")),)
_KSERVE_COMPONENT = ("predictor", "transformer", "explainer")

# (API group, kind) -> pod locations. Group "" is the core group.
POD_LOCATIONS: dict[tuple[str, str], tuple[PodLocation, ...]] = {
    ("", "Pod"): (PodLocation(("spec",)),),
    ("apps", "Deployment"): _TEMPLATE,
    ("apps", "StatefulSet"): _TEMPLATE,
    ("apps", "DaemonSet"): _TEMPLATE,
    ("apps", "ReplicaSet"): _TEMPLATE,
    ("batch", "Job"): _TEMPLATE,
    ("batch", "CronJob"): (PodLocation(("spec", "jobTemplate", "spec", "template", "spec")),),
    ("serving.kserve.io", "InferenceService"): tuple(
        PodLocation(("spec", c), single_containers=("model",) if c == "predictor" else ()) for c in _KSERVE_COMPONENT
    ) + (PodLocation(("spec", "predictor", "workerSpec")),),
    ("serving.kserve.io", "ServingRuntime"): (
        PodLocation(("spec",), security_context=False),
        PodLocation(("spec", "workerSpec"), security_context=False),
    ),
    ("serving.kserve.io", "ClusterServingRuntime"): (
        PodLocation(("spec",), security_context=False),
        PodLocation(("spec", "workerSpec"), security_context=False),
    ),
    ("serving.kserve.io", "LLMInferenceService"): (
        PodLocation(("spec", "template")),
        PodLocation(("spec", "worker")),
        PodLocation(("spec", "prefill", "template")),
        PodLocation(("spec", "prefill", "worker")),
    ),
    ("leaderworkerset.x-k8s.io", "LeaderWorkerSet"): (
        PodLocation(("spec", "leaderWorkerTemplate", "leaderTemplate", "spec")),
        PodLocation(("spec", "leaderWorkerTemplate", "workerTemplate", "spec")),
    ),
    # Knative only accepts pod securityContext fields behind a feature flag.
    ("serving.knative.dev", "Service"): (PodLocation(("spec", "template", "spec"), security_context=False),),
    ("keda.sh", "ScaledJob"): (PodLocation(("spec", "jobTargetRef", "template", "spec")),),
}

CONTAINER_LISTS = ("containers", "initContainers")
"""Container lists of a pod spec the platform manages (ephemeral containers are debugging only)."""

# Kinds whose pods serve models by construction.
MODEL_SERVING_KINDS = {
    ("serving.kserve.io", "InferenceService"),
    ("serving.kserve.io", "ServingRuntime"),
    ("serving.kserve.io", "ClusterServingRuntime"),
    ("serving.kserve.io", "LLMInferenceService"),
}


def group_kind(api_version: str, kind: str) -> tuple[str, str]:
    group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
    return group, kind


def group_kind_of_type(type_token: str) -> tuple[str, str] | None:
    """``kubernetes:apps/v1:Deployment`` -> ("apps", "Deployment"); None for non-Kubernetes types."""
    if not type_token.startswith("kubernetes:"):
        return None
    parts = type_token.split(":")
    if len(parts) != 3:
        return None
    api, kind = parts[1], parts[2]
    group = api.rsplit("/", 1)[0] if "/" in api else ""
    return ("" if group == "core" else group), kind


def pod_locations(type_token: str) -> tuple[PodLocation, ...]:
    gk = group_kind_of_type(type_token)
    return POD_LOCATIONS.get(gk, ()) if gk else ()


def _walk(obj: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not is_map(obj):
            return None
        obj = obj.get(key)
    return obj


def pod_specs(type_token: str, props: dict[str, Any]) -> Iterator[tuple[str, PodLocation, dict[str, Any]]]:
    """Every pod spec in a wire-form object: (dotted path, location, pod spec)."""
    for loc in pod_locations(type_token):
        spec = _walk(props, loc.path)
        if is_map(spec):
            yield ".".join(loc.path), loc, spec


def containers(pod: dict[str, Any], loc: PodLocation) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every container of a wire-form pod spec: (relative path, container)."""
    for key in CONTAINER_LISTS:
        for i, c in enumerate(pod.get(key) or []):
            if is_map(c):
                yield f"{key}[{i}]", c
    for key in loc.single_containers:
        c = pod.get(key)
        if is_map(c):
            yield key, c


def is_model_server(type_token: str, container: dict[str, Any]) -> bool:
    """Whether a container runs a model server (vLLM, KServe runtimes, llm-d)."""
    gk = group_kind_of_type(type_token)
    if gk in MODEL_SERVING_KINDS and container.get("name") in (None, "kserve-container", "main"):
        return True
    words = [str(container.get("image") or "")] + [str(w) for w in [*(container.get("command") or []), *(container.get("args") or [])]]
    text = " ".join(words).lower()
    return "vllm" in text or "llm-d" in text


def env_value(container: dict[str, Any], name: str) -> str | None:
    for e in container.get("env") or []:
        if is_map(e) and e.get("name") == name:
            return e.get("value")
    return None
