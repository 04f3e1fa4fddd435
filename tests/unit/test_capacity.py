"""Capacity planner: known figures, refusals with numbers, LoRA slot scaling."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.models.capacity import (
    CATALOG,
    GIB,
    CapacityError,
    LoraSlots,
    adapter_bytes,
    compare_multi_lora,
    format_budget,
    format_consolidation,
    get_arch,
    get_device,
    kv_bytes,
    lora_slot_bytes,
    plan_or_refuse,
    plan_vram,
    refuse,
    smallest_fit,
    weight_format_for_quantization,
)

L8 = CATALOG["Llama-3.1-8B"]
L70 = CATALOG["Llama-3.1-70B"]
H100 = "H100-80GB"


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_catalog_parameter_counts_match_their_dimensions(name):
    # The catalog's exact counts must follow from the config.json dimensions.
    arch = CATALOG[name]
    assert arch.estimated_parameters() == arch.parameters


def test_llama_8b_bf16_weights():
    b = plan_vram(L8, H100, max_model_len=8192)
    assert b.weights_bytes == 8_030_261_248 * 2 == 16_060_522_496
    assert round(b.weights_bytes / GIB, 2) == 14.96


def test_kv_per_token_llama_8b():
    assert L8.kv_bytes_per_token(2) == 32 * 8 * 128 * 2 * 2 == 131_072
    assert L8.kv_bytes_per_token(kv_bytes("fp8")) == 65_536
    assert L70.kv_bytes_per_token(2) == 80 * 8 * 128 * 2 * 2 == 327_680
    # tp splits KV heads; beyond kv_heads vLLM replicates one head per rank
    assert L8.kv_bytes_per_token(2, tp=2) == 65_536
    assert L8.kv_bytes_per_token(2, tp=16) == L8.kv_bytes_per_token(2, tp=8)


def test_8b_matches_a_real_vllm_memory_profile():
    # vLLM on an H100 80GB logged: total 79.11 GiB x 0.90 = 71.20 GiB; weights
    # 14.99 GiB; non_torch 0.35 GiB; activation peak 1.24 GiB; KV 54.62 GiB;
    # "GPU KV cache size: 447,088 tokens". Same reserve here -> same answer.
    b = plan_vram(L8, H100, max_model_len=8192, gpu_memory_utilization=0.9, overhead_gib=0.35 + 1.24)
    assert b.kv_space_bytes / GIB == pytest.approx(54.62, abs=0.05)
    assert b.kv_tokens == pytest.approx(447_088, rel=0.005)


def test_70b_bf16_on_one_h100_is_refused_with_numbers():
    with pytest.raises(CapacityError) as e:
        plan_or_refuse(L70, H100, max_model_len=8192, gpu_memory_utilization=0.9)
    msg = str(e.value)
    for figure in ("usable 71.20 GiB", "79.11 GiB x 0.9", "weights 131.42 GiB", "LoRA slots 0.00 GiB",
                   "reserve 2.00 GiB", "-62.22 GiB for the KV cache", "one sequence needs 2.50 GiB",
                   "8192 tokens x 320.00 KiB/token"):
        assert figure in msg, figure


def test_70b_fp8_on_one_h100_at_0_9():
    # fp8 linear layers (1 B) + bf16 embedding and lm_head (2.1 B params x 2 B)
    b = plan_vram(L70, H100, max_model_len=8192, weights="fp8", gpu_memory_utilization=0.9)
    assert b.weights_bytes == (70_553_706_496 - 2_101_346_304) * 1 + 2_101_346_304 * 2
    assert round(b.weights_bytes / GIB, 2) == 67.67
    assert round(b.kv_space_bytes / GIB, 2) == 1.53
    assert b.kv_tokens == 5_024
    # an 8k context needs 2.5 GiB of bf16 KV: refused
    assert not b.fits
    with pytest.raises(CapacityError, match="weights 67.67 GiB"):
        refuse(b)
    # fp8 KV halves the per-token cost: exactly one 8k sequence fits
    b8 = plan_vram(L70, H100, max_model_len=8192, weights="fp8", kv_cache_dtype="fp8", gpu_memory_utilization=0.9)
    assert (b8.kv_tokens, b8.max_sequences) == (10_048, 1)
    # so does a 4k context with bf16 KV
    assert plan_vram(L70, H100, max_model_len=4096, weights="fp8").max_sequences == 1


def test_70b_bf16_needs_two_h100s():
    b = smallest_fit(L70, H100, max_model_len=8192)
    assert (b.tensor_parallel, b.pipeline_parallel) == (2, 1)
    assert round(b.weights_bytes / GIB, 2) == 65.71
    assert b.max_sequences >= 1


def test_int4_weights_include_group_scales_and_16bit_embeddings():
    b = plan_vram(L8, H100, max_model_len=8192, weights="awq")
    linear = 8_030_261_248 - 128256 * 4096 * 2
    assert b.weights_bytes == math.ceil(linear * (0.5 + 2.5 / 128) + 128256 * 4096 * 2 * 2)
    assert 5.3 < b.weights_bytes / GIB < 5.4


def test_mig_slices():
    assert get_device("H100-80GB/1g.10gb").memory_bytes == get_device(H100).memory_bytes // 8
    with pytest.raises(CapacityError, match="weights 14.96 GiB"):
        plan_or_refuse(L8, "H100-80GB/1g.10gb", max_model_len=4096)
    assert plan_vram(L8, "H100-80GB/3g.40gb", max_model_len=8192).max_sequences > 10
    with pytest.raises(KeyError, match="MIG profile"):
        get_device("H100-80GB/5g.50gb")


def test_lora_adapter_size_llama_8b_rank_16():
    # q,k,v,o,gate,up,down: (4096+4096)+(4096+1024)*2+(4096+4096)+(4096+14336)*2+(14336+4096) = 81920
    assert adapter_bytes(L8, 16) == 16 * 81_920 * 32 * 2 == 80 * 2**20
    assert adapter_bytes(L8, 16, ["q_proj", "v_proj"]) == 16 * (8192 + 5120) * 32 * 2
    with pytest.raises(ValueError, match="unknown LoRA target modules"):
        adapter_bytes(L8, 16, ["qkv"])


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 64), st.sampled_from([1, 8, 16, 32, 64, 128, 256, 320, 512]), st.sampled_from(sorted(CATALOG)))
def test_lora_slot_memory_is_linear_in_max_loras_and_rank(max_loras, rank, name):
    arch = CATALOG[name]
    one = lora_slot_bytes(arch, LoraSlots(1, 1))
    assert lora_slot_bytes(arch, LoraSlots(max_loras, rank)) == pytest.approx(max_loras * rank * one, abs=1)
    assert lora_slot_bytes(arch, LoraSlots(max_loras, rank)) == pytest.approx(max_loras * adapter_bytes(arch, rank), abs=1)


def test_lora_slots_shrink_with_tensor_parallelism_and_take_kv_space():
    slots = LoraSlots(8, 64)
    assert lora_slot_bytes(L8, slots, tp=2) < lora_slot_bytes(L8, slots)
    assert lora_slot_bytes(L8, LoraSlots(8, 64, fully_sharded=True), tp=2) == lora_slot_bytes(L8, slots) // 2
    plain = plan_vram(L8, H100, max_model_len=8192)
    with_lora = plan_vram(L8, H100, max_model_len=8192, lora=slots)
    assert plain.kv_space_bytes - with_lora.kv_space_bytes == with_lora.lora_bytes == 8 * adapter_bytes(L8, 64)


@settings(max_examples=40, deadline=None)
@given(st.floats(0.3, 0.95), st.floats(0.3, 0.95))
def test_more_utilisation_never_means_fewer_tokens(u1, u2):
    lo, hi = sorted((u1, u2))
    assert plan_vram(L8, H100, max_model_len=4096, gpu_memory_utilization=lo).kv_tokens <= \
        plan_vram(L8, H100, max_model_len=4096, gpu_memory_utilization=hi).kv_tokens


def test_multi_lora_vs_full_fine_tunes():
    c = compare_multi_lora(L70, H100, 10, max_model_len=8192)
    assert (c.shared_gpus, c.dedicated_gpus, c.gpus_saved) == (2, 20, 18)
    assert c.stored_bytes_dedicated == 10 * c.dedicated.model_weights_bytes
    one = compare_multi_lora(L8, H100, 1, max_model_len=8192)
    assert one.shared_gpus == one.dedicated_gpus == 1
    text = format_consolidation(c)
    assert "multi-LoRA: 1 base + 10 adapters" in text and "20 (10 x 2)" in text


def test_format_budget_table():
    b = plan_vram(L8, H100, max_model_len=8192, lora=LoraSlots(4, 16, max_cpu_loras=32))
    text = format_budget(b)
    assert "Llama-3.1-8B (bf16 weights" in text
    assert "14.96 GiB" in text and "0.31 GiB" in text and "128.00 KiB" in text
    assert "host RAM, LoRA CPU cache" in text and "2.50 GiB" in text
    assert "verdict" in text and "fits" in text
    refused = format_budget(plan_vram(L70, H100, max_model_len=8192))
    assert "REFUSED" in refused


def test_inputs_are_checked():
    with pytest.raises(KeyError, match="did you mean Llama-3.1-8B"):
        get_arch("Llama-3.1-8b")
    with pytest.raises(ValueError, match="kv-cache-dtype"):
        kv_bytes("int4_per_token_head")
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        plan_vram(L8, H100, max_model_len=8192, gpu_memory_utilization=1.2)
    with pytest.raises(ValueError, match="do not split"):
        plan_vram(CATALOG["Qwen2.5-7B"], H100, max_model_len=8192, tensor_parallel=8)
    with pytest.raises(ValueError, match="max_cpu_loras"):
        plan_vram(L8, H100, max_model_len=8192, lora=LoraSlots(8, 16, max_cpu_loras=4))
    assert weight_format_for_quantization("awq_marlin").name == "int4"
    assert weight_format_for_quantization("fp8").bytes_per_param == 1
    assert weight_format_for_quantization(None, "float16").name == "fp16"
    with pytest.raises(ValueError, match="checkpoint decides"):
        weight_format_for_quantization("compressed-tensors")
