"""The platform layer: the namespaces the platform's workloads live in.

The public API of ``components.platform``: its components and their args, which a program builds
from plain values (``from components.platform import ...``). Pure functions stay in their modules.
"""

from components.platform.namespaces import NamespacesArgs, PlatformNamespaces

__all__ = [
    "NamespacesArgs",
    "PlatformNamespaces",
]
