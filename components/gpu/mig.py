"""MIG profile catalog, exact layout packing and mig-parted rendering (pure Python, no Pulumi).

Everything a GPU pool needs to decide *before* a node exists: which MIG profiles a GPU model
has, whether a layout (profile -> instances per GPU) physically fits, the mig-parted document
the GPU Operator's MIG manager applies, the ``nvidia.com/mig.config`` node label, and the
extended resources the device plugin will then advertise.

The GPU facts (models, profiles, instance limits, placements, PCI device IDs, Karpenter labels)
are data in ``catalog.yaml``, each block citing its sources, loaded by ``components.gpu.catalog``;
this module builds its typed views from it. The rules it applies come from:

* Resource names: NVIDIA/k8s-device-plugin ``internal/rm/rm.go`` (AddDefaultResourcesToConfig:
  ``single`` maps every MIG device to ``nvidia.com/gpu``; ``mixed`` names each profile
  ``"mig-" + profile`` with ``+`` replaced by ``.``) and ``internal/rm/device_map.go`` (single
  refuses "more than one MIG device type present on node" and MIG/non-MIG GPUs on one node).
* Placements: NVML refuses a GPU instance overlapping occupied memory slices
  (nvmlGpuInstancePlacement_t, nvmlDeviceGetGpuInstancePossiblePlacements_v2).
* mig-parted document rules: NVIDIA/mig-parted ``api/spec/v1/spec.go`` (``version: v1``;
  ``devices`` is ``all`` or a list of indices; ``mig-devices`` required iff ``mig-enabled``).

Memory per profile is the nominal GB in the profile name (``1g.10gb`` -> 10); nvidia-smi
reports a little less (9.75 GiB for 1g.10gb on H100).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, Union

from components.common.fields import is_label_value
from components.gpu.catalog import HARDWARE, GpuHardware

__all__ = [
    "COMPUTE_SLICES",
    "MEMORY_SLICES",
    "MIG_CONFIG_LABEL",
    "MIG_CONFIG_STATE_LABEL",
    "MIG_DISABLED_CONFIG",
    "MIG_PARTED_CONFIGMAP_KEY",
    "KARPENTER_GPU_NAME_LABEL",
    "KARPENTER_GPU_MEMORY_LABEL",
    "GpuModel",
    "MigStrategy",
    "MigLayoutError",
    "Placement",
    "PlacedInstance",
    "MigProfile",
    "GpuSpec",
    "InstanceFamilyGpu",
    "INSTANCE_FAMILIES",
    "MigLayout",
    "LayoutLike",
    "MigDeviceGroup",
    "gpu_spec",
    "catalog",
    "gpu_model_for_instance_family",
    "gpu_model_for_karpenter_labels",
    "gpu_models_for_pci_id",
    "mig_resource_name",
    "validate_layout",
    "plan_placement",
    "all_balanced",
    "all_single",
    "canonical_configs",
    "mig_parted_config",
    "mig_config_label",
    "mig_resource_names",
]

COMPUTE_SLICES = HARDWARE.mig_geometry.compute_slices
"""GPU SM slices per MIG-capable GPU in this catalog (each ~1/7 of the SMs)."""
MEMORY_SLICES = HARDWARE.mig_geometry.memory_slices
"""GPU memory slices per MIG-capable GPU in this catalog (each 1/8 of memory and L2)."""

MIG_CONFIG_LABEL = "nvidia.com/mig.config"
"""Node label the MIG manager reads to pick a ``mig-configs`` entry."""
MIG_CONFIG_STATE_LABEL = "nvidia.com/mig.config.state"
"""Node label the MIG manager writes: pending -> success | failed | rebooting."""
MIG_DISABLED_CONFIG = "all-disabled"
"""The config the GPU Operator falls back to; every rendered document carries it."""
MIG_PARTED_CONFIGMAP_KEY = "config.yaml"
"""Key a custom MIG manager ConfigMap must use (gpu-operator values.yaml)."""
KARPENTER_GPU_NAME_LABEL = "karpenter.k8s.aws/instance-gpu-name"
KARPENTER_GPU_MEMORY_LABEL = "karpenter.k8s.aws/instance-gpu-memory"

_NVIDIA_VENDOR_SUFFIX = "10DE"
_RESOURCE_PREFIX = "nvidia.com/"
_WHOLE_GPU_RESOURCE = "nvidia.com/gpu"
# Kubernetes label values: <= 63 chars, alphanumeric at both ends, [-_.] inside.
_PROFILE_NAME_RE = re.compile(r"^(\d+)g\.(\d+)gb(\+me)?$")


class MigLayoutError(ValueError):
    """A MIG layout, profile, GPU model or strategy that a node would reject."""


class _GpuModelEnum(str, enum.Enum):
    def __str__(self) -> str:
        return self.value


GpuModel = _GpuModelEnum(
    "GpuModel",
    [(g.model.replace("-", "_"), g.model) for g in HARDWARE.mig_gpus],
    module=__name__,
    qualname="GpuModel",
)
"""MIG-capable GPU models of the catalog (value = canonical name used in messages); one member per
GPU of ``catalog.yaml`` with a ``mig`` block, named by its model with ``-`` as ``_``
(``GpuModel.H100_80GB``)."""


class MigStrategy(str, enum.Enum):
    """Device plugin / GPU Operator ``mig.strategy``."""

    NONE = "none"
    SINGLE = "single"
    MIXED = "mixed"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Placement:
    """Where a GPU instance may sit: first memory slice and memory slices occupied."""

    start: int
    size: int

    @property
    def slots(self) -> range:
        return range(self.start, self.start + self.size)


@dataclass(frozen=True)
class PlacedInstance:
    """One GPU instance of a concrete placement plan."""

    profile: str
    start: int
    size: int


@dataclass(frozen=True)
class MigProfile:
    """One GPU instance profile of one GPU model."""

    name: str
    """NVIDIA profile name, e.g. ``1g.10gb`` or ``1g.10gb+me``."""
    compute_slices: int
    """SM slices of the 7."""
    memory_slices: int
    """Memory slices of the 8 (also the placement size)."""
    memory_gb: int
    """Nominal memory in the profile name."""
    max_instances: int
    """Most instances of this profile one GPU can hold."""
    placement_starts: tuple[int, ...]
    """Memory slice indices an instance may start at (``nvidia-smi mig -lgipp``)."""

    @property
    def media_extensions(self) -> bool:
        """``+me`` profiles own the GPU's media engines; only one per GPU."""
        return self.name.endswith("+me")

    @property
    def placements(self) -> tuple[Placement, ...]:
        return tuple(Placement(s, self.memory_slices) for s in self.placement_starts)

    @property
    def resource_name(self) -> str:
        """Extended resource under the ``mixed`` strategy."""
        return mig_resource_name(self.name)


@dataclass(frozen=True)
class GpuSpec:
    """A MIG-capable GPU model: its profiles, canonical layouts and how to recognise it."""

    model: GpuModel
    description: str
    """Products sharing this profile set."""
    pci_device_ids: tuple[int, ...]
    """PCI device IDs (vendor 0x10DE) NVIDIA's MIG configs filter this model by."""
    profiles: tuple[MigProfile, ...]
    balanced: tuple[tuple[str, int], ...]
    """NVIDIA's ``all-balanced`` layout for this model."""
    karpenter_gpu_name: str | None = None
    """``karpenter.k8s.aws/instance-gpu-name`` value; None when no EC2 family carries it."""
    gpu_memory_mib: int | None = None
    """``karpenter.k8s.aws/instance-gpu-memory`` value."""
    notes: str = ""
    """What could not be verified for this model."""

    @property
    def profile_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.profiles)

    @property
    def device_filter(self) -> tuple[str, ...]:
        """mig-parted ``device-filter`` values (``0x233010DE`` form)."""
        return tuple(_device_filter_id(i) for i in self.pci_device_ids)

    def profile(self, name: str) -> MigProfile:
        for p in self.profiles:
            if p.name == name:
                return p
        raise MigLayoutError(
            f"profile {name!r} does not exist on {self.model}; available: {', '.join(self.profile_names)}"
        )


def _device_filter_id(device_id: int) -> str:
    return f"0x{device_id:04X}{_NVIDIA_VENDOR_SUFFIX}"


def _profile_gb(name: str) -> int:
    m = _PROFILE_NAME_RE.match(name)
    assert m, name  # the catalog loader checked the name
    return int(m.group(2))


def _gpu_spec_of(hw: GpuHardware) -> GpuSpec:
    assert hw.mig is not None
    geometry = HARDWARE.mig_geometry
    profiles = tuple(
        MigProfile(name, k.compute_slices, k.memory_slices, _profile_gb(name), k.max_instances, k.placement_starts)
        for kind, name in hw.mig.profiles
        for k in (geometry.kind(kind),)
    )
    return GpuSpec(
        model=GpuModel(hw.model),
        description=hw.description,
        pci_device_ids=hw.mig.pci_device_ids,
        profiles=profiles,
        balanced=hw.mig.balanced,
        karpenter_gpu_name=hw.karpenter.gpu_name if hw.karpenter else None,
        gpu_memory_mib=hw.karpenter.gpu_memory_mib if hw.karpenter else None,
        notes=hw.mig.notes,
    )


_CATALOG: dict[GpuModel, GpuSpec] = {GpuModel(hw.model): _gpu_spec_of(hw) for hw in HARDWARE.mig_gpus}

_ALIASES: dict[str, GpuModel] = {a.upper(): GpuModel(hw.model) for hw in HARDWARE.mig_gpus for a in hw.aliases}

_NON_MIG_GPUS = tuple(hw.model.upper() for hw in HARDWARE.gpus if hw.mig is None)


@dataclass(frozen=True)
class InstanceFamilyGpu:
    """The GPU an EC2 instance family carries, as Karpenter labels it."""

    family: str
    gpu_name: str
    """``karpenter.k8s.aws/instance-gpu-name``."""
    gpu_memory_mib: int
    """``karpenter.k8s.aws/instance-gpu-memory`` (per GPU)."""
    gpu_model: GpuModel | None
    """Catalog model, or None for GPUs without MIG."""
    gpu: str = ""
    """The GPU's model in the hardware catalog (``L4``, ``H100-80GB``), MIG or not."""


def _instance_family(family: str, model: str) -> InstanceFamilyGpu:
    hw = HARDWARE.gpu(model)
    assert hw is not None and hw.karpenter is not None  # the catalog loader checked both
    return InstanceFamilyGpu(family, hw.karpenter.gpu_name, hw.karpenter.gpu_memory_mib,
                             GpuModel(hw.model) if hw.mig is not None else None, hw.model)


INSTANCE_FAMILIES: Mapping[str, InstanceFamilyGpu] = MappingProxyType(
    {family: _instance_family(family, model) for family, model in HARDWARE.instance_families.items()}
)


def catalog() -> tuple[GpuSpec, ...]:
    """Every MIG-capable GPU model, in catalog order."""
    return tuple(_CATALOG.values())


def gpu_spec(gpu: GpuModel | GpuSpec | str) -> GpuSpec:
    """Look a GPU model up by enum, canonical name (``H100-80GB``) or alias (``B200``)."""
    if isinstance(gpu, GpuSpec):
        return gpu
    if isinstance(gpu, GpuModel):
        return _CATALOG[gpu]
    key = str(gpu).strip().upper()
    for model in GpuModel:
        if model.value.upper() == key:
            return _CATALOG[model]
    if key in _ALIASES:
        return _CATALOG[_ALIASES[key]]
    known = ", ".join(m.value for m in GpuModel)
    prefixed = [m.value for m in GpuModel if m.value.upper().startswith(key + "-")]
    if len(prefixed) > 1:
        raise MigLayoutError(f"ambiguous GPU model {gpu!r}: MIG profiles differ between {', '.join(prefixed)}")
    if key in _NON_MIG_GPUS:
        raise MigLayoutError(f"GPU {gpu!r} does not support MIG; MIG-capable GPUs: {known}")
    raise MigLayoutError(f"unknown GPU model {gpu!r}; MIG-capable GPUs: {known}")


def gpu_model_for_instance_family(family: str) -> GpuModel | None:
    """Catalog model of an EC2 instance family (``p5`` -> H100-80GB); None if it has no MIG."""
    try:
        return INSTANCE_FAMILIES[family].gpu_model
    except KeyError:
        raise MigLayoutError(
            f"unknown GPU instance family {family!r}; known: {', '.join(INSTANCE_FAMILIES)}"
        ) from None


def gpu_model_for_karpenter_labels(gpu_name: str, gpu_memory_mib: int) -> GpuModel | None:
    """Catalog model from Karpenter's GPU labels; memory disambiguates a100 40GB vs 80GB."""
    for f in INSTANCE_FAMILIES.values():
        if f.gpu_name == gpu_name and f.gpu_memory_mib == gpu_memory_mib:
            return f.gpu_model
    known = sorted({(f.gpu_name, f.gpu_memory_mib) for f in INSTANCE_FAMILIES.values()})
    raise MigLayoutError(
        f"no known GPU with {KARPENTER_GPU_NAME_LABEL}={gpu_name!r} and "
        f"{KARPENTER_GPU_MEMORY_LABEL}={gpu_memory_mib}; known: {known}"
    )


def _parse_pci_id(value: str | int) -> int:
    if isinstance(value, int):
        return value
    text = value.strip().lower()
    if text.startswith("0x"):
        text = text[2:]
    if len(text) == 8 and text.endswith(_NVIDIA_VENDOR_SUFFIX.lower()):
        text = text[:4]
    if len(text) != 4 or any(c not in "0123456789abcdef" for c in text):
        raise MigLayoutError(f"invalid NVIDIA PCI device id {value!r}; expected e.g. '0x233010DE' or '0x2330'")
    return int(text, 16)


def gpu_models_for_pci_id(pci_id: str | int) -> tuple[GpuModel, ...]:
    """Catalog models a PCI device ID (``0x233010DE`` / ``0x2330``) belongs to."""
    device = _parse_pci_id(pci_id)
    return tuple(s.model for s in _CATALOG.values() if device in s.pci_device_ids)


def mig_resource_name(profile: str) -> str:
    """``mixed``-strategy resource of a profile; the device plugin turns ``+`` into ``.``."""
    return _RESOURCE_PREFIX + ("mig-" + profile).replace("+", ".")


def _profile_sort_key(name: str) -> tuple[float, float, str]:
    m = _PROFILE_NAME_RE.match(name)
    if not m:
        return (float("inf"), float("inf"), name)
    return (int(m.group(1)), int(m.group(2)), name)


@dataclass(frozen=True, init=False)
class MigLayout:
    """A named layout: profile -> instances on one GPU (what mig-parted calls ``mig-devices``).

    Profiles are kept in a canonical order (compute, memory, name) so equal layouts compare
    equal and render identically (stable Pulumi diffs); zero counts are dropped."""

    name: str
    counts: tuple[tuple[str, int], ...]

    def __init__(self, name: str, counts: Mapping[str, int] | Iterable[tuple[str, int]]):
        items = list(counts.items()) if isinstance(counts, Mapping) else list(counts)
        merged: dict[str, int] = {}
        for profile, count in items:
            if not isinstance(profile, str) or not profile:
                raise MigLayoutError(f"layout {name!r}: profile names must be non-empty strings, got {profile!r}")
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise MigLayoutError(f"layout {name!r}: count for {profile!r} must be a non-negative int, got {count!r}")
            if profile in merged:
                raise MigLayoutError(f"layout {name!r}: profile {profile!r} listed twice")
            merged[profile] = count
        ordered = tuple(sorted(((p, c) for p, c in merged.items() if c), key=lambda pc: _profile_sort_key(pc[0])))
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "counts", ordered)

    def as_dict(self) -> dict[str, int]:
        return dict(self.counts)

    @property
    def instances(self) -> int:
        return sum(c for _, c in self.counts)

    @property
    def profiles(self) -> tuple[str, ...]:
        return tuple(p for p, _ in self.counts)

    def __str__(self) -> str:
        return "{" + ", ".join(f"{p}: {c}" for p, c in self.counts) + "}"


LayoutLike = Union[MigLayout, Mapping[str, int]]


def _as_layout(layout: LayoutLike) -> MigLayout:
    return layout if isinstance(layout, MigLayout) else MigLayout("custom", layout)


def _pack(spec: GpuSpec, layout: MigLayout) -> tuple[PlacedInstance, ...] | None:
    """Backtracking over the placement tables; None if no non-overlapping placement exists."""
    profiles = [spec.profile(p) for p, c in layout.counts for _ in range(c)]
    # Big, few-choice instances first prunes early; identical profiles take increasing starts
    # so permutations of the same instances are not explored twice.
    profiles.sort(key=lambda p: (-p.memory_slices, len(p.placement_starts), p.name))

    def place(i: int, occupied: int, previous_start: int) -> list[PlacedInstance] | None:
        if i == len(profiles):
            return []
        p = profiles[i]
        floor = previous_start if i > 0 and profiles[i - 1].name == p.name else -1
        for start in p.placement_starts:
            if start <= floor or start + p.memory_slices > MEMORY_SLICES:
                continue
            mask = ((1 << p.memory_slices) - 1) << start
            if occupied & mask:
                continue
            rest = place(i + 1, occupied | mask, start)
            if rest is not None:
                return [PlacedInstance(p.name, start, p.memory_slices), *rest]
        return None

    plan = place(0, 0, -1)
    return None if plan is None else tuple(sorted(plan, key=lambda x: x.start))


def plan_placement(gpu: GpuModel | GpuSpec | str, layout: LayoutLike) -> tuple[PlacedInstance, ...]:
    """Validate ``layout`` on ``gpu`` and return one concrete placement (sorted by start)."""
    spec = gpu_spec(gpu)
    layout = _as_layout(layout)
    if not layout.counts:
        raise MigLayoutError(
            f"layout {layout.name!r} on {spec.model} is empty: a MIG-enabled GPU without MIG devices makes "
            f"the device plugin fail ('invalid MIG configuration'); use mig_enabled=False instead"
        )
    for name, count in layout.counts:
        p = spec.profile(name)
        if count > p.max_instances:
            raise MigLayoutError(
                f"layout {layout} asks for {count} x {name} on {spec.model}, which allows at most "
                f"{p.max_instances} per GPU"
            )
    compute = sum(spec.profile(n).compute_slices * c for n, c in layout.counts)
    if compute > COMPUTE_SLICES:
        raise MigLayoutError(
            f"layout {layout} needs {compute} compute slices on {spec.model}, which has {COMPUTE_SLICES}"
        )
    memory = sum(spec.profile(n).memory_slices * c for n, c in layout.counts)
    if memory > MEMORY_SLICES:
        raise MigLayoutError(
            f"layout {layout} needs {memory} memory slices on {spec.model}, which has {MEMORY_SLICES}"
        )
    media = sum(c for n, c in layout.counts if spec.profile(n).media_extensions)
    if media > 1:
        raise MigLayoutError(
            f"layout {layout} has {media} media-extension (+me) instances on {spec.model}; a GPU has one set "
            f"of media engines, so at most one +me instance"
        )
    plan = _pack(spec, layout)
    if plan is None:
        table = "; ".join(
            f"{spec.profile(n).name} starts {{{','.join(map(str, spec.profile(n).placement_starts))}}}"
            f" size {spec.profile(n).memory_slices}"
            for n, _ in layout.counts
        )
        raise MigLayoutError(
            f"layout {layout} fits the slice totals of {spec.model} but no non-overlapping placement exists "
            f"(memory-slice placements: {table})"
        )
    return plan


def validate_layout(gpu: GpuModel | GpuSpec | str, layout: LayoutLike) -> None:
    """Raise :class:`MigLayoutError` unless ``layout`` can be created on one ``gpu``.

    Checks, in order: the layout is not empty, every profile exists on the GPU, per-profile
    instance limits, compute slices (7), memory slices (8), one ``+me`` instance at most, and
    finally an exact placement over NVIDIA's placement table."""
    plan_placement(gpu, layout)


def _config_name_for(profile: str) -> str:
    # NVIDIA names the +me configs with a dot: all-1g.10gb.me
    return "all-" + profile.replace("+", ".")


def all_balanced(gpu: GpuModel | GpuSpec | str) -> MigLayout:
    """NVIDIA's ``all-balanced`` layout for ``gpu``."""
    spec = gpu_spec(gpu)
    return MigLayout("all-balanced", spec.balanced)


def all_single(gpu: GpuModel | GpuSpec | str, profile: str) -> MigLayout:
    """NVIDIA's ``all-<profile>`` layout: as many instances of ``profile`` as one GPU holds."""
    spec = gpu_spec(gpu)
    p = spec.profile(profile)
    return MigLayout(_config_name_for(p.name), {p.name: p.max_instances})


Devices = Union[Literal["all"], tuple[int, ...]]


@dataclass(frozen=True, init=False)
class MigDeviceGroup:
    """One entry of a mig-parted config: which GPUs, MIG on/off, and their layout."""

    devices: Devices
    mig_enabled: bool
    layout: MigLayout | None
    device_filter: tuple[str, ...]

    def __init__(self, layout: LayoutLike | None = None, *, devices: Literal["all"] | Sequence[int] = "all",
                 mig_enabled: bool | None = None, device_filter: Iterable[str | int] = ()):
        enabled = layout is not None if mig_enabled is None else mig_enabled
        lay = None if layout is None else _as_layout(layout)
        if enabled and lay is None:
            raise MigLayoutError("a MIG-enabled device group needs a layout (mig-parted requires mig-devices)")
        if not enabled and lay is not None and lay.counts:
            raise MigLayoutError(f"device group with mig_enabled=False cannot carry layout {lay}")
        if devices == "all":
            devs: Devices = "all"
        else:
            if isinstance(devices, str):
                raise MigLayoutError(f"devices must be 'all' or a list of GPU indices, got {devices!r}")
            idx = tuple(devices)
            if not idx or any(isinstance(i, bool) or not isinstance(i, int) or i < 0 for i in idx):
                raise MigLayoutError(f"devices must be 'all' or non-empty non-negative GPU indices, got {devices!r}")
            if len(set(idx)) != len(idx):
                raise MigLayoutError(f"devices lists a GPU index twice: {list(idx)}")
            devs = tuple(sorted(idx))
        filt = tuple(_device_filter_id(_parse_pci_id(d)) for d in device_filter)
        object.__setattr__(self, "devices", devs)
        object.__setattr__(self, "mig_enabled", enabled)
        object.__setattr__(self, "layout", lay if enabled else None)
        object.__setattr__(self, "device_filter", filt)

    def applies_to(self, gpu: GpuModel | GpuSpec | str) -> bool:
        """Whether mig-parted would apply this entry on ``gpu`` (device-filter match)."""
        if not self.device_filter:
            return True
        return bool(set(self.device_filter) & set(gpu_spec(gpu).device_filter))

    def render(self) -> dict:
        entry: dict = {}
        if self.device_filter:
            entry["device-filter"] = list(self.device_filter)
        entry["devices"] = "all" if self.devices == "all" else list(self.devices)
        entry["mig-enabled"] = self.mig_enabled
        if self.mig_enabled:
            assert self.layout is not None
            entry["mig-devices"] = self.layout.as_dict()
        return entry


def _check_config_name(name: str) -> None:
    if not isinstance(name, str) or not is_label_value(name):
        raise MigLayoutError(
            f"MIG config name {name!r} is not a valid value for the {MIG_CONFIG_LABEL} node label "
            f"(<= 63 chars of [A-Za-z0-9._-], alphanumeric at both ends)"
        )


def _validate_group(config: str, group: MigDeviceGroup, gpu: GpuModel | GpuSpec | str | None) -> None:
    if not group.mig_enabled:
        return
    assert group.layout is not None
    targets: list[GpuSpec] = []
    if group.device_filter:
        # mig-parted applies a filtered entry on every GPU it matches, whatever this node is.
        models = {m for f in group.device_filter for m in gpu_models_for_pci_id(f)}
        targets = [_CATALOG[m] for m in GpuModel if m in models]
        if not targets:
            raise MigLayoutError(
                f"config {config!r}: device-filter {list(group.device_filter)} matches no GPU in the catalog, "
                f"so layout {group.layout} cannot be validated"
            )
    elif gpu is not None:
        targets = [gpu_spec(gpu)]
    else:
        raise MigLayoutError(
            f"config {config!r}: MIG-enabled entry without device-filter applies to whatever GPU the node has; "
            f"pass gpu= so layout {group.layout} is validated here rather than failing on the node"
        )
    for spec in targets:
        try:
            validate_layout(spec, group.layout)
        except MigLayoutError as e:
            raise MigLayoutError(f"config {config!r}: {e}") from None


def mig_parted_config(configs: Mapping[str, Sequence[MigDeviceGroup]], *,
                      gpu: GpuModel | GpuSpec | str | None = None) -> dict:
    """Render the mig-parted ``version: v1`` document (value of the ``config.yaml`` key).

    ``all-disabled`` always comes first (the operator's fallback). Every MIG-enabled entry is
    validated: against the catalog models its ``device-filter`` matches, or, for entries
    without a filter (they apply to whatever GPU the node has), against ``gpu``."""
    disabled = [MigDeviceGroup(None, mig_enabled=False)]
    out: dict[str, list[dict]] = {MIG_DISABLED_CONFIG: [g.render() for g in disabled]}
    for name, groups in configs.items():
        _check_config_name(name)
        groups = list(groups)
        if not groups:
            raise MigLayoutError(f"config {name!r} has no device groups (mig-parted requires at least one)")
        for g in groups:
            if not isinstance(g, MigDeviceGroup):
                raise MigLayoutError(f"config {name!r}: expected MigDeviceGroup entries, got {type(g).__name__}")
        if name == MIG_DISABLED_CONFIG:
            if [g.render() for g in groups] != out[MIG_DISABLED_CONFIG]:
                raise MigLayoutError(
                    f"{MIG_DISABLED_CONFIG!r} is the operator's fallback and must disable MIG on all devices"
                )
            continue
        _check_device_overlap(name, groups)
        for g in groups:
            _validate_group(name, g, gpu)
        out[name] = [g.render() for g in groups]
    return {"version": "v1", "mig-configs": out}


def _check_device_overlap(name: str, groups: Sequence[MigDeviceGroup]) -> None:
    # Two entries for the same GPU (same filter scope) would give it two conflicting layouts.
    seen: dict[tuple[str, ...], set[int] | Literal["all"]] = {}
    for g in groups:
        scope = g.device_filter
        prev = seen.get(scope)
        if prev is None:
            seen[scope] = "all" if g.devices == "all" else set(g.devices)
            continue
        if prev == "all" or g.devices == "all" or prev & set(g.devices):
            raise MigLayoutError(f"config {name!r}: two entries select the same GPU(s) {g.devices}")
        prev |= set(g.devices)


def canonical_configs(gpu: GpuModel | GpuSpec | str) -> dict[str, list[MigDeviceGroup]]:
    """NVIDIA's ``all-balanced`` and every ``all-<profile>`` config for ``gpu`` (device-filtered)."""
    spec = gpu_spec(gpu)
    out = {"all-balanced": [MigDeviceGroup(all_balanced(spec), device_filter=spec.pci_device_ids)]}
    for p in spec.profiles:
        layout = all_single(spec, p.name)
        out[layout.name] = [MigDeviceGroup(layout, device_filter=spec.pci_device_ids)]
    return out


def mig_config_label(config_name: str) -> dict[str, str]:
    """Node label selecting a mig-parted config, e.g. ``{"nvidia.com/mig.config": "all-1g.10gb"}``."""
    _check_config_name(config_name)
    return {MIG_CONFIG_LABEL: config_name}


def _per_gpu_layouts(spec: GpuSpec, layout: LayoutLike | Sequence[MigDeviceGroup],
                     gpus_per_node: int) -> list[MigLayout | None]:
    """Layout of every GPU index on the node (None = MIG disabled)."""
    if isinstance(gpus_per_node, bool) or not isinstance(gpus_per_node, int) or gpus_per_node < 1:
        raise MigLayoutError(f"gpus_per_node must be a positive int, got {gpus_per_node!r}")
    if isinstance(layout, (MigLayout, Mapping)):
        lay = _as_layout(layout)
        validate_layout(spec, lay)
        return [lay] * gpus_per_node
    groups = [g for g in layout if g.applies_to(spec)]
    if not groups:
        raise MigLayoutError(f"no device group of this config applies to {spec.model}")
    _check_device_overlap("layout", groups)
    per_gpu: list[MigLayout | None | Literal["unset"]] = ["unset"] * gpus_per_node
    for g in groups:
        if g.mig_enabled:
            assert g.layout is not None
            validate_layout(spec, g.layout)
        indices = range(gpus_per_node) if g.devices == "all" else g.devices
        for i in indices:
            if i >= gpus_per_node:
                raise MigLayoutError(f"device group selects GPU index {i} but the node has {gpus_per_node} GPUs")
            per_gpu[i] = g.layout if g.mig_enabled else None
    missing = [i for i, v in enumerate(per_gpu) if v == "unset"]
    if missing:
        raise MigLayoutError(
            f"GPU indices {missing} are not covered by any device group; mig-parted leaves them as they were, "
            f"so their resources are unknown"
        )
    return [v for v in per_gpu if v != "unset"]  # type: ignore[misc]


def mig_resource_names(gpu: GpuModel | GpuSpec | str, layout: LayoutLike | Sequence[MigDeviceGroup],
                       strategy: MigStrategy | str, gpus_per_node: int = 1) -> dict[str, int]:
    """Extended resources (name -> count per node) the device plugin advertises.

    ``layout`` is one layout applied to every GPU, or mig-parted device groups (``devices``
    indices resolved against ``gpus_per_node``; entries whose device-filter does not match
    ``gpu`` are skipped as mig-parted would).

    * ``mixed``: ``nvidia.com/mig-<profile>`` per profile (``+`` -> ``.``), counts per GPU x
      GPUs; MIG-disabled GPUs stay ``nvidia.com/gpu``.
    * ``single``: every slice is ``nvidia.com/gpu``; refused unless every GPU is MIG-enabled
      with one and the same profile (the device plugin refuses anything else on the node).
    * ``none``: ignores MIG; refused when any GPU is MIG-enabled."""
    spec = gpu_spec(gpu)
    try:
        strat = MigStrategy(str(strategy))
    except ValueError:
        raise MigLayoutError(f"unknown MIG strategy {strategy!r}; use one of none, single, mixed") from None
    per_gpu = _per_gpu_layouts(spec, layout, gpus_per_node)
    mig_gpus = [l for l in per_gpu if l is not None]
    whole = len(per_gpu) - len(mig_gpus)
    if strat is MigStrategy.NONE:
        if mig_gpus:
            raise MigLayoutError(
                f"strategy 'none' ignores MIG: {len(mig_gpus)} MIG-enabled {spec.model} GPU(s) would be advertised "
                f"as whole nvidia.com/gpu; use 'single' or 'mixed'"
            )
        return {_WHOLE_GPU_RESOURCE: whole}
    if strat is MigStrategy.SINGLE:
        if mig_gpus and whole:
            raise MigLayoutError(
                f"strategy 'single' needs every GPU on the node MIG-enabled or every GPU MIG-disabled "
                f"(device plugin: 'all devices on the node must be configured with the same migEnabled value'); "
                f"this node has {len(mig_gpus)} MIG and {whole} whole GPU(s); use 'mixed'"
            )
        profiles = sorted({p for l in mig_gpus for p in l.profiles}, key=_profile_sort_key)
        if len(profiles) > 1:
            raise MigLayoutError(
                f"strategy 'single' advertises every MIG slice as nvidia.com/gpu, so all slices on the node must "
                f"be one profile (device plugin: 'more than one MIG device type present on node'); this layout "
                f"mixes {', '.join(profiles)} on {spec.model}; use strategy 'mixed' or a single-profile layout "
                f"such as {_config_name_for(profiles[0])}"
            )
        return {_WHOLE_GPU_RESOURCE: whole + sum(l.instances for l in mig_gpus)}
    out: dict[str, int] = {}
    if whole:
        out[_WHOLE_GPU_RESOURCE] = whole
    totals: dict[str, int] = {}
    for l in mig_gpus:
        for p, c in l.counts:
            totals[p] = totals.get(p, 0) + c
    for p in sorted(totals, key=_profile_sort_key):
        out[mig_resource_name(p)] = totals[p]
    return out
