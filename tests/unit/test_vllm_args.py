"""vLLM argument spec, checker and builder, against the pinned vLLM 0.33.0 spec."""

from __future__ import annotations

import json
from pathlib import Path
from typing import get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.models.vllm_args import (
    PINNED_VLLM_VERSION,
    SPEC_DIR,
    KvCacheDtype,
    LoraModule,
    MaxLoraRank,
    ModelDtype,
    Quantization,
    StructuredOutputsBackend,
    VllmArgsError,
    VllmEngineOptions,
    check_args,
    load_argspec,
    spec_values,
)

ROOT = Path(__file__).resolve().parents[2]
SPEC = load_argspec(PINNED_VLLM_VERSION)


# ---------------------------------------------------------------- the spec


def test_spec_provenance():
    assert SPEC.vllm_version == "0.33.0"
    assert SPEC.runtime_image == "vllm/vllm-openai:v0.33.0"
    src = SPEC.source
    assert src["file"] == "vllm-0.33.0-cp38-abi3-manylinux_2_28_x86_64.whl"
    # the wheel dumped is the one install.sh pins
    pin = (ROOT / "tools" / "vllm-argspec" / "requirements.txt").read_text()
    assert f"vllm==0.33.0 --hash=sha256:{src['sha256']}" in pin
    raw = json.loads((SPEC_DIR / "vllm-0.33.0.json").read_text())
    assert raw["derived_by"] == "tools/vllm-argspec/dump.py"
    assert "site" not in src  # no machine-specific path in the committed file


def test_committed_spec_is_in_canonical_form():
    # dump.py writes sorted keys, indent 1, no timestamps: a rerun is byte-identical.
    text = (SPEC_DIR / "vllm-0.33.0.json").read_text()
    assert json.dumps(json.loads(text), indent=1, sort_keys=True, ensure_ascii=False) + "\n" == text


def test_spec_facts_from_vllm_source():
    rank = SPEC.flag("--max-lora-rank")
    assert (rank.type, rank.choices, rank.default) == ("int", (1, 8, 16, 32, 64, 128, 256, 320, 512), 16)
    assert SPEC.flag("--max-loras").constraints == {"ge": 1}
    lora = SPEC.flag("--enable-lora")
    assert lora.bool_flag and set(lora.negations) == {"--no-enable-lora", "--disable-lora"}
    gmu = SPEC.flag("--gpu-memory-utilization")
    assert (gmu.type, gmu.default, dict(gmu.constraints)) == ("float", 0.92, {"gt": 0, "le": 1})
    assert SPEC.flag("--device-memory-utilization") is gmu
    assert SPEC.flag("-tp").name == "--tensor-parallel-size"
    assert SPEC.flag("--served-model-name").nargs == "+"
    assert SPEC.flag("--port").default == 8000
    assert SPEC.flag("--lora-modules").action == "custom:LoRAParserAction"
    # kv-cache-dtype is "CacheDType | str": argparse enforces nothing, vLLM validates later
    kv = SPEC.flag("--kv-cache-dtype")
    assert kv.choices is None and {"auto", "fp8", "fp8_e4m3", "fp8_e5m2"} <= set(kv.known_values)
    # the structured-outputs backend is a key of a JSON flag in 0.33, not a flag
    assert spec_values(SPEC, "--structured-outputs-config", "backend") == get_args(StructuredOutputsBackend)
    assert "--guided-decoding-backend" not in SPEC.lookup


def test_spec_facts_only_the_real_parser_showed():
    # EnableDisableAction keeps --no-disable-x registered (hidden from help) next to --enable-x
    cascade = SPEC.flag("--disable-cascade-attn")
    assert cascade.negations == ("--no-disable-cascade-attn", "--enable-cascade-attn")
    # a JSON key typed "SequencePoolingType | TokenPoolingType": pydantic accepts both Literals
    pooling = SPEC.flag("--pooler-config").json_fields["pooling_type"]
    assert pooling["choices"] == ["ALL", "CLS", "LAST", "MEAN", "STEP"]
    # defaults computed by default factories on the CUDA platform
    assert SPEC.flag("--kv-transfer-config").json_fields["kv_buffer_device"]["default"] == "cuda"
    assert SPEC.flag("--mm-processor-device").choices == ("auto", "cpu", "cuda")


@pytest.mark.parametrize("literal, flag, key", [
    (KvCacheDtype, "--kv-cache-dtype", None),
    (Quantization, "--quantization", None),
    (ModelDtype, "--dtype", None),
    (StructuredOutputsBackend, "--structured-outputs-config", "backend"),
    (MaxLoraRank, "--max-lora-rank", None),
])
def test_builder_literals_equal_the_pinned_spec(literal, flag, key):
    assert sorted(map(str, get_args(literal))) == sorted(map(str, spec_values(SPEC, flag, key)))


def test_unknown_version():
    with pytest.raises(FileNotFoundError, match="have: 0.33.0"):
        load_argspec("0.1.0")


# ---------------------------------------------------------------- the checker


@pytest.mark.parametrize("args", [
    # KServe's kserve-vllmserver runtime args
    ["--port=8080", "--served-model-name=llama", "--model=/mnt/models"],
    # the InferenceService example of the research notes
    ["--enable-lora", "--max-loras=8", "--max-cpu-loras=32", "--max-lora-rank=64", "--max-model-len=8192",
     "--gpu-memory-utilization=0.90", "--enable-prefix-caching"],
    # what KServe's LLMInferenceService controller injects for static adapters
    ["--enable-lora", "--lora-modules", '{"name":"sql","path":"/mnt/lora/sql"}',
     '{"name":"publishers/ns/models/sql","path":"/mnt/lora/sql"}'],
    ["/mnt/models", "--served-model-name", "llama", "publishers/ns/models/llama", "--port", "8000"],
    ["--lora-modules", "sql=/mnt/lora/sql"],
    ["-tp", "2", "-pp=2", "--no-enable-prefix-caching", "--disable-lora"],
    ["--max_lora_rank", "32", "--gpu_memory_utilization=0.5"],  # underscores are normalised
    ["--structured-outputs-config.backend", "xgrammar"],
    ["--structured-outputs-config", '{"backend": "guidance", "disable_any_whitespace": true}'],
    ["--max-model-len", "32k", "--max-num-batched-tokens=8K"],
    ["--max-model-len=auto", "--max-model-len", "-1"],
    ["--max-cpu-loras", "None", "--quantization="],  # optional_type: "" and "None" mean unset
    ["-O3"], ["-O", "2"],
    ["--hf-token"], ["--api-key", "k1", "k2"],
    ["--kv-cache-dtype=fp8_e5m2", "--quantization", "awq_marlin", "--dtype", "bfloat16"],
])
def test_valid_args_pass(args):
    assert check_args(args, SPEC) == []


@pytest.mark.parametrize("args, message", [
    (["--max-lora-rnak", "16"], "unknown flag --max-lora-rnak (did you mean --max-lora-rank"),
    (["--enable-lorra"], "did you mean --enable-lora"),
    (["--max-loras", "eight"], "--max-loras: expected an integer, got 'eight'"),
    (["--gpu-memory-utilization=high"], "--gpu-memory-utilization: expected a number, got 'high'"),
    (["--max-lora-rank=20"], "--max-lora-rank: '20' is not one of [1, 8, 16, 32, 64, 128, 256, 320, 512]"),
    (["--dtype", "bf16"], "not one of ['auto', 'bfloat16', 'float', 'float16', 'float32', 'half'] (did you mean bfloat16?)"),
    (["--kv-cache-dtype", "fp9"], "--kv-cache-dtype: 'fp9' is not a value vLLM 0.33.0 knows (did you mean fp8?)"),
    (["--quantization", "bitsandbytes"], "--quantization: 'bitsandbytes' is not a value vLLM 0.33.0 knows"),
    (["--port"], "--port: expects a value (int)"),
    (["--port", "--enable-lora"], "--port: expects a value (int)"),
    (["--served-model-name"], "--served-model-name: expects a value"),
    (["--enable-lora=true"], "--enable-lora: is a switch and takes no value"),
    (["--gpu-memory-utilization", "1.5"], "1.5 is out of range (gt 0, le 1)"),
    (["--max-loras=0"], "0 is out of range (ge 1)"),
    (["--max-model-len", "1.5K"], "decimals are not allowed with binary suffix K"),
    (["--structured-outputs-config", '{"backed": "xgrammar"}'], "unknown key 'backed' (did you mean backend?)"),
    (["--structured-outputs-config", '{"backend": "lmfe"}'], "backend='lmfe' is not one of"),
    (["--structured-outputs-config", "{oops"], "--structured-outputs-config: expected JSON"),
    (["--structured-outputs-config.backed", "xgrammar"], "unknown key 'backed'"),
    (["--max-model-len.x", "1"], "dotted keys only work on JSON flags"),
    (["--lora-modules", '{"name": "sql"}'], "lacks required key 'path'"),
    (["--lora-modules", '{"name": "sql", "path": "/p", "base": "x"}'], "unknown key 'base'"),
    (["--lora-modules", "{not json"], "is neither name=path nor a JSON object"),
    (["--max-model", "8192"], "abbreviation of --max-model-len"),
    (["--guided-decoding-backend", "xgrammar"], "unknown flag --guided-decoding-backend"),
    (["/mnt/models", "/other"], "unexpected positional argument '/other'"),
])
def test_problems_are_reported_precisely(args, message):
    problems = check_args(args, SPEC)
    assert any(message in p for p in problems), problems


@pytest.mark.parametrize("flag, value", [("--max-loras", "4"), ("--dtype", "half"), ("--max-lora-rank", "7"),
                                          ("--port", "x"), ("--kv-cache-dtype", "fp8")])
def test_equals_and_space_forms_agree(flag, value):
    assert check_args([f"{flag}={value}"], SPEC) == check_args([flag, value], SPEC)


def test_duplicates_and_strictness_are_opt_in():
    dup = ["--port=8080", "--port=9000"]
    assert check_args(dup, SPEC) == []  # KServe appends ISVC args: the last one wins
    assert check_args(dup, SPEC, allow_duplicates=False) == ["port given 2 times (--port=8080, --port=9000); the last one wins"]
    assert check_args(["--kv-cache-dtype", "custom_plugin_dtype"], SPEC, strict=False) == []


def test_one_problem_per_mistake():
    # an unknown flag swallows its value instead of reporting it as a positional
    assert len(check_args(["--not-a-flag", "value", "--max-loras", "2"], SPEC)) == 1


# ---------------------------------------------------------------- the builder


def test_defaults_emit_only_the_model():
    assert VllmEngineOptions(model="/mnt/models").to_args() == ["--model=/mnt/models"]
    # values equal to vLLM's own defaults are left out
    same = VllmEngineOptions(model="/m", gpu_memory_utilization=0.92, dtype="auto", tensor_parallel_size=1,
                             enable_lora=True, max_loras=1, max_lora_rank=16)
    assert same.to_args() == ["--model=/m", "--enable-lora"]


FULL = VllmEngineOptions(
    model="/mnt/models", served_model_name=("llama", "publishers/llm/models/llama"), port=8080,
    dtype="bfloat16", max_model_len=8192, gpu_memory_utilization=0.9, kv_cache_dtype="fp8",
    enable_prefix_caching=True, tensor_parallel_size=2, structured_outputs_backend="xgrammar",
    enable_lora=True, max_loras=8, max_lora_rank=64, max_cpu_loras=32,
    lora_modules=(LoraModule("llama:sql", "/mnt/lora/sql", base_model_name="llama"),),
)


def test_full_options_render_in_a_fixed_order_and_pass_the_spec():
    assert FULL.to_args() == [
        "--model=/mnt/models",
        "--served-model-name", "llama", "publishers/llm/models/llama",
        "--port=8080", "--dtype=bfloat16", "--max-model-len=8192", "--gpu-memory-utilization=0.9",
        "--kv-cache-dtype=fp8", "--tensor-parallel-size=2", "--enable-prefix-caching",
        '--structured-outputs-config={"backend":"xgrammar"}',
        "--enable-lora", "--max-loras=8", "--max-lora-rank=64", "--max-cpu-loras=32",
        "--lora-modules", '{"name":"llama:sql","path":"/mnt/lora/sql","base_model_name":"llama"}',
    ]
    assert check_args(FULL.to_args(), SPEC, allow_duplicates=False) == []
    assert FULL.to_args() == FULL.to_args()


def test_prefix_caching_is_tri_state():
    assert "--no-enable-prefix-caching" in VllmEngineOptions(model="/m", enable_prefix_caching=False).to_args()
    assert not any("prefix" in a for a in VllmEngineOptions(model="/m").to_args())


@pytest.mark.parametrize("kwargs, message", [
    (dict(enable_lora=True, max_loras=8, max_cpu_loras=4), "max_cpu_loras: 4 must be >= max_loras (8)"),
    (dict(enable_lora=True, max_lora_rank=20), "max_lora_rank: 20 is not accepted by vLLM 0.33.0"),
    (dict(gpu_memory_utilization=0.0), "gpu_memory_utilization: 0.0 must be in (0, 1]"),
    (dict(gpu_memory_utilization=1.2), "gpu_memory_utilization: 1.2 must be in (0, 1]"),
    (dict(max_loras=4), "enable_lora is False but LoRA settings are given (max_loras)"),
    (dict(enable_lora=True, lora_modules=(LoraModule("a", "adapters/a"),)), "must be absolute"),
    (dict(enable_lora=True, lora_modules=(LoraModule("a", "/a"), LoraModule("a", "/b"))), "duplicate adapter names ['a']"),
    (dict(kv_cache_dtype="fp9"), "kv_cache_dtype: 'fp9' is not accepted"),
    (dict(quantization="bitsandbytes"), "quantization: 'bitsandbytes' is not accepted by vLLM 0.33.0"),
    (dict(structured_outputs_backend="lmfe"), "structured_outputs_backend: 'lmfe' is not accepted"),
    (dict(tensor_parallel_size=0), "tensor_parallel_size: 0 must be >= 1"),
    (dict(port=70000), "port: 70000 must be in 1..65535"),
    (dict(max_model_len=0), "max_model_len: 0 must be a positive number"),
    (dict(served_model_name=("a", "a")), "duplicate names"),
])
def test_invariants_fail_with_clear_errors(kwargs, message):
    with pytest.raises(VllmArgsError) as e:
        VllmEngineOptions(model="/mnt/models", **kwargs)
    assert message in str(e.value)


def test_all_problems_are_reported_at_once():
    with pytest.raises(VllmArgsError) as e:
        VllmEngineOptions(model="", gpu_memory_utilization=2.0, tensor_parallel_size=0)
    assert str(e.value).count("\n  - ") == 3


@settings(max_examples=150, deadline=None)
@given(
    served=st.lists(st.from_regex(r"[a-z][a-z0-9.:/-]{0,20}", fullmatch=True), max_size=3, unique=True),
    port=st.none() | st.integers(1, 65535),
    dtype=st.sampled_from(get_args(ModelDtype)),
    quant=st.none() | st.sampled_from(get_args(Quantization)),
    mml=st.none() | st.integers(1, 1 << 20),
    gmu=st.none() | st.floats(0.01, 1.0),
    kv=st.sampled_from(get_args(KvCacheDtype)),
    prefix=st.none() | st.booleans(),
    tp=st.integers(1, 8), pp=st.integers(1, 4),
    backend=st.none() | st.sampled_from(get_args(StructuredOutputsBackend)),
    lora=st.booleans(), max_loras=st.integers(1, 64), rank=st.sampled_from(get_args(MaxLoraRank)),
    extra_cpu=st.none() | st.integers(0, 64),
    adapters=st.lists(st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True), max_size=4, unique=True),
)
def test_any_valid_options_render_to_args_the_spec_accepts(served, port, dtype, quant, mml, gmu, kv, prefix, tp, pp,
                                                           backend, lora, max_loras, rank, extra_cpu, adapters):
    opts = VllmEngineOptions(
        model="/mnt/models", served_model_name=tuple(served), port=port, dtype=dtype, quantization=quant,
        max_model_len=mml, gpu_memory_utilization=gmu, kv_cache_dtype=kv, enable_prefix_caching=prefix,
        tensor_parallel_size=tp, pipeline_parallel_size=pp, structured_outputs_backend=backend,
        enable_lora=lora,
        max_loras=max_loras if lora else None, max_lora_rank=rank if lora else None,
        max_cpu_loras=(max_loras + extra_cpu) if lora and extra_cpu is not None else None,
        lora_modules=tuple(LoraModule(f"base:{a}", f"/mnt/lora/{a}") for a in adapters) if lora else (),
    )
    args = opts.to_args()
    assert check_args(args, SPEC, allow_duplicates=False) == []
    assert args[0] == "--model=/mnt/models"
