"""The GPU layer: Karpenter GPU pools, GPU sharing (time-slicing, MIG, DRA) and the GPU controllers.

The public API of ``components.gpu``: its components and their args, which a program builds
from plain values (``from components.gpu import ...``). Pure functions stay in their modules.
"""

from components.gpu.node_pool import GpuNodePool, GpuNodePoolArgs
from components.gpu.karpenter import KarpenterArgs, KarpenterController
from components.gpu.operator import GpuOperator, GpuOperatorArgs
from components.gpu.dra import DraDriver, DraDriverArgs
from components.gpu.sharing_config import GpuSharingConfig, GpuSharingConfigArgs
from components.gpu.placement import PodPlacement, placement_for
from components.gpu.pool_ref import GpuPoolRef
from components.gpu.spec import GpuPoolSpec

__all__ = [
    "DraDriver",
    "DraDriverArgs",
    "GpuNodePool",
    "GpuNodePoolArgs",
    "GpuOperator",
    "GpuOperatorArgs",
    "GpuPoolRef",
    "GpuPoolSpec",
    "GpuSharingConfig",
    "GpuSharingConfigArgs",
    "KarpenterArgs",
    "KarpenterController",
    "PodPlacement",
    "placement_for",
]
