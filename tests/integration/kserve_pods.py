"""The pod KServe's predictor reconciler would create for an InferenceService, reduced to what
kube-scheduler reads (placement and resources). Shared by the scheduling tests."""

from __future__ import annotations

import copy

# Fields of a KServe component spec that are PodSpec fields (KServe inlines corev1.PodSpec).
POD_SPEC_FIELDS = {
    "nodeSelector", "tolerations", "affinity", "securityContext", "serviceAccountName",
    "imagePullSecrets", "priorityClassName", "runtimeClassName", "schedulerName",
    "topologySpreadConstraints", "hostIPC", "hostPID", "hostNetwork", "dnsPolicy",
    "enableServiceLinks", "automountServiceAccountToken", "terminationGracePeriodSeconds",
    "resourceClaims",
}
PLACEHOLDER_IMAGE = "registry.invalid/kserve-container:test"  # never pulled: kwok runs no containers


def ints(value):
    """Mock synthesis carries numbers as floats (protobuf Struct); the API wants integers."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [ints(v) for v in value]
    return value


def predictor_pod(isvc: dict, namespace: str, runtime_image: str | None = None,
                  name: str | None = None) -> dict:
    """Pod for ``isvc``'s predictor: its PodSpec fields plus a ``kserve-container`` carrying the
    model's resources (and any extra predictor containers). Volumes are left out: a PVC-backed
    model volume needs a bound claim, and scheduling by placement and resources is the point."""
    predictor = ints(copy.deepcopy(isvc["spec"]["predictor"]))
    spec = {k: v for k, v in predictor.items() if k in POD_SPEC_FIELDS}
    containers = []
    if "model" in predictor:
        containers.append({"name": "kserve-container", "image": runtime_image or PLACEHOLDER_IMAGE,
                           "resources": predictor["model"].get("resources", {})})
    for c in predictor.get("containers", []):
        containers.append({"name": c["name"], "image": c.get("image") or PLACEHOLDER_IMAGE,
                           "resources": c.get("resources", {})})
    spec["containers"] = containers
    spec["automountServiceAccountToken"] = False
    spec["terminationGracePeriodSeconds"] = 0
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name or f"{isvc['metadata']['name']}-predictor-it", "namespace": namespace,
                     "labels": {"serving.kserve.io/inferenceservice": isvc["metadata"]["name"]}},
        "spec": spec,
    }


def scheduled_condition(pod: dict) -> dict:
    return next((c for c in pod.get("status", {}).get("conditions", []) if c["type"] == "PodScheduled"), {})
