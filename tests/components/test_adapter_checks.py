"""Pure adapter checks: what vLLM would refuse is refused at publish time, and the config is
rewritten so vLLM's filesystem resolver accepts the adapter."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from components.models.adapter_checks import (
    KSERVE_MODEL_PATH,
    AdapterCheckError,
    adapter_prefix,
    diff_inputs,
    plan_publish,
    prepare_adapter,
    republish_refusal,
)
from infra.config_loading import list_stacks, read_stack_file

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "adapters" / "llama-3.1-8b" / "sql" / "v2026-11-01"


def _copy(tmp_path: Path, **config_changes) -> Path:
    target = tmp_path / "adapter"
    shutil.copytree(FIXTURE, target)
    config = json.loads((target / "adapter_config.json").read_text())
    for key, value in config_changes.items():
        if value is _DROP:
            config.pop(key, None)
        else:
            config[key] = value
    (target / "adapter_config.json").write_text(json.dumps(config))
    return target


_DROP = object()


def test_every_stack_adapter_fixture_passes_the_checks():
    checked = 0
    for stack in list_stacks():
        sections, _ = read_stack_file(stack)
        for adapter in sections.get("models", {}).get("adapters", []):
            prepared = prepare_adapter(REPO / adapter["sourceDir"], adapter["rank"])
            config = json.loads(prepared.files["adapter_config.json"])
            assert config["base_model_name_or_path"] == KSERVE_MODEL_PATH
            assert config["r"] == adapter["rank"]
            assert set(prepared.files) == {"adapter_config.json", "adapter_model.safetensors"}
            checked += 1
    assert checked >= 5


def test_fixtures_are_reproducible_and_small():
    result = subprocess.run([sys.executable, str(REPO / "tools" / "make_test_adapters.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    for path in (REPO / "adapters").rglob("*"):
        if path.is_file():
            assert path.stat().st_size < 2_000_000, path


def test_safetensors_fixture_has_peft_lora_names_and_shapes():
    import struct

    data = (FIXTURE / "adapter_model.safetensors").read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    rank = json.loads((FIXTURE / "adapter_config.json").read_text())["r"]
    assert tensors and all(k.startswith("base_model.model.model.layers.") for k in tensors)
    for name, t in tensors.items():
        assert t["dtype"] == "F16"
        if name.endswith("lora_A.weight"):
            assert t["shape"][0] == rank
        else:
            assert name.endswith("lora_B.weight") and t["shape"][1] == rank
        start, end = t["data_offsets"]
        assert end - start == t["shape"][0] * t["shape"][1] * 2
    assert max(t["data_offsets"][1] for t in tensors.values()) == len(data) - 8 - n


def test_rewrite_sets_the_served_model_path_whatever_training_recorded(tmp_path):
    src = _copy(tmp_path, base_model_name_or_path="meta-llama/Llama-3.1-8B-Instruct")
    prepared = prepare_adapter(src, 16, model_path="/models/llama")
    assert json.loads(prepared.files["adapter_config.json"])["base_model_name_or_path"] == "/models/llama"
    # Deterministic bytes: the same adapter always hashes the same.
    assert prepare_adapter(src, 16, model_path="/models/llama").digests == prepared.digests


@pytest.mark.parametrize(
    "change, message",
    [
        ({"use_dora": True}, "use_dora is true"),
        ({"modules_to_save": ["lm_head"]}, "modules_to_save is ['lm_head']"),
        ({"r": 8}, "r is 8 but the stack declares rank 16"),
        ({"peft_type": "IA3"}, "peft_type is 'IA3'"),
        ({"target_modules": []}, "target_modules is []"),
        ({"lora_alpha": _DROP}, "lora_alpha is None"),
    ],
)
def test_bad_adapter_configs_are_refused_with_a_reason(tmp_path, change, message):
    src = _copy(tmp_path, **change)
    with pytest.raises(AdapterCheckError) as err:
        prepare_adapter(src, 16)
    assert message in str(err.value)


def test_several_problems_are_reported_together(tmp_path):
    src = _copy(tmp_path, use_dora=True, r=4)
    (src / "adapter_model.safetensors").unlink()
    with pytest.raises(AdapterCheckError) as err:
        prepare_adapter(src, 16)
    assert len(err.value.problems) == 3


def test_missing_weights_and_config_are_refused(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(AdapterCheckError, match="adapter_config.json is missing.*no weights file"):
        prepare_adapter(empty, 16)


def test_prefix_is_versioned_and_refuses_path_tricks():
    assert adapter_prefix("llama-3.1-8b", "sql", "v2026-11-01") == "adapters/llama-3.1-8b/sql/v2026-11-01/"
    for bad in ("..", "a/b", ""):
        with pytest.raises(ValueError):
            adapter_prefix("llama", bad, "v1")


def test_plan_uploads_only_missing_files_and_refuses_to_change_a_published_version():
    wanted = {"a": "1", "b": "2", "c": "3"}
    plan = plan_publish(wanted, {"a": "1", "b": None, "c": None})
    assert plan.upload == ("b", "c") and plan.unchanged == ("a",)
    assert plan_publish(wanted, dict(wanted)).upload == ()
    from components.models.adapter_checks import ImmutableVersionError
    with pytest.raises(ImmutableVersionError, match="v1/ is immutable: b is stored with sha256 x"):
        plan_publish(wanted, {"a": "1", "b": "x", "c": None}, prefix="adapters/base/a/v1/")


def test_diff_location_replaces_content_updates_credentials_ignored():
    old = {"endpoint": "http://e", "bucket": "adapters", "prefix": "adapters/b/a/v1/", "digests": {"x": "1"}, "mode": "upload"}
    assert diff_inputs(old, dict(old, accessKey="rotated")) == (False, [], [])
    assert diff_inputs(old, dict(old, digests={"x": "2"})) == (True, [], ["digests"])
    changes, replaces, _ = diff_inputs(old, dict(old, prefix="adapters/b/a/v2/"))
    assert changes and replaces == ["prefix"]


def test_republishing_a_version_with_new_content_is_refused_from_the_state():
    old = {"endpoint": "http://e", "bucket": "adapters", "prefix": "adapters/b/a/v1/",
           "digests": {"adapter_config.json": "1", "adapter_model.safetensors": "2"}, "mode": "upload"}
    refusal = republish_refusal(old, dict(old, digests={"adapter_config.json": "9", "adapter_model.safetensors": "2"}))
    assert refusal and "adapters/b/a/v1/" in refusal and "(adapter_config.json)" in refusal and "new version" in refusal
    assert republish_refusal(old, dict(old, accessKey="rotated")) is None  # nothing new to publish
    assert republish_refusal(old, dict(old, prefix="adapters/b/a/v2/", digests={"x": "3"})) is None  # a new version
    assert republish_refusal({}, old) is None  # first publish
    assert republish_refusal(dict(old, mode="verify"), dict(old, digests={"x": "3"})) is None  # nothing was uploaded


def test_provider_unpickles_in_a_process_without_the_repository_on_sys_path(tmp_path):
    """Pulumi runs dynamic providers in their own process (program directory infra/); the
    pickled provider must still find ``components`` there (the installed project, ``-I``: no
    PYTHONPATH, no sys.path edit) and publish (verify mode here). The pickle holds no code."""
    import base64

    from pulumi.dynamic.dynamic import serialize_provider

    from components.models.adapters import AdapterVersionProvider

    blob = serialize_provider(AdapterVersionProvider())
    assert b"eval" not in base64.b64decode(blob) and b"sys.path" not in base64.b64decode(blob)
    code = (
        "import base64, json, sys, dill\n"
        "p = dill.loads(base64.b64decode(sys.stdin.read()))\n"
        "props = json.loads(sys.argv[1])\n"
        "r = p.create(props)\n"
        "print(json.dumps({'id': r.id, 'outs': sorted(r.outs)}))\n"
    )
    props = {"sourceDir": str(FIXTURE), "rank": 16, "modelPath": KSERVE_MODEL_PATH, "endpoint": "http://verify-only.invalid",
             "bucket": "adapters", "prefix": "adapters/llama-3.1-8b/sql/v2026-11-01/", "region": "us-east-1",
             "verifySsl": True, "mode": "verify", "digests": prepare_adapter(FIXTURE, 16).digests,
             "accessKey": "k", "secretKey": "s"}
    result = subprocess.run([sys.executable, "-I", "-c", code, json.dumps(props)], input=blob, capture_output=True,
                            text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout)
    assert out["id"] == "adapters/adapters/llama-3.1-8b/sql/v2026-11-01/"
    assert "secretKey" not in out["outs"] and "uploaded" in out["outs"]


# ---------------------------------------------------------------- tensor checks against the base


def _write_weights(folder: Path, tensors: dict[str, list[int]]) -> None:
    import struct

    header: dict = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, shape in tensors.items():
        size = 2 * shape[0] * shape[1]
        header[name] = {"dtype": "F16", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    head = json.dumps(header).encode()
    (folder / "adapter_model.safetensors").write_bytes(struct.pack("<Q", len(head)) + head + bytes(offset))


def test_every_stack_adapter_fits_its_base_architecture():
    from components.models.shape import model_arch
    from components.models.spec import BaseModelSpec

    checked = 0
    for stack in list_stacks():
        sections, _ = read_stack_file(stack)
        bases = sections.get("models", {}).get("baseModels", {})
        for adapter in sections.get("models", {}).get("adapters", []):
            name = adapter["baseModel"]
            # A catalog architecture, a declared shape or a config.json (OpenShift's base model).
            arch = model_arch(name, BaseModelSpec.model_validate(bases[name]))
            prepare_adapter(REPO / adapter["sourceDir"], adapter["rank"], base=arch)
            checked += 1
    assert checked >= 5


@pytest.mark.parametrize("tensors, config_change, message", [
    ({"q_proj": ([16, 4096], [4096, 16]), "v_proj": ([16, 4096], [4096, 16])}, {}, "needs [1024, 16]"),
    ({"q_proj": ([8, 4096], [4096, 8])}, {"target_modules": ["q_proj"]}, "rank 16 on Llama-3.1-8B's q_proj (4096 -> 4096) needs [16, 4096]"),
    ({"q_proj": ([16, 64], [64, 16])}, {"target_modules": ["q_proj"]}, "has shape [16, 64]"),
    ({"c_attn": ([16, 4096], [4096, 16])}, {"target_modules": ["c_attn"]}, "Llama-3.1-8B has no module 'c_attn'"),
    ({"q_proj": ([16, 4096], [4096, 16])}, {"target_modules": ["q_proj", "query_key_value"]},
     "target module 'query_key_value' does not exist in Llama-3.1-8B"),
    ({"q_proj": ([16, 4096], None)}, {"target_modules": ["q_proj"]}, "lora_B is missing"),
])
def test_tensor_shapes_and_modules_are_checked_against_the_base(tmp_path, tensors, config_change, message):
    from components.models.capacity import get_arch

    src = _copy(tmp_path, **config_change)
    flat = {}
    for module, (a, b) in tensors.items():
        prefix = f"base_model.model.model.layers.0.self_attn.{module}"
        flat[f"{prefix}.lora_A.weight"] = a
        if b is not None:
            flat[f"{prefix}.lora_B.weight"] = b
    _write_weights(src, flat)
    with pytest.raises(AdapterCheckError, match=re.escape(message)):
        prepare_adapter(src, 16, base=get_arch("Llama-3.1-8B"))
    prepare_adapter(src, 16)  # without a base: only the config checks


def test_layers_beyond_the_base_are_refused(tmp_path):
    from components.models.capacity import get_arch

    src = _copy(tmp_path, target_modules=["q_proj"])
    _write_weights(src, {"base_model.model.model.layers.32.self_attn.q_proj.lora_A.weight": [16, 4096],
                         "base_model.model.model.layers.32.self_attn.q_proj.lora_B.weight": [4096, 16]})
    with pytest.raises(AdapterCheckError, match="layer 32 does not exist"):
        prepare_adapter(src, 16, base=get_arch("Llama-3.1-8B"))


@pytest.mark.parametrize("damage, message", [
    (lambda w: w[: len(w) // 2], "outside the 212668-byte data buffer"),
    (lambda w: w + b"\0" * 8, "is not a valid safetensors file (8 bytes after the last tensor)"),
    (lambda w: b"\x80\x04\x95" + b"\0" * 64, "is not a valid safetensors file (header length"),
])
def test_a_broken_safetensors_file_is_refused_once_with_or_without_the_base(tmp_path, damage, message):
    """One format check serves both paths: the base's shape checks only read a header that is valid."""
    from components.models.capacity import get_arch

    src = _copy(tmp_path)
    weights = src / "adapter_model.safetensors"
    weights.write_bytes(damage(weights.read_bytes()))
    for base in (None, get_arch("Llama-3.1-8B")):
        with pytest.raises(AdapterCheckError) as info:
            prepare_adapter(src, 16, base=base)
        assert len(info.value.problems) == 1 and message in info.value.problems[0], info.value.problems
