"""Base models outside the capacity catalog: a declared shape or the model's own config.json,
maxModelLen checked against the model's context, and shape errors reported with the rest."""

from __future__ import annotations

import copy
import json

import pytest

from components.models import capacity
from components.models.shape import ShapeError, model_arch, read_config_file, shape_from_config
from components.models.spec import BaseModelSpec
from infra.config_loading import PlatformConfigError, load_platform_config, read_stack_file

# Llama-3.1-8B's config.json keys (the catalog's figures), to compare both routes.
LLAMA_8B_CONFIG = {
    "model_type": "llama", "num_hidden_layers": 32, "hidden_size": 4096, "num_attention_heads": 32,
    "num_key_value_heads": 8, "head_dim": 128, "intermediate_size": 14336, "vocab_size": 128256,
    "max_position_embeddings": 131072, "tie_word_embeddings": False,
}
PVC = {"kind": "pvc", "claimName": "w"}


def test_a_config_json_gives_the_catalogs_figures(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(LLAMA_8B_CONFIG))
    base = BaseModelSpec.model_validate({"configFile": "config.json", "source": PVC})
    arch = model_arch("llama", base, root=tmp_path)
    catalog = capacity.CATALOG["Llama-3.1-8B"]
    assert arch.parameters == catalog.parameters == 8_030_261_248
    assert arch.kv_bytes_per_token(2) == catalog.kv_bytes_per_token(2) == 131072
    assert arch.max_context == catalog.max_context == 131072


def test_a_declared_shape_is_planned():
    base = BaseModelSpec.model_validate({"shape": {"layers": 32, "hiddenSize": 4096, "attentionHeads": 32, "kvHeads": 32,
                                                   "intermediateSize": 11008, "vocabSize": 32000, "maxContext": 4096},
                                         "source": PVC})
    arch = model_arch("m", base)
    assert arch.head_dim == 128 and arch.parameters == arch.estimated_parameters() == 6_738_415_616
    budget = capacity.plan_vram(arch, "H100-80GB", max_model_len=4096)
    assert budget.fits and budget.kv_bytes_per_token == 32 * 32 * 128 * 2 * 2


def test_config_json_defaults_and_gaps():
    cfg = dict(LLAMA_8B_CONFIG)
    del cfg["num_key_value_heads"], cfg["head_dim"]
    shape = shape_from_config(cfg, "c.json")
    assert shape.kv_heads == 32 and shape.head_dim is None
    assert shape_from_config({**LLAMA_8B_CONFIG, "model_type": "qwen2"}, "c.json").qkv_bias is True
    del cfg["vocab_size"]
    with pytest.raises(ShapeError) as err:
        shape_from_config(cfg, "c.json")
    assert err.value.field == "configFile" and "lacks integer vocab_size" in str(err.value)
    with pytest.raises(ShapeError, match="does not exist"):
        read_config_file("no/such/config.json")


def test_one_description_only():
    with pytest.raises(ValueError, match="give only one of architecture, shape and configFile"):
        BaseModelSpec.model_validate({"architecture": "Llama-3.1-8B", "configFile": "c.json", "source": PVC})
    with pytest.raises(ValueError, match="say what the model is"):
        BaseModelSpec.model_validate({"source": PVC})


def _openshift() -> dict:
    sections, _ = read_stack_file("openshift")
    return copy.deepcopy(sections)


def _errors(sections) -> list[tuple[str, str]]:
    with pytest.raises(PlatformConfigError) as info:
        load_platform_config("openshift", sections)
    return [(i.path, i.message) for i in info.value.issues]


def test_max_model_len_beyond_the_context_is_refused():
    s = _openshift()
    s["serving"]["services"]["tsuzumi"]["engine"]["maxModelLen"] = 16384
    assert _errors(s) == [("serving.services.tsuzumi.engine.maxModelLen",
                           "16384 exceeds the maximum context of 'tsuzumi-base' (8192 tokens, "
                           "max_position_embeddings); vLLM refuses to start")]


def test_an_unknown_architecture_is_reported_with_every_other_error():
    s = _openshift()
    base = s["models"]["baseModels"]["tsuzumi-base"]
    del base["shape"]
    base["architecture"] = "tsuzumi-7b"
    s["serving"]["services"]["tsuzumi"]["auth"] = False   # an unrelated rule violation
    s["serving"]["services"]["tsuzumi"]["pool"] = "h100"  # and an unknown pool
    paths = [p for p, _ in _errors(s)]
    assert "models.baseModels.tsuzumi-base.architecture" in paths
    assert "serving.services.tsuzumi.auth" in paths and "serving.services.tsuzumi.pool" in paths
    message = dict(_errors(s))["models.baseModels.tsuzumi-base.architecture"]
    assert "no architecture 'tsuzumi-7b' in the capacity catalog" in message and "declare the model's shape" in message
