"""Time-slicing for the NVIDIA device plugin: spec, config document, node label, resource counts.

Pure Python (no Pulumi). A Pulumi component puts :func:`device_plugin_config` under a key of
the device plugin ConfigMap and labels nodes with :func:`device_plugin_config_label`.

Sources:

* Document shape and semantics: NVIDIA/k8s-device-plugin ``README.md`` ("Shared Access to
  GPUs": ``version: v1``, ``flags.migStrategy``, ``sharing.timeSlicing.{renameByDefault,
  failRequestsGreaterThanOne, resources[{name, replicas}]}``; 8 GPUs x ``replicas: 10`` ->
  ``nvidia.com/gpu: 80``; ``renameByDefault`` -> ``<resource-name>.shared``;
  ``failRequestsGreaterThanOne=true`` is recommended but defaults to false; only
  ``nvidia.com/gpu`` and the resources of the ``mixed`` MIG strategy can be time-sliced).
* Validation the plugin applies: ``api/config/v1/replicas.go`` ("number of replicas must be
  >= 2"; rename defaults to ``DefaultSharedRename``), ``api/config/v1/consts.go``
  (``.shared`` suffix, 63-character resource names), ``api/config/v1/config.go``
  (``DisableResourceNamingInConfig``: per-resource ``rename`` and ``devices`` are ignored, so
  this module models only ``renameByDefault`` and all devices), ``internal/rm/device_map.go``
  (replicas multiply the devices of the named resource; other resources are untouched).
* Node label ``nvidia.com/device-plugin.config``: the README's label catalog and
  NVIDIA/gpu-operator ``assets/state-device-plugin/0500_daemonset.yaml``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from components.common.fields import is_label_value
from components.gpu.mig import (
    GpuModel,
    GpuSpec,
    LayoutLike,
    MigDeviceGroup,
    MigLayoutError,
    MigStrategy,
    gpu_spec,
    mig_resource_name,
    mig_resource_names,
)

__all__ = [
    "DEVICE_PLUGIN_CONFIG_LABEL",
    "GPU_RESOURCE",
    "MIN_REPLICAS",
    "SHARED_SUFFIX",
    "TimeSlicingError",
    "TimeSlicingSpec",
    "device_plugin_config",
    "device_plugin_config_label",
    "advertised_resources",
]

DEVICE_PLUGIN_CONFIG_LABEL = "nvidia.com/device-plugin.config"
"""Node label naming the ConfigMap key (config) the device plugin applies on that node."""
GPU_RESOURCE = "nvidia.com/gpu"
SHARED_SUFFIX = ".shared"
MIN_REPLICAS = 2
"""The plugin refuses fewer ("number of replicas must be >= 2")."""
_MAX_RESOURCE_NAME = 63
_MIG_RESOURCE_RE = re.compile(r"^nvidia\.com/mig-\d+g\.\d+gb(\.me)?$")


class TimeSlicingError(MigLayoutError):
    """A time-slicing config the device plugin would reject or that would not do what it says."""


def _check_resource(name: str) -> None:
    if name == GPU_RESOURCE or _MIG_RESOURCE_RE.match(name):
        shared = name + SHARED_SUFFIX
        if len(shared) > _MAX_RESOURCE_NAME:  # renameByDefault must still give a legal name
            raise TimeSlicingError(f"resource {shared!r} would exceed {_MAX_RESOURCE_NAME} characters")
        return
    raise TimeSlicingError(
        f"{name!r} cannot be time-sliced: only {GPU_RESOURCE!r} and mixed-strategy MIG resources "
        f"('nvidia.com/mig-<profile>', e.g. 'nvidia.com/mig-1g.10gb') can"
    )


@dataclass(frozen=True, init=False)
class TimeSlicingSpec:
    """Which resources are time-sliced, how many replicas each, and the two global switches.

    ``TimeSlicingSpec(4)`` shares every whole GPU 4 ways; ``TimeSlicingSpec({"nvidia.com/mig-1g.10gb":
    4})`` or ``TimeSlicingSpec.for_mig_profiles({"1g.10gb": 4})`` shares MIG slices (hybrid)."""

    replicas: tuple[tuple[str, int], ...]
    """(resource name, replicas) in the order rendered."""
    rename_by_default: bool
    """Advertise ``<resource>.shared`` so only pods that opt in land on shared devices."""
    fail_requests_greater_than_one: bool
    """Refuse requests > 1: two replicas of one GPU are not two GPUs (NVIDIA recommends true)."""

    def __init__(self, replicas: int | Mapping[str, int], *, resources: Iterable[str] = (GPU_RESOURCE,),
                 rename_by_default: bool = False, fail_requests_greater_than_one: bool = True):
        if isinstance(replicas, Mapping):
            if tuple(resources) != (GPU_RESOURCE,):
                raise TimeSlicingError("give either a replicas mapping or resources=, not both")
            pairs = list(replicas.items())
        else:
            names = list(resources)
            if len(set(names)) != len(names):
                raise TimeSlicingError(f"resources lists a resource twice: {names}")
            pairs = [(n, replicas) for n in names]
        if not pairs:
            raise TimeSlicingError("time-slicing needs at least one resource (the plugin refuses an empty list)")
        for name, count in pairs:
            if not isinstance(name, str):
                raise TimeSlicingError(f"resource names must be strings, got {name!r}")
            _check_resource(name)
            if isinstance(count, bool) or not isinstance(count, int) or count < MIN_REPLICAS:
                raise TimeSlicingError(
                    f"replicas for {name!r} must be an int >= {MIN_REPLICAS} (the device plugin refuses fewer), "
                    f"got {count!r}"
                )
        for flag, value in (("rename_by_default", rename_by_default),
                            ("fail_requests_greater_than_one", fail_requests_greater_than_one)):
            if not isinstance(value, bool):
                raise TimeSlicingError(f"{flag} must be a bool, got {value!r}")
        object.__setattr__(self, "replicas", tuple(pairs))
        object.__setattr__(self, "rename_by_default", rename_by_default)
        object.__setattr__(self, "fail_requests_greater_than_one", fail_requests_greater_than_one)

    @classmethod
    def for_mig_profiles(cls, replicas: Mapping[str, int], *, rename_by_default: bool = False,
                         fail_requests_greater_than_one: bool = True) -> TimeSlicingSpec:
        """Hybrid spec from MIG profile -> replicas (``{"1g.10gb": 4}``)."""
        return cls({mig_resource_name(p): r for p, r in replicas.items()}, rename_by_default=rename_by_default,
                   fail_requests_greater_than_one=fail_requests_greater_than_one)

    @property
    def resources(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self.replicas)

    def advertised_name(self, resource: str) -> str:
        """Name the shared devices of ``resource`` are advertised under."""
        return resource + SHARED_SUFFIX if self.rename_by_default else resource

    def render(self) -> dict:
        """The ``sharing.timeSlicing`` block."""
        return {
            "renameByDefault": self.rename_by_default,
            "failRequestsGreaterThanOne": self.fail_requests_greater_than_one,
            "resources": [{"name": n, "replicas": r} for n, r in self.replicas],
        }


def _strategy(value: MigStrategy | str) -> MigStrategy:
    try:
        return MigStrategy(str(value))
    except ValueError:
        raise TimeSlicingError(f"unknown MIG strategy {value!r}; use one of none, single, mixed") from None


def _base_resources(spec: TimeSlicingSpec | None, strategy: MigStrategy,
                    gpu: GpuModel | GpuSpec | str | None, mig_layout: LayoutLike | Sequence[MigDeviceGroup] | None,
                    gpus_per_node: int) -> dict[str, int]:
    """Resources the node advertises before replication; checks ``spec`` only names those."""
    if isinstance(gpus_per_node, bool) or not isinstance(gpus_per_node, int) or gpus_per_node < 1:
        raise TimeSlicingError(f"gpus_per_node must be a positive int, got {gpus_per_node!r}")
    if strategy is MigStrategy.NONE:
        if mig_layout is not None:
            raise TimeSlicingError(
                "migStrategy 'none' ignores MIG, so a MIG layout would be advertised as whole GPUs; "
                "use 'mixed' for MIG slices (time-sliced or not)"
            )
        base = {GPU_RESOURCE: gpus_per_node}
        where = "migStrategy 'none' (whole GPUs only; MIG resources exist only under 'mixed')"
    else:
        if gpu is None or mig_layout is None:
            raise TimeSlicingError(
                f"migStrategy {strategy.value!r} needs gpu= and mig_layout= to know which resources the node has"
            )
        # Layout problems surface as MigLayoutError (TimeSlicingError's base class).
        base = mig_resource_names(gpu, mig_layout, strategy, gpus_per_node)
        where = f"the MIG layout on {gpu_spec(gpu).model} under migStrategy {strategy.value!r}"
    if spec is not None:
        for name in spec.resources:
            if name not in base:
                raise TimeSlicingError(
                    f"time-sliced resource {name!r} is not advertised by this node: {where} produces "
                    f"{', '.join(base)}"
                )
    return base


def device_plugin_config(spec: TimeSlicingSpec | None, *, mig_strategy: MigStrategy | str = MigStrategy.NONE,
                         gpu: GpuModel | GpuSpec | str | None = None,
                         mig_layout: LayoutLike | Sequence[MigDeviceGroup] | None = None,
                         gpus_per_node: int = 1) -> dict:
    """The device plugin config document (one ConfigMap key), checked against the node.

    Without MIG (``mig_strategy='none'``) only ``nvidia.com/gpu`` can be shared. With MIG
    (``single``/``mixed``) pass ``gpu`` and ``mig_layout`` (one layout per GPU or mig-parted
    device groups): every time-sliced resource must be one the layout actually produces.
    ``spec=None`` renders a plain config (no sharing), e.g. for a MIG-only pool."""
    strategy = _strategy(mig_strategy)
    _base_resources(spec, strategy, gpu, mig_layout, gpus_per_node)
    doc: dict = {"version": "v1", "flags": {"migStrategy": strategy.value}}
    if spec is not None:
        doc["sharing"] = {"timeSlicing": spec.render()}
    return doc


def advertised_resources(spec: TimeSlicingSpec | None, *, gpus_per_node: int,
                         mig_strategy: MigStrategy | str = MigStrategy.NONE,
                         gpu: GpuModel | GpuSpec | str | None = None,
                         mig_layout: LayoutLike | Sequence[MigDeviceGroup] | None = None) -> dict[str, int]:
    """Extended resources (name -> node capacity) after time-slicing.

    A time-sliced resource's count is multiplied by its replicas (and renamed ``.shared`` when
    ``rename_by_default``); resources not listed in ``spec`` keep their name and count."""
    strategy = _strategy(mig_strategy)
    base = _base_resources(spec, strategy, gpu, mig_layout, gpus_per_node)
    replicas = dict(spec.replicas) if spec is not None else {}
    out: dict[str, int] = {}
    for name, count in base.items():
        if name in replicas:
            assert spec is not None
            out[spec.advertised_name(name)] = count * replicas[name]
        else:
            out[name] = count
    return out


def device_plugin_config_label(config_name: str) -> dict[str, str]:
    """Node label selecting a device plugin config: ``{"nvidia.com/device-plugin.config": name}``."""
    if not isinstance(config_name, str) or not is_label_value(config_name):
        raise TimeSlicingError(
            f"device plugin config name {config_name!r} must be a valid label value and ConfigMap key "
            f"(<= 63 chars of [A-Za-z0-9._-], alphanumeric at both ends)"
        )
    return {DEVICE_PLUGIN_CONFIG_LABEL: config_name}
