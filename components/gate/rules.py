"""Config rules of tenants, the gate and the NetworkPolicies (each a (field path, message) pair)."""

from __future__ import annotations

from typing import Mapping, Sequence

from components.gate.haproxy import grant_problems
from components.gate.spec import GateSpec, TenantSpec


def tenant_rules(tenants: Mapping[str, TenantSpec], served: Mapping[str, Sequence[str]]) -> list[tuple[str, str]]:
    """``served``: every service's base served name -> its adapters' served names."""
    issues = []
    for name, tenant in tenants.items():
        path = f"tenants.{name}"
        for i, pattern in enumerate(tenant.grants):
            problem = grant_problems(pattern, served)
            if problem:
                issues.append((f"{path}.grants[{i}]", problem))
    return issues


def gate_rules(gate: GateSpec, *, path: str = "gate") -> list[tuple[str, str]]:
    """The gate's own ports against the ports the platform's frontends already use in the pod.
    ``path``: where the spec sits (``gate`` in the stack, ``spec`` in ``ServiceGateArgs``)."""
    issues = []
    ports = {"vllmPort": gate.vllm_port, "metricsPort": gate.metrics_port}
    reserved = {8000: "the llm-d pool / LeaderWorkerSet port", 8080: "the KServe port", 8200: "llm-d's routing sidecar target",
                8012: "Knative's queue-proxy", 8022: "Knative's queue-proxy admin port", 9090: "Knative's queue-proxy metrics",
                9091: "Knative's queue-proxy user metrics"}
    for key, port in ports.items():
        if port in reserved:
            issues.append((f"{path}.{key}", f"{port} is {reserved[port]}, where the gate itself listens; choose another port"))
    if gate.vllm_port == gate.metrics_port:
        issues.append((f"{path}.metricsPort", f"equals {path}.vllmPort ({gate.vllm_port})"))
    return issues
