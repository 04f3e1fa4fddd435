"""The air-gap layer: one stack transformation rewriting every workload for the internal mirror, offline mode and the trusted CA.

The public API of ``components.airgap``: its components and their args, which a program builds
from plain values (``from components.airgap import ...``). Pure functions stay in their modules.
"""

from components.airgap.airgap import AirgapArgs, AirgapTransforms

__all__ = [
    "AirgapArgs",
    "AirgapTransforms",
]
