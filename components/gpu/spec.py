"""User-facing specs of the GPU layer: pools, how their GPUs are shared, and the controllers
(Karpenter, NVIDIA GPU Operator, NVIDIA DRA driver) that make them schedulable."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field, PositiveInt

from components.common.fields import (AmiAlias, BudgetNodes, BudgetWindow, CapacityReservationId, CronSchedule, DnsLabel,
                                      DnsSubdomain, Gib, InstanceFamily, KarpenterDuration, KarpenterGracePeriod, Labels,
                                      Namespace)
from components.common.helm import ChartRef
from components.common.spec import Spec

CapacityType = Literal["spot", "on-demand", "reserved"]


class NoSharing(Spec):
    """Each container gets whole GPUs."""

    mode: Literal["none"] = "none"
    """Discriminator: ``none``."""


class TimeSlicingSharing(Spec):
    """The device plugin advertises every GPU ``replicas`` times; pods share it by time slices
    with no memory isolation (development, bursty low-traffic adapters)."""

    mode: Literal["time-slicing"] = "time-slicing"
    """Discriminator: ``time-slicing``."""
    replicas: Annotated[int, Field(ge=2, le=64)]
    """How many pods may share one physical GPU."""
    rename_by_default: bool = False
    """Advertise ``nvidia.com/gpu.shared`` instead of ``nvidia.com/gpu`` so workloads opt in; on
    Karpenter pools a NodeOverlay then announces ``replicas`` shared GPUs per GPU, so Karpenter
    packs pods instead of launching a node per pod. Default: keep the ``nvidia.com/gpu`` name."""
    fail_requests_greater_than_one: bool = True
    """Reject pods asking for more than one shared GPU (NVIDIA's recommendation; two replicas of
    one GPU are not two GPUs). Default: true."""


class MigSharing(Spec):
    """Multi-Instance GPU: hardware-isolated slices with their own memory (production)."""

    mode: Literal["mig"] = "mig"
    """Discriminator: ``mig``."""
    strategy: Literal["single", "mixed"] = "mixed"
    """``single`` advertises every slice as ``nvidia.com/gpu`` (all slices must be the same
    profile); ``mixed`` advertises ``nvidia.com/mig-<profile>`` per profile. Default: mixed."""
    layout: dict[str, PositiveInt]
    """MIG profile -> instances per GPU, e.g. ``{"3g.40gb": 2}``; must fit the pool's GPU."""
    config_name: str | None = None
    """Name of the mig-parted config the pool's nodes select through the ``nvidia.com/mig.config``
    label. Default: NVIDIA's canonical name when the layout is one of NVIDIA's (``all-3g.40gb``,
    ``all-balanced``), else ``<pool>-mig``."""


class HybridSharing(Spec):
    """MIG slices, some of them additionally time-sliced (many small adapters on cheap slices)."""

    mode: Literal["hybrid"] = "hybrid"
    """Discriminator: ``hybrid``."""
    layout: dict[str, PositiveInt]
    """MIG profile -> instances per GPU (mixed strategy is implied)."""
    time_sliced: dict[str, Annotated[int, Field(ge=2, le=64)]]
    """MIG profile -> time-slicing replicas per slice; profiles must appear in ``layout``."""
    config_name: str | None = None
    """Name of the mig-parted config (``nvidia.com/mig.config`` label value). Default: NVIDIA's
    canonical name when the layout is one of NVIDIA's, else ``<pool>-mig``."""
    fail_requests_greater_than_one: bool = True
    """Reject pods asking for more than one shared slice. Default: true."""


class DraSharing(Spec):
    """GPUs are allocated through Dynamic Resource Allocation claims (NVIDIA DRA driver) instead
    of the device plugin; pods use ResourceClaimTemplates from ``gpu.dra.claimTemplates``."""

    mode: Literal["dra"] = "dra"
    """Discriminator: ``dra``."""


GpuSharing = Annotated[
    Union[NoSharing, TimeSlicingSharing, MigSharing, HybridSharing, DraSharing],
    Field(discriminator="mode"),
]


class DisruptionBudget(Spec):
    """How many nodes Karpenter may disrupt at once, optionally only in a schedule window."""

    nodes: BudgetNodes = "10%"
    """Node count or percentage. Default: 10%."""
    reasons: list[Literal["Underutilized", "Empty", "Drifted"]] | None = None
    """Disruption reasons this budget applies to. Default: all reasons."""
    schedule: CronSchedule | None = None
    """Cron schedule opening the budget window. Default: always active."""
    duration: BudgetWindow | None = None
    """Length of the window opened by ``schedule`` (e.g. ``8h``). Default: none."""


class DisruptionSpec(Spec):
    """When Karpenter may remove or replace GPU nodes."""

    consolidation_policy: Literal["WhenEmpty", "WhenEmptyOrUnderutilized", "Balanced"] = "WhenEmpty"
    """``WhenEmpty`` never evicts serving pods to bin-pack GPUs (model reloads are expensive);
    ``Balanced`` (Karpenter 1.14) weighs savings against disruption. Default: WhenEmpty."""
    consolidate_after: KarpenterDuration = "300s"
    """How long a node must be consolidatable before Karpenter acts. Default: 300s."""
    budgets: list[DisruptionBudget] = Field(default_factory=lambda: [DisruptionBudget()])
    """Disruption budgets. Default: at most 10% of the pool's nodes at once."""


class GpuPoolSpec(Spec):
    """One pool of GPU nodes with a single GPU model and one sharing mode."""

    provisioner: Literal["karpenter", "static"] = "karpenter"
    """``karpenter`` launches nodes just in time (EKS); ``static`` describes nodes that already
    exist (on-prem, local), selected by ``nodeSelector``. Default: karpenter."""
    gpu: str
    """GPU model, e.g. ``H100-80GB``, ``A100-80GB``, ``L4``; decides MIG profiles and memory."""
    accelerator: Literal["nvidia", "amd", "habana"] = "nvidia"
    """Vendor; decides the extended resource name (``nvidia.com/gpu``, ``amd.com/gpu``,
    ``habana.ai/gaudi``). Default: nvidia."""
    gpus_per_node: Annotated[int, Field(ge=1, le=64)] = 8
    """Physical GPUs per node (p5.48xlarge: 8). Default: 8."""
    instance_families: list[InstanceFamily] = Field(default_factory=list)
    """Karpenter only: EC2 instance families, e.g. ``[p5]``. Default: none (required for karpenter)."""
    capacity_types: list[CapacityType] = Field(default_factory=lambda: ["on-demand"])
    """Karpenter only: purchase options; Karpenter uses reserved capacity first, then the cheapest
    of the others. Default: on-demand."""
    capacity_reservation_ids: list[CapacityReservationId] = Field(default_factory=list)
    """Karpenter only: EC2 capacity reservations (``cr-...``) the pool may launch into; ``reserved``
    needs these or ``capacityReservationTags``. Default: none."""
    capacity_reservation_tags: dict[str, str] = Field(default_factory=dict)
    """Karpenter only: tags selecting EC2 capacity reservations. Default: none."""
    gpu_limit: PositiveInt | None = None
    """Karpenter only: most GPUs this pool may hold in total. Default: no limit."""
    sharing: GpuSharing = Field(default_factory=NoSharing)
    """How the pool's GPUs are shared between pods. Default: whole GPUs."""
    labels: Labels = Field(default_factory=dict)
    """Extra node labels. Default: none (the pool label is always added)."""
    node_selector: Labels = Field(default_factory=dict)
    """Static only: labels that identify the pool's existing nodes. Default: the pool label."""
    taint: bool = True
    """Taint nodes ``nvidia.com/gpu=true:NoSchedule`` so only GPU workloads land there. Default: true."""
    ami_alias: AmiAlias = "al2023@latest"
    """Karpenter only: EC2NodeClass AMI alias (``al2023@<version>`` or ``bottlerocket@<version>``;
    Karpenter picks the NVIDIA variant for GPU instances); pin a version in prod.
    Default: al2023@latest."""
    root_volume_gib: Gib = 300
    """Karpenter only: size of the EBS volume holding container images (AL2023: the root volume
    ``/dev/xvda``; Bottlerocket: the data volume ``/dev/xvdb``); serving images and model caches
    are tens of GB. Default: 300."""
    disruption: DisruptionSpec = Field(default_factory=DisruptionSpec)
    """Karpenter only: consolidation and budgets."""
    expire_after: KarpenterDuration = "720h"
    """Karpenter only: maximum node lifetime before replacement (or ``Never``). Default: 720h."""
    termination_grace_period: KarpenterGracePeriod | None = "24h"
    """Karpenter only: longest a draining node waits for its pods (PDBs included) before it is
    terminated anyway; ``null`` waits forever. Default: 24h."""


class KarpenterSpec(Spec):
    """The Karpenter controller and its AWS pieces (EKS stacks only)."""

    install: bool = False
    """Install the controller, its IAM roles and the interruption queue. Default: false."""
    namespace: Namespace = "kube-system"
    """Namespace of the controller. Default: kube-system."""
    chart: ChartRef = ChartRef(name="karpenter", version="1.14.1", repository="oci://public.ecr.aws/karpenter")
    """Karpenter chart. Default: karpenter 1.14.1 from public ECR."""
    crd_chart: ChartRef = ChartRef(name="karpenter-crd", version="1.14.1", repository="oci://public.ecr.aws/karpenter")
    """Karpenter's CRD chart, installed as its own release first so CRDs are upgraded with the
    controller (Helm never upgrades a chart's ``crds/``); must match ``chart``'s version.
    Default: karpenter-crd 1.14.1."""
    identity: Literal["pod-identity", "irsa"] = "pod-identity"
    """How the controller gets AWS credentials. Default: EKS Pod Identity."""
    interruption_queue: bool = True
    """Create the SQS queue and EventBridge rules for spot interruption handling. Default: true."""
    node_overlay: bool = True
    """Advertise the MIG slices of mixed/hybrid pools to Karpenter's scheduling simulation with
    ``NodeOverlay`` objects (and turn on the ``nodeOverlay`` feature gate); without them Karpenter
    never launches a node for a pod that asks only for ``nvidia.com/mig-*``. Default: true."""


class GpuOperatorSpec(Spec):
    """NVIDIA GPU Operator (device plugin, MIG manager, DCGM exporter, optional driver)."""

    install: bool = False
    """Install the operator. Default: false."""
    namespace: Namespace = "gpu-operator"
    """Namespace of the operator. Default: gpu-operator."""
    chart: ChartRef = ChartRef(name="gpu-operator", version="v26.7.0", repository="https://helm.ngc.nvidia.com/nvidia")
    """GPU Operator chart. Default: v26.7.0 from NGC."""
    driver: bool | None = None
    """Let the operator install the NVIDIA driver and container toolkit. Default: off on EKS
    (the GPU AMIs ship them), on elsewhere."""
    dcgm_exporter: bool = True
    """Run the DCGM exporter for GPU metrics. Default: true."""


class ClaimTemplateSpec(Spec):
    """A ResourceClaimTemplate generated from a declarative GPU request."""

    count: PositiveInt = 1
    """Devices per claim. Default: 1."""
    product: str | None = None
    """Case-insensitive substring of the GPU product name (``productName`` attribute), e.g.
    ``h100``. Default: any product."""
    min_memory_gb: PositiveInt | None = None
    """Minimum device memory in decimal GB as products are named (``80`` for H100-80GB, whose
    81559 MiB is below 80 GiB); compared as ``quantity('<n>G')``. Default: any."""
    mig_profile: str | None = None
    """Request a MIG device of this profile (DeviceClass ``mig.nvidia.com``); needs
    ``gpu.dra.dynamicMig``. Default: whole GPU (DeviceClass ``gpu.nvidia.com``)."""


class DraSpec(Spec):
    """NVIDIA DRA driver and claim templates."""

    install: bool = False
    """Install the DRA driver. Default: false."""
    namespace: Namespace = "dra-driver-nvidia-gpu"
    """Namespace of the driver. Default: dra-driver-nvidia-gpu."""
    chart: ChartRef = ChartRef(
        name="dra-driver-nvidia-gpu", version="0.4.1", repository="oci://registry.k8s.io/dra-driver-nvidia/charts"
    )
    """DRA driver chart. Default: 0.4.1 from registry.k8s.io."""
    claim_templates: dict[DnsSubdomain, ClaimTemplateSpec] = Field(default_factory=dict)
    """Claim templates by name, created in the serving namespace. Default: none."""
    driver_root: str | None = None
    """Host path of the NVIDIA driver (``nvidiaDriverRoot``). Default: ``/run/nvidia/driver``
    when the GPU Operator installs the driver, else ``/`` (EKS AMIs ship it)."""
    dynamic_mig: bool = False
    """Turn on the driver's ``DynamicMIG`` feature gate so claims can ask for MIG profiles that
    are created on demand (Kubernetes 1.34-1.35 also need ``DRAPartitionableDevices`` on the
    API server and scheduler). Default: false."""


class GpuSpec(Spec):
    """The GPU layer."""

    pools: dict[DnsLabel, GpuPoolSpec] = Field(default_factory=dict)
    """GPU pools by name. Default: none."""
    karpenter: KarpenterSpec = Field(default_factory=KarpenterSpec)
    """Karpenter controller. Default: not installed."""
    operator: GpuOperatorSpec = Field(default_factory=GpuOperatorSpec)
    """NVIDIA GPU Operator. Default: not installed."""
    dra: DraSpec = Field(default_factory=DraSpec)
    """NVIDIA DRA driver. Default: not installed."""
