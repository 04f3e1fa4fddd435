"""The gate layer's wiring: tenant keys once per stack, a ``ServiceGate`` per model service (the
models layer puts its container into the service's pods), and the NetworkPolicies once every
service is known.

Stack output ``tenantKeys.<tenant>.<key name>`` (secret) is what tenants are handed; the cluster
only ever sees their SHA-256.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi

from components.gate.gate import ServiceGate, ServiceGateArgs, TenantKeys
from components.gate.network import GatedService, NetworkPoliciesArgs, PlatformNetworkPolicies
from infra.context import BuildContext


@dataclass
class GateLayer:
    """Tenant keys and every service's gate."""

    keys: TenantKeys | None = None
    """Tenant keys (None when the stack declares no tenant)."""
    gates: dict[str, ServiceGate] = field(default_factory=dict)
    """Service name -> its gate."""
    gated: list[GatedService] = field(default_factory=list)
    """What the NetworkPolicies select, filled in as services are built."""


def build(ctx: BuildContext) -> GateLayer:
    cfg = ctx.cfg
    layer = GateLayer()
    if cfg.tenants:
        layer.keys = TenantKeys("tenants", cfg.tenants, ctx.k8s_opts())
        ctx.exports["tenantKeys"] = {t: dict(keys) for t, keys in layer.keys.keys.items()}
    return layer


def service_gate(ctx: BuildContext, layer: GateLayer, service: str, listen_port: int,
                 vllm_key_secret: pulumi.Input[str] | None, metrics_on_client_port: bool = False) -> ServiceGate:
    """The gate of ``service``, listening on ``listen_port`` (the port its frontend routes to)."""
    from infra.layers.serving import image

    cfg = ctx.cfg
    base = cfg.served_name(service)
    gate = ServiceGate(f"{service}-gate", ServiceGateArgs(
        service=service, namespace=ctx.namespace(cfg.serving.namespace),
        spec=cfg.gate.model_copy(update={"image": image(cfg, cfg.gate.image)}),
        tenants=dict(cfg.tenants), key_hashes=dict(layer.keys.hashes) if layer.keys else {},
        served={base: cfg.served_models()[base]}, listen_port=listen_port, vllm_key_secret=vllm_key_secret,
        metrics_on_client_port=metrics_on_client_port,
    ), ctx.k8s_opts())
    layer.gates[service] = gate
    return gate


def network_policies(ctx: BuildContext, layer: GateLayer, object_store_namespace: str | None,
                     object_store_setup_labels: dict[str, str]) -> None:
    cfg = ctx.cfg
    n = cfg.network
    if not n.enabled or not cfg.serving.services:
        return
    PlatformNetworkPolicies("network", NetworkPoliciesArgs(
        serving_namespace=ctx.namespace(cfg.serving.namespace), serving_namespace_name=cfg.serving.namespace,
        services=list(layer.gated), client_namespaces=list(n.client_namespaces), monitoring_namespace=n.monitoring_namespace,
        object_store_namespace=ctx.namespace(object_store_namespace) if object_store_namespace else None,
        object_store_setup_labels=object_store_setup_labels,
        publish_cidrs=list(n.publish_cidrs), publish_namespaces=list(n.publish_namespaces),
    ), ctx.k8s_opts())
