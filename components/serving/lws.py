"""LeaderWorkerSet controller (pinned chart): groups of pods that start, scale and restart
together, for vLLM served across several nodes (see ``components.serving.multinode``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.common.helm import ChartRef, helm_release


@dataclass(frozen=True)
class LwsArgs:
    """The LeaderWorkerSet controller."""

    namespace: str
    """Namespace of the controller (created by the release). Required."""
    chart: ChartRef
    """``lws`` chart (oci://registry.k8s.io/lws/charts). Required."""
    values: Mapping[str, Any] = field(default_factory=dict)
    """Extra chart values. Default: none (the chart's defaults)."""
    depends_on: Sequence[pulumi.Resource] = ()
    """Resources to wait for (cert-manager when its webhook certificates come from it). Default: none."""


class LeaderWorkerSetController(pulumi.ComponentResource):
    """The LWS controller and its CRD (shipped in the chart's ``crds/``)."""

    release: k8s.helm.v3.Release
    """The Helm release; LeaderWorkerSets depend on it."""
    ready: list[pulumi.Resource]
    """Resources a LeaderWorkerSet must wait for."""

    def __init__(self, name: str, args: LwsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmplatform:serving:LeaderWorkerSet", name, None, opts)
        self.release = helm_release(name, args.chart, args.namespace, dict(args.values),
                                    pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)))
        self.ready = [self.release]
        self.register_outputs({"namespace": args.namespace})
