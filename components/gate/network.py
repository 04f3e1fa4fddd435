"""NetworkPolicies that make the gate the only way to a model server and the sync path the only
way to MinIO. Ingress only: every namespace the platform serves from gets a default deny, then
one allow rule per legitimate caller.

Serving namespace:

* ``default-deny-ingress``: every pod, no ingress.
* ``<svc>-gate-clients``: the service's model-server pods, on the gate's client port only, from
  the client namespaces (ingress, gateway, Knative) and from pods of the serving namespace (the
  llm-d gateway proxy and endpoint picker run there). On Knative, the queue-proxy's port instead
  (it forwards to the gate inside the pod).
* ``<svc>-gate-metrics``: the same pods, on the gate's metrics port (and the queue-proxy's
  metrics ports on Knative), from the monitoring namespace only.
* ``<svc>-multinode``: a LeaderWorkerSet's pods from each other (pipeline stages).

Object-store namespace (MinIO):

* ``default-deny-ingress``.
* ``object-store-api``: MinIO's API port from the serving namespace (sync sidecars, storage
  initializer), the setup Job's pods, and the publishing path (``network.publishCidrs`` /
  ``publishNamespaces``; a port-forward is not subject to NetworkPolicies).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.common.labels import standard_labels

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
KNATIVE_QUEUE_PORT = 8012
"""Knative's queue-proxy: the port activator and ingress send requests to."""
KNATIVE_QUEUE_METRICS_PORTS = (9090, 9091)
"""Knative's queue-proxy autoscaling and user metrics ports."""


def namespaces_selector(names: Sequence[str]) -> dict[str, Any]:
    return {"namespaceSelector": {"matchExpressions": [
        {"key": NAMESPACE_NAME_LABEL, "operator": "In", "values": sorted(set(names))}]}}


def default_deny() -> dict[str, Any]:
    return {"podSelector": {}, "policyTypes": ["Ingress"]}


@dataclass(frozen=True)
class GatedService:
    """What a NetworkPolicy needs of one model service."""

    name: str
    """Service name."""
    pod_labels: Mapping[str, str]
    """Labels selecting all of the service's model-server pods."""
    client_port: int
    """Port clients (and the frontend) reach the gate on."""
    metrics_port: int
    """The gate's metrics port."""
    knative: bool = False
    """Pods run under Knative (traffic enters through queue-proxy)."""
    multinode: bool = False
    """Pods are a LeaderWorkerSet group that talk to each other."""


def client_policy(svc: GatedService, namespace: str, client_namespaces: Sequence[str]) -> dict[str, Any]:
    port = KNATIVE_QUEUE_PORT if svc.knative else svc.client_port
    return {
        "podSelector": {"matchLabels": dict(svc.pod_labels)},
        "policyTypes": ["Ingress"],
        "ingress": [{
            "from": [namespaces_selector([*client_namespaces, namespace]) | {"podSelector": {}}],
            "ports": [{"protocol": "TCP", "port": port}],
        }],
    }


def metrics_policy(svc: GatedService, monitoring_namespace: str) -> dict[str, Any]:
    ports = [svc.metrics_port, *(KNATIVE_QUEUE_METRICS_PORTS if svc.knative else ())]
    return {
        "podSelector": {"matchLabels": dict(svc.pod_labels)},
        "policyTypes": ["Ingress"],
        "ingress": [{"from": [namespaces_selector([monitoring_namespace])],
                     "ports": [{"protocol": "TCP", "port": p} for p in ports]}],
    }


def group_policy(svc: GatedService) -> dict[str, Any]:
    return {
        "podSelector": {"matchLabels": dict(svc.pod_labels)},
        "policyTypes": ["Ingress"],
        "ingress": [{"from": [{"podSelector": {"matchLabels": dict(svc.pod_labels)}}]}],
    }


def object_store_policy(serving_namespace: str, setup_labels: Mapping[str, str], api_port: int,
                        publish_cidrs: Sequence[str], publish_namespaces: Sequence[str]) -> dict[str, Any]:
    peers: list[dict[str, Any]] = [
        namespaces_selector([serving_namespace]) | {"podSelector": {}},
        {"podSelector": {"matchLabels": dict(setup_labels)}},
    ]
    if publish_namespaces:
        peers.append(namespaces_selector(publish_namespaces) | {"podSelector": {}})
    peers += [{"ipBlock": {"cidr": c}} for c in publish_cidrs]
    return {
        "podSelector": {},
        "policyTypes": ["Ingress"],
        "ingress": [{"from": peers, "ports": [{"protocol": "TCP", "port": api_port}]}],
    }


@dataclass(frozen=True)
class NetworkPoliciesArgs:
    serving_namespace: pulumi.Input[str]
    """Serving namespace (Output: policies wait for it)."""
    serving_namespace_name: str
    """The same, as text."""
    services: Sequence[GatedService]
    """Every gated model service."""
    client_namespaces: Sequence[str]
    """``network.clientNamespaces``."""
    monitoring_namespace: str
    """``network.monitoringNamespace``."""
    object_store_namespace: pulumi.Input[str] | None = None
    """MinIO's namespace, when this stack runs MinIO."""
    object_store_setup_labels: Mapping[str, str] = field(default_factory=dict)
    """Labels of MinIO's setup Job pods."""
    object_store_port: int = 9000
    """MinIO's API port."""
    publish_cidrs: Sequence[str] = ()
    """``network.publishCidrs``."""
    publish_namespaces: Sequence[str] = ()
    """``network.publishNamespaces``."""


class PlatformNetworkPolicies(pulumi.ComponentResource):
    """The NetworkPolicies above."""

    def __init__(self, name: str, args: NetworkPoliciesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmplatform:gate:NetworkPolicies", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        def policy(resource: str, k8s_name: str, namespace: pulumi.Input[str], spec: dict[str, Any], instance: str | None = None):
            k8s.networking.v1.NetworkPolicy(
                resource,
                metadata=k8s.meta.v1.ObjectMetaArgs(name=k8s_name, namespace=namespace,
                                                    labels=standard_labels("network-policy", instance)),
                spec=spec,
                opts=child,
            )

        ns = args.serving_namespace
        policy(f"{name}-serving-deny", "default-deny-ingress", ns, default_deny())
        for svc in sorted(args.services, key=lambda s: s.name):
            policy(f"{name}-{svc.name}-clients", f"{svc.name}-gate-clients", ns,
                   client_policy(svc, args.serving_namespace_name, args.client_namespaces), svc.name)
            policy(f"{name}-{svc.name}-metrics", f"{svc.name}-gate-metrics", ns,
                   metrics_policy(svc, args.monitoring_namespace), svc.name)
            if svc.multinode:
                policy(f"{name}-{svc.name}-group", f"{svc.name}-multinode", ns, group_policy(svc), svc.name)
        if args.object_store_namespace is not None:
            store = args.object_store_namespace
            policy(f"{name}-store-deny", "default-deny-ingress", store, default_deny())
            policy(f"{name}-store-api", "object-store-api", store,
                   object_store_policy(args.serving_namespace_name, args.object_store_setup_labels, args.object_store_port,
                                       args.publish_cidrs, args.publish_namespaces))
        self.register_outputs({})
