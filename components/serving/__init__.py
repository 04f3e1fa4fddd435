"""The serving layer: KServe, KEDA, LeaderWorkerSet, llm-d and the vLLM server pod they all render.

The public API of ``components.serving``: its components and their args, which a program builds
from plain values (``from components.serving import ...``). Pure functions stay in their modules.
"""

from components.serving.kserve import KServe, KServeArgs, KnativeArgs
from components.serving.keda import Keda, KedaArgs
from components.serving.lws import LeaderWorkerSetController, LwsArgs
from components.serving.llmd import LlmD, LlmdArgs, LlmdModelService, LlmdModelServiceArgs
from components.serving.multinode import MultiNodeArgs, MultiNodeVllm
from components.serving.vllm_pod import ModelMount, VllmServerPod

__all__ = [
    "KServe",
    "KServeArgs",
    "Keda",
    "KedaArgs",
    "KnativeArgs",
    "LeaderWorkerSetController",
    "LlmD",
    "LlmdArgs",
    "LlmdModelService",
    "LlmdModelServiceArgs",
    "LwsArgs",
    "ModelMount",
    "MultiNodeArgs",
    "MultiNodeVllm",
    "VllmServerPod",
]
