"""The GPU Operator's two sharing ConfigMaps, built from every pool of the stack.

* mig-parted config (``migManager.config.name``), key ``config.yaml``: ``all-disabled`` plus one
  config per MIG layout; nodes select one with ``nvidia.com/mig.config``.
* device plugin config (``devicePlugin.config.name``), one key per time-sliced pool plus
  ``default``; nodes select one with ``nvidia.com/device-plugin.config``.

The platform creates them itself (the operator chart is told ``create: false`` and their names)
rather than through the chart's ``config.data``: they then exist, are reviewable and are
validated as plain Kubernetes objects on every stack, including static-pool stacks that do not
install the operator from here (local renders, clusters whose operator is managed elsewhere).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.common.labels import standard_labels
from components.gpu.mig import MIG_PARTED_CONFIGMAP_KEY
from components.gpu.sharing import DEFAULT_DEVICE_PLUGIN_CONFIG, SharingConfig

MIG_PARTED_CONFIGMAP = "llm-platform-mig-parted-config"
DEVICE_PLUGIN_CONFIGMAP = "llm-platform-device-plugin-config"


def _yaml(doc: dict) -> str:
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)


@dataclass(frozen=True)
class GpuSharingConfigArgs:
    """Inputs of the sharing ConfigMaps."""

    namespace: pulumi.Input[str]
    """Namespace of the GPU Operator (the operator reads its ConfigMaps there). Required."""
    config: SharingConfig
    """Aggregated sharing documents (``sharing.sharing_config``). Required."""


class GpuSharingConfig(pulumi.ComponentResource):
    """ConfigMaps the MIG manager and the device plugin read; absent when no pool needs them."""

    mig_parted_config_map: str | None
    """Name of the mig-parted ConfigMap, or None without MIG pools."""
    device_plugin_config_map: str | None
    """Name of the device plugin ConfigMap, or None without time-sliced pools."""
    device_plugin_default: str | None
    """Key nodes without the config label use, or None."""
    resources: list[pulumi.Resource]
    """The ConfigMaps, for ``depends_on`` (the operator must not start before them)."""

    def __init__(self, name: str, args: GpuSharingConfigArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmplatform:gpu:GpuSharingConfig", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = standard_labels("gpu-sharing")
        self.resources = []
        self.mig_parted_config_map = None
        self.device_plugin_config_map = None
        self.device_plugin_default = None
        if args.config.mig_parted is not None:
            self.resources.append(k8s.core.v1.ConfigMap(
                f"{name}-mig-parted",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=MIG_PARTED_CONFIGMAP, namespace=args.namespace, labels=labels),
                data={MIG_PARTED_CONFIGMAP_KEY: _yaml(args.config.mig_parted)},
                opts=child,
            ))
            self.mig_parted_config_map = MIG_PARTED_CONFIGMAP
        if args.config.device_plugin:
            self.resources.append(k8s.core.v1.ConfigMap(
                f"{name}-device-plugin",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=DEVICE_PLUGIN_CONFIGMAP, namespace=args.namespace, labels=labels),
                data={key: _yaml(doc) for key, doc in args.config.device_plugin.items()},
                opts=child,
            ))
            self.device_plugin_config_map = DEVICE_PLUGIN_CONFIGMAP
            self.device_plugin_default = DEFAULT_DEVICE_PLUGIN_CONFIG
        self.register_outputs({
            "mig_parted_config_map": self.mig_parted_config_map,
            "device_plugin_config_map": self.device_plugin_config_map,
            "device_plugin_default": self.device_plugin_default,
        })
