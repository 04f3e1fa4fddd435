"""Device plugin time-slicing: spec validation, config document, node label, advertised counts.

Expectations come from NVIDIA/k8s-device-plugin's README (config shape, the 8 GPUs x 10
replicas = 80 example, ``.shared`` renaming) and its config code (replicas >= 2; only
``nvidia.com/gpu`` and mixed-strategy MIG resources can be time-sliced).
"""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from components.gpu import mig
from components.gpu.mig import MigDeviceGroup, MigLayoutError
from components.gpu.time_slicing import (
    DEVICE_PLUGIN_CONFIG_LABEL,
    TimeSlicingError,
    TimeSlicingSpec,
    advertised_resources,
    device_plugin_config,
    device_plugin_config_label,
)

H100 = "H100-80GB"


def test_default_spec_renders_the_readme_document_with_nvidias_recommended_guard():
    doc = device_plugin_config(TimeSlicingSpec(4))
    assert doc == {
        "version": "v1",
        "flags": {"migStrategy": "none"},
        "sharing": {"timeSlicing": {
            "renameByDefault": False,
            "failRequestsGreaterThanOne": True,  # NVIDIA recommends it; the plugin defaults to false
            "resources": [{"name": "nvidia.com/gpu", "replicas": 4}],
        }},
    }
    assert yaml.safe_load(yaml.safe_dump(doc)) == doc


def test_readme_example_8_gpus_times_10_replicas_is_80():
    assert advertised_resources(TimeSlicingSpec(10), gpus_per_node=8) == {"nvidia.com/gpu": 80}
    assert advertised_resources(TimeSlicingSpec(10, rename_by_default=True), gpus_per_node=8) == {
        "nvidia.com/gpu.shared": 80}


@settings(max_examples=200, deadline=None)
@given(st.integers(2, 64), st.integers(1, 16), st.booleans(), st.booleans())
def test_whole_gpu_sharing_multiplies_capacity_and_renames_when_asked(replicas, gpus, rename, fail_gt_one):
    spec = TimeSlicingSpec(replicas, rename_by_default=rename, fail_requests_greater_than_one=fail_gt_one)
    name = "nvidia.com/gpu.shared" if rename else "nvidia.com/gpu"
    assert advertised_resources(spec, gpus_per_node=gpus) == {name: gpus * replicas}
    ts = device_plugin_config(spec)["sharing"]["timeSlicing"]
    assert (ts["renameByDefault"], ts["failRequestsGreaterThanOne"]) == (rename, fail_gt_one)
    assert ts["resources"] == [{"name": "nvidia.com/gpu", "replicas": replicas}]


@settings(max_examples=50, deadline=None)
@given(st.integers(-5, 1) | st.sampled_from([True, 2.0, "4"]))
def test_replicas_below_two_or_not_int_are_refused(replicas):
    with pytest.raises(TimeSlicingError, match=r"must be an int >= 2"):
        TimeSlicingSpec(replicas)


@pytest.mark.parametrize(
    "resource",
    ["nvidia.com/gpu.shared", "amd.com/gpu", "nvidia.com/mig-1g.10gb+me", "mig-1g.10gb", "nvidia.com/mps",
     "nvidia.com/mig-1g.10gb.shared"],
)
def test_only_gpu_and_mixed_mig_resources_can_be_time_sliced(resource):
    with pytest.raises(TimeSlicingError, match="cannot be time-sliced"):
        TimeSlicingSpec(4, resources=[resource])


def test_spec_shape_errors():
    with pytest.raises(TimeSlicingError, match="at least one resource"):
        TimeSlicingSpec(4, resources=[])
    with pytest.raises(TimeSlicingError, match="twice"):
        TimeSlicingSpec(4, resources=["nvidia.com/gpu", "nvidia.com/gpu"])
    with pytest.raises(TimeSlicingError, match="not both"):
        TimeSlicingSpec({"nvidia.com/gpu": 4}, resources=["nvidia.com/mig-1g.10gb"])
    with pytest.raises(TimeSlicingError, match="must be a bool"):
        TimeSlicingSpec(4, rename_by_default="yes")


def test_time_slicing_errors_are_value_errors_callers_can_catch_with_mig_errors():
    assert issubclass(TimeSlicingError, MigLayoutError) and issubclass(TimeSlicingError, ValueError)


def test_mig_resources_cannot_be_shared_without_the_mixed_strategy():
    spec = TimeSlicingSpec.for_mig_profiles({"1g.10gb": 4})
    with pytest.raises(TimeSlicingError, match="'nvidia.com/mig-1g.10gb' is not advertised by this node"):
        device_plugin_config(spec)
    # Under 'single' the slices are nvidia.com/gpu, so mig-* names do not exist either.
    with pytest.raises(TimeSlicingError, match="produces nvidia.com/gpu"):
        device_plugin_config(spec, mig_strategy="single", gpu=H100, mig_layout=mig.all_single(H100, "1g.10gb"))


def test_none_strategy_refuses_a_mig_layout_and_mig_strategies_need_one():
    with pytest.raises(TimeSlicingError, match="ignores MIG"):
        device_plugin_config(TimeSlicingSpec(4), mig_layout=mig.all_balanced(H100))
    with pytest.raises(TimeSlicingError, match="needs gpu= and mig_layout="):
        device_plugin_config(TimeSlicingSpec(4), mig_strategy="mixed")


def test_hybrid_shares_only_slices_the_layout_produces():
    spec = TimeSlicingSpec.for_mig_profiles({"1g.10gb": 4})
    doc = device_plugin_config(spec, mig_strategy="mixed", gpu=H100, mig_layout=mig.all_balanced(H100),
                               gpus_per_node=8)
    assert doc["flags"] == {"migStrategy": "mixed"}
    assert doc["sharing"]["timeSlicing"]["resources"] == [{"name": "nvidia.com/mig-1g.10gb", "replicas": 4}]
    assert advertised_resources(spec, gpus_per_node=8, mig_strategy="mixed", gpu=H100,
                                mig_layout=mig.all_balanced(H100)) == {
        "nvidia.com/mig-1g.10gb": 64, "nvidia.com/mig-2g.20gb": 8, "nvidia.com/mig-3g.40gb": 8}
    with pytest.raises(TimeSlicingError) as err:
        device_plugin_config(TimeSlicingSpec.for_mig_profiles({"2g.20gb": 2}), mig_strategy="mixed", gpu=H100,
                             mig_layout=mig.all_single(H100, "1g.10gb"))
    assert str(err.value) == (
        "time-sliced resource 'nvidia.com/mig-2g.20gb' is not advertised by this node: the MIG layout on "
        "H100-80GB under migStrategy 'mixed' produces nvidia.com/mig-1g.10gb")


def test_hybrid_rename_applies_only_to_time_sliced_resources():
    spec = TimeSlicingSpec.for_mig_profiles({"1g.10gb": 4}, rename_by_default=True)
    assert advertised_resources(spec, gpus_per_node=8, mig_strategy="mixed", gpu=H100,
                                mig_layout=mig.all_balanced(H100)) == {
        "nvidia.com/mig-1g.10gb.shared": 64, "nvidia.com/mig-2g.20gb": 8, "nvidia.com/mig-3g.40gb": 8}


def test_media_extension_slices_are_shared_under_their_dotted_resource_name():
    spec = TimeSlicingSpec.for_mig_profiles({"1g.10gb+me": 3})
    assert spec.resources == ("nvidia.com/mig-1g.10gb.me",)
    assert advertised_resources(spec, gpus_per_node=2, mig_strategy="mixed", gpu=H100,
                                mig_layout={"1g.10gb+me": 1, "1g.10gb": 6}) == {
        "nvidia.com/mig-1g.10gb": 12, "nvidia.com/mig-1g.10gb.me": 6}


def test_hybrid_with_whole_gpus_on_the_same_node():
    groups = [MigDeviceGroup(None, devices=[0, 1, 2, 3], mig_enabled=False),
              MigDeviceGroup(mig.all_single(H100, "1g.10gb"), devices=[4, 5, 6, 7])]
    spec = TimeSlicingSpec({"nvidia.com/gpu": 2, "nvidia.com/mig-1g.10gb": 3})
    assert advertised_resources(spec, gpus_per_node=8, mig_strategy="mixed", gpu=H100, mig_layout=groups) == {
        "nvidia.com/gpu": 8, "nvidia.com/mig-1g.10gb": 84}
    # With every GPU partitioned there is no nvidia.com/gpu left to share.
    with pytest.raises(TimeSlicingError, match="'nvidia.com/gpu' is not advertised"):
        device_plugin_config(TimeSlicingSpec(2), mig_strategy="mixed", gpu=H100,
                             mig_layout=mig.all_single(H100, "1g.10gb"), gpus_per_node=8)


def test_single_strategy_shares_uniform_slices_as_gpus():
    assert advertised_resources(TimeSlicingSpec(2), gpus_per_node=8, mig_strategy="single", gpu=H100,
                                mig_layout=mig.all_single(H100, "3g.40gb")) == {"nvidia.com/gpu": 32}


def test_invalid_mig_layouts_are_refused_before_any_config_is_rendered():
    with pytest.raises(MigLayoutError, match="needs 8 compute slices"):
        device_plugin_config(TimeSlicingSpec.for_mig_profiles({"1g.10gb": 2}), mig_strategy="mixed",
                             gpu="A100-80GB", mig_layout={"3g.40gb": 2, "1g.10gb": 2})


fitting = st.sampled_from([g.model.value for g in mig.catalog()]).flatmap(
    lambda gpu: st.tuples(
        st.just(gpu),
        st.sampled_from([mig.all_balanced(gpu)] + [mig.all_single(gpu, p) for p in mig.gpu_spec(gpu).profile_names]),
    )
)


@settings(max_examples=200, deadline=None)
@given(fitting, st.integers(1, 8), st.data())
def test_hybrid_counts_multiply_only_the_shared_slices(case, gpus, data):
    gpu, layout = case
    shared = data.draw(st.lists(st.sampled_from(layout.profiles), min_size=1, unique=True))
    replicas = {p: data.draw(st.integers(2, 16)) for p in shared}
    rename = data.draw(st.booleans())
    spec = TimeSlicingSpec.for_mig_profiles(replicas, rename_by_default=rename)
    got = advertised_resources(spec, gpus_per_node=gpus, mig_strategy="mixed", gpu=gpu, mig_layout=layout)
    base = mig.mig_resource_names(gpu, layout, "mixed", gpus)
    for profile, count in layout.counts:
        name = mig.mig_resource_name(profile)
        if profile in replicas:
            assert got[name + ".shared" if rename else name] == count * gpus * replicas[profile]
        else:
            assert got[name] == base[name]
    # Time-slicing never invents hardware: divide out replicas and the physical slices remain.
    divisor = {spec.advertised_name(mig.mig_resource_name(p)): r for p, r in replicas.items()}
    physical = sum(v // divisor.get(k, 1) for k, v in got.items())
    assert physical == sum(base.values())


def test_spec_none_renders_a_plain_mig_config():
    assert device_plugin_config(None, mig_strategy="mixed", gpu=H100, mig_layout=mig.all_balanced(H100)) == {
        "version": "v1", "flags": {"migStrategy": "mixed"}}
    assert advertised_resources(None, gpus_per_node=8) == {"nvidia.com/gpu": 8}


def test_unknown_strategy_is_refused():
    with pytest.raises(TimeSlicingError, match="unknown MIG strategy 'auto'"):
        device_plugin_config(TimeSlicingSpec(2), mig_strategy="auto")


def test_device_plugin_config_label():
    assert device_plugin_config_label("shared-4") == {DEVICE_PLUGIN_CONFIG_LABEL: "shared-4"}
    assert DEVICE_PLUGIN_CONFIG_LABEL == "nvidia.com/device-plugin.config"
    for bad in ("", "has space", "x" * 64, "-x", "a/b"):
        with pytest.raises(TimeSlicingError, match="valid label value"):
            device_plugin_config_label(bad)


def test_gpus_per_node_must_be_positive():
    for bad in (0, -1, True, 2.5):
        with pytest.raises(TimeSlicingError, match="gpus_per_node"):
            advertised_resources(TimeSlicingSpec(2), gpus_per_node=bad)
