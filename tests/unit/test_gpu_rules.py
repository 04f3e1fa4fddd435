"""GPU-layer config rules: pools the hardware, the GPU Operator, the DRA driver or Karpenter would
refuse are refused at config time, with the field path, the bad value and what is allowed."""

from __future__ import annotations

import copy

import pytest

from infra.config_loading import PlatformConfigError, load_platform_config

POOL = {"provisioner": "karpenter", "gpu": "H100-80GB", "gpusPerNode": 8, "instanceFamilies": ["p5"],
        "sharing": {"mode": "mig", "strategy": "mixed", "layout": {"3g.40gb": 2}}}
BASE = {
    "cluster": {"kind": "eks", "name": "c1", "region": "us-east-1"},
    "gpu": {"karpenter": {"install": True}, "operator": {"install": True}, "pools": {"mig": copy.deepcopy(POOL)}},
}


def issues_for(edit) -> list[tuple[str, str]]:
    sections = copy.deepcopy(BASE)
    edit(sections)
    with pytest.raises(PlatformConfigError) as info:
        load_platform_config("dev", sections, "stacks/Pulumi.dev.yaml")
    return [(i.path, i.message) for i in info.value.issues]


def pool(s, name="mig"):
    return s["gpu"]["pools"][name]


def test_base_is_valid():
    cfg = load_platform_config("dev", copy.deepcopy(BASE))
    assert cfg.gpu.pools["mig"].sharing.layout == {"3g.40gb": 2}


def test_layout_that_does_not_fit_names_the_layout_field():
    issues = issues_for(lambda s: pool(s)["sharing"].update(layout={"3g.40gb": 2, "2g.20gb": 1}))
    path, msg = issues[0]
    assert path == "gpu.pools.mig.sharing.layout"
    assert "'H100-80GB'" in msg and "compute slices" in msg


def test_profile_the_gpu_lacks_is_refused_with_the_available_profiles():
    issues = issues_for(lambda s: pool(s)["sharing"].update(layout={"3g.20gb": 2}))
    path, msg = issues[0]
    assert path == "gpu.pools.mig.sharing.layout"
    assert "'3g.20gb' does not exist on H100-80GB" in msg and "3g.40gb" in msg


def test_mig_on_a_gpu_without_mig():
    def edit(s):
        pool(s).update(gpu="L40S", instanceFamilies=["g6e"], gpusPerNode=1)
    path, msg = issues_for(edit)[0]
    assert path == "gpu.pools.mig.sharing.layout" and "does not support MIG" in msg


def test_single_strategy_with_two_profiles_is_refused():
    issues = issues_for(lambda s: pool(s)["sharing"].update(strategy="single", layout={"3g.40gb": 1, "2g.20gb": 1}))
    assert issues[0][0] == "gpu.pools.mig.sharing.strategy"
    assert "use strategy 'mixed'" in issues[0][1]


def test_pools_must_agree_on_the_cluster_wide_mig_strategy():
    def edit(s):
        other = copy.deepcopy(POOL)
        other["sharing"] = {"mode": "mig", "strategy": "single", "layout": {"1g.10gb": 7}}
        s["gpu"]["pools"]["small"] = other
    issues = issues_for(edit)
    assert [p for p, _ in issues] == ["gpu.pools.small.sharing.strategy"]
    assert "mig=mixed, small=single" in issues[0][1]


def test_hybrid_time_slices_only_profiles_in_the_layout():
    def edit(s):
        pool(s)["sharing"] = {"mode": "hybrid", "layout": {"3g.40gb": 2}, "timeSliced": {"1g.10gb": 4}}
    assert issues_for(edit)[0][0] == "gpu.pools.mig.sharing.timeSliced"


def test_instance_family_must_carry_the_pools_gpu():
    issues = issues_for(lambda s: pool(s).update(instanceFamilies=["p4de"]))
    assert issues == [("gpu.pools.mig.instanceFamilies[0]", "'p4de' carries a100 (81920 MiB) GPUs, not 'H100-80GB'")]


def test_unknown_instance_family_lists_the_known_ones():
    path, msg = issues_for(lambda s: pool(s).update(instanceFamilies=["p9"]))[0]
    assert path == "gpu.pools.mig.instanceFamilies[0]" and "p5e" in msg and "g6e" in msg


def test_reserved_capacity_needs_reservation_selectors():
    issues = issues_for(lambda s: pool(s).update(capacityTypes=["reserved", "on-demand"]))
    assert issues[0][0] == "gpu.pools.mig.capacityTypes" and "capacityReservationTags" in issues[0][1]
    load_platform_config("dev", {**copy.deepcopy(BASE), "gpu": {**copy.deepcopy(BASE["gpu"]), "pools": {"mig": {
        **POOL, "capacityTypes": ["reserved", "on-demand"], "capacityReservationIds": ["cr-0123456789abcdef0"]}}}})


@pytest.mark.parametrize("field, value, path", [
    ("expireAfter", "30d", "gpu.pools.mig.expireAfter"),
    ("terminationGracePeriod", "Never", "gpu.pools.mig.terminationGracePeriod"),
    ("amiAlias", "al2@latest", "gpu.pools.mig.amiAlias"),
])
def test_karpenter_fields_follow_the_crd_patterns(field, value, path):
    issues = issues_for(lambda s: pool(s).update({field: value}))
    assert issues[0][0] == path and repr(value) in issues[0][1]


def test_budget_nodes_pattern():
    issues = issues_for(lambda s: pool(s).update(disruption={"budgets": [{"nodes": "ten"}]}))
    assert issues[0][0] == "gpu.pools.mig.disruption.budgets[0].nodes"


def test_bottlerocket_cannot_use_operator_sharing():
    issues = issues_for(lambda s: pool(s).update(amiAlias="bottlerocket@v1.30.0"))
    assert issues[0][0] == "gpu.pools.mig.amiAlias" and "needs al2023" in issues[0][1]


def test_dra_pool_cannot_run_the_device_plugin_too():
    def edit(s):
        s["gpu"]["dra"] = {"install": True}
        pool(s).update(sharing={"mode": "dra"}, labels={"nvidia.com/gpu.deploy.device-plugin": "true"})
    issues = issues_for(edit)
    assert issues[0][0] == "gpu.pools.mig.labels" and "DRA GPU plugin on the same nodes" in issues[0][1]


def test_device_plugin_pool_cannot_start_the_dra_plugin():
    issues = issues_for(lambda s: pool(s).update(labels={"llm-platform.io/gpu-allocation": "dra"}))
    assert issues[0][0] == "gpu.pools.mig.labels" and "refused by the DRA driver" in issues[0][1]


def test_mig_profile_claims_need_dynamic_mig():
    def edit(s):
        s["gpu"]["dra"] = {"install": True, "claimTemplates": {"slice": {"migProfile": "3g.40gb"}}}
        pool(s)["sharing"] = {"mode": "dra"}
    assert issues_for(edit)[0][0] == "gpu.dra.claimTemplates.slice.migProfile"


def test_sharing_needs_the_operator_on_a_real_cluster():
    issues = issues_for(lambda s: s["gpu"]["operator"].update(install=False))
    assert issues == [("gpu.pools.mig.sharing.mode", "'mig' is applied by the NVIDIA GPU Operator (device plugin config, "
                                                     "MIG manager); set gpu.operator.install")]


def test_mixed_mig_pool_without_node_overlay_would_never_scale():
    issues = issues_for(lambda s: s["gpu"]["karpenter"].update(nodeOverlay=False))
    assert issues[0][0] == "gpu.karpenter.nodeOverlay" and "nvidia.com/mig-3g.40gb" in issues[0][1]


def test_two_layouts_under_one_config_name():
    def edit(s):
        other = copy.deepcopy(POOL)
        other["sharing"] = {"mode": "mig", "layout": {"1g.10gb": 7}, "configName": "all-3g.40gb"}
        s["gpu"]["pools"]["small"] = other
    issues = issues_for(edit)
    assert issues[0][0] == "gpu.pools.small.sharing.configName" and "'all-3g.40gb'" in issues[0][1]


def test_time_slicing_is_nvidia_only():
    def edit(s):
        pool(s).update(accelerator="amd", gpu="MI300X", instanceFamilies=["p5"], sharing={"mode": "time-slicing", "replicas": 2})
    assert issues_for(edit)[0][0] == "gpu.pools.mig.sharing.mode"


def test_karpenter_crd_chart_must_match_the_controller():
    issues = issues_for(lambda s: s["gpu"]["karpenter"].update(crdChart={"name": "karpenter-crd", "version": "1.13.0",
                                                                         "repository": "oci://public.ecr.aws/karpenter"}))
    assert issues[0][0] == "gpu.karpenter.crdChart.version" and "'1.14.1'" in issues[0][1]


# Property: the config refuses exactly the layouts the catalog refuses, and every layout it
# accepts renders (mig-parted document, node labels, NodeOverlay capacity) without raising, so a
# stack that passes validation never fails later in synthesis.
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from components.gpu.mig import MigLayoutError, gpu_spec, validate_layout  # noqa: E402
from components.gpu.node_pool import node_overlay_spec, node_pool_spec  # noqa: E402
from components.gpu.sharing import sharing_config  # noqa: E402

_H100 = gpu_spec("H100-80GB").profile_names


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(_H100), st.integers(min_value=1, max_value=8), min_size=1, max_size=4),
       st.sampled_from(["single", "mixed"]))
def test_config_accepts_exactly_the_placeable_layouts(layout, strategy):
    try:
        validate_layout("H100-80GB", layout)
        placeable = True
    except MigLayoutError:
        placeable = False
    sections = copy.deepcopy(BASE)
    pool(sections)["sharing"] = {"mode": "mig", "strategy": strategy, "layout": layout}
    try:
        cfg = load_platform_config("dev", sections)
    except PlatformConfigError as exc:
        paths = {i.path for i in exc.issues}
        assert paths <= {"gpu.pools.mig.sharing.layout", "gpu.pools.mig.sharing.strategy"}, paths
        assert placeable == ("gpu.pools.mig.sharing.layout" not in paths)
        return
    assert placeable
    pools = cfg.gpu.pools
    doc = sharing_config(pools).mig_parted
    assert doc is not None and len(doc["mig-configs"]) == 2
    node_pool_spec("mig", pools["mig"], "mig")
    overlay = node_overlay_spec("mig", pools["mig"])
    assert (overlay is None) == (strategy == "single")
