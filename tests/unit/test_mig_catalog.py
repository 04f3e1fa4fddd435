"""MIG catalog, layout validation and mig-parted rendering.

The expectations here are typed in from NVIDIA's own documents, not derived from the module:
the ``all-<profile>`` / ``all-balanced`` entries and device filters of gpu-operator
``assets/state-mig-manager/0400_configmap.yaml`` / mig-parted ``config-default.yaml``, the MIG
guide's profile tables (memory/SM fractions) and its ``nvidia-smi mig -lgipp`` placements.
"""

from __future__ import annotations

import functools
import itertools

import pytest
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from components.gpu import mig
from components.gpu.mig import (
    GpuModel,
    GpuSpec,
    MigDeviceGroup,
    MigLayout,
    MigLayoutError,
    MigProfile,
)

# --- NVIDIA's data, typed in from the sources ------------------------------------------------

# Profile "kinds" in the order of NVIDIA's tables: 1g, 1g+me, 1g with 2 memory slices, 2g, 3g, 4g, 7g.
KINDS = ("one", "one_me", "one_double", "two", "three", "four", "seven")

# all-<profile> entries: profile -> instances per GPU (gpu-operator 0400_configmap.yaml).
NVIDIA_ALL_PROFILE: dict[str, dict[str, int]] = {
    "A100-40GB": {"1g.5gb": 7, "1g.5gb+me": 1, "1g.10gb": 4, "2g.10gb": 3, "3g.20gb": 2, "4g.20gb": 1, "7g.40gb": 1},
    "A100-80GB": {"1g.10gb": 7, "1g.10gb+me": 1, "1g.20gb": 4, "2g.20gb": 3, "3g.40gb": 2, "4g.40gb": 1, "7g.80gb": 1},
    "H100-80GB": {"1g.10gb": 7, "1g.10gb+me": 1, "1g.20gb": 4, "2g.20gb": 3, "3g.40gb": 2, "4g.40gb": 1, "7g.80gb": 1},
    "H100-NVL-94GB": {"1g.12gb": 7, "1g.12gb+me": 1, "1g.24gb": 4, "2g.24gb": 3, "3g.47gb": 2, "4g.47gb": 1,
                      "7g.94gb": 1},
    "H100-96GB": {"1g.12gb": 7, "1g.12gb+me": 1, "1g.24gb": 4, "2g.24gb": 3, "3g.48gb": 2, "4g.48gb": 1,
                  "7g.96gb": 1},
    "H200-141GB": {"1g.18gb": 7, "1g.18gb+me": 1, "1g.35gb": 4, "2g.35gb": 3, "3g.71gb": 2, "4g.71gb": 1,
                   "7g.141gb": 1},
    "B200-180GB": {"1g.23gb": 7, "1g.23gb+me": 1, "1g.45gb": 4, "2g.45gb": 3, "3g.90gb": 2, "4g.90gb": 1,
                   "7g.180gb": 1},
}

# all-balanced entries and the device-filter each is keyed by.
NVIDIA_BALANCED: dict[str, tuple[dict[str, int], set[str]]] = {
    "A100-40GB": ({"1g.5gb": 2, "2g.10gb": 1, "3g.20gb": 1},
                  {"0x20B010DE", "0x20B110DE", "0x20F110DE", "0x20F610DE"}),
    "A100-80GB": ({"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1},
                  {"0x233010DE", "0x233110DE", "0x232210DE", "0x20B210DE", "0x20B510DE", "0x20F310DE",
                   "0x20F510DE", "0x232410DE"}),
    "H100-NVL-94GB": ({"1g.12gb": 2, "2g.24gb": 1, "3g.47gb": 1}, {"0x232110DE", "0x233A10DE"}),
    "H100-96GB": ({"1g.12gb": 2, "2g.24gb": 1, "3g.48gb": 1},
                  {"0x234210DE", "0x233D10DE", "0x20B610DE", "0x232910DE"}),
    "H200-141GB": ({"1g.18gb": 2, "2g.35gb": 1, "3g.71gb": 1}, {"0x233510DE", "0x233B10DE"}),
    "B200-180GB": ({"1g.23gb": 2, "2g.45gb": 1, "3g.90gb": 1}, {"0x290110DE"}),
}
# NVIDIA keys A100-80GB and H100-80GB by one shared filter; the catalog splits it by GA100/GH100.
NVIDIA_BALANCED["H100-80GB"] = NVIDIA_BALANCED["A100-80GB"]

# MIG guide tables 6-9: (SM slices of 7, memory slices of 8) per kind.
GUIDE_FRACTIONS = {"one": (1, 1), "one_me": (1, 1), "one_double": (1, 2), "two": (2, 2), "three": (3, 4),
                   "four": (4, 4), "seven": (7, 8)}
# MIG guide `nvidia-smi mig -lgipp`: ({starts}, size in memory slices) per kind.
LGIPP = {"one": ({0, 1, 2, 3, 4, 5, 6}, 1), "one_me": ({0, 1, 2, 3, 4, 5, 6}, 1), "one_double": ({0, 2, 4, 6}, 2),
         "two": ({0, 2, 4}, 2), "three": ({0, 4}, 4), "four": ({0}, 4), "seven": ({0}, 8)}

GPUS = list(NVIDIA_ALL_PROFILE)
H100 = "H100-80GB"


def kind_of(gpu: str, profile: str) -> str:
    return KINDS[list(NVIDIA_ALL_PROFILE[gpu]).index(profile)]


@functools.cache
def feasible_layouts(gpu: str) -> frozenset[tuple[tuple[str, int], ...]]:
    """Independent oracle: every layout obtainable by tiling the 8 memory slices left to right
    with NVIDIA's placements, capped by the all-<profile> counts and 7 SM slices."""
    names = list(NVIDIA_ALL_PROFILE[gpu])
    found: set[tuple[tuple[str, int], ...]] = set()

    def tile(slot: int, counts: dict[str, int], compute: int) -> None:
        found.add(tuple(sorted((n, c) for n, c in counts.items() if c)))
        for nxt in range(slot, 8):
            for n in names:
                starts, size = LGIPP[kind_of(gpu, n)]
                c = GUIDE_FRACTIONS[kind_of(gpu, n)][0]
                if nxt in starts and nxt + size <= 8 and counts.get(n, 0) < NVIDIA_ALL_PROFILE[gpu][n] \
                        and compute + c <= 7:
                    tile(nxt + size, {**counts, n: counts.get(n, 0) + 1}, compute + c)

    tile(0, {}, 0)
    return frozenset(found)


def oracle_fits(gpu: str, counts: dict[str, int]) -> bool:
    key = tuple(sorted((n, c) for n, c in counts.items() if c))
    if not key or any(n not in NVIDIA_ALL_PROFILE[gpu] for n, _ in key):
        return False
    if sum(c for n, c in key if n.endswith("+me")) > 1:
        return False
    return key in feasible_layouts(gpu)


# --- catalog --------------------------------------------------------------------------------


@pytest.mark.parametrize("gpu", GPUS)
def test_catalog_has_exactly_nvidias_profiles_with_their_instance_limits(gpu):
    spec = mig.gpu_spec(gpu)
    assert {p.name: p.max_instances for p in spec.profiles} == NVIDIA_ALL_PROFILE[gpu]


@pytest.mark.parametrize("gpu", GPUS)
def test_profile_slices_and_placements_match_the_mig_guide(gpu):
    spec = mig.gpu_spec(gpu)
    for p in spec.profiles:
        kind = kind_of(gpu, p.name)
        assert (p.compute_slices, p.memory_slices) == GUIDE_FRACTIONS[kind], p.name
        starts, size = LGIPP[kind]
        assert set(p.placement_starts) == starts and p.memory_slices == size, p.name
        assert p.media_extensions == (kind == "one_me")


@pytest.mark.parametrize("gpu", GPUS)
def test_profile_memory_is_the_number_in_its_name_and_the_full_profile_is_the_whole_gpu(gpu):
    spec = mig.gpu_spec(gpu)
    for p in spec.profiles:
        assert p.name.split(".")[1].startswith(f"{p.memory_gb}gb"), p.name
    full = spec.profile(next(n for n in NVIDIA_ALL_PROFILE[gpu] if n.startswith("7g.")))
    if spec.gpu_memory_mib is not None:
        # Karpenter's per-GPU memory label must describe the same GPU as the 7g profile.
        assert abs(spec.gpu_memory_mib / 1024 - full.memory_gb) / full.memory_gb < 0.03


def test_a100_40gb_1g_10gb_is_the_double_memory_profile_not_the_80gb_one():
    # Same name, different profile: a layout copied from an 80GB node must not pass on 40GB.
    p40 = mig.gpu_spec("A100-40GB").profile("1g.10gb")
    p80 = mig.gpu_spec("A100-80GB").profile("1g.10gb")
    assert (p40.memory_slices, p40.max_instances) == (2, 4)
    assert (p80.memory_slices, p80.max_instances) == (1, 7)
    mig.validate_layout("A100-80GB", {"1g.10gb": 7})
    with pytest.raises(MigLayoutError, match=r"5 x 1g\.10gb on A100-40GB, which allows at most 4"):
        mig.validate_layout("A100-40GB", {"1g.10gb": 5})


@pytest.mark.parametrize("gpu", GPUS)
def test_device_filter_ids_are_nvidias(gpu):
    spec = mig.gpu_spec(gpu)
    assert set(spec.device_filter) <= NVIDIA_BALANCED[gpu][1]
    for pci in spec.device_filter:
        assert mig.gpu_models_for_pci_id(pci) == (spec.model,)
    assert mig.gpu_models_for_pci_id(spec.device_filter[0].lower()[:6]) == (spec.model,)


def test_80gb_filter_group_is_split_between_a100_and_h100_without_loss():
    a100 = set(mig.gpu_spec("A100-80GB").device_filter)
    h100 = set(mig.gpu_spec("H100-80GB").device_filter)
    assert a100 | h100 == NVIDIA_BALANCED["A100-80GB"][1] and not a100 & h100
    assert "0x20B210DE" in a100 and "0x233010DE" in h100  # A100-SXM4-80GB, H100 SXM5 80GB


@pytest.mark.parametrize(
    ("family", "expected"),
    [("p4d", GpuModel.A100_40GB), ("p4de", GpuModel.A100_80GB), ("p5", GpuModel.H100_80GB),
     ("p5e", GpuModel.H200_141GB), ("p5en", GpuModel.H200_141GB), ("p6-b200", GpuModel.B200_180GB),
     ("g5", None), ("g6", None), ("g6e", None)],
)
def test_instance_family_maps_to_gpu_model(family, expected):
    assert mig.gpu_model_for_instance_family(family) == expected
    f = mig.INSTANCE_FAMILIES[family]
    assert mig.gpu_model_for_karpenter_labels(f.gpu_name, f.gpu_memory_mib) == expected
    if expected is not None:
        spec = mig.gpu_spec(expected)
        assert (spec.karpenter_gpu_name, spec.gpu_memory_mib) == (f.gpu_name, f.gpu_memory_mib)


def test_karpenter_labels_tell_a100_40gb_from_80gb_only_by_memory():
    assert mig.gpu_model_for_karpenter_labels("a100", 40960) is GpuModel.A100_40GB
    assert mig.gpu_model_for_karpenter_labels("a100", 81920) is GpuModel.A100_80GB
    with pytest.raises(MigLayoutError, match="no known GPU"):
        mig.gpu_model_for_karpenter_labels("a100", 12345)
    with pytest.raises(MigLayoutError, match="unknown GPU instance family 'p3'"):
        mig.gpu_model_for_instance_family("p3")


def test_gpu_lookup_by_alias_and_refusals():
    assert mig.gpu_spec("b200").model is GpuModel.B200_180GB
    assert mig.gpu_spec("H200").model is GpuModel.H200_141GB
    assert mig.gpu_spec(GpuModel.H100_80GB) is mig.gpu_spec("h100-80gb")
    with pytest.raises(MigLayoutError, match="ambiguous GPU model 'H100'.*H100-80GB, H100-NVL-94GB, H100-96GB"):
        mig.gpu_spec("H100")
    with pytest.raises(MigLayoutError, match="'L4' does not support MIG"):
        mig.gpu_spec("L4")
    with pytest.raises(MigLayoutError, match="unknown GPU model 'GB200'"):
        mig.gpu_spec("GB200")


# --- NVIDIA's canonical layouts ---------------------------------------------------------------


@pytest.mark.parametrize(("gpu", "profile"), [(g, p) for g in GPUS for p in NVIDIA_ALL_PROFILE[g]])
def test_every_nvidia_all_profile_layout_is_accepted(gpu, profile):
    layout = mig.all_single(gpu, profile)
    assert layout.as_dict() == {profile: NVIDIA_ALL_PROFILE[gpu][profile]}
    assert layout.name == "all-" + profile.replace("+", ".")  # NVIDIA spells all-1g.10gb.me
    mig.validate_layout(gpu, layout)


@pytest.mark.parametrize("gpu", GPUS)
def test_every_nvidia_all_balanced_layout_is_accepted(gpu):
    layout = mig.all_balanced(gpu)
    assert layout.name == "all-balanced"
    assert layout.as_dict() == NVIDIA_BALANCED[gpu][0]
    mig.validate_layout(gpu, layout)


@pytest.mark.parametrize("gpu", GPUS)
def test_one_more_instance_than_nvidias_all_profile_is_refused(gpu):
    for profile, count in NVIDIA_ALL_PROFILE[gpu].items():
        with pytest.raises(MigLayoutError):
            mig.validate_layout(gpu, {profile: count + 1})


# --- exactness of the validator -----------------------------------------------------------------


@pytest.mark.parametrize("gpu", GPUS)
def test_validator_agrees_with_the_tiling_oracle_on_every_layout_up_to_the_limits(gpu):
    names = list(NVIDIA_ALL_PROFILE[gpu])
    ranges = [range(NVIDIA_ALL_PROFILE[gpu][n] + 2) for n in names]
    accepted = 0
    for combo in itertools.product(*ranges):
        counts = {n: c for n, c in zip(names, combo) if c}
        try:
            mig.validate_layout(gpu, counts)
            ok = True
        except MigLayoutError:
            ok = False
        assert ok == oracle_fits(gpu, counts), counts
        accepted += ok
    # Same geometry on every catalog GPU: 127 non-empty layouts can be created.
    assert accepted == len(feasible_layouts(gpu)) - 1 == 127


layouts = st.sampled_from(GPUS).flatmap(
    lambda gpu: st.tuples(
        st.just(gpu),
        st.fixed_dictionaries({n: st.integers(0, m + 1) for n, m in NVIDIA_ALL_PROFILE[gpu].items()}),
    )
)


@settings(max_examples=300, deadline=None)
@given(layouts)
def test_accepted_layouts_fit_by_sums_limits_and_a_real_placement(case):
    gpu, counts = case
    spec = mig.gpu_spec(gpu)
    try:
        plan = mig.plan_placement(gpu, counts)
    except MigLayoutError:
        assert not oracle_fits(gpu, counts)
        return
    assert oracle_fits(gpu, counts)
    wanted = {n: c for n, c in counts.items() if c}
    assert sum(spec.profile(n).compute_slices * c for n, c in wanted.items()) <= 7
    assert sum(spec.profile(n).memory_slices * c for n, c in wanted.items()) <= 8
    assert all(c <= NVIDIA_ALL_PROFILE[gpu][n] for n, c in wanted.items())
    # The returned plan is something nvidia-smi could create: allowed starts, no overlap.
    used: set[int] = set()
    for inst in plan:
        starts, size = LGIPP[kind_of(gpu, inst.profile)]
        assert inst.start in starts and inst.size == size
        slots = set(range(inst.start, inst.start + inst.size))
        assert slots <= set(range(8)) and not slots & used
        used |= slots
    assert {n: sum(1 for i in plan if i.profile == n) for n in wanted} == wanted


@settings(max_examples=200, deadline=None)
@given(layouts)
def test_over_subscribed_layouts_are_refused_with_the_slice_count(case):
    gpu, counts = case
    spec = mig.gpu_spec(gpu)
    compute = sum(spec.profile(n).compute_slices * c for n, c in counts.items())
    memory = sum(spec.profile(n).memory_slices * c for n, c in counts.items())
    assume(compute > 7 or memory > 8)
    over_limit = any(c > NVIDIA_ALL_PROFILE[gpu][n] for n, c in counts.items())
    with pytest.raises(MigLayoutError) as err:
        mig.validate_layout(gpu, counts)
    msg = str(err.value)
    if over_limit:
        assert "which allows at most" in msg
    elif compute > 7:
        assert f"needs {compute} compute slices on {spec.model}, which has 7" in msg
    else:
        assert f"needs {memory} memory slices on {spec.model}, which has 8" in msg


all_profile_names = sorted({n for d in NVIDIA_ALL_PROFILE.values() for n in d} | {"2g.40gb", "1g.5gb.me", "8g.1gb"})


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(GPUS), st.sampled_from(all_profile_names) | st.from_regex(r"[1-7]g\.[0-9]{1,3}gb", fullmatch=True))
def test_unknown_profiles_are_refused_naming_gpu_and_alternatives(gpu, profile):
    assume(profile not in NVIDIA_ALL_PROFILE[gpu])
    spec = mig.gpu_spec(gpu)
    with pytest.raises(MigLayoutError) as err:
        mig.validate_layout(gpu, {profile: 1})
    assert str(err.value) == (
        f"profile {profile!r} does not exist on {spec.model}; available: {', '.join(NVIDIA_ALL_PROFILE[gpu])}"
    )


def test_b200_has_no_2g_40gb_profile():
    # ai-on-eks ships a p6-b200 config with "2g.40gb"; mig-parted would fail on the node.
    with pytest.raises(MigLayoutError) as err:
        mig.validate_layout("B200", {"2g.40gb": 1, "1g.23gb": 2})
    assert str(err.value) == ("profile '2g.40gb' does not exist on B200-180GB; available: 1g.23gb, 1g.23gb+me, "
                              "1g.45gb, 2g.45gb, 3g.90gb, 4g.90gb, 7g.180gb")


def test_exact_oversubscription_messages():
    with pytest.raises(MigLayoutError) as err:
        mig.validate_layout("A100-80GB", {"3g.40gb": 2, "1g.10gb": 2})
    assert str(err.value) == "layout {1g.10gb: 2, 3g.40gb: 2} needs 8 compute slices on A100-80GB, which has 7"
    with pytest.raises(MigLayoutError) as err:
        mig.validate_layout("H200", {"1g.35gb": 3, "3g.71gb": 1})
    assert str(err.value) == "layout {1g.35gb: 3, 3g.71gb: 1} needs 10 memory slices on H200-141GB, which has 8"


def test_two_media_extension_instances_are_refused_even_across_profiles():
    # A single synthetic GPU with two +me profiles: the engines still exist once.
    base = mig.gpu_spec("H100-80GB")
    extra = MigProfile("1g.20gb+me", 1, 2, 20, 1, (0, 2, 4, 6))
    spec = GpuSpec(base.model, "test", (), base.profiles + (extra,), base.balanced)
    with pytest.raises(MigLayoutError, match=r"2 media-extension \(\+me\) instances"):
        mig.validate_layout(spec, {"1g.10gb+me": 1, "1g.20gb+me": 1})


def test_empty_layout_is_refused_because_the_device_plugin_rejects_mig_gpus_without_devices():
    with pytest.raises(MigLayoutError, match="mig_enabled=False"):
        mig.validate_layout("H100-80GB", {})


def test_placement_is_forced_where_the_table_leaves_one_choice():
    # 4g can only start at 0, so 2g and 1g must take slots 4 and 6.
    plan = mig.plan_placement("A100-80GB", {"4g.40gb": 1, "2g.20gb": 1, "1g.10gb": 1})
    assert [(i.profile, i.start, i.size) for i in plan] == [("4g.40gb", 0, 4), ("2g.20gb", 4, 2), ("1g.10gb", 6, 1)]
    # Two 2g instances need slots 0-3, which pushes the 3g to its second start (4).
    plan = mig.plan_placement("H100-80GB", {"3g.40gb": 1, "2g.20gb": 2})
    assert [(i.profile, i.start) for i in plan] == [("2g.20gb", 0), ("2g.20gb", 2), ("3g.40gb", 4)]


def test_packer_is_exact_not_sum_based():
    # A geometry where the sums fit but the placement table does not: 3g only at 0 and 2g never at 6.
    spec = GpuSpec(
        GpuModel.H100_80GB, "synthetic", (),
        (MigProfile("2g.20gb", 2, 2, 20, 3, (0, 2, 4)), MigProfile("3g.40gb", 3, 4, 40, 2, (0,))),
        (),
    )
    with pytest.raises(MigLayoutError, match="fits the slice totals .* but no non-overlapping placement exists"):
        mig.validate_layout(spec, {"3g.40gb": 1, "2g.20gb": 2})
    with pytest.raises(MigLayoutError, match="no non-overlapping placement"):
        mig.validate_layout(spec, {"3g.40gb": 2})
    mig.validate_layout(spec, {"3g.40gb": 1, "2g.20gb": 1})


def test_layout_normalises_order_and_rejects_bad_counts():
    assert MigLayout("a", {"3g.40gb": 1, "1g.10gb": 2}) == MigLayout("a", {"1g.10gb": 2, "3g.40gb": 1, "2g.20gb": 0})
    assert str(MigLayout("a", {"3g.40gb": 1, "1g.10gb+me": 1, "1g.10gb": 2})) == "{1g.10gb: 2, 1g.10gb+me: 1, 3g.40gb: 1}"
    for bad in ({"1g.10gb": -1}, {"1g.10gb": 1.5}, {"1g.10gb": True}, {"": 1}):
        with pytest.raises(MigLayoutError):
            MigLayout("bad", bad)


# --- mig-parted rendering ----------------------------------------------------------------------


def test_mig_parted_document_shape_for_a_mixed_node():
    doc = mig.mig_parted_config(
        {
            "half-balanced": [
                MigDeviceGroup(None, devices=[0, 1, 2, 3], mig_enabled=False),
                MigDeviceGroup({"3g.40gb": 1, "2g.20gb": 1, "1g.10gb": 2}, devices=[4, 5, 6, 7]),
            ]
        },
        gpu="H100-80GB",
    )
    assert doc == {
        "version": "v1",
        "mig-configs": {
            "all-disabled": [{"devices": "all", "mig-enabled": False}],
            "half-balanced": [
                {"devices": [0, 1, 2, 3], "mig-enabled": False},
                {"devices": [4, 5, 6, 7], "mig-enabled": True,
                 "mig-devices": {"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1}},
            ],
        },
    }
    assert list(doc["mig-configs"]) == ["all-disabled", "half-balanced"]  # fallback first
    assert yaml.safe_load(yaml.safe_dump(doc, sort_keys=False)) == doc


def test_canonical_configs_render_like_nvidias_defaults():
    doc = mig.mig_parted_config(mig.canonical_configs("H200"))
    configs = doc["mig-configs"]
    assert configs["all-disabled"] == [{"devices": "all", "mig-enabled": False}]
    assert configs["all-balanced"] == [{
        "device-filter": ["0x233510DE", "0x233B10DE"], "devices": "all", "mig-enabled": True,
        "mig-devices": {"1g.18gb": 2, "2g.35gb": 1, "3g.71gb": 1},
    }]
    assert configs["all-1g.18gb.me"][0]["mig-devices"] == {"1g.18gb+me": 1}
    assert set(configs) == {"all-disabled", "all-balanced"} | {"all-" + p.replace("+", ".") for p in
                                                               NVIDIA_ALL_PROFILE["H200-141GB"]}


def test_config_with_entries_for_several_gpu_models_validates_each_against_its_filter():
    doc = mig.mig_parted_config({"all-balanced": [
        MigDeviceGroup(mig.all_balanced("A100-40GB"), device_filter=mig.gpu_spec("A100-40GB").pci_device_ids),
        MigDeviceGroup(mig.all_balanced("B200"), device_filter=["0x290110DE"]),
    ]})
    assert [e["device-filter"] for e in doc["mig-configs"]["all-balanced"]] == [
        ["0x20B010DE", "0x20B110DE", "0x20F110DE", "0x20F610DE"], ["0x290110DE"]]
    with pytest.raises(MigLayoutError, match="config 'wrong': profile '1g.10gb' does not exist on B200-180GB"):
        mig.mig_parted_config({"wrong": [MigDeviceGroup({"1g.10gb": 7}, device_filter=["0x2901"])]})


def test_invalid_layout_inside_a_config_names_the_config():
    with pytest.raises(MigLayoutError, match=r"config 'big': layout \{3g\.40gb: 2, 4g\.40gb: 1\} needs 10 compute"):
        mig.mig_parted_config({"big": [MigDeviceGroup({"3g.40gb": 2, "4g.40gb": 1})]}, gpu="A100-80GB")


def test_unfiltered_mig_entry_needs_the_gpu_to_be_validated():
    with pytest.raises(MigLayoutError, match="pass gpu="):
        mig.mig_parted_config({"x": [MigDeviceGroup({"1g.10gb": 7})]})


def test_filtered_entries_are_validated_for_their_own_gpu_even_when_gpu_is_given():
    # The document is shared by every node; a bad B200 entry breaks B200 nodes whatever gpu= says.
    with pytest.raises(MigLayoutError, match="does not exist on B200-180GB"):
        mig.mig_parted_config({"x": [MigDeviceGroup({"1g.10gb": 7}, device_filter=["0x290110DE"])]}, gpu=H100)
    with pytest.raises(MigLayoutError, match="matches no GPU in the catalog"):
        mig.mig_parted_config({"x": [MigDeviceGroup({"1g.10gb": 7}, device_filter=["0x2BB510DE"])]}, gpu=H100)


def test_all_disabled_cannot_be_redefined():
    same = mig.mig_parted_config({"all-disabled": [MigDeviceGroup(None, mig_enabled=False)]})
    assert same["mig-configs"] == {"all-disabled": [{"devices": "all", "mig-enabled": False}]}
    with pytest.raises(MigLayoutError, match="fallback"):
        mig.mig_parted_config({"all-disabled": [MigDeviceGroup({"1g.10gb": 7})]}, gpu="H100-80GB")


def test_entries_selecting_the_same_gpu_twice_are_refused():
    with pytest.raises(MigLayoutError, match="select the same GPU"):
        mig.mig_parted_config({"x": [MigDeviceGroup({"1g.10gb": 7}, devices=[0, 1]),
                                     MigDeviceGroup({"7g.80gb": 1}, devices=[1, 2])]}, gpu="H100-80GB")
    with pytest.raises(MigLayoutError, match="select the same GPU"):
        mig.mig_parted_config({"x": [MigDeviceGroup({"1g.10gb": 7}), MigDeviceGroup(None, devices=[3],
                                                                                   mig_enabled=False)]},
                              gpu="H100-80GB")


def test_device_group_rules_match_mig_parted():
    with pytest.raises(MigLayoutError, match="cannot carry layout"):
        MigDeviceGroup({"1g.10gb": 7}, mig_enabled=False)
    with pytest.raises(MigLayoutError, match="needs a layout"):
        MigDeviceGroup(None, mig_enabled=True)
    with pytest.raises(MigLayoutError, match="twice"):
        MigDeviceGroup({"1g.10gb": 7}, devices=[1, 1])
    with pytest.raises(MigLayoutError, match="'all' or"):
        MigDeviceGroup({"1g.10gb": 7}, devices="0,1")
    with pytest.raises(MigLayoutError, match="invalid NVIDIA PCI device id"):
        MigDeviceGroup({"1g.10gb": 7}, device_filter=["0x1234ABCD"])


@pytest.mark.parametrize("name", ["", "bad name", "-leading", "x" * 64, "trailing."])
def test_config_names_must_be_valid_label_values(name):
    with pytest.raises(MigLayoutError, match="not a valid value"):
        mig.mig_config_label(name)
    with pytest.raises(MigLayoutError, match="not a valid value"):
        mig.mig_parted_config({name: [MigDeviceGroup({"1g.10gb": 7})]}, gpu="H100-80GB")


def test_mig_config_label():
    assert mig.mig_config_label("all-1g.10gb") == {"nvidia.com/mig.config": "all-1g.10gb"}


# --- advertised resources ----------------------------------------------------------------------


def test_mixed_strategy_advertises_one_resource_per_profile_times_gpus():
    assert mig.mig_resource_names("H100-80GB", mig.all_balanced("H100-80GB"), "mixed", gpus_per_node=8) == {
        "nvidia.com/mig-1g.10gb": 16, "nvidia.com/mig-2g.20gb": 8, "nvidia.com/mig-3g.40gb": 8}
    # The device plugin spells +me as .me in resource names.
    assert mig.mig_resource_names("B200", {"1g.23gb+me": 1, "2g.45gb": 1, "3g.90gb": 1}, "mixed", 8) == {
        "nvidia.com/mig-1g.23gb.me": 8, "nvidia.com/mig-2g.45gb": 8, "nvidia.com/mig-3g.90gb": 8}


def test_single_strategy_advertises_every_slice_as_a_gpu():
    assert mig.mig_resource_names("H100-80GB", mig.all_single("H100-80GB", "1g.10gb"), "single", 8) == {
        "nvidia.com/gpu": 56}
    assert mig.mig_resource_names("H100-80GB", [MigDeviceGroup(None, mig_enabled=False)], "single", 8) == {
        "nvidia.com/gpu": 8}


def test_single_strategy_refuses_mixed_profiles_with_advice():
    with pytest.raises(MigLayoutError) as err:
        mig.mig_resource_names("H100-80GB", mig.all_balanced("H100-80GB"), "single", 8)
    assert "more than one MIG device type present on node" in str(err.value)
    assert "mixes 1g.10gb, 2g.20gb, 3g.40gb" in str(err.value) and "'mixed'" in str(err.value)
    # +me is a different device type from the plain profile.
    with pytest.raises(MigLayoutError, match="mixes 1g.10gb, 1g.10gb\\+me"):
        mig.mig_resource_names("H100-80GB", {"1g.10gb": 6, "1g.10gb+me": 1}, "single", 1)
    # Different single-profile layouts on different GPUs of one node are still two types.
    with pytest.raises(MigLayoutError, match="mixes 1g.10gb, 7g.80gb"):
        mig.mig_resource_names("H100-80GB", [MigDeviceGroup({"1g.10gb": 7}, devices=[0]),
                                             MigDeviceGroup({"7g.80gb": 1}, devices=[1])], "single", 2)


def test_single_strategy_refuses_mig_and_whole_gpus_on_one_node():
    groups = [MigDeviceGroup(None, devices=[0, 1], mig_enabled=False), MigDeviceGroup({"1g.10gb": 7}, devices=[2, 3])]
    with pytest.raises(MigLayoutError, match="same migEnabled value"):
        mig.mig_resource_names("H100-80GB", groups, "single", 4)
    assert mig.mig_resource_names("H100-80GB", groups, "mixed", 4) == {"nvidia.com/gpu": 2,
                                                                       "nvidia.com/mig-1g.10gb": 14}


def test_strategy_none_refuses_mig_layouts():
    with pytest.raises(MigLayoutError, match="strategy 'none' ignores MIG"):
        mig.mig_resource_names("H100-80GB", mig.all_balanced("H100-80GB"), "none", 8)
    with pytest.raises(MigLayoutError, match="unknown MIG strategy"):
        mig.mig_resource_names("H100-80GB", mig.all_balanced("H100-80GB"), "auto", 8)


def test_device_groups_must_cover_every_gpu_and_stay_in_range():
    with pytest.raises(MigLayoutError, match=r"GPU indices \[4, 5, 6, 7\] are not covered"):
        mig.mig_resource_names("H100-80GB", [MigDeviceGroup({"1g.10gb": 7}, devices=[0, 1, 2, 3])], "mixed", 8)
    with pytest.raises(MigLayoutError, match="selects GPU index 8 but the node has 8 GPUs"):
        mig.mig_resource_names("H100-80GB", [MigDeviceGroup({"1g.10gb": 7}, devices=[8])], "mixed", 8)


def test_entries_filtered_for_other_gpus_are_skipped_like_mig_parted_does():
    multi = [MigDeviceGroup(mig.all_balanced("A100-40GB"), device_filter=mig.gpu_spec("A100-40GB").pci_device_ids),
             MigDeviceGroup(mig.all_balanced("H100-80GB"), device_filter=mig.gpu_spec("H100-80GB").pci_device_ids)]
    assert mig.mig_resource_names("A100-40GB", multi, "mixed", 8) == {
        "nvidia.com/mig-1g.5gb": 16, "nvidia.com/mig-2g.10gb": 8, "nvidia.com/mig-3g.20gb": 8}
    with pytest.raises(MigLayoutError, match="no device group of this config applies to H200-141GB"):
        mig.mig_resource_names("H200", multi, "mixed", 8)


fitting_layouts = st.sampled_from(GPUS).flatmap(
    lambda gpu: st.tuples(st.just(gpu), st.sampled_from(sorted(k for k in feasible_layouts(gpu) if k)).map(dict))
)


@settings(max_examples=200, deadline=None)
@given(fitting_layouts, st.integers(1, 16))
def test_mixed_counts_are_layout_counts_times_gpus(case, gpus):
    gpu, counts = case
    got = mig.mig_resource_names(gpu, counts, mig.MigStrategy.MIXED, gpus)
    assert got == {"nvidia.com/mig-" + n.replace("+", "."): c * gpus for n, c in counts.items() if c}
    # No node advertises more SM slices than its GPUs have.
    spec = mig.gpu_spec(gpu)
    assert sum(spec.profile(n).compute_slices * c for n, c in counts.items()) * gpus <= 7 * gpus
