"""The tenant gate: who may call which adapter, enforced by HAProxy in front of every vLLM, and
the NetworkPolicies that leave the gate as the only way in.

The public API of ``components.gate``: its components and their args, which a program builds
from plain values (``from components.gate import ...``). Pure renderers stay in their modules.
"""

from components.gate.gate import GateSidecar, ServiceGate, ServiceGateArgs, TenantKeys
from components.gate.network import PlatformNetworkPolicies
from components.gate.spec import GateSpec, NetworkSpec, TenantSpec

__all__ = [
    "GateSidecar",
    "GateSpec",
    "NetworkSpec",
    "PlatformNetworkPolicies",
    "ServiceGate",
    "ServiceGateArgs",
    "TenantKeys",
    "TenantSpec",
]
