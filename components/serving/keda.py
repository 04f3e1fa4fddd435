"""KEDA: the controller (pinned chart) and the one helper that declares a ScaledObject.

Standard-mode services scale on vLLM's own queue gauges through KEDA's Prometheus scaler.
KServe can create the ScaledObject itself (``serving.kserve.io/autoscalerClass: keda`` and an
External metric); llm-d model services get theirs from ``scaled_object`` directly. Either way
the query comes from ``components.observability.promql`` so it is scoped to the service and
returns one series, which KEDA requires.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.common.helm import ChartRef, helm_release

API_VERSION = "keda.sh/v1alpha1"


@dataclass(frozen=True)
class KedaArgs:
    """The KEDA controller."""

    namespace: str
    """Namespace of the operator and metrics server (created by the release). Required."""
    chart: ChartRef
    """``keda`` chart. Required."""
    values: Mapping[str, Any] = field(default_factory=dict)
    """Extra chart values (e.g. image registry overrides for a mirror). Default: none (the chart's
    defaults)."""
    depends_on: Sequence[pulumi.Resource] = ()
    """Resources to wait for. Default: none."""


class Keda(pulumi.ComponentResource):
    """The KEDA operator, its CRDs (from the chart) and its external metrics API server."""

    release: k8s.helm.v3.Release
    """The Helm release; ScaledObjects depend on it."""
    ready: list[pulumi.Resource]
    """Resources a ScaledObject must wait for."""

    def __init__(self, name: str, args: KedaArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmplatform:serving:Keda", name, None, opts)
        # Helm keeps annotated CRDs on uninstall: removing KEDA must not delete every ScaledObject.
        values = {"crds": {"install": True, "additionalAnnotations": {"helm.sh/resource-policy": "keep"}}, **dict(args.values)}
        self.release = helm_release(name, args.chart, args.namespace, values,
                                    pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)))
        self.ready = [self.release]
        self.register_outputs({"namespace": args.namespace})


def scaled_object_spec(*, target: str, min_replicas: int, max_replicas: int, server_address: str, query: str,
                       threshold: float, activation_threshold: float | None = None, target_kind: str = "Deployment",
                       polling_seconds: int = 15, cooldown_seconds: int = 300) -> dict[str, Any]:
    """ScaledObject spec: a Prometheus trigger on ``query`` against ``target``."""
    if not 0 < min_replicas <= max_replicas:
        raise ValueError(f"ScaledObject for {target}: need 0 < minReplicas <= maxReplicas, got {min_replicas}..{max_replicas}")
    metadata = {"serverAddress": server_address, "query": query, "threshold": _num(threshold)}
    if activation_threshold is not None:
        metadata["activationThreshold"] = _num(activation_threshold)
    return {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": target_kind, "name": target},
        "minReplicaCount": min_replicas,
        "maxReplicaCount": max_replicas,
        "pollingInterval": polling_seconds,
        "cooldownPeriod": cooldown_seconds,
        "triggers": [{"type": "prometheus", "metadata": metadata}],
    }


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def scaled_object(resource_name: str, *, name: str, namespace: pulumi.Input[str], target: str, min_replicas: int,
                  max_replicas: int, server_address: str, query: str, threshold: float,
                  labels: Mapping[str, str], target_kind: str = "Deployment",
                  opts: pulumi.ResourceOptions | None = None) -> k8s.apiextensions.CustomResource:
    """Declare a ScaledObject (keda.sh/v1alpha1); pass ``depends_on`` the KEDA release and the target."""
    return k8s.apiextensions.CustomResource(
        resource_name,
        api_version=API_VERSION,
        kind="ScaledObject",
        metadata={"name": name, "namespace": namespace, "labels": dict(labels)},
        spec=scaled_object_spec(target=target, min_replicas=min_replicas, max_replicas=max_replicas,
                                server_address=server_address, query=query, threshold=threshold,
                                target_kind=target_kind),
        opts=opts,
    )
