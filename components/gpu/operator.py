"""NVIDIA GPU Operator: one pinned Helm release whose values follow from the stack's pools.

Values (NVIDIA/gpu-operator ``deployments/gpu-operator/values.yaml``; v26.7.0 per the research
notes in ``../shared/research/gpu-karpenter-llmd.md`` section 1):

* ``driver.enabled`` / ``toolkit.enabled``: off on EKS, whose GPU AMIs (AL2023 NVIDIA variant)
  ship the driver and the container toolkit; on elsewhere unless ``gpu.operator.driver`` says.
* ``mig.strategy``: the cluster-wide strategy of the MIG pools (``none`` without MIG).
* ``migManager.config`` / ``devicePlugin.config``: ``create: false`` plus the names of the
  ConfigMaps ``sharing_config.py`` creates (the chart only creates them when ``create`` and
  ``data`` are both set; here they exist independently of the chart).
* ``dcgmExporter.serviceMonitor.enabled``: v26.7.0 turned the default to **true**; it is set
  explicitly, on only when the Prometheus Operator is installed (else the CRD is missing and
  the release fails).
* ``operator.defaultRuntime`` is never set: it was removed in v25.3.0 (commit 68d6fc034).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi

from components.common.helm import ChartRef, helm_release
from components.gpu.mig import MIG_DISABLED_CONFIG, MigStrategy


def operator_values(*, driver: bool, mig_strategy: MigStrategy, mig_config_map: str | None,
                    device_plugin_config_map: str | None, device_plugin_default: str | None,
                    dcgm_exporter: bool, service_monitor: bool, release_label: str | None = None) -> dict[str, Any]:
    """Helm values of the GPU Operator chart for one stack."""
    values: dict[str, Any] = {
        "driver": {"enabled": driver},
        "toolkit": {"enabled": driver},
        "mig": {"strategy": mig_strategy.value},
        "cdi": {"enabled": True},  # the DRA driver needs CDI; v26.7.0's default, pinned here
        "dcgmExporter": {"enabled": dcgm_exporter, "serviceMonitor": {"enabled": dcgm_exporter and service_monitor, "honorLabels": True}},
    }
    if dcgm_exporter and service_monitor and release_label:
        values["dcgmExporter"]["serviceMonitor"]["additionalLabels"] = {"release": release_label}
    if mig_config_map is not None:
        values["migManager"] = {
            "enabled": True,
            # No ``create``: the chart makes a mig-parted ConfigMap only from ``config.data``, which we never pass.
            "config": {"name": mig_config_map, "default": MIG_DISABLED_CONFIG},
            # Enabling MIG mode may need a GPU reset the driver refuses while clients hold it;
            # the node reboots instead of staying in mig.config.state=failed.
            "env": [{"name": "WITH_REBOOT", "value": "true"}],
        }
    if device_plugin_config_map is not None:
        values["devicePlugin"] = {"config": {"create": False, "name": device_plugin_config_map,
                                             "default": device_plugin_default or ""}}
    return values


@dataclass(frozen=True)
class GpuOperatorArgs:
    """Inputs of the GPU Operator release."""

    chart: ChartRef
    """Pinned chart (v26.7.0 by default; mirrored on air-gapped stacks). Required."""
    namespace: pulumi.Input[str]
    """Namespace the platform created for the operator (privileged Pod Security). Required."""
    values: dict[str, Any]
    """Values from :func:`operator_values`. Required."""
    depends_on: list[pulumi.Resource] = field(default_factory=list)
    """Resources that must exist first (the sharing ConfigMaps the values name). Default: none."""


class GpuOperator(pulumi.ComponentResource):
    """The NVIDIA GPU Operator release."""

    release_name: pulumi.Output[str]
    """Helm release name."""
    release: pulumi.Resource
    """The release, for ``depends_on`` of GPU workloads."""

    def __init__(self, name: str, args: GpuOperatorArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmplatform:gpu:GpuOperator", name, None, opts)
        release = helm_release(
            f"{name}-release",
            args.chart,
            args.namespace,  # type: ignore[arg-type]
            args.values,
            pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
            create_namespace=False,
        )
        self.release = release
        self.release_name = release.name
        self.register_outputs({"release_name": self.release_name})
