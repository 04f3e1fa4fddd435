"""How each pool's GPUs are shared, as the NVIDIA GPU Operator and Karpenter need it (pure Python).

From the pools of a stack this module derives, without any Pulumi runtime:

* the mig-parted document (ConfigMap key ``config.yaml``) holding one config per MIG layout,
  and the ``nvidia.com/mig.config`` node label selecting it;
* the device plugin config document per time-sliced pool (one ConfigMap key per pool) and the
  ``nvidia.com/device-plugin.config`` node label selecting it, plus a ``default`` key;
* the node labels a pool's nodes carry (Karpenter sets them from the NodePool template; static
  nodes must be labelled by their owner, and the stack exports the exact labels);
* the extended resources a node will advertise once the operator has configured it, which is
  what a Karpenter ``NodeOverlay`` must announce for MIG pools (see ``node_pool.py``).

The cluster-wide MIG strategy (GPU Operator ``mig.strategy``) is one value for all pools: the
operator passes it to every device plugin as ``MIG_STRATEGY``, which overrides the per-node
config file's ``flags.migStrategy`` (NVIDIA/k8s-device-plugin ``api/config/v1/config.go``:
CLI/env flags are applied over the file). ``rules.py`` refuses pools that disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from components.gpu.mig import (
    MIG_CONFIG_LABEL,
    MIG_PARTED_CONFIGMAP_KEY,
    MigDeviceGroup,
    MigLayout,
    MigStrategy,
    canonical_configs,
    mig_parted_config,
    mig_resource_names,
)
from components.gpu.placement import ACCELERATOR_RESOURCE, pool_node_labels
from components.gpu.spec import DraSharing, GpuPoolSpec, HybridSharing, MigSharing, TimeSlicingSharing
from components.gpu.time_slicing import (
    DEVICE_PLUGIN_CONFIG_LABEL,
    TimeSlicingSpec,
    advertised_resources,
    device_plugin_config,
)

DEFAULT_DEVICE_PLUGIN_CONFIG = "default"
"""Key of the device plugin ConfigMap used by nodes without the config label (``devicePlugin.config.default``)."""
DEVICE_PLUGIN_DEPLOY_LABEL = "nvidia.com/gpu.deploy.device-plugin"
"""GPU Operator operand switch: ``"false"`` keeps the device plugin off a node (NVIDIA/gpu-operator
``controllers/state_manager.go`` gpu.deploy.* labels)."""
GPU_ALLOCATION_LABEL = "llm-platform.io/gpu-allocation"
"""``dra`` on nodes whose GPUs are allocated by the DRA driver; its kubelet plugin runs only there."""
BOTTLEROCKET_OPERAND_LABELS = {
    "nvidia.com/gpu.deploy.driver": "false",
    "nvidia.com/gpu.deploy.container-toolkit": "false",
    "nvidia.com/gpu.deploy.device-plugin": "false",
    "nvidia.com/gpu.deploy.mig-manager": "false",
}
"""Bottlerocket's NVIDIA variant ships driver, toolkit and its own device plugin; the operator's
copies must stay off (awslabs/ai-on-eks nvidia-gpu-operator values do the same with NFD rules)."""


def cluster_mig_strategy(pools: dict[str, GpuPoolSpec]) -> MigStrategy:
    """The one ``mig.strategy`` the operator runs with: that of the MIG pools, else ``none``.

    ``rules.py`` guarantees MIG pools agree; hybrid pools imply ``mixed``."""
    for pool in pools.values():
        if isinstance(pool.sharing, HybridSharing):
            return MigStrategy.MIXED
        if isinstance(pool.sharing, MigSharing):
            return MigStrategy(pool.sharing.strategy)
    return MigStrategy.NONE


def mig_layout(pool_name: str, pool: GpuPoolSpec) -> MigLayout | None:
    """The pool's MIG layout under its mig-parted config name, or None without MIG."""
    sharing = pool.sharing
    if not isinstance(sharing, (MigSharing, HybridSharing)):
        return None
    return MigLayout(mig_config_name(pool_name, pool) or "", sharing.layout)


def mig_config_name(pool_name: str, pool: GpuPoolSpec) -> str | None:
    """``nvidia.com/mig.config`` value of the pool: explicit, NVIDIA's canonical name, or ``<pool>-mig``."""
    sharing = pool.sharing
    if not isinstance(sharing, (MigSharing, HybridSharing)):
        return None
    if sharing.config_name:
        return sharing.config_name
    try:
        for name, groups in canonical_configs(pool.gpu).items():
            layout = groups[0].layout
            if layout is not None and layout.as_dict() == dict(sharing.layout):
                return name
    except ValueError:
        pass  # unknown or non-MIG GPU: rules.py reports it
    return f"{pool_name}-mig"


def time_slicing_spec(pool: GpuPoolSpec) -> TimeSlicingSpec | None:
    """What the pool's device plugin time-slices (whole GPUs, or MIG slices for hybrid)."""
    sharing = pool.sharing
    if isinstance(sharing, TimeSlicingSharing):
        return TimeSlicingSpec(sharing.replicas, rename_by_default=sharing.rename_by_default,
                               fail_requests_greater_than_one=sharing.fail_requests_greater_than_one)
    if isinstance(sharing, HybridSharing):
        return TimeSlicingSpec.for_mig_profiles(sharing.time_sliced,
                                                fail_requests_greater_than_one=sharing.fail_requests_greater_than_one)
    return None


def device_plugin_config_name(pool_name: str, pool: GpuPoolSpec) -> str | None:
    """``nvidia.com/device-plugin.config`` value (ConfigMap key) of a time-sliced pool, else None."""
    return pool_name if time_slicing_spec(pool) is not None else None


def pool_device_plugin_config(pool: GpuPoolSpec, strategy: MigStrategy) -> dict:
    """The device plugin document of one time-sliced pool, checked against what its nodes advertise."""
    spec = time_slicing_spec(pool)
    layout = pool.sharing.layout if isinstance(pool.sharing, HybridSharing) else None
    if layout is None:
        # Whole GPUs are time-sliced: the plugin sees no MIG devices on these nodes.
        doc = device_plugin_config(spec, mig_strategy=MigStrategy.NONE, gpus_per_node=pool.gpus_per_node)
        doc["flags"]["migStrategy"] = strategy.value
        return doc
    return device_plugin_config(spec, mig_strategy=strategy, gpu=pool.gpu, mig_layout=dict(layout),
                                gpus_per_node=pool.gpus_per_node)


def advertised(pool: GpuPoolSpec) -> dict[str, int]:
    """Extended resources (name -> count) one node of ``pool`` advertises once configured."""
    sharing = pool.sharing
    if isinstance(sharing, DraSharing):
        return {}
    if isinstance(sharing, MigSharing):
        return mig_resource_names(pool.gpu, dict(sharing.layout), sharing.strategy, pool.gpus_per_node)
    if isinstance(sharing, HybridSharing):
        return advertised_resources(time_slicing_spec(pool), gpus_per_node=pool.gpus_per_node,
                                    mig_strategy=MigStrategy.MIXED, gpu=pool.gpu, mig_layout=dict(sharing.layout))
    if isinstance(sharing, TimeSlicingSharing):
        return advertised_resources(time_slicing_spec(pool), gpus_per_node=pool.gpus_per_node)
    return {ACCELERATOR_RESOURCE[pool.accelerator]: pool.gpus_per_node}


def overlay_capacity(pool: GpuPoolSpec) -> dict[str, str]:
    """Resources a Karpenter ``NodeOverlay`` must add so pods asking for them trigger a launch.

    Karpenter knows only ``nvidia.com/gpu`` (and a few other accelerators) per instance type; MIG
    resources of the mixed strategy and ``.shared`` names are invisible to its simulation. The
    ``single`` strategy and plain time-slicing keep ``nvidia.com/gpu`` (time-sliced replicas are
    under-counted, which only makes Karpenter launch more nodes than strictly needed)."""
    return {name: str(count) for name, count in advertised(pool).items()
            if name.startswith("nvidia.com/mig-") or name.endswith(".shared")}


def sharing_node_labels(pool_name: str, pool: GpuPoolSpec) -> dict[str, str]:
    """Labels that select the pool's sharing config on its nodes (operator and DRA switches included)."""
    labels: dict[str, str] = {}
    config = mig_config_name(pool_name, pool)
    if config is not None:
        labels[MIG_CONFIG_LABEL] = config
    plugin_config = device_plugin_config_name(pool_name, pool)
    if plugin_config is not None:
        labels[DEVICE_PLUGIN_CONFIG_LABEL] = plugin_config
    if isinstance(pool.sharing, DraSharing):
        labels[DEVICE_PLUGIN_DEPLOY_LABEL] = "false"
        labels[GPU_ALLOCATION_LABEL] = "dra"
    if pool.provisioner == "karpenter" and pool.ami_alias.startswith("bottlerocket@"):
        labels.update(BOTTLEROCKET_OPERAND_LABELS)
    return labels


def node_labels(pool_name: str, pool: GpuPoolSpec) -> dict[str, str]:
    """Every label the pool's nodes carry: selection labels, user labels, sharing labels."""
    return {**pool_node_labels(pool_name, pool), **pool.labels, **sharing_node_labels(pool_name, pool)}


@dataclass(frozen=True)
class SharingConfig:
    """The two ConfigMaps' contents for a stack (empty dicts when no pool needs them)."""

    strategy: MigStrategy
    """Cluster-wide MIG strategy (GPU Operator ``mig.strategy``)."""
    mig_parted: dict | None
    """mig-parted ``version: v1`` document, or None when no pool uses MIG."""
    device_plugin: dict[str, dict] = field(default_factory=dict)
    """Device plugin documents by ConfigMap key (``default`` plus one per time-sliced pool); empty
    when no pool is time-sliced."""


def sharing_config(pools: dict[str, GpuPoolSpec]) -> SharingConfig:
    """Aggregate every pool's sharing into the operator's two documents.

    Raises ``MigLayoutError`` (or ``TimeSlicingError``) on a layout the hardware refuses; config
    validation (``rules.py``) reports the same problems with field paths first."""
    strategy = cluster_mig_strategy(pools)
    mig_configs: dict[str, list[dict]] = {}
    plugin: dict[str, dict] = {}
    for name, pool in sorted(pools.items()):
        layout = mig_layout(name, pool)
        if layout is not None and layout.name not in mig_configs:
            # mig_parted_config validates the entry against the pool's GPU (profiles, slices, placement).
            doc = mig_parted_config({layout.name: [MigDeviceGroup(layout)]}, gpu=pool.gpu)
            mig_configs[layout.name] = doc["mig-configs"][layout.name]
        key = device_plugin_config_name(name, pool)
        if key is not None:
            plugin[key] = pool_device_plugin_config(pool, strategy)
    if plugin:
        plugin = {DEFAULT_DEVICE_PLUGIN_CONFIG: {"version": "v1", "flags": {"migStrategy": strategy.value}}, **plugin}
    mig_doc = None
    if mig_configs:
        # all-disabled first: the operator's fallback for nodes without the label.
        empty = mig_parted_config({})
        mig_doc = {"version": empty["version"], "mig-configs": {**empty["mig-configs"], **dict(sorted(mig_configs.items()))}}
    return SharingConfig(strategy=strategy, mig_parted=mig_doc, device_plugin=plugin)


__all__ = [
    "BOTTLEROCKET_OPERAND_LABELS",
    "DEFAULT_DEVICE_PLUGIN_CONFIG",
    "DEVICE_PLUGIN_DEPLOY_LABEL",
    "GPU_ALLOCATION_LABEL",
    "MIG_PARTED_CONFIGMAP_KEY",
    "SharingConfig",
    "advertised",
    "cluster_mig_strategy",
    "device_plugin_config_name",
    "mig_config_name",
    "mig_layout",
    "node_labels",
    "overlay_capacity",
    "sharing_config",
    "sharing_node_labels",
    "time_slicing_spec",
]
