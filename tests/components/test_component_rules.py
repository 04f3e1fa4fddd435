"""Components refuse what the stack refuses, built from plain args (CDK-style: one test per rule).

Each test builds one component outside any stack, under Pulumi's mocks, and asserts the
``pulumi.InputPropertiesError`` (path relative to the args, the same facts as the stack's
message, because both call the same rule function) and that nothing was registered.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pulumi
import pytest

from components.common.helm import ChartRef
from components.common.images import ImageRef
from components.airgap import AirgapArgs, AirgapTransforms
from components.airgap.transforms import AirgapSettings
from components.gate import GateSpec, ServiceGate, ServiceGateArgs
from components.gpu import DraDriver, DraDriverArgs, KarpenterArgs, KarpenterController
from components.gpu.spec import ClaimTemplateSpec
from components.gpu.placement import PodPlacement, placement_for
from components.observability import AlertThresholds, Observability, ObservabilityArgs
from components.serving import (KnativeArgs, KServe, KServeArgs, LlmD, LlmdArgs, LlmdModelService, LlmdModelServiceArgs,
                                MultiNodeArgs, MultiNodeVllm)
from components.serving.llmd import LlmdPlatform, LlmdScaling
from components.serving.vllm_pod import MODEL_DIR
from components.storage import ObjectStore, ObjectStoreArgs, S3ObjectStore, S3ObjectStoreArgs
from components.storage.spec import MinioSpec, S3Spec
from components.gpu import GpuNodePool, GpuNodePoolArgs, GpuPoolRef, GpuPoolSpec
from components.models import (AdapterCatalog, AdapterCatalogArgs, AdapterSpec, BaseModelSpec, LoraServiceSpec, VllmLoraService,
                               VllmLoraServiceArgs)
from components.models.adapters import StoreConnection
from infra.config_loading import PlatformConfigError, load_platform_config
from tests.conftest import stack_sections
from tests.support.mock_program import run_program
from tests.support.server_pod import server_pod

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


def reasons(exc: pulumi.InputPropertiesError, path: str) -> list[str]:
    """Every reason at ``path`` (a field may break several rules)."""
    return [e["reason"] for e in exc.errors if e["property_path"] == path]


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


def stack_reasons(stack: str, edit, path: str) -> list[str]:
    """Every message the stack path gives at ``path`` after ``edit``."""
    sections = stack_sections(stack)
    edit(sections)
    with pytest.raises(PlatformConfigError) as info:
        load_platform_config(stack, sections)
    return [i.message for i in info.value.issues if i.path == path]


def llama_70b(**changes):
    """An edit of prod's llama-70b service (on the 8-GPU h100-full pool)."""
    def edit(sections):
        svc = sections["serving"]["services"]["llama-70b"]
        for key, value in changes.items():
            svc[key] = {**svc.get(key, {}), **value} if isinstance(value, dict) else value
    return edit


# ---------------------------------------------------------------- VllmLoraService: names, image, mode, bounds


def test_service_refuses_a_name_too_long_for_the_predictor_service():
    name = "n" * 60
    exc = refused(lambda: VllmLoraService("svc", replace(service_args("workstation", L4), name=name)))
    reason = paths(exc)["name"]
    assert f"KServe's predictor Service '{name}-predictor' would have 70 characters, the limit is 63" in reason

    def rename(sections):
        services = sections["serving"]["services"]
        services[name] = services.pop("llama-8b")
    assert reason in stack_reasons("prod", rename, f"serving.services.{name}")


def test_service_refuses_a_vllm_image_other_than_the_pinned_version():
    image = ImageRef(registry="docker.io", repository="vllm/vllm-openai", tag="v0.1.0")
    exc = refused(lambda: VllmLoraService("svc", replace(service_args("workstation", L4), image=image)))
    reason = paths(exc)["image.tag"]
    assert reason == "'v0.1.0' is not the vLLM version the arguments are checked against; use 'v0.33.0' (components/models/vllm_argspec)"
    edit = lambda s: s["models"].update({"vllmImage": {"registry": "docker.io", "repository": "vllm/vllm-openai", "tag": "v0.1.0"}})
    assert stack_reasons("prod", edit, "models.vllmImage.tag") == [reason]


def test_service_refuses_scale_to_zero_in_standard_mode():
    exc = refused(lambda: VllmLoraService("svc", service_args("workstation", L4, replicas={"min": 0, "max": 1})))
    reason = paths(exc)["spec.replicas.min"]
    assert reason == "scale to zero (0) needs serving.kserve.mode 'Knative'"
    edit = lambda s: s["serving"]["services"]["llama-8b"].update({"replicas": {"min": 0, "max": 8}})
    assert reason in stack_reasons("prod", edit, "serving.services.llama-8b.replicas.min")


def test_service_refuses_autoscaling_without_a_range():
    exc = refused(lambda: VllmLoraService("svc", service_args("workstation", L4, autoscaling={"enabled": True},
                                                               replicas={"min": 2, "max": 2})))
    reason = paths(exc)["spec.replicas.max"]
    assert reason == "autoscaling needs max > min (2)"
    edit = lambda s: s["serving"]["services"]["llama-8b"].update({"replicas": {"min": 2, "max": 2}})
    assert stack_reasons("prod", edit, "serving.services.llama-8b.replicas.max") == [reason]


def test_service_refuses_keda_autoscaling_in_knative_mode():
    args = replace(service_args("workstation", L4, autoscaling={"enabled": True}, replicas={"min": 1, "max": 2}), mode="Knative")
    exc = refused(lambda: VllmLoraService("svc", args))
    assert paths(exc) == {"spec.autoscaling.enabled":
                          "KEDA autoscaling needs serving.kserve.mode 'Standard'; Knative mode scales on concurrency"}


def test_service_refuses_static_adapters_in_knative_mode():
    exc = refused(lambda: VllmLoraService("svc", replace(service_args("workstation", L4, adapterMode="static"), mode="Knative")))
    reason = paths(exc)["spec.adapterMode"]
    assert "kubernetes.podspec-init-containers" in reason and "use 'dynamic' (the default)" in reason


def test_service_refuses_a_sync_interval_below_the_configs_bound():
    exc = refused(lambda: VllmLoraService("svc", replace(service_args("workstation", L4), sync_interval_seconds=1)))
    reason = paths(exc)["syncIntervalSeconds"]
    assert reason == "input should be greater than or equal to 5 (got 1)"
    edit = lambda s: s["models"].update({"loraSyncIntervalSeconds": 1})
    assert stack_reasons("prod", edit, "models.loraSyncIntervalSeconds") == [reason]


def test_service_refuses_an_adapter_cache_of_zero():
    exc = refused(lambda: VllmLoraService("svc", replace(service_args("workstation", L4), lora_cache_gib=0)))
    assert paths(exc) == {"loraCacheGib": "input should be greater than or equal to 1 (got 0)"}


# ---------------------------------------------------------------- MultiNodeVllm

H100_FULL = GpuPoolRef("h100-full", GpuPoolSpec.model_validate({
    "provisioner": "karpenter", "gpu": "H100-80GB", "gpusPerNode": 8, "instanceFamilies": ["p5"],
    "amiAlias": "al2023@v20261101"}))


def multinode_args(tp: int = 8, pp: int = 2, gpus_per_pod: int = 8, extra_args=(), placement=None, **fields) -> MultiNodeArgs:
    pod = server_pod(vllm_args=["--model=/mnt/models", "--port=8000", f"--tensor-parallel-size={tp}",
                                f"--pipeline-parallel-size={pp}", *extra_args],
                     placement=placement or placement_for(H100_FULL.name, H100_FULL.spec, count=gpus_per_pod))
    return MultiNodeArgs(**{"service": "llama-405b", "namespace": "llm", "server": pod, "nodes": 2, "pool": H100_FULL,
                            **fields})


def test_multinode_refuses_tensor_parallelism_wider_than_a_node():
    exc = refused(lambda: MultiNodeVllm("mn", multinode_args(tp=16, pp=1, gpus_per_pod=8)))
    reason = reasons(exc, "server.args")[0]
    assert reason == ("tensor 16 x pipeline 1 on pool 'h100-full' (8 GPUs per node): tensor parallel 16 exceeds the 8 "
                      "GPUs of one node; keep tensor parallelism inside a node and span nodes with pipeline parallelism")
    edit = llama_70b(frontend="kserve", gpu={"count": 8}, engine={"tensorParallel": 16}, autoscaling={"enabled": False})
    assert reason in stack_reasons("prod", edit, "serving.services.llama-70b.engine.tensorParallel")


def test_multinode_refuses_parallelism_that_does_not_fill_whole_nodes():
    exc = refused(lambda: MultiNodeVllm("mn", multinode_args(tp=4, pp=3, gpus_per_pod=6)))
    assert "tensor x pipeline = 12 GPUs does not fill whole 8-GPU nodes" in paths(exc)["server.args"]


def test_multinode_refuses_a_group_that_scales_to_zero():
    exc = refused(lambda: MultiNodeVllm("mn", multinode_args(replicas=0)))
    reason = paths(exc)["replicas"]
    assert reason == "a multi-node service (2 nodes) cannot scale to zero; use at least 1 replica (got 0)"
    edit = llama_70b(frontend="kserve", gpu={"count": 8}, engine={"tensorParallel": 8, "pipelineParallel": 2},
                     autoscaling={"enabled": False}, replicas={"min": 0, "max": 1})
    assert reason in stack_reasons("prod", edit, "serving.services.llama-70b.replicas.min")


def test_multinode_refuses_a_node_count_its_pool_does_not_lay_out_to():
    exc = refused(lambda: MultiNodeVllm("mn", multinode_args(tp=4, pp=4, gpus_per_pod=4, nodes=4)))
    assert paths(exc) == {"nodes": "tensor 4 x pipeline 4 on pool 'h100-full' (8 GPUs per node) spans 2 nodes, not 4"}


def test_multinode_refuses_gpus_that_do_not_add_up_to_the_parallelism():
    exc = refused(lambda: MultiNodeVllm("mn", multinode_args(gpus_per_pod=4)))
    assert reasons(exc, "server.placement") == ["tensor 8 x pipeline 2 = 16 GPUs, but 2 pods x 4 GPUs = 8"]


def test_multinode_refuses_a_replica_that_fits_one_node():
    exc = refused(lambda: MultiNodeVllm("mn", multinode_args(tp=8, pp=1, nodes=1)))
    assert "nodes=1: a replica that fits one node runs as a Deployment" in paths(exc)["nodes"]


def test_multinode_refuses_flags_the_launcher_sets():
    exc = refused(lambda: MultiNodeVllm("mn", multinode_args(extra_args=["--nnodes=2"])))
    assert paths(exc) == {"server.args": "--nnodes is set by the launcher; remove it from vllm_args"}


def test_multinode_refuses_tensor_parallelism_above_the_gpus_of_one_pod():
    exc = refused(lambda: MultiNodeVllm("mn", multinode_args(tp=8, pp=2, gpus_per_pod=4, nodes=4)))
    reason = "tensor parallel 8 needs at least as many GPUs per pod (gpu.count is 4)"
    assert reason in reasons(exc, "server.args")
    edit = llama_70b(frontend="kserve", gpu={"count": 4}, engine={"tensorParallel": 8}, autoscaling={"enabled": False})
    assert reason in stack_reasons("prod", edit, "serving.services.llama-70b.engine.tensorParallel")


def test_multinode_refuses_a_placement_on_another_pool():
    other = placement_for("h100-mig", H100_MIG, count=2, mig_profile="3g.40gb")
    elsewhere = PodPlacement(resources={"nvidia.com/gpu": "8"}, node_selector=other.node_selector, tolerations=other.tolerations)
    exc = refused(lambda: MultiNodeVllm("mn", multinode_args(placement=elsewhere)))
    assert paths(exc) == {"server.placement": "node_selector {'llm-platform.io/pool': 'h100-mig'} do not place the pod on pool "
                                              "'h100-full': it needs {'llm-platform.io/pool': 'h100-full'} "
                                              "(components.gpu.placement_for gives the placement)"}


def test_multinode_from_valid_plain_args_registers_its_group():
    registrations = run_program(lambda: MultiNodeVllm("mn", multinode_args()))
    assert {r.inputs.get("kind") for r in registrations if r.custom} >= {"LeaderWorkerSet"}


# ---------------------------------------------------------------- LlmdModelService


def llmd_args(**fields) -> LlmdModelServiceArgs:
    tp = fields.pop("tp", 2)
    pod = server_pod(port=8200, model_uri="pvc://weights/llama",
                     vllm_args=[f"--model={MODEL_DIR}", "--served-model-name", "llama-3.1-70b", "--port=8200",
                                f"--tensor-parallel-size={tp}"],
                     placement=fields.pop("placement", None) or placement_for(H100_FULL.name, H100_FULL.spec, count=tp))
    platform = LlmdPlatform(
        gateway_name="gw", gateway_namespace="llm", gateway_provider="istio",
        router_chart=ChartRef(name="llm-d-router-gateway", version="v0.10.0", repository="oci://ghcr.io/llm-d/charts"),
        modelservice_chart=ChartRef(name="llm-d-modelservice", version="v0.4.12", repository="https://example.com/charts"),
        epp_image=ImageRef.parse("ghcr.io/llm-d/llm-d-router-endpoint-picker:v0.10.0"),
        routing_sidecar_image=ImageRef.parse("ghcr.io/llm-d/llm-d-routing-sidecar:v0.4.0"),
        prometheus_url="http://p:9090", monitoring_release_label=None,
        storage_initializer_image=ImageRef.parse("docker.io/kserve/storage-initializer:v0.20.0"))
    return LlmdModelServiceArgs(**{"platform": platform, "service": "llama-70b", "namespace": "llm",
                                   "served_name": "llama-3.1-70b", "server": pod, "tensor_parallel": tp,
                                   "pool": H100_FULL, **fields})


def test_llmd_refuses_a_name_too_long_for_its_helm_releases():
    name = "n" * 50
    exc = refused(lambda: LlmdModelService("llmd", llmd_args(service=name)))
    reason = paths(exc)["service"]
    assert f"the llm-d router Helm release '{name}-pool' would have 55 characters, the limit is 53" in reason

    def rename(sections):
        services = sections["serving"]["services"]
        services[name] = services.pop("llama-70b")
    assert reason in stack_reasons("prod", rename, f"serving.services.{name}")


def test_llmd_refuses_tensor_parallelism_wider_than_a_node_of_its_pool():
    exc = refused(lambda: LlmdModelService("llmd", llmd_args(tp=16)))
    reason = paths(exc)["tensorParallel"]
    assert reason.startswith("tensor 16 x pipeline 1 on pool 'h100-full' (8 GPUs per node): tensor parallel 16 exceeds")
    edit = llama_70b(gpu={"count": 16}, engine={"tensorParallel": 16})
    assert reason in stack_reasons("prod", edit, "serving.services.llama-70b.engine.tensorParallel")


MIG_REF = GpuPoolRef("h100-mig", H100_MIG)


def test_llmd_refuses_a_mig_slice_its_pool_does_not_offer():
    slice_1g = PodPlacement(resources={"nvidia.com/mig-1g.10gb": "1"}, node_selector={}, tolerations=[])
    exc = refused(lambda: LlmdModelService("llmd", llmd_args(tp=1, pool=MIG_REF, placement=slice_1g)))
    reason = paths(exc)["server.placement"]
    assert reason == "pool 'h100-mig' (H100-80GB) is partitioned into ['3g.40gb']; '1g.10gb' is not among them"
    edit = llama_70b(pool="h100-mig", gpu={"count": 1, "migProfile": "1g.10gb"}, engine={"tensorParallel": 1})
    assert stack_reasons("prod", edit, "serving.services.llama-70b.gpu.migProfile") == [reason]


def test_llmd_refuses_whole_gpus_on_a_mig_pool():
    exc = refused(lambda: LlmdModelService("llmd", llmd_args(tp=1, pool=MIG_REF)))
    reason = paths(exc)["server.placement"]
    assert reason == "pool 'h100-mig' is MIG-partitioned (mixed strategy); choose one of ['3g.40gb']"
    edit = llama_70b(pool="h100-mig", gpu={"count": 1}, engine={"tensorParallel": 1})
    assert stack_reasons("prod", edit, "serving.services.llama-70b.gpu.migProfile") == [reason]


def test_llmd_refuses_more_gpus_per_pod_than_a_node_has():
    exc = refused(lambda: LlmdModelService("llmd", llmd_args(tp=16)))
    reason = "16 GPUs per pod exceeds the 8 GPUs of a 'h100-full' node"
    assert reason in reasons(exc, "server.placement")
    edit = llama_70b(gpu={"count": 16}, engine={"tensorParallel": 16})
    assert reason in stack_reasons("prod", edit, "serving.services.llama-70b.gpu.count")


def test_llmd_from_valid_plain_args_registers_its_releases():
    registrations = run_program(lambda: LlmdModelService("llmd", llmd_args()))
    assert {"llmplatform:serving:LlmdModelService", "kubernetes:helm.sh/v3:Release"} <= {r.type for r in registrations}


def test_llmd_refuses_prefill_pods_without_their_arguments():
    exc = refused(lambda: LlmdModelService("llmd", llmd_args(prefill_replicas=1)))
    assert "prefill_replicas > 0 needs prefill_vllm_args" in [e["reason"] for e in exc.errors if e["property_path"] == "prefillVllmArgs"]


def test_llmd_refuses_a_server_port_the_pool_does_not_target():
    args = llmd_args(routing_proxy=False)
    exc = refused(lambda: LlmdModelService("llmd", args))
    assert paths(exc)["server.port"] == ("server.port must be 8000 (the pool and routing sidecar expect it), got 8200")


def test_llmd_refuses_scaling_below_one_replica():
    exc = refused(lambda: LlmdModelService("llmd", llmd_args(scaling=LlmdScaling(min_replicas=0, max_replicas=2))))
    assert paths(exc) == {"scaling": "scaling needs 1 <= min_replicas <= max_replicas, got 0..2"}


def test_llmd_refuses_vllm_arguments_that_disagree_with_its_args():
    exc = refused(lambda: LlmdModelService("llmd", replace(llmd_args(), tensor_parallel=4)))
    assert "--tensor-parallel-size 2 disagrees with tensor_parallel=4" in paths(exc)["server.args"]


# ---------------------------------------------------------------- ServiceGate


def gate_args(spec: GateSpec, listen_port: int = 8080) -> ServiceGateArgs:
    return ServiceGateArgs(service="svc", namespace="llm", spec=spec, tenants={}, key_hashes={}, served={"qwen": []},
                           listen_port=listen_port)


def test_gate_refuses_a_vllm_port_a_frontend_listens_on():
    exc = refused(lambda: ServiceGate("gate", gate_args(GateSpec(vllm_port=8080))))
    reason = paths(exc)["spec.vllmPort"]
    assert reason == "8080 is the KServe port, where the gate itself listens; choose another port"
    assert stack_reasons("prod", lambda s: s.setdefault("gate", {}).update({"vllmPort": 8080}), "gate.vllmPort") == [reason]


def test_gate_refuses_a_metrics_port_equal_to_the_vllm_port():
    exc = refused(lambda: ServiceGate("gate", gate_args(GateSpec(vllm_port=8100, metrics_port=8100))))
    assert paths(exc) == {"spec.metricsPort": "equals spec.vllmPort (8100)"}
    stack = stack_reasons("prod", lambda s: s.setdefault("gate", {}).update({"vllmPort": 8100, "metricsPort": 8100}),
                          "gate.metricsPort")
    assert stack == ["equals gate.vllmPort (8100)"]


def test_gate_refuses_a_client_port_equal_to_one_of_its_own():
    exc = refused(lambda: ServiceGate("gate", gate_args(GateSpec(), listen_port=8081)))
    assert paths(exc)["listenPort"].startswith("equals spec.vllmPort (8081)")


# ---------------------------------------------------------------- ObjectStore / S3ObjectStore


def minio_args(**fields) -> ObjectStoreArgs:
    return ObjectStoreArgs(**{"spec": MinioSpec(), "namespace": "minio", "serving_namespace": "llm", **fields})


def test_object_store_refuses_a_bucket_name_s3_does_not_allow():
    exc = refused(lambda: ObjectStore("minio", minio_args(adapters_bucket="Bad_Bucket")))
    reason = paths(exc)["adaptersBucket"]
    assert reason.startswith("must be an S3 bucket name: 3-63 lowercase letters") and "'Bad_Bucket'" in reason
    assert stack_reasons("prod", lambda s: s["storage"].update({"adaptersBucket": "Bad_Bucket"}),
                         "storage.adaptersBucket") == [reason]


def test_object_store_refuses_a_region_that_is_not_one():
    exc = refused(lambda: ObjectStore("minio", minio_args(region="mars-1")))
    reason = paths(exc)["region"]
    assert reason == "must be an AWS region such as 'us-east-1' (got 'mars-1')"
    assert stack_reasons("prod", lambda s: s["storage"].update({"region": "mars-1"}), "storage.region") == [reason]


def test_object_store_refuses_an_http_publish_endpoint_with_tls():
    spec = MinioSpec(tls_secret="minio-tls", publish_endpoint="http://minio.example:9000")
    exc = refused(lambda: ObjectStore("minio", minio_args(spec=spec)))
    reason = paths(exc)["spec.publishEndpoint"]
    assert reason == "MinIO serves HTTPS only when tlsSecret is set; use an https:// endpoint"
    edit = lambda s: s["storage"].setdefault("minio", {}).update({"tlsSecret": "minio-tls",
                                                                  "publishEndpoint": "http://minio.example:9000"})
    assert stack_reasons("prod", edit, "storage.minio.publishEndpoint") == [reason]


def test_s3_store_refuses_a_bucket_name_s3_does_not_allow():
    args = S3ObjectStoreArgs(spec=S3Spec(), serving_namespace=None, adapters_bucket="ok-adapters", models_bucket="x",
                             region="us-east-1", tags={})
    exc = refused(lambda: S3ObjectStore("s3", args))
    assert paths(exc)["modelsBucket"].startswith("must be an S3 bucket name: 3-63 lowercase letters")


# ---------------------------------------------------------------- Observability


def observability_args(**fields) -> ObservabilityArgs:
    return ObservabilityArgs(**{"namespace": "monitoring", "namespace_name": "monitoring",
                                "release_label": "kube-prometheus-stack", **fields})


def test_observability_refuses_a_threshold_outside_its_range():
    exc = refused(lambda: Observability("obs", observability_args(thresholds=AlertThresholds(kv_cache_usage=1.5))))
    reason = paths(exc)["thresholds.kvCacheUsage"]
    assert reason == "input should be less than or equal to 1 (got 1.5)"
    edit = lambda s: s.setdefault("observability", {}).setdefault("thresholds", {}).update({"kvCacheUsage": 1.5})
    assert stack_reasons("prod", edit, "observability.thresholds.kvCacheUsage") == [reason]


def test_observability_refuses_an_alert_label_prometheus_cannot_carry():
    exc = refused(lambda: Observability("obs", observability_args(extra_alert_labels={"team-name": "x"})))
    reason = paths(exc)["extraAlertLabels.team-name"]
    assert reason.startswith("must be a Prometheus label name")
    edit = lambda s: s.setdefault("observability", {}).update({"extraAlertLabels": {"team-name": "x"}})
    assert stack_reasons("prod", edit, "observability.extraAlertLabels.team-name") == [reason]


def test_observability_refuses_a_release_label_kubernetes_cannot_carry():
    exc = refused(lambda: Observability("obs", observability_args(release_label="not a label")))
    assert "'not a label'" in paths(exc)["releaseLabel"]


def test_gate_store_and_observability_from_valid_plain_args_register():
    types = {r.type for r in run_program(lambda: (ServiceGate("gate", gate_args(GateSpec())),
                                                  ObjectStore("minio", minio_args()),
                                                  Observability("obs", observability_args())))}
    assert {"llmplatform:gate:ServiceGate", "llmplatform:storage:ObjectStore",
            "llmplatform:observability:Observability"} <= types


# ---------------------------------------------------------------- KServe / LlmD


def kserve_args(mode: str = "Knative", domain: str = "example.com", **fields) -> KServeArgs:
    chart = ChartRef(name="x", version="1.0.0", repository="https://example.com/charts")
    knative = KnativeArgs(version="1.21.1", domain=domain, networking="kourier", operator_chart=chart)
    return KServeArgs(**{"mode": mode, "namespace": "kserve", "crd_chart": chart, "chart": chart,
                         "cert_manager_chart": None, "knative": knative, **fields})


def test_kserve_refuses_a_knative_domain_that_is_not_one():
    exc = refused(lambda: KServe("kserve", kserve_args(domain="Example.COM")))
    found = reasons(exc, "knative.domain")
    assert "'Example.COM' is not a DNS domain (lowercase labels separated by dots)" in found
    edit = lambda s: s["serving"]["kserve"].update({"mode": "Knative", "knative": {"domain": "Example.COM"}})
    stack = stack_reasons("prod", edit, "serving.kserve.knative.domain")
    assert stack and set(stack) <= set(found)


def test_kserve_refuses_a_deprecated_mode_name():
    exc = refused(lambda: KServe("kserve", kserve_args(mode="Serverless")))
    assert paths(exc) == {"mode": "deployment mode 'Serverless' is a deprecated alias; use 'Knative'"}


def test_kserve_refuses_knative_mode_without_knative_settings():
    exc = refused(lambda: KServe("kserve", kserve_args(knative=None)))
    assert paths(exc) == {"knative": "KServe Knative mode needs KServeArgs.knative"}


def test_kserve_refuses_an_ingress_it_does_not_know():
    exc = refused(lambda: KServe("kserve", kserve_args(mode="Standard", ingress="nginx")))
    reason = paths(exc)["ingress"]
    assert "'none'" in reason and "'istio'" in reason and "'nginx'" in reason
    stack = stack_reasons("prod", lambda s: s["serving"]["kserve"].update({"ingress": "nginx"}), "serving.kserve.ingress")
    assert stack and "'none'" in stack[0] and "'istio'" in stack[0]


def llmd_gateway_args(**fields) -> LlmdArgs:
    p = llmd_args().platform
    chart = ChartRef(name="llm-d-infra", version="v1.4.0", repository="https://example.com")
    return LlmdArgs(**{"namespace": "llm", "namespace_name": "llm", "provider": "istio", "infra_chart": chart,
                       "router_chart": p.router_chart, "modelservice_chart": p.modelservice_chart, "epp_image": p.epp_image,
                       "routing_sidecar_image": p.routing_sidecar_image,
                       "storage_initializer_image": p.storage_initializer_image, "prometheus_url": "http://p:9090", **fields})


def test_llmd_gateway_refuses_a_provider_it_does_not_know():
    exc = refused(lambda: LlmD("llmd", llmd_gateway_args(provider="nginx")))
    reason = paths(exc)["provider"]
    assert "'istio'" in reason and "'agentgateway'" in reason and "'nginx'" in reason
    stack = stack_reasons("prod", lambda s: s["serving"]["llmd"].update({"gatewayProvider": "nginx"}),
                          "serving.llmd.gatewayProvider")
    assert stack and "'istio'" in stack[0] and "'agentgateway'" in stack[0]


def test_llmd_gateway_refuses_a_service_type_kubernetes_does_not_have():
    exc = refused(lambda: LlmD("llmd", llmd_gateway_args(service_type="External")))
    assert "'LoadBalancer'" in paths(exc)["serviceType"]


# ---------------------------------------------------------------- KarpenterController / DraDriver / AirgapTransforms


def karpenter_args(**fields) -> KarpenterArgs:
    chart = ChartRef(name="karpenter", version="1.8.1", repository="oci://public.ecr.aws/karpenter")
    return KarpenterArgs(**{"cluster_name": "llm-prod", "region": "us-east-1", "chart": chart, **fields})


def test_karpenter_refuses_a_region_that_is_not_one():
    exc = refused(lambda: KarpenterController("karpenter", karpenter_args(region="mars-1")))
    reason = paths(exc)["region"]
    assert reason == "must be an AWS region such as 'us-east-1' (got 'mars-1')"
    assert stack_reasons("prod", lambda s: s["cluster"].update({"region": "mars-1"}), "cluster.region") == [reason]


def test_karpenter_refuses_a_cluster_name_eks_does_not_allow():
    exc = refused(lambda: KarpenterController("karpenter", karpenter_args(cluster_name="-bad name")))
    reason = paths(exc)["clusterName"]
    assert stack_reasons("prod", lambda s: s["cluster"].update({"name": "-bad name"}), "cluster.name") == [reason]


def test_karpenter_refuses_a_namespace_that_is_not_a_dns_label():
    exc = refused(lambda: KarpenterController("karpenter", karpenter_args(namespace="Kube_System")))
    reason = paths(exc)["namespace"]
    assert reason.startswith("must be a DNS-1123 label")
    edit = lambda s: s["gpu"]["karpenter"].update({"namespace": "Kube_System"})
    assert stack_reasons("prod", edit, "gpu.karpenter.namespace") == [reason]


def dra_args(**fields) -> DraDriverArgs:
    return DraDriverArgs(**{"claim_templates": {}, "claims_namespace": "llm", **fields})


def test_dra_driver_refuses_a_claim_template_name_kubernetes_cannot_carry():
    tmpl = ClaimTemplateSpec.model_validate({"count": 1, "product": "h100"})
    exc = refused(lambda: DraDriver("dra", dra_args(claim_templates={"H100_80g": tmpl})))
    found = reasons(exc, "claimTemplates.H100_80g")
    assert "'H100_80g' must be a DNS label (it names a ResourceClaimTemplate)" in found

    def rename(sections):
        templates = sections["gpu"]["dra"]["claimTemplates"]
        templates["H100_80g"] = templates.pop("h100-80g")
    stack = stack_reasons("staging", rename, "gpu.dra.claimTemplates.H100_80g")
    assert stack and set(stack) <= set(found)


def test_dra_driver_refuses_a_product_the_device_attribute_never_matches():
    tmpl = ClaimTemplateSpec.model_validate({"count": 1, "product": "NVIDIA H100"})
    exc = refused(lambda: DraDriver("dra", dra_args(claim_templates={"h100-80g": tmpl})))
    reason = paths(exc)["claimTemplates.h100-80g.product"]
    assert "'NVIDIA H100' must be lowercase letters, digits, spaces or '-'" in reason
    edit = lambda s: s["gpu"]["dra"]["claimTemplates"]["h100-80g"].update({"product": "NVIDIA H100"})
    assert stack_reasons("staging", edit, "gpu.dra.claimTemplates.h100-80g.product") == [reason]


def test_dra_driver_refuses_an_install_without_its_namespace():
    chart = ChartRef(name="nvidia-dra-driver-gpu", version="25.8.0", repository="https://helm.ngc.nvidia.com/nvidia")
    exc = refused(lambda: DraDriver("dra", dra_args(chart=chart)))
    assert paths(exc) == {"namespace": "a DRA driver install (chart set) needs its namespace"}


def test_airgap_refuses_a_registry_that_is_not_host_and_path():
    exc = refused(lambda: AirgapTransforms("airgap", AirgapArgs(settings=AirgapSettings(registry="https://mirror"))))
    reason = paths(exc)["settings.registry"]
    edit = lambda s: s["airgap"].update({"registry": "https://mirror"})
    assert stack_reasons("airgap", edit, "airgap.registry") == [reason]


def test_airgap_refuses_a_pull_secret_name_kubernetes_cannot_carry():
    settings = AirgapSettings(registry="registry.llm.internal:5000/mirror", pull_secrets=("Mirror_Secret",))
    exc = refused(lambda: AirgapTransforms("airgap", AirgapArgs(settings=settings)))
    reason = paths(exc)["settings.pullSecrets[0]"]
    edit = lambda s: s["airgap"].update({"imagePullSecrets": ["Mirror_Secret"]})
    assert stack_reasons("airgap", edit, "airgap.imagePullSecrets[0]") == [reason]


# ---------------------------------------------------------------- AdapterCatalog

ROOT = Path(__file__).resolve().parents[2]


def catalog_args(adapters: list[dict], **fields) -> AdapterCatalogArgs:
    specs = [AdapterSpec.model_validate(a) for a in adapters]
    return AdapterCatalogArgs(**{"adapters": specs, "store": StoreConnection(endpoint=None, bucket="adapters"),
                                 "root": ROOT, **fields})


def local_adapters() -> list[dict]:
    return stack_sections("local")["models"]["adapters"]


def test_catalog_refuses_an_adapter_declared_twice():
    twice = [local_adapters()[0], {**local_adapters()[0], "version": "v2026-12-01"}]
    exc = refused(lambda: AdapterCatalog("adapters", catalog_args(twice)))
    reason = paths(exc)["adapters[1].name"]
    assert reason == ("adapter 'sql' of 'qwen2.5-7b' is declared more than once; the registry serves exactly one pinned "
                      "version per adapter")
    edit = lambda s: s["models"]["adapters"].append({**s["models"]["adapters"][0], "version": "v2026-12-01"})
    index = len(local_adapters())
    assert stack_reasons("local", edit, f"models.adapters[{index}].name") == [reason]


def test_catalog_refuses_an_adapter_vllm_would_not_load(tmp_path):
    bad = {**local_adapters()[0], "sourceDir": str(tmp_path.relative_to(ROOT) if tmp_path.is_relative_to(ROOT) else tmp_path)}
    exc = refused(lambda: AdapterCatalog("adapters", catalog_args([bad])))
    reason = paths(exc)["adapters[0].sourceDir"]
    assert "adapter_config.json is missing" in reason and "no weights file" in reason
    edit = lambda s: s["models"]["adapters"][0].update({"sourceDir": bad["sourceDir"], "allowExternalSource": True})
    assert stack_reasons("local", edit, "models.adapters[0].sourceDir") == [reason]


def test_catalog_refuses_an_architecture_the_catalog_does_not_have():
    exc = refused(lambda: AdapterCatalog("adapters", catalog_args(local_adapters()[:1],
                                                                  architectures={"qwen2.5-7b": "Qwen2.5-7"})))
    assert paths(exc)["architectures.qwen2.5-7b"].startswith("no architecture 'Qwen2.5-7' in the capacity catalog")


def test_catalog_from_valid_plain_args_checks_and_registers_every_version():
    registrations = run_program(lambda: AdapterCatalog("adapters", catalog_args(local_adapters(),
                                                                                architectures={"qwen2.5-7b": "Qwen2.5-7B"})))
    assert sum(r.type.endswith("AdapterVersion") for r in registrations) == len(local_adapters())
