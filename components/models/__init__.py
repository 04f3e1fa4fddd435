"""The models layer: base model weights, adapter publishing and the vLLM multi-LoRA service.

The public API of ``components.models``: its components and their args, which a program builds
from plain values (``from components.models import ...``). Pure functions stay in their modules.
"""

from components.models.vllm_service import VllmLoraService, VllmLoraServiceArgs
from components.models.adapters import AdapterCatalog, AdapterCatalogArgs
from components.models.lora_server import AdapterRegistry, AdapterStoreRef
from components.models.weights import ModelWeights, ModelWeightsArgs
from components.models.spec import AdapterSpec, BaseModelSpec, LoraServiceSpec

__all__ = [
    "AdapterCatalog",
    "AdapterCatalogArgs",
    "AdapterRegistry",
    "AdapterSpec",
    "AdapterStoreRef",
    "BaseModelSpec",
    "LoraServiceSpec",
    "ModelWeights",
    "ModelWeightsArgs",
    "VllmLoraService",
    "VllmLoraServiceArgs",
]
