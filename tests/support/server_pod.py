"""A ``VllmServerPod`` for frontend tests, from the few fields they vary."""

from __future__ import annotations

from typing import Any, Sequence

from components.common.images import ImageRef
from components.gpu.placement import PodPlacement
from components.serving.vllm_pod import ModelMount, VllmServerPod

VLLM_IMAGE = ImageRef.parse("docker.io/vllm/vllm-openai:v0.33.0")


def _port(args: Sequence[str], default: int) -> int:
    for i, a in enumerate(args):
        if a.startswith("--port="):
            return int(a.split("=", 1)[1])
        if a == "--port" and i + 1 < len(args):
            return int(args[i + 1])
    return default


def server_pod(vllm_args: Sequence[str], placement: PodPlacement, model_uri: str = "pvc://weights/model",
               port: int | None = None, downloader: ImageRef | None = None, **fields: Any) -> VllmServerPod:
    """``port`` defaults to the ``--port`` in ``vllm_args`` (8000 when absent)."""
    return VllmServerPod(image=VLLM_IMAGE, args=tuple(vllm_args), env=(), port=port or _port(vllm_args, 8000),
                         model=ModelMount(uri=model_uri, downloader=downloader), placement=placement,
                         cpu=fields.pop("cpu", "8"), memory=fields.pop("memory", "64Gi"), **fields)
