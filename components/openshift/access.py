"""Who may call a model service on OpenShift AI, and from where.

* **Callers** (``enable-auth`` on): kube-rbac-proxy admits a bearer token whose identity may
  ``get`` the InferenceService. Per service the program creates the trio the dashboard's token
  option creates (DASH ``packages/kserve/src/deployUtils.ts``, ``frontend/src/api/k8s/roles.ts``,
  ``secrets.ts``): ServiceAccount ``<isvc>-sa``, Role ``<isvc>-view-role`` (``get`` on that
  InferenceService only) and RoleBinding ``<isvc>-view``, plus one
  ``kubernetes.io/service-account-token`` Secret ``<isvc>-sa-token`` the token controller fills.
  The token never leaves the cluster through the program: clients read it with
  ``oc -n <ns> extract secret/<isvc>-sa-token --keys=token``.
* **Network** (one NetworkPolicy per service, beside the gate's, ``components.gate.network``):
  with auth, the proxy port 8443 is open (every caller is checked there) and the gate's metrics
  port only to OpenShift's user-workload Prometheus, so nothing reaches the gate's API port
  around the proxy (the proxy forwards to it inside the pod); without auth (then not exposed)
  the gate's API port is open to the project's own pods, its metrics port to Prometheus. The router's namespaces are selected by
  ``policy-group.network.openshift.io/ingress`` (CNO ``pkg/names/names.go``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.common.labels import standard_labels
from components.openshift.dashboard import AUTH_PROXY_PORT

USER_WORKLOAD_MONITORING_NAMESPACE = "openshift-user-workload-monitoring"
ROUTER_NAMESPACES = {"policy-group.network.openshift.io/ingress": ""}


@dataclass(frozen=True)
class ModelAccessArgs:
    service: str
    """InferenceService name. Required."""
    namespace: pulumi.Input[str]
    """Its namespace (the data science project). Required."""
    pod_labels: dict[str, str]
    """Labels selecting its predictor pods. Required."""
    api_port: int
    """The pod's OpenAI API port (the tenant gate's; kube-rbac-proxy forwards there). Required."""
    metrics_port: int
    """The gate's metrics port (vLLM's /metrics through it). Required."""
    auth: bool
    """kube-rbac-proxy in front of the gate. Required."""


def ingress_rules(api_port: int, metrics_port: int, auth: bool) -> list[dict[str, Any]]:
    """NetworkPolicy ingress rules of a predictor (see the module docstring)."""
    monitoring = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": USER_WORKLOAD_MONITORING_NAMESPACE}}}
    if auth:
        return [
            {"ports": [{"protocol": "TCP", "port": AUTH_PROXY_PORT}]},
            {"from": [monitoring], "ports": [{"protocol": "TCP", "port": metrics_port}]},
        ]
    return [{"from": [{"podSelector": {}}], "ports": [{"protocol": "TCP", "port": api_port}]},
            {"from": [monitoring], "ports": [{"protocol": "TCP", "port": metrics_port}]}]


class ModelAccess(pulumi.ComponentResource):
    """Caller identity and network policy of one model service."""

    token_secret_name: str | None
    """Secret holding the caller token (None without auth)."""

    def __init__(self, name: str, args: ModelAccessArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmplatform:openshift:ModelAccess", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        svc, ns = args.service, args.namespace
        labels = standard_labels("model-access", svc)
        k8s.networking.v1.NetworkPolicy(
            f"{name}-ingress",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{svc}-predictor", namespace=ns, labels=labels),
            spec={"podSelector": {"matchLabels": dict(args.pod_labels)}, "policyTypes": ["Ingress"],
                  "ingress": ingress_rules(args.api_port, args.metrics_port, args.auth)},
            opts=child,
        )
        self.token_secret_name = None
        if args.auth:
            sa = k8s.core.v1.ServiceAccount(
                f"{name}-sa", metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{svc}-sa", namespace=ns, labels=labels), opts=child)
            role = k8s.rbac.v1.Role(
                f"{name}-view-role",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{svc}-view-role", namespace=ns, labels=labels),
                rules=[k8s.rbac.v1.PolicyRuleArgs(api_groups=["serving.kserve.io"], resources=["inferenceservices"],
                                                  resource_names=[svc], verbs=["get"])],
                opts=child,
            )
            k8s.rbac.v1.RoleBinding(
                f"{name}-view",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{svc}-view", namespace=ns, labels=labels),
                role_ref=k8s.rbac.v1.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="Role", name=role.metadata.name),
                subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=sa.metadata.name, namespace=ns)],
                opts=child,
            )
            k8s.core.v1.Secret(
                f"{name}-token",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{svc}-sa-token", namespace=ns, labels=labels,
                                                    annotations={"kubernetes.io/service-account.name": f"{svc}-sa"}),
                type="kubernetes.io/service-account-token",
                opts=pulumi.ResourceOptions(parent=self, depends_on=[sa]),
            )
            self.token_secret_name = f"{svc}-sa-token"
        self.register_outputs({"tokenSecret": self.token_secret_name})
