"""One Karpenter-provisioned GPU pool: a ``karpenter.sh/v1`` NodePool, its ``karpenter.k8s.aws/v1``
EC2NodeClass and, for MIG pools, a ``karpenter.sh/v1alpha1`` NodeOverlay.

Why the NodeOverlay. Karpenter simulates scheduling against instance types whose extended
resources it knows: ``nvidia.com/gpu`` (and ``amd.com/gpu``, ``habana.ai/gaudi``, Neuron). A
pod asking only for ``nvidia.com/mig-3g.40gb`` fits no instance type, so Karpenter never
launches a node for it (aws/karpenter-provider-aws website v1.14 concepts/scheduling.md). The
two honest ways out are the ``single`` MIG strategy (slices stay ``nvidia.com/gpu``) or a
NodeOverlay whose ``capacity`` adds the slices the node will advertise once the GPU Operator's
MIG manager has applied the pool's layout. This platform does the latter for ``mixed`` and
``hybrid`` pools (``gpu.karpenter.nodeOverlay``, default on; the Karpenter release turns on the
``nodeOverlay`` feature gate), because ``mixed`` is what lets one node serve several slice sizes.
Time-sliced pools with ``renameByDefault`` get one too (``nvidia.com/gpu.shared`` x replicas), so
Karpenter packs several pods per GPU node instead of launching a node per pod.
The overlay matches the pool's nodes by ``karpenter.sh/nodepool`` and the instance GPU count, so
the announced slice counts (layout x GPUs per node) are exact. Karpenter's node initialisation
then waits until the resources the pending pods requested are registered (``RequestedResources-
Registered`` in kubernetes-sigs/karpenter nodeclaim lifecycle), i.e. until MIG is configured.
The NodeOverlay CRD is not among the shared schemas; its shape follows kubernetes-sigs/karpenter
``pkg/apis/crds/karpenter.sh_nodeoverlays.yaml`` (``spec.requirements`` required, ``capacity``
extended resources only, ``weight`` 1..10000), which the tests check.

Static pools emit none of this: their nodes exist already. Their sharing config is still
emitted (``sharing_config.py``) and the labels their nodes need are exported by the layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
from pulumi_kubernetes.apiextensions import CustomResource

from components.common.input_errors import refuse_inputs
from components.common.labels import standard_labels
from components.gpu.mig import INSTANCE_FAMILIES
from components.gpu.placement import ACCELERATOR_RESOURCE, GPU_TAINT_KEY
from components.gpu.pool_ref import GpuPoolRef
from components.gpu.rules import node_overlay_rules, pool_rules
from components.gpu.sharing import node_labels, overlay_capacity
from components.gpu.spec import GpuPoolSpec

DISCOVERY_TAG = "karpenter.sh/discovery"
NODEPOOL_LABEL = "karpenter.sh/nodepool"
GPU_COUNT_LABEL = "karpenter.k8s.aws/instance-gpu-count"
GPU_NAME_LABEL = "karpenter.k8s.aws/instance-gpu-name"
FAMILY_LABEL = "karpenter.k8s.aws/instance-family"
CAPACITY_TYPE_LABEL = "karpenter.sh/capacity-type"


@dataclass(frozen=True)
class GpuNodePoolArgs:
    """Inputs of one Karpenter GPU pool."""

    pool_name: str
    """Pool key in ``gpu.pools``; names the NodePool, the EC2NodeClass and the pool label. Required."""
    pool: GpuPoolSpec
    """The pool as configured (provisioner must be ``karpenter``). Required."""
    cluster_name: str
    """EKS cluster name: subnets and security groups are discovered by ``karpenter.sh/discovery``.
    Required."""
    node_role: pulumi.Input[str]
    """IAM role name of the nodes; Karpenter creates the instance profile from it. Required."""
    node_overlay: bool = True
    """Emit a NodeOverlay announcing the MIG slices or shared GPUs the nodes will advertise (see module
    docstring); false is refused for a pool that needs one. Default: true."""
    depends_on: list[pulumi.Resource] = field(default_factory=list)
    """Resources that must exist first (the Karpenter release, which installs the CRDs). Default: none."""


def requirements(pool: GpuPoolSpec) -> list[dict]:
    """NodePool requirements: instance families, GPU name and count, purchase options, arch/os."""
    reqs = [{"key": FAMILY_LABEL, "operator": "In", "values": sorted(pool.instance_families)}]
    if pool.accelerator == "nvidia":
        names = sorted({INSTANCE_FAMILIES[f].gpu_name for f in pool.instance_families if f in INSTANCE_FAMILIES})
        if names:
            reqs.append({"key": GPU_NAME_LABEL, "operator": "In", "values": names})
        # Only sizes with the configured GPU count: MIG slice counts and NodeOverlays assume it.
        reqs.append({"key": GPU_COUNT_LABEL, "operator": "In", "values": [str(pool.gpus_per_node)]})
    reqs += [
        {"key": CAPACITY_TYPE_LABEL, "operator": "In", "values": list(pool.capacity_types)},
        {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
        {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
    ]
    return reqs


def node_pool_spec(pool_name: str, pool: GpuPoolSpec, node_class: str) -> dict:
    """``spec`` of the pool's NodePool."""
    template_spec: dict = {
        "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": node_class},
        "requirements": requirements(pool),
        "expireAfter": pool.expire_after,
    }
    if pool.taint:
        template_spec["taints"] = [{"key": GPU_TAINT_KEY, "value": "true", "effect": "NoSchedule"}]
    if pool.termination_grace_period is not None:
        template_spec["terminationGracePeriod"] = pool.termination_grace_period
    budgets = []
    for b in pool.disruption.budgets:
        budget: dict = {"nodes": b.nodes}
        if b.reasons is not None:
            budget["reasons"] = list(b.reasons)
        if b.schedule is not None:
            budget["schedule"] = b.schedule
        if b.duration is not None:
            budget["duration"] = b.duration
        budgets.append(budget)
    spec: dict = {
        "template": {"metadata": {"labels": node_labels(pool_name, pool)}, "spec": template_spec},
        "disruption": {
            "consolidationPolicy": pool.disruption.consolidation_policy,
            "consolidateAfter": pool.disruption.consolidate_after,
            "budgets": budgets,
        },
    }
    if pool.gpu_limit is not None:
        spec["limits"] = {ACCELERATOR_RESOURCE[pool.accelerator]: str(pool.gpu_limit)}
    return spec


def block_device_mappings(pool: GpuPoolSpec) -> list[dict]:
    """EBS volumes: the image volume sized for multi-GB serving images, gp3, encrypted.

    AL2023 keeps images on the root volume ``/dev/xvda``; Bottlerocket keeps its OS on
    ``/dev/xvda`` (4Gi default) and images on the data volume ``/dev/xvdb``
    (karpenter-provider-aws website v1.14 concepts/nodeclasses.md, blockDeviceMappings)."""
    data = {"volumeSize": f"{pool.root_volume_gib}Gi", "volumeType": "gp3", "iops": 16000, "throughput": 1000,
            "encrypted": True, "deleteOnTermination": True}
    if pool.ami_alias.startswith("bottlerocket@"):
        os_volume = {"volumeSize": "4Gi", "volumeType": "gp3", "encrypted": True, "deleteOnTermination": True}
        return [{"deviceName": "/dev/xvda", "ebs": os_volume}, {"deviceName": "/dev/xvdb", "ebs": data}]
    return [{"deviceName": "/dev/xvda", "rootVolume": True, "ebs": data}]


def node_class_spec(pool_name: str, pool: GpuPoolSpec, cluster_name: str, role: str) -> dict:
    """``spec`` of the pool's EC2NodeClass (``role`` may be an Output at runtime)."""
    discovery = {"tags": {DISCOVERY_TAG: cluster_name}}
    spec: dict = {
        "role": role,
        "amiSelectorTerms": [{"alias": pool.ami_alias}],
        "subnetSelectorTerms": [discovery],
        "securityGroupSelectorTerms": [discovery],
        "blockDeviceMappings": block_device_mappings(pool),
        "metadataOptions": {"httpEndpoint": "enabled", "httpProtocolIPv6": "disabled",
                            "httpPutResponseHopLimit": 1, "httpTokens": "required"},
        "tags": {"llm-platform.io/pool": pool_name, DISCOVERY_TAG: cluster_name},
    }
    terms = [{"id": rid} for rid in pool.capacity_reservation_ids]
    if pool.capacity_reservation_tags:
        terms.append({"tags": dict(pool.capacity_reservation_tags)})
    if terms:
        spec["capacityReservationSelectorTerms"] = terms
    return spec


def node_overlay_spec(pool_name: str, pool: GpuPoolSpec) -> dict | None:
    """``spec`` of the pool's NodeOverlay, or None when Karpenter already sees every resource."""
    capacity = overlay_capacity(pool)
    if not capacity:
        return None
    return {
        "requirements": [
            {"key": NODEPOOL_LABEL, "operator": "In", "values": [pool_name]},
            {"key": GPU_COUNT_LABEL, "operator": "In", "values": [str(pool.gpus_per_node)]},
        ],
        "capacity": capacity,
    }


def problems(args: GpuNodePoolArgs) -> list[tuple[str, str]]:
    """Everything wrong with ``args`` (paths relative to them), by the rules the stack applies to
    ``gpu.pools.<name>`` (``components.gpu.rules.pool_rules``): an instance family whose GPU is
    not the pool's, an invalid MIG layout, an AMI alias, a duration, MIG slices without the
    NodeOverlay that lets Karpenter see them ..."""
    if args.pool.provisioner != "karpenter":
        return [("pool.provisioner", f"pool {args.pool_name!r} is {args.pool.provisioner!r}: only karpenter pools get a "
                                     f"NodePool; declare a static pool with GpuPoolRef({args.pool_name!r}, spec) instead")]
    return (pool_rules(args.pool_name, args.pool, path="pool")
            + node_overlay_rules(args.pool_name, args.pool, args.node_overlay, path="nodeOverlay"))


class GpuNodePool(pulumi.ComponentResource):
    """A Karpenter GPU pool: EC2NodeClass + NodePool (+ NodeOverlay for MIG slices).

    Raises ``pulumi.InputPropertiesError`` listing every problem of its args (:func:`problems`)
    before it registers anything."""

    node_pool_name: pulumi.Output[str]
    """Name of the NodePool (also the ``karpenter.sh/nodepool`` label of its nodes)."""
    node_class_name: pulumi.Output[str]
    """Name of the EC2NodeClass."""
    node_overlay_name: pulumi.Output[str] | None
    """Name of the NodeOverlay, or None when the pool needs none."""
    node_labels: dict[str, str]
    """Labels every node of the pool carries (pool, sharing and user labels)."""
    pool_ref: GpuPoolRef
    """The pool as its workloads see it (labels, taint, GPUs per node, MIG layout, offered resources)."""

    def __init__(self, name: str, args: GpuNodePoolArgs, opts: pulumi.ResourceOptions | None = None):
        refuse_inputs("GpuNodePool", name, problems(args))
        super().__init__("llmplatform:gpu:GpuNodePool", name, None, opts)
        self.pool_ref = GpuPoolRef(args.pool_name, args.pool)
        after = list(args.depends_on)
        child = pulumi.ResourceOptions(parent=self, depends_on=after)
        labels = standard_labels("gpu-node-pool", args.pool_name)
        self.node_labels = node_labels(args.pool_name, args.pool)
        node_class = CustomResource(
            f"{name}-node-class",
            api_version="karpenter.k8s.aws/v1",
            kind="EC2NodeClass",
            metadata={"name": args.pool_name, "labels": labels},
            spec=pulumi.Output.from_input(args.node_role).apply(
                lambda role: node_class_spec(args.pool_name, args.pool, args.cluster_name, role)
            ),
            opts=child,
        )
        node_pool = CustomResource(
            f"{name}-node-pool",
            api_version="karpenter.sh/v1",
            kind="NodePool",
            metadata={"name": args.pool_name, "labels": labels},
            spec=node_pool_spec(args.pool_name, args.pool, args.pool_name),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[node_class, *after]),
        )
        self.node_class_name = node_class.metadata["name"]
        self.node_pool_name = node_pool.metadata["name"]
        self.node_overlay_name = None
        overlay = node_overlay_spec(args.pool_name, args.pool) if args.node_overlay else None
        if overlay is not None:
            node_overlay = CustomResource(
                f"{name}-node-overlay",
                api_version="karpenter.sh/v1alpha1",
                kind="NodeOverlay",
                metadata={"name": f"{args.pool_name}-gpu-resources", "labels": labels},
                spec=overlay,
                opts=child,
            )
            self.node_overlay_name = node_overlay.metadata["name"]
        self.register_outputs({
            "node_pool_name": self.node_pool_name,
            "node_class_name": self.node_class_name,
            "node_overlay_name": self.node_overlay_name,
            "node_labels": self.node_labels,
        })
