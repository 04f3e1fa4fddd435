"""The NVIDIA GPU Operator and Node Feature Discovery the OpenShift way: through OLM.

Order (NVIDIA's OpenShift guide, ``openshift/steps-overview.rst``): NFD first (its
``NodeFeatureDiscovery`` labels GPU nodes ``feature.node.kubernetes.io/pci-10de.present``, which
the GPU Operator's ClusterPolicy selects), then the GPU Operator. Per operator: an
``OperatorGroup`` targeting its own namespace (the GPU Operator's CSV supports only
OwnNamespace/SingleNamespace) and a ``Subscription``; then the operand CR. The operand CRDs are
installed by OLM once the InstallPlan ran, so the CRs depend on their Subscription (the
Kubernetes provider retries a create while a kind is still unknown; with
``installPlanApproval: Manual`` the CRs wait for an administrator's approval, and a second
``pulumi up`` after it completes them).

The ClusterPolicy is the chart's values as a spec (the chart renders the same object), with the
settings of the CSV's ``alm-examples`` that OpenShift needs: the Driver Toolkit builds the
driver, CRI-O is the runtime, DCGM's ServiceMonitor feeds cluster monitoring. Every object is
checked against ``../shared/crds`` by ``tests/stacks``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.common.labels import standard_labels
from components.openshift.spec import OlmSubscriptionSpec

CLUSTER_POLICY_NAME = "gpu-cluster-policy"  # the CSV's alm-example name
NFD_INSTANCE_NAME = "nfd-instance"  # the NFD CSV's alm-example name


def cluster_policy_spec(values: dict[str, Any]) -> dict[str, Any]:
    """ClusterPolicy ``spec`` from the GPU Operator chart values of the stack (``operator_values``).

    The CRD requires these components to be present; each is enabled as in the CSV's example."""
    spec: dict[str, Any] = {
        "operator": {"defaultRuntime": "crio", "use_ocp_driver_toolkit": True},
        "daemonsets": {"updateStrategy": "RollingUpdate"},
        "dcgm": {"enabled": True},
        "gfd": {"enabled": True},
        "nodeStatusExporter": {"enabled": True},
        "devicePlugin": {"enabled": True},
        "toolkit": {"enabled": True},
        "driver": {"enabled": True},
    }
    for key, value in values.items():
        spec[key] = (spec.get(key, {}) | value) if isinstance(value, dict) else value
    for component in ("migManager", "devicePlugin"):
        config = spec.get(component, {}).get("config")
        if config is not None:
            # ``create`` tells the chart whether to render the ConfigMap; the ClusterPolicy only names it.
            spec[component] = spec[component] | {"config": {k: v for k, v in config.items() if k != "create"}}
    return spec


@dataclass(frozen=True)
class OlmOperatorsArgs:
    gpu_operator: OlmSubscriptionSpec
    """GPU Operator subscription. Required."""
    gpu_operator_namespace: pulumi.Input[str]
    """Its namespace (platform-owned). Required."""
    nfd: OlmSubscriptionSpec
    """NFD subscription. Required."""
    nfd_namespace: pulumi.Input[str]
    """Its namespace (platform-owned). Required."""
    cluster_policy: dict[str, Any]
    """ClusterPolicy spec (:func:`cluster_policy_spec`). Required."""
    depends_on: list[pulumi.Resource] = field(default_factory=list)
    """What the ClusterPolicy needs first (the sharing ConfigMaps it names). Default: none."""


def subscription_spec(sub: OlmSubscriptionSpec) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": sub.package, "channel": sub.channel, "source": sub.source,
                            "sourceNamespace": sub.source_namespace, "installPlanApproval": sub.install_plan_approval}
    if sub.starting_csv is not None:
        spec["startingCSV"] = sub.starting_csv
    return spec


class OlmOperators(pulumi.ComponentResource):
    """OperatorGroups, Subscriptions, the NFD instance and the ClusterPolicy."""

    ready: list[pulumi.Resource]
    """What GPU workloads wait for (the ClusterPolicy)."""

    def __init__(self, name: str, args: OlmOperatorsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmplatform:openshift:OlmOperators", name, None, opts)

        def operator(key: str, sub: OlmSubscriptionSpec, namespace: pulumi.Input[str], group_name: str) -> pulumi.Resource:
            labels = standard_labels("gpu-operators", key)
            group = k8s.apiextensions.CustomResource(
                f"{name}-{key}-group", api_version="operators.coreos.com/v1", kind="OperatorGroup",
                metadata={"name": group_name, "namespace": namespace, "labels": labels},
                spec={"targetNamespaces": [namespace]},
                opts=pulumi.ResourceOptions(parent=self))
            return k8s.apiextensions.CustomResource(
                f"{name}-{key}-subscription", api_version="operators.coreos.com/v1alpha1", kind="Subscription",
                metadata={"name": sub.package, "namespace": namespace, "labels": labels},
                spec=subscription_spec(sub),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[group]))

        nfd_sub = operator("nfd", args.nfd, args.nfd_namespace, "openshift-nfd")
        nfd = k8s.apiextensions.CustomResource(
            f"{name}-nfd-instance", api_version="nfd.openshift.io/v1", kind="NodeFeatureDiscovery",
            metadata={"name": NFD_INSTANCE_NAME, "namespace": args.nfd_namespace,
                      "labels": standard_labels("gpu-operators", "nfd")},
            # The operator's default operand image (its CSV's NODE_FEATURE_DISCOVERY_IMAGE, mirrored with it).
            spec={"operand": {"servicePort": 12000}},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[nfd_sub]))
        gpu_sub = operator("gpu", args.gpu_operator, args.gpu_operator_namespace, "nvidia-gpu-operator-group")
        policy = k8s.apiextensions.CustomResource(
            f"{name}-cluster-policy", api_version="nvidia.com/v1", kind="ClusterPolicy",
            metadata={"name": CLUSTER_POLICY_NAME, "labels": standard_labels("gpu-operators", "gpu")},
            spec=args.cluster_policy,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[gpu_sub, nfd, *args.depends_on]))
        self.ready = [policy]
        self.register_outputs({"clusterPolicy": CLUSTER_POLICY_NAME})
