"""Components refuse what the stack refuses, built from plain args (CDK-style: one test per rule).

Each test builds one component outside any stack, under Pulumi's mocks, and asserts the
``pulumi.InputPropertiesError`` (path relative to the args, the same facts as the stack's
message, because both call the same rule function) and that nothing was registered.
"""

from __future__ import annotations

import pulumi
import pytest

from components.common.images import ImageRef
from components.gpu import GpuNodePool, GpuNodePoolArgs, GpuPoolRef, GpuPoolSpec
from components.models import BaseModelSpec, LoraServiceSpec, VllmLoraService, VllmLoraServiceArgs
from infra.config_loading import PlatformConfigError, load_platform_config
from tests.conftest import stack_sections
from tests.support.mock_program import run_program

VLLM = ImageRef(registry="docker.io", repository="vllm/vllm-openai", tag="v0.33.0")
L4 = GpuPoolSpec.model_validate({"provisioner": "static", "gpu": "L4", "gpusPerNode": 1,
                                 "nodeSelector": {"llm-platform.io/pool": "workstation"}})
H100_MIG = GpuPoolSpec.model_validate({
    "provisioner": "karpenter", "gpu": "H100-80GB", "gpusPerNode": 8, "instanceFamilies": ["p5"],
    "amiAlias": "al2023@v20261101", "sharing": {"mode": "mig", "strategy": "mixed", "layout": {"3g.40gb": 2}}})
QWEN = BaseModelSpec.model_validate({"architecture": "Qwen2.5-7B", "source": {"kind": "pvc", "claimName": "weights"}})
LLAMA_70B = BaseModelSpec.model_validate({"architecture": "Llama-3.1-70B", "source": {"kind": "pvc", "claimName": "weights"}})


def service_args(pool_name: str, pool: GpuPoolSpec, model: BaseModelSpec = QWEN, **spec) -> VllmLoraServiceArgs:
    base = {"baseModel": "qwen", "pool": pool_name, "engine": {"maxModelLen": 4096}, "replicas": {"min": 1, "max": 1}}
    for key, value in spec.items():
        base[key] = {**base.get(key, {}), **value} if isinstance(value, dict) else value
    return VllmLoraServiceArgs(
        name="svc", namespace="llm", namespace_name="llm", mode="Standard", spec=LoraServiceSpec.model_validate(base),
        served_name="qwen", model=model, pool_name=pool_name, pool=pool, adapters={}, store=None, image=VLLM,
        prometheus_url="http://prometheus.monitoring:9090")


def refused(build) -> pulumi.InputPropertiesError:
    """The error ``build`` raises under mocks, after checking nothing was registered before it."""
    registered = []

    def program():
        try:
            build()
        except pulumi.InputPropertiesError as exc:
            registered.append(exc)

    registrations = run_program(program)
    assert registered, "the component accepted its args"
    assert registrations == [], [r.urn for r in registrations]
    return registered[0]


def paths(exc: pulumi.InputPropertiesError) -> dict[str, str]:
    return {e["property_path"]: e["reason"] for e in exc.errors}


def stack_issues(stack: str, edit) -> dict[str, str]:
    sections = stack_sections(stack)
    edit(sections)
    with pytest.raises(PlatformConfigError) as info:
        load_platform_config(stack, sections)
    return {i.path: i.message for i in info.value.issues}


# ---------------------------------------------------------------- VllmLoraService


def test_service_refuses_a_mig_slice_its_pool_does_not_offer():
    exc = refused(lambda: VllmLoraService("svc", service_args("h100-mig", H100_MIG, gpu={"migProfile": "1g.10gb"})))
    reason = paths(exc)["spec.gpu.migProfile"]
    assert "pool 'h100-mig' (H100-80GB) is partitioned into ['3g.40gb']; '1g.10gb' is not among them" == reason
    # The stack path refuses the same request with the same facts.
    stack = stack_issues("prod", lambda s: s["serving"]["services"]["llama-8b"]["gpu"].update({"migProfile": "1g.10gb"}))
    assert stack["serving.services.llama-8b.gpu.migProfile"] == reason
    assert "VllmLoraService 'svc': 1 invalid input" in str(exc)


def test_service_refuses_tensor_parallelism_above_its_gpu_count():
    pool = L4.model_copy(update={"gpus_per_node": 4})
    exc = refused(lambda: VllmLoraService("svc", service_args("workstation", pool, engine={"tensorParallel": 2})))
    assert paths(exc) == {"spec.engine.tensorParallel": "tensor parallel 2 needs at least as many GPUs per pod (gpu.count is 1)"}


def test_service_refuses_tensor_parallelism_wider_than_a_node():
    exc = refused(lambda: VllmLoraService("svc", service_args("workstation", L4, engine={"tensorParallel": 2},
                                                               gpu={"count": 2}, replicas={"min": 1, "max": 1})))
    found = paths(exc)
    assert "2 GPUs per pod exceeds the 1 GPUs of a 'workstation' node" == found["spec.gpu.count"]
    assert "exceeds the 1 GPUs of one node" in found["spec.engine.tensorParallel"]


def test_service_refuses_a_model_that_does_not_fit_its_gpu():
    # The local stack's service, pool and model as plain args, with a 70B model on its one L4.
    sections = stack_sections("local")
    sections["models"]["baseModels"]["qwen2.5-7b"]["architecture"] = "Llama-3.1-70B"
    spec = LoraServiceSpec.model_validate(sections["serving"]["services"]["qwen-7b"])
    pool = GpuPoolSpec.model_validate(sections["gpu"]["pools"]["workstation"])
    model = BaseModelSpec.model_validate(sections["models"]["baseModels"]["qwen2.5-7b"])
    args = VllmLoraServiceArgs(
        name="qwen-7b", namespace="llm", namespace_name="llm", mode="Standard", spec=spec, served_name="qwen2.5-7b",
        model=model, pool_name="workstation", pool=pool, adapters={}, store=None, image=VLLM, prometheus_url="http://p:9090")
    exc = refused(lambda: VllmLoraService("qwen-7b", args))
    reason = paths(exc)["spec.engine.maxModelLen"]
    assert reason.startswith("4096 does not fit: ") and "L4" in reason
    # The stack path calls the same function: the same budget figures, word for word.
    stack = stack_issues("local", lambda s: s["models"]["baseModels"]["qwen2.5-7b"].update({"architecture": "Llama-3.1-70B"}))
    assert stack["serving.services.qwen-7b.engine.maxModelLen"] == reason


def test_service_refuses_a_dra_pool_without_a_claim():
    dra = L4.model_copy(update={"sharing": GpuPoolSpec.model_validate({"gpu": "L4", "sharing": {"mode": "dra"}}).sharing})
    exc = refused(lambda: VllmLoraService("svc", service_args("workstation", dra)))
    assert paths(exc) == {"spec.gpu.draClaim": "pool 'workstation' allocates GPUs through DRA; name a claim template"}


def test_service_refuses_a_mig_slice_on_a_pool_without_mig():
    exc = refused(lambda: VllmLoraService("svc", service_args("workstation", L4, gpu={"migProfile": "3g.40gb"})))
    assert paths(exc) == {"spec.gpu.migProfile": "pool 'workstation' shares GPUs by 'none', not MIG; remove migProfile or use a MIG pool"}


def test_service_from_valid_plain_args_registers_its_children():
    registrations = run_program(lambda: VllmLoraService("svc", service_args("workstation", L4)))
    types = {r.type for r in registrations}
    assert {"llmplatform:models:VllmLoraService", "kubernetes:serving.kserve.io/v1beta1:InferenceService",
            "kubernetes:serving.kserve.io/v1alpha1:ServingRuntime"} <= types


# ---------------------------------------------------------------- GpuNodePool


def pool_args(pool: GpuPoolSpec, name: str = "h100-mig") -> GpuNodePoolArgs:
    return GpuNodePoolArgs(pool_name=name, pool=pool, cluster_name="llm-prod", node_role="KarpenterNodeRole-llm-prod")


def test_pool_refuses_an_instance_family_that_does_not_carry_its_gpu():
    l4_family = H100_MIG.model_copy(update={"instance_families": ["g6"]})
    exc = refused(lambda: GpuNodePool("pool", pool_args(l4_family)))
    reason = paths(exc)["pool.instanceFamilies[0]"]
    assert reason == "'g6' carries l4 (22888 MiB) GPUs, not 'H100-80GB'"
    stack = stack_issues("prod", lambda s: s["gpu"]["pools"]["h100-mig"].update({"instanceFamilies": ["g6"]}))
    assert stack["gpu.pools.h100-mig.instanceFamilies[0]"] == reason


def test_pool_refuses_a_mig_layout_its_gpu_cannot_hold():
    bad = H100_MIG.model_copy(update={"sharing": H100_MIG.sharing.model_copy(update={"layout": {"3g.40gb": 3}})})
    exc = refused(lambda: GpuNodePool("pool", pool_args(bad)))
    assert "does not fit 'H100-80GB'" in paths(exc)["pool.sharing.layout"]


def test_pool_refuses_mig_slices_without_the_node_overlay_karpenter_needs():
    args = GpuNodePoolArgs(pool_name="h100-mig", pool=H100_MIG, cluster_name="llm-prod", node_role="r", node_overlay=False)
    exc = refused(lambda: GpuNodePool("pool", args))
    reason = paths(exc)["nodeOverlay"]
    assert reason.startswith("pool 'h100-mig' advertises ['nvidia.com/mig-3g.40gb'], which Karpenter cannot see")
    stack = stack_issues("prod", lambda s: s["gpu"]["karpenter"].update({"nodeOverlay": False}))
    assert stack["gpu.karpenter.nodeOverlay"] == reason


def test_pool_refuses_a_static_pool():
    exc = refused(lambda: GpuNodePool("pool", pool_args(L4, "workstation")))
    assert "declare a static pool with GpuPoolRef('workstation', spec)" in paths(exc)["pool.provisioner"]


def test_pool_from_valid_plain_args_produces_its_pool_reference():
    made = []
    registrations = run_program(lambda: made.append(GpuNodePool("pool", pool_args(H100_MIG))))
    ref = made[0].pool_ref
    assert ref == GpuPoolRef("h100-mig", H100_MIG)
    assert ref.mig_layout == {"3g.40gb": 2} and ref.gpus_per_node == 8 and ref.taint == "nvidia.com/gpu:NoSchedule"
    assert ref.offered_resources == {"nvidia.com/mig-3g.40gb": 16}
    assert ref.node_labels["llm-platform.io/pool"] == "h100-mig"
    assert {r.inputs["kind"] for r in registrations if r.custom} == {"EC2NodeClass", "NodePool", "NodeOverlay"}
