"""The GPU hardware catalog (``catalog.yaml`` next to this module), loaded once and validated.

One fact in one place: the GPU models, their MIG geometry and profiles, PCI device IDs, the
labels Karpenter gives the EC2 families carrying them, and the device memory the capacity
planner budgets with. ``components.gpu.mig`` (MIG layouts, mig-parted, instance families) and
``components.models.capacity`` (device and MIG slice memory) read it; nothing else holds a copy.

Loading refuses a file that is not exactly this shape, listing every problem with its path
(``gpus.L4.memory.gib: must be a positive number, got 'x'``), so a bad edit fails at import
with a clear message instead of a wrong layout or budget later.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Any

from components.common.fields import is_dns1123_label

import yaml

__all__ = [
    "CATALOG_FILE",
    "GIB",
    "MIB",
    "HardwareCatalogError",
    "MigKind",
    "MigGeometry",
    "MigFacts",
    "KarpenterLabels",
    "DeviceMemory",
    "GpuHardware",
    "HardwareCatalog",
    "load_catalog",
    "parse_catalog",
    "HARDWARE",
]

CATALOG_FILE = "catalog.yaml"
GIB = 2**30
MIB = 2**20

_PROFILE_NAME_RE = re.compile(r"^(\d+)g\.(\d+)gb(\+me)?$")
_PCI_ID_RE = re.compile(r"^0x[0-9A-F]{4}$")


class HardwareCatalogError(ValueError):
    """``catalog.yaml`` is not a valid hardware catalog; the message lists every problem."""


@dataclass(frozen=True)
class MigKind:
    """One row of the MIG placement geometry (``nvidia-smi mig -lgipp``), named by its role."""

    kind: str
    """``one``, ``one_me``, ``one_double``, ``two``, ``three``, ``four`` or ``seven``."""
    compute_slices: int
    memory_slices: int
    """Memory slices occupied (also the placement size)."""
    max_instances: int
    placement_starts: tuple[int, ...]


@dataclass(frozen=True)
class MigGeometry:
    """Slices per GPU and the placement table every MIG-capable GPU of the catalog shares."""

    compute_slices: int
    memory_slices: int
    kinds: tuple[MigKind, ...]
    sources: tuple[str, ...]

    def kind(self, name: str) -> MigKind:
        return next(k for k in self.kinds if k.kind == name)


@dataclass(frozen=True)
class MigFacts:
    """What a MIG-capable GPU adds to the geometry: its profile names, IDs and balanced layout."""

    pci_device_ids: tuple[int, ...]
    profiles: tuple[tuple[str, str], ...]
    """(geometry kind, NVIDIA profile name), in the geometry's order."""
    balanced: tuple[tuple[str, int], ...]
    notes: str
    sources: tuple[str, ...]


@dataclass(frozen=True)
class KarpenterLabels:
    """``karpenter.k8s.aws/instance-gpu-name`` and ``instance-gpu-memory`` (MiB per GPU)."""

    gpu_name: str
    gpu_memory_mib: int
    sources: tuple[str, ...]


@dataclass(frozen=True)
class DeviceMemory:
    """The device memory the capacity planner budgets with, or why it has none."""

    bytes: int | None
    basis: str
    """Where the figure comes from, or (``bytes`` None) why there is no figure."""
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class GpuHardware:
    """One GPU model."""

    model: str
    description: str
    aliases: tuple[str, ...]
    memory: DeviceMemory
    karpenter: KarpenterLabels | None
    mig: MigFacts | None
    """None: the GPU has no MIG."""


@dataclass(frozen=True)
class HardwareCatalog:
    sources: Mapping[str, str]
    mig_geometry: MigGeometry
    gpus: tuple[GpuHardware, ...]
    instance_families: Mapping[str, str]
    """EC2 instance family -> GPU model."""

    def gpu(self, name: str) -> GpuHardware | None:
        """The GPU named ``name`` (model or alias, case-insensitive), or None."""
        key = name.strip().upper()
        for g in self.gpus:
            if g.model.upper() == key or key in (a.upper() for a in g.aliases):
                return g
        return None

    @property
    def mig_gpus(self) -> tuple[GpuHardware, ...]:
        return tuple(g for g in self.gpus if g.mig is not None)


# --------------------------------------------------------------------------
# loading


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (PyYAML would silently keep the last)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


class _Reader:
    """Typed access to the parsed YAML that records every problem with its path."""

    def __init__(self, source_keys: set[str]):
        self.problems: list[str] = []
        self.source_keys = source_keys

    def fail(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")

    def mapping(self, value: Any, path: str, required: set[str], optional: set[str] = frozenset()) -> dict:
        if not isinstance(value, dict):
            self.fail(path, f"must be a mapping, got {type(value).__name__}")
            return {}
        for k in sorted(set(value) - required - optional, key=str):
            self.fail(f"{path}.{k}", f"unknown key; allowed: {', '.join(sorted(required | optional))}")
        for k in sorted(required - set(value)):
            self.fail(f"{path}.{k}", "required")
        return value

    def entries(self, value: Any, path: str) -> dict:
        """A mapping whose keys are names (GPU models, families, sources): any key allowed."""
        if not isinstance(value, dict):
            self.fail(path, f"must be a mapping, got {type(value).__name__}")
            return {}
        return value

    def string(self, value: Any, path: str) -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(path, f"must be a non-empty string, got {value!r}")
            return ""
        return value.strip()

    def integer(self, value: Any, path: str, low: int = 1, high: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
            bound = f"{low}..{high}" if high is not None else f">= {low}"
            self.fail(path, f"must be an integer {bound}, got {value!r}")
            return low
        return value

    def strings(self, value: Any, path: str) -> tuple[str, ...]:
        if not isinstance(value, list):
            self.fail(path, f"must be a list of strings, got {value!r}")
            return ()
        return tuple(self.string(v, f"{path}[{i}]") for i, v in enumerate(value))

    def sources(self, value: Any, path: str) -> tuple[str, ...]:
        if value is None:  # a missing key: reported as required
            return ()
        keys = self.strings(value, path)
        if value == []:
            self.fail(path, "must cite at least one source")
        for i, k in enumerate(keys):
            if k and k not in self.source_keys:
                self.fail(f"{path}[{i}]", f"unknown source {k!r}; known: {', '.join(sorted(self.source_keys))}")
        return keys


def _geometry(r: _Reader, raw: Any) -> MigGeometry:
    path = "mig_geometry"
    m = r.mapping(raw, path, {"sources", "compute_slices", "memory_slices", "kinds"})
    compute = r.integer(m.get("compute_slices", 7), f"{path}.compute_slices")
    memory = r.integer(m.get("memory_slices", 8), f"{path}.memory_slices", high=63)
    kinds = []
    for name, row in r.entries(m.get("kinds", {}), f"{path}.kinds").items():
        kp = f"{path}.kinds.{name}"
        k = r.mapping(row, kp, {"compute_slices", "memory_slices", "max_instances", "placement_starts"})
        c = r.integer(k.get("compute_slices", 1), f"{kp}.compute_slices", high=compute)
        s = r.integer(k.get("memory_slices", 1), f"{kp}.memory_slices", high=memory)
        mx = r.integer(k.get("max_instances", 1), f"{kp}.max_instances", high=compute)
        starts_raw = k.get("placement_starts", [])
        starts: tuple[int, ...] = ()
        if not isinstance(starts_raw, list) or not starts_raw:
            r.fail(f"{kp}.placement_starts", f"must be a non-empty list of memory slice indices, got {starts_raw!r}")
        else:
            starts = tuple(r.integer(v, f"{kp}.placement_starts[{i}]", low=0, high=memory - s)
                           for i, v in enumerate(starts_raw))
        kinds.append(MigKind(str(name), c, s, mx, starts))
    return MigGeometry(compute, memory, tuple(kinds), r.sources(m.get("sources"), f"{path}.sources"))


def _mig(r: _Reader, raw: Any, path: str, geometry: MigGeometry) -> MigFacts:
    m = r.mapping(raw, path, {"sources", "pci_device_ids", "profiles", "balanced"}, {"notes"})
    ids = []
    for i, v in enumerate(r.strings(m.get("pci_device_ids", []), f"{path}.pci_device_ids")):
        if not _PCI_ID_RE.match(v):
            r.fail(f"{path}.pci_device_ids[{i}]", f"must be a PCI device ID like '0x2330' (upper-case hex), got {v!r}")
        else:
            ids.append(int(v, 16))
    if not ids:
        r.fail(f"{path}.pci_device_ids", "must list at least one PCI device ID")
    kinds = {k.kind: k for k in geometry.kinds}
    profiles: list[tuple[str, str]] = []
    raw_profiles = r.mapping(m.get("profiles", {}), f"{path}.profiles", set(), set(kinds))
    for kind in kinds:  # geometry order
        if kind not in raw_profiles:
            continue
        name = r.string(raw_profiles[kind], f"{path}.profiles.{kind}")
        match = _PROFILE_NAME_RE.match(name)
        if not match:
            r.fail(f"{path}.profiles.{kind}", f"{name!r} is not a MIG profile name like '3g.40gb' or '1g.10gb+me'")
            continue
        if int(match.group(1)) != kinds[kind].compute_slices:
            r.fail(f"{path}.profiles.{kind}", f"{name!r} names {match.group(1)} compute slices; kind {kind!r} has "
                                              f"{kinds[kind].compute_slices}")
        if bool(match.group(3)) != (kind == "one_me"):
            r.fail(f"{path}.profiles.{kind}", f"{name!r}: only kind 'one_me' is a media-extension (+me) profile")
        profiles.append((kind, name))
    names = [n for _, n in profiles]
    if len(set(names)) != len(names):
        r.fail(f"{path}.profiles", f"a profile name is given to two kinds: {names}")
    balanced = []
    for name, count in r.mapping(m.get("balanced", {}), f"{path}.balanced", set(), set(names)).items():
        balanced.append((str(name), r.integer(count, f"{path}.balanced.{name}")))
    notes = m.get("notes", "")
    if not isinstance(notes, str):
        r.fail(f"{path}.notes", f"must be a string, got {notes!r}")
        notes = ""
    return MigFacts(tuple(ids), tuple(profiles), tuple(balanced), " ".join(notes.split()),
                    r.sources(m.get("sources"), f"{path}.sources"))


def _memory(r: _Reader, raw: Any, path: str, karpenter: KarpenterLabels | None) -> DeviceMemory:
    m = r.entries(raw, path)
    forms = [k for k in ("gib", "karpenter", "unknown") if k in m]
    if len(forms) != 1:
        r.fail(path, "give exactly one of gib (with basis and sources), karpenter: true, or unknown: <why>")
        return DeviceMemory(None, "invalid")
    if forms == ["gib"]:
        r.mapping(m, path, {"gib", "basis", "sources"})
        gib = m["gib"]
        if isinstance(gib, bool) or not isinstance(gib, (int, float)) or not gib > 0:
            r.fail(f"{path}.gib", f"must be a positive number, got {gib!r}")
            gib = 1
        return DeviceMemory(int(gib * GIB), r.string(m.get("basis"), f"{path}.basis"),
                            r.sources(m.get("sources"), f"{path}.sources"))
    if forms == ["karpenter"]:
        r.mapping(m, path, {"karpenter"})
        if m["karpenter"] is not True:
            r.fail(f"{path}.karpenter", f"must be true, got {m['karpenter']!r}")
        if karpenter is None:
            r.fail(f"{path}.karpenter", "the GPU has no karpenter labels to take the memory from")
            return DeviceMemory(None, "invalid")
        return DeviceMemory(karpenter.gpu_memory_mib * MIB,
                            f"per-GPU memory Karpenter reports (karpenter.k8s.aws/instance-gpu-memory "
                            f"{karpenter.gpu_memory_mib} MiB)", karpenter.sources)
    r.mapping(m, path, {"unknown"})
    return DeviceMemory(None, " ".join(r.string(m["unknown"], f"{path}.unknown").split()))


def _gpu(r: _Reader, model: Any, raw: Any, geometry: MigGeometry) -> GpuHardware:
    path = f"gpus.{model}"
    if not isinstance(model, str) or not re.match(r"^[A-Z0-9][A-Z0-9-]*$", model):
        r.fail(path, "a GPU model name must be upper-case letters, digits and '-' (e.g. H100-80GB)")
        model = str(model)
    m = r.mapping(raw, path, {"description", "memory"}, {"aliases", "karpenter", "mig"})
    karpenter = None
    if "karpenter" in m:
        kp = f"{path}.karpenter"
        k = r.mapping(m["karpenter"], kp, {"gpu_name", "gpu_memory_mib", "sources"})
        name = r.string(k.get("gpu_name"), f"{kp}.gpu_name")
        if name and not is_dns1123_label(name):
            r.fail(f"{kp}.gpu_name", f"{name!r} is not a lower-case label value as Karpenter writes it")
        karpenter = KarpenterLabels(name, r.integer(k.get("gpu_memory_mib", 1), f"{kp}.gpu_memory_mib"),
                                    r.sources(k.get("sources"), f"{kp}.sources"))
    return GpuHardware(
        model=model,
        description=" ".join(r.string(m.get("description"), f"{path}.description").split()),
        aliases=r.strings(m.get("aliases", []), f"{path}.aliases"),
        memory=_memory(r, m.get("memory", {}), f"{path}.memory", karpenter),
        karpenter=karpenter,
        mig=_mig(r, m["mig"], f"{path}.mig", geometry) if "mig" in m else None,
    )


def parse_catalog(text: str, origin: str = CATALOG_FILE) -> HardwareCatalog:
    """Parse and validate catalog YAML; :class:`HardwareCatalogError` lists every problem."""
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise HardwareCatalogError(f"{origin}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise HardwareCatalogError(f"{origin}: the top level must be a mapping of sources, mig_geometry, gpus "
                                   f"and instance_families, got {type(raw).__name__}")
    r = _Reader(set())
    top = r.mapping(raw, "(top level)", {"sources", "mig_geometry", "gpus", "instance_families"})
    sources: dict[str, str] = {}
    for key, text_ in r.entries(top.get("sources", {}), "sources").items():
        sources[str(key)] = " ".join(r.string(text_, f"sources.{key}").split())
    r.source_keys = set(sources)
    geometry = _geometry(r, top.get("mig_geometry", {}))
    gpus = [_gpu(r, model, entry, geometry) for model, entry in r.entries(top.get("gpus", {}), "gpus").items()]
    names: dict[str, str] = {}
    for g in gpus:
        for n in (g.model, *g.aliases):
            if n.upper() in names:
                r.fail(f"gpus.{g.model}", f"name {n!r} is already used by {names[n.upper()]}")
            names[n.upper()] = g.model
    labels: dict[tuple[str, int], str] = {}
    for g in gpus:
        if g.karpenter is not None:
            key = (g.karpenter.gpu_name, g.karpenter.gpu_memory_mib)
            if key in labels:
                r.fail(f"gpus.{g.model}.karpenter", f"labels {key} already describe {labels[key]}: Karpenter could "
                                                    f"not tell the two apart")
            labels[key] = g.model
    fam = r.mapping(top.get("instance_families", {}), "instance_families", {"sources", "families"})
    r.sources(fam.get("sources"), "instance_families.sources")
    families: dict[str, str] = {}
    by_model = {g.model: g for g in gpus}
    for family, model in r.entries(fam.get("families", {}), "instance_families.families").items():
        fp = f"instance_families.families.{family}"
        model = r.string(model, fp)
        if model not in by_model:
            r.fail(fp, f"unknown GPU model {model!r}; the catalog has: {', '.join(by_model)}")
        elif by_model[model].karpenter is None:
            r.fail(fp, f"{model} has no karpenter labels, so nodes of {family!r} could not be matched to it")
        families[str(family)] = model
    if r.problems:
        raise HardwareCatalogError(f"{origin}: invalid GPU hardware catalog:\n  " + "\n  ".join(r.problems))
    return HardwareCatalog(MappingProxyType(sources), geometry, tuple(gpus), MappingProxyType(families))


def load_catalog() -> HardwareCatalog:
    """The catalog shipped with the package (``components/gpu/catalog.yaml``)."""
    text = resources.files(__package__).joinpath(CATALOG_FILE).read_text(encoding="utf-8")
    return parse_catalog(text, f"components/gpu/{CATALOG_FILE}")


HARDWARE: HardwareCatalog = load_catalog()
"""The catalog, loaded once at import."""
