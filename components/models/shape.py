"""What a base model is, for the capacity planner: a catalog architecture, a declared shape, or
the dimensions read from the model's own ``config.json`` (Hugging Face keys). Pure functions."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from components.models import capacity
from components.models.spec import BaseModelSpec, ModelShapeSpec

PROJECT_ROOT = Path(__file__).resolve().parents[2]
"""``configFile`` paths are relative to the project root, like adapter ``sourceDir``s."""

# config.json key -> ModelShapeSpec field (HF transformers' LlamaConfig/Qwen2Config/MistralConfig names).
_CONFIG_KEYS = {
    "num_hidden_layers": "layers",
    "hidden_size": "hidden_size",
    "num_attention_heads": "attention_heads",
    "intermediate_size": "intermediate_size",
    "vocab_size": "vocab_size",
    "max_position_embeddings": "max_context",
}


class ShapeError(ValueError):
    """A base model's description cannot be turned into dimensions. ``field`` is the
    ``models.baseModels.<name>`` subfield at fault."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(message)


def shape_from_config(config: dict, source: str) -> ModelShapeSpec:
    """A shape from the keys of a Hugging Face ``config.json`` (``source`` names it in errors)."""
    missing = [k for k in _CONFIG_KEYS if not isinstance(config.get(k), int)]
    if missing:
        raise ShapeError("configFile", f"{source} lacks integer {', '.join(missing)} (a dense decoder-only "
                                       "model's config.json has them)")
    values = {field: config[key] for key, field in _CONFIG_KEYS.items()}
    values["kv_heads"] = config.get("num_key_value_heads") or config["num_attention_heads"]
    if isinstance(config.get("head_dim"), int):
        values["head_dim"] = config["head_dim"]
    values["tie_word_embeddings"] = bool(config.get("tie_word_embeddings", False))
    # Qwen2 configs carry no flag: their q/k/v projections always have biases.
    values["qkv_bias"] = bool(config.get("attention_bias", False)) or config.get("model_type") == "qwen2"
    try:
        return ModelShapeSpec(**values)
    except ValueError as exc:
        raise ShapeError("configFile", f"{source}: {exc}") from None


def read_config_file(relative: str, root: Path = PROJECT_ROOT) -> ModelShapeSpec:
    path = root / relative
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise ShapeError("configFile", f"{relative!r} does not exist (relative to the project root)") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ShapeError("configFile", f"{relative!r} is not readable JSON: {exc}") from None
    if not isinstance(config, dict):
        raise ShapeError("configFile", f"{relative!r} is not a JSON object")
    return shape_from_config(config, relative)


def arch_from_shape(name: str, shape: ModelShapeSpec, source: str) -> capacity.ModelArch:
    arch = capacity.ModelArch(
        name, 0, layers=shape.layers, hidden_size=shape.hidden_size, attention_heads=shape.attention_heads,
        kv_heads=shape.kv_heads, head_dim=shape.head_dim or shape.hidden_size // shape.attention_heads,
        intermediate_size=shape.intermediate_size, vocab_size=shape.vocab_size,
        tie_word_embeddings=shape.tie_word_embeddings, qkv_bias=shape.qkv_bias, max_context=shape.max_context,
        source=source)
    return replace(arch, parameters=shape.parameters or arch.estimated_parameters())


def model_arch(name: str, base: BaseModelSpec, root: Path = PROJECT_ROOT) -> capacity.ModelArch:
    """The planner's architecture of base model ``name`` (raises ShapeError)."""
    if base.architecture is not None:
        try:
            return capacity.get_arch(base.architecture)
        except KeyError as exc:
            raise ShapeError("architecture", f"{str(exc).strip(chr(39) + chr(34))}; or declare the model's shape "
                                             "or configFile instead") from None
    if base.shape is not None:
        return arch_from_shape(name, base.shape, "declared shape")
    assert base.config_file is not None
    return arch_from_shape(name, read_config_file(base.config_file, root), base.config_file)
