"""The capacity planner applied to stacks: the config rule, devices from the GPU catalogs,
physical GPU counts and ``python -m infra.plan``."""

from __future__ import annotations

import copy

import pytest

from components.gpu.spec import GpuPoolSpec
from components.models import capacity
from components.models.planning import physical_gpus, plan_services, service_device, whole_gpu
from infra.config_loading import PlatformConfigError, load_platform_config, read_stack_file
from infra.plan import main as plan_main

GIB = capacity.GIB


def _config(stack: str, edit=None):
    sections = copy.deepcopy(read_stack_file(stack)[0])
    if edit:
        edit(sections)
    return load_platform_config(stack, sections, "test")


@pytest.mark.parametrize("stack", ["local", "dev", "staging", "prod", "airgap"])
def test_every_stack_service_fits_its_device(stack):
    for plan in plan_services(_config(stack)):
        assert plan.budget.max_sequences >= 1, plan.name


def test_a_service_that_cannot_hold_one_sequence_is_refused_with_numbers():
    def too_long(s):
        s["serving"]["services"]["llama-70b"]["engine"].update(maxLoras=4, gpuMemoryUtilization=0.9)

    with pytest.raises(PlatformConfigError) as err:
        _config("staging", too_long)
    (issue,) = err.value.issues
    assert issue.path == "serving.services.llama-70b.engine.maxModelLen"
    for figure in ("usable 71.20 GiB = 79.11 GiB x 0.9", "weights 67.67 GiB", "LoRA slots 3.09 GiB", "(0 tokens)",
                   "8192 tokens x 160.00 KiB/token"):
        assert figure in issue.message


def test_mig_slice_memory_comes_from_the_mig_catalog():
    pool = GpuPoolSpec.model_validate({"gpu": "H100-80GB", "instanceFamilies": ["p5"],
                                       "sharing": {"mode": "mig", "layout": {"3g.40gb": 2}}})
    slice_ = service_device(pool, "3g.40gb")
    assert slice_.memory_bytes == capacity.DEVICES["H100-80GB"].memory_bytes * 4 // 8
    small = GpuPoolSpec.model_validate({"gpu": "A100-80GB", "instanceFamilies": ["p4de"],
                                        "sharing": {"mode": "mig", "layout": {"1g.10gb": 7}}})
    assert service_device(small, "1g.10gb").memory_bytes == 10 * GIB


def test_whole_gpus_without_a_planner_figure_use_karpenter_memory():
    assert whole_gpu("L4").memory_bytes == 22888 * capacity.MIB
    assert whole_gpu("L40S").memory_bytes == 45776 * capacity.MIB
    with pytest.raises(KeyError, match="no memory figure"):
        whole_gpu("Z9000")


def test_small_mig_slice_refuses_an_8b_in_bf16():
    def tiny(s):
        s["gpu"]["pools"]["a100-mig"]["sharing"]["layout"] = {"1g.10gb": 7}
        s["serving"]["services"]["llama-8b"]["gpu"]["migProfile"] = "1g.10gb"

    with pytest.raises(PlatformConfigError) as err:
        _config("staging", tiny)
    assert any(i.path == "serving.services.llama-8b.engine.maxModelLen" and "A100-80GB MIG 1g.10gb" in i.message
               for i in err.value.issues)


def test_physical_gpus_pack_mig_slices_and_time_slices():
    prod = _config("prod")
    plans = plan_services(prod)
    # llama-8b: 2..8 replicas of 3g.40gb, two per H100; llama-70b: 2..6 replicas x 2 GPUs.
    assert physical_gpus(prod, plans, "min") == {"h100-mig": 1, "h100-full": 4}
    assert physical_gpus(prod, plans, "max") == {"h100-mig": 4, "h100-full": 12}
    local = _config("local")
    assert physical_gpus(local, plan_services(local), "max") == {"workstation": 1}


def test_planner_figures_8b_and_70b_bf16_fp8():
    """The figures reported for the README (H100-80GB, 8192 tokens, 0.9, 4 LoRA slots of rank 16)."""
    def plan(arch, weights, tp=1):
        return capacity.plan_vram(arch, "H100-80GB", max_model_len=8192, weights=weights, tensor_parallel=tp,
                                  lora=capacity.LoraSlots(max_loras=4, max_lora_rank=16))

    b8 = plan("Llama-3.1-8B", "bf16")
    assert round(b8.weights_bytes / GIB, 2) == 14.96 and b8.max_sequences == 53
    f8 = plan("Llama-3.1-8B", "fp8")
    assert round(f8.weights_bytes / GIB, 2) == 8.46 and f8.max_sequences == 60
    assert not plan("Llama-3.1-70B", "bf16").fits and not plan("Llama-3.1-70B", "fp8").fits
    assert plan("Llama-3.1-70B", "bf16", tp=2).max_sequences == 1
    assert plan("Llama-3.1-70B", "fp8", tp=2).max_sequences == 27


def test_plan_cli_prints_budgets_totals_and_the_comparison(capsys):
    assert plan_main(["--stack", "prod"]) == 0
    out = capsys.readouterr().out
    assert "== llama-8b" in out and "== llama-70b" in out
    assert "physical GPUs: 5 at minimum replicas, 16 at maximum" in out
    assert "full fine-tunes: 2 models" in out


def test_plan_cli_refuses_invalid_stacks(tmp_path, monkeypatch, capsys):
    import infra.plan as plan

    def bad(stack, sections, source):
        raise PlatformConfigError(stack, [], source)

    monkeypatch.setattr(plan, "load_platform_config", bad)
    assert plan_main(["--stack", "local"]) == 2


def test_static_adapter_mode_is_refused_in_knative_mode():
    def static(s):
        s["serving"]["services"]["llama-8b"]["adapterMode"] = "static"

    with pytest.raises(PlatformConfigError) as err:
        _config("dev", static)
    assert [i.path for i in err.value.issues] == ["serving.services.llama-8b.adapterMode"]
    assert "init container" in err.value.issues[0].message
    _config("staging", static)  # Standard mode: allowed


def test_vllm_pods_sharing_a_time_sliced_gpu_must_fit_together():
    def greedy(s):
        s["serving"]["services"]["llama-8b"]["engine"]["gpuMemoryUtilization"] = 0.9

    with pytest.raises(PlatformConfigError) as err:
        _config("dev", greedy)
    (issue,) = err.value.issues
    assert issue.path == "serving.services.llama-8b.engine.gpuMemoryUtilization"
    assert "up to 2 vLLM pods" in issue.message and "claim 1.8" in issue.message and "at most 0.47" in issue.message

    def one_replica(s):
        greedy(s)
        s["serving"]["services"]["llama-8b"]["replicas"] = {"min": 0, "max": 1}

    _config("dev", one_replica)  # a single pod may take the whole GPU
    _config("local")  # one service, one replica, 0.9 on a 4-way time-sliced L4
