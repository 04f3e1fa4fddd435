"""NVIDIA DRA driver (``dra-driver-nvidia-gpu`` 0.4.1) and the ResourceClaimTemplates pods use.

Chart: ``oci://registry.k8s.io/dra-driver-nvidia/charts/dra-driver-nvidia-gpu`` (the project moved
to kubernetes-sigs and the chart was renamed from ``nvidia-dra-driver-gpu``). Values set here
(kubernetes-sigs/dra-driver-nvidia-gpu ``deployments/helm/dra-driver-nvidia-gpu/values.yaml``):

* ``gpuResourcesEnabledOverride: true``: the chart refuses ``resources.gpus.enabled`` without it
  because the GPU kubelet plugin must never share a node with the device plugin
  (``templates/validation.yaml``). The platform guarantees that per pool instead: DRA pools carry
  ``nvidia.com/gpu.deploy.device-plugin: "false"`` (the GPU Operator then keeps its device
  plugin off them) and ``llm-platform.io/gpu-allocation: dra``, the only nodes the kubelet plugin
  is scheduled on (``kubeletPlugin.nodeSelector``); ``rules.py`` refuses pools that would mix them.
* ``nvidiaDriverRoot``: ``/`` where the host ships the driver (EKS AMIs), ``/run/nvidia/driver``
  when the GPU Operator's driver container manages it.
* ``resources.computeDomains.enabled: false``: ComputeDomains (multi-node NVLink, GB200) are not
  used, and at HEAD they also require the conversion webhook.
* ``featureGates.DynamicMIG`` when claims ask for MIG profiles (``gpu.dra.dynamicMig``).

Known upstream issue: the GPU Operator's validator still runs its ``plugin-validation`` step on
nodes labelled ``nvidia.com/gpu.deploy.device-plugin=false`` and crash-loops there waiting for
``nvidia.com/gpu`` (NVIDIA/gpu-operator#2550, fix proposed in #2686). Its earlier steps (driver,
toolkit, CUDA) complete, so the operands that wait on them and the DRA kubelet plugin still run;
the validator pod on DRA nodes stays in ``Init:CrashLoopBackOff`` until that fix ships. Turning
the validator off there (``nvidia.com/gpu.deploy.operator-validator=false``) would be worse: the
DCGM exporter and GFD wait for its ready files.

Claim templates are ``resource.k8s.io/v1`` (GA in Kubernetes 1.34). A declarative request becomes
one device request with CEL selectors over the driver's attributes and capacity (domain
``gpu.nvidia.com``: ``productName``, ``profile``; capacity ``memory``; cmd/gpu-kubelet-plugin
deviceinfo.go). DeviceClass ``gpu.nvidia.com`` selects whole GPUs, ``mig.nvidia.com`` MIG devices.
pulumi-kubernetes 4.25 (the provider built here, tools/engine) has no typed ``resource.k8s.io/v1``
class, so templates are declared as ``CustomResource`` objects of that apiVersion: same type token,
same object, and the provider applies it like any other kind the API server serves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.common.helm import ChartRef, helm_release
from components.common.input_errors import refuse_inputs, value_issues
from components.common.labels import standard_labels
from components.gpu.rules import claim_template_rules
from components.gpu.sharing import GPU_ALLOCATION_LABEL
from components.gpu.spec import ClaimTemplateSpec, DraSpec

DRIVER_DOMAIN = "gpu.nvidia.com"
GPU_DEVICE_CLASS = "gpu.nvidia.com"
MIG_DEVICE_CLASS = "mig.nvidia.com"
REQUEST_NAME = "gpu"


def _cel_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def claim_selectors(request: ClaimTemplateSpec) -> list[str]:
    """CEL expressions a device must satisfy (all of them) for ``request``."""
    attrs = f"device.attributes[{_cel_string(DRIVER_DOMAIN)}]"
    exprs = []
    if request.product is not None:
        exprs.append(f"{attrs}.productName.lowerAscii().contains({_cel_string(request.product.lower())})")
    if request.mig_profile is not None:
        exprs.append(f"{attrs}.profile == {_cel_string(request.mig_profile)}")
    if request.min_memory_gb is not None:
        exprs.append(f"device.capacity[{_cel_string(DRIVER_DOMAIN)}].memory"
                     f".compareTo(quantity({_cel_string(f'{request.min_memory_gb}G')})) >= 0")
    return exprs


def claim_template_spec(request: ClaimTemplateSpec) -> dict[str, Any]:
    """``spec`` of a ``resource.k8s.io/v1`` ResourceClaimTemplate for ``request``."""
    exactly: dict[str, Any] = {
        "deviceClassName": MIG_DEVICE_CLASS if request.mig_profile else GPU_DEVICE_CLASS,
        "allocationMode": "ExactCount",
        "count": request.count,
    }
    selectors = claim_selectors(request)
    if selectors:
        exactly["selectors"] = [{"cel": {"expression": e}} for e in selectors]
    return {"spec": {"devices": {"requests": [{"name": REQUEST_NAME, "exactly": exactly}]}}}


def dra_values(*, driver_root: str, dynamic_mig: bool) -> dict[str, Any]:
    """Helm values of the DRA driver chart."""
    values: dict[str, Any] = {
        "nvidiaDriverRoot": driver_root,
        "gpuResourcesEnabledOverride": True,
        "resources": {"gpus": {"enabled": True}, "computeDomains": {"enabled": False}},
        "kubeletPlugin": {"nodeSelector": {GPU_ALLOCATION_LABEL: "dra"}},
    }
    if dynamic_mig:
        values["featureGates"] = {"DynamicMIG": True}
    return values


@dataclass(frozen=True)
class DraDriverArgs:
    """Inputs of the DRA driver and its claim templates."""

    claim_templates: dict[str, ClaimTemplateSpec]
    """Claim templates by name. Required."""
    claims_namespace: pulumi.Input[str] | None
    """Namespace the templates are created in (where GPU pods run); None skips them. Required."""
    chart: ChartRef | None = None
    """Pinned chart to install (then ``namespace`` is required). Default: None: the driver is managed
    elsewhere and only the claim templates are created."""
    namespace: pulumi.Input[str] | None = None
    """Namespace of the driver (platform-owned, privileged Pod Security); required when ``chart`` is set.
    Default: None."""
    values: dict[str, Any] = field(default_factory=dict)
    """Chart values (from :func:`dra_values`). Default: none (the chart's defaults)."""


def problems(args: DraDriverArgs) -> list[tuple[str, str]]:
    """Everything wrong with ``args`` (paths relative to them): each claim template by the rule the
    stack applies to ``gpu.dra.claimTemplates.<name>`` (the key type and :func:`claim_template_rules`), and the driver's namespace when it is installed."""
    issues = value_issues(DraSpec, "claim_templates", dict(args.claim_templates), path="claimTemplates")
    issues += [issue for name, tmpl in sorted(args.claim_templates.items())
               for issue in claim_template_rules(name, tmpl, path=f"claimTemplates.{name}")]
    if args.chart is not None and args.namespace is None:
        issues.append(("namespace", "a DRA driver install (chart set) needs its namespace"))
    return issues


class DraDriver(pulumi.ComponentResource):
    """NVIDIA DRA driver release plus one ResourceClaimTemplate per declared request.

    Raises ``pulumi.InputPropertiesError`` listing every problem of its args (:func:`problems`)
    before it registers anything."""

    claim_template_names: dict[str, pulumi.Output[str]]
    """Template name -> created ResourceClaimTemplate name."""
    release: pulumi.Resource | None
    """The driver release (None when not installed here), for ``depends_on``."""

    def __init__(self, name: str, args: DraDriverArgs, opts: pulumi.ResourceOptions | None = None):
        refuse_inputs("DraDriver", name, problems(args))
        super().__init__("llmplatform:gpu:DraDriver", name, None, opts)
        self.release = None
        if args.chart is not None:
            self.release = helm_release(f"{name}-release", args.chart, args.namespace,  # type: ignore[arg-type]
                                        args.values, pulumi.ResourceOptions(parent=self), create_namespace=False)
        after = [self.release] if self.release is not None else []
        self.claim_template_names = {}
        if args.claims_namespace is not None:
            for tmpl_name, request in sorted(args.claim_templates.items()):
                tmpl = k8s.apiextensions.CustomResource(
                    f"{name}-claim-{tmpl_name}",
                    api_version="resource.k8s.io/v1",
                    kind="ResourceClaimTemplate",
                    metadata=k8s.meta.v1.ObjectMetaArgs(name=tmpl_name, namespace=args.claims_namespace,
                                                        labels=standard_labels("gpu-claim", tmpl_name)),
                    spec=claim_template_spec(request),
                    opts=pulumi.ResourceOptions(parent=self, depends_on=after),
                )
                self.claim_template_names[tmpl_name] = tmpl.metadata["name"]  # untyped: a dict
        self.register_outputs({"claim_template_names": self.claim_template_names})
