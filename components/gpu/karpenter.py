"""The Karpenter controller on EKS and its AWS pieces (pulumi-aws through the stack's AWS provider).

Scoped like terraform-aws-modules/terraform-aws-eks ``modules/karpenter`` (main.tf, policy.tf
"v1.0.x Controller IAM Policy"), cross-checked with karpenter-provider-aws's getting-started
CloudFormation (website v1.14):

* controller role: EKS Pod Identity (``pods.eks.amazonaws.com``, ``sts:AssumeRole`` +
  ``sts:TagSession``) and an ``aws_eks_pod_identity_association`` for ``kube-system/karpenter``,
  or IRSA (the cluster's OIDC provider, ``sts:AssumeRoleWithWebIdentity`` with ``sub`` and ``aud``
  conditions) plus the ``eks.amazonaws.com/role-arn`` service-account annotation (Pod Identity
  needs the cluster's ``eks-pod-identity-agent`` add-on; IRSA needs its IAM OIDC provider);
* controller policy: the module's statements by Sid, EC2 actions scoped to the region, the
  cluster's ``kubernetes.io/cluster/<name>: owned`` tag and ``eks:eks-cluster-name``; the
  regional reads add ``DescribeCapacityReservations`` (reserved capacity),
  ``DescribePlacementGroups`` and ``DescribeInstanceStatus``, and ``iam:ListInstanceProfiles``
  is allowed, as newer Karpenter releases call them;
* node role with AmazonEKSWorkerNodePolicy, AmazonEC2ContainerRegistryPullOnly,
  AmazonEKS_CNI_Policy and AmazonSSMManagedInstanceCore, and an EKS access entry of type
  ``EC2_LINUX`` (Karpenter creates the instance profile from the EC2NodeClass ``role``);
* interruption queue (SQS, 300 s retention, SSE, TLS only) fed by five EventBridge rules;
* CRDs from the ``karpenter-crd`` chart as their own release (the upgrade guide's way: Helm
  never upgrades a chart's ``crds/``, and v1.14 adds fields and NodeOverlay), then the
  controller release with ``skip_crds``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import pulumi
import pulumi_aws as aws

from components.common.fields import AwsRegion, ClusterName
from components.common.helm import ChartRef, helm_release
from components.common.input_errors import refuse_inputs, type_issues, value_issues
from components.gpu.spec import KarpenterSpec

SERVICE_ACCOUNT = "karpenter"
NODE_MANAGED_POLICIES = (
    "AmazonEKSWorkerNodePolicy",
    "AmazonEC2ContainerRegistryPullOnly",
    "AmazonEKS_CNI_Policy",
    "AmazonSSMManagedInstanceCore",
)
INTERRUPTION_EVENTS: dict[str, dict[str, list[str]]] = {
    "health": {"source": ["aws.health"], "detail-type": ["AWS Health Event"]},
    "spot-interruption": {"source": ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"]},
    "rebalance": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance Rebalance Recommendation"]},
    "state-change": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"]},
    "capacity-reservation": {"source": ["aws.ec2"],
                             "detail-type": ["EC2 Capacity Reservation Instance Interruption Warning"]},
}
"""EventBridge rule role -> event pattern (terraform-aws-eks modules/karpenter main.tf ``local.events``)."""


def controller_trust_policy(identity: Literal["pod-identity", "irsa"], *, partition: str, account_id: str,
                            oidc_issuer: str | None = None, namespace: str = "kube-system") -> dict[str, Any]:
    """Trust policy of the controller role."""
    if identity == "pod-identity":
        statement = {"Sid": "PodIdentity", "Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"},
                     "Action": ["sts:AssumeRole", "sts:TagSession"]}
    else:
        if not oidc_issuer:
            raise ValueError("IRSA needs the cluster's OIDC issuer")
        issuer = oidc_issuer.removeprefix("https://")
        statement = {
            "Sid": "IRSA", "Effect": "Allow",
            "Principal": {"Federated": f"arn:{partition}:iam::{account_id}:oidc-provider/{issuer}"},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {f"{issuer}:sub": f"system:serviceaccount:{namespace}:{SERVICE_ACCOUNT}",
                                           f"{issuer}:aud": "sts.amazonaws.com"}},
        }
    return {"Version": "2012-10-17", "Statement": [statement]}


def node_trust_policy() -> dict[str, Any]:
    """Trust policy of the node role: EC2 instances."""
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "EC2AssumeRole", "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


def controller_policy(*, cluster: str, region: str, partition: str, account_id: str, node_role_arn: str,
                      queue_arn: str | None) -> dict[str, Any]:
    """Controller permissions (terraform-aws-eks modules/karpenter policy.tf, v1 statements)."""
    ec2 = f"arn:{partition}:ec2:{region}"
    owned = {f"aws:RequestTag/kubernetes.io/cluster/{cluster}": "owned", "aws:RequestTag/eks:eks-cluster-name": cluster}
    res_owned = {f"aws:ResourceTag/kubernetes.io/cluster/{cluster}": "owned"}
    tagged = [f"{ec2}:*:{kind}/*" for kind in ("fleet", "instance", "volume", "network-interface", "launch-template",
                                                 "spot-instances-request")]
    profile = f"arn:{partition}:iam::{account_id}:instance-profile/*"
    statements: list[dict[str, Any]] = [
        {"Sid": "AllowScopedEC2InstanceAccessActions", "Effect": "Allow", "Action": ["ec2:RunInstances", "ec2:CreateFleet"],
         "Resource": [f"{ec2}::image/*", f"{ec2}::snapshot/*", f"{ec2}:*:security-group/*", f"{ec2}:*:subnet/*"]},
        {"Sid": "AllowScopedEC2LaunchTemplateAccessActions", "Effect": "Allow",
         "Action": ["ec2:RunInstances", "ec2:CreateFleet"], "Resource": f"{ec2}:*:launch-template/*",
         "Condition": {"StringEquals": res_owned, "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"}}},
        {"Sid": "AllowScopedEC2InstanceActionsWithTags", "Effect": "Allow",
         "Action": ["ec2:RunInstances", "ec2:CreateFleet", "ec2:CreateLaunchTemplate"], "Resource": tagged,
         "Condition": {"StringEquals": owned, "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"}}},
        {"Sid": "AllowScopedResourceCreationTagging", "Effect": "Allow", "Action": "ec2:CreateTags", "Resource": tagged,
         "Condition": {"StringEquals": {**owned, "ec2:CreateAction": ["RunInstances", "CreateFleet", "CreateLaunchTemplate"]},
                       "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"}}},
        {"Sid": "AllowScopedResourceTagging", "Effect": "Allow", "Action": "ec2:CreateTags", "Resource": f"{ec2}:*:instance/*",
         "Condition": {"StringEquals": res_owned, "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"},
                       "StringEqualsIfExists": {"aws:RequestTag/eks:eks-cluster-name": cluster},
                       "ForAllValues:StringEquals": {"aws:TagKeys": ["eks:eks-cluster-name", "karpenter.sh/nodeclaim", "Name"]}}},
        {"Sid": "AllowScopedDeletion", "Effect": "Allow", "Action": ["ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"],
         "Resource": [f"{ec2}:*:instance/*", f"{ec2}:*:launch-template/*"],
         "Condition": {"StringEquals": res_owned, "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"}}},
        {"Sid": "AllowRegionalReadActions", "Effect": "Allow", "Resource": "*",
         "Action": ["ec2:DescribeAvailabilityZones", "ec2:DescribeImages", "ec2:DescribeInstances",
                    "ec2:DescribeInstanceTypeOfferings", "ec2:DescribeInstanceTypes", "ec2:DescribeLaunchTemplates",
                    "ec2:DescribeSecurityGroups", "ec2:DescribeSpotPriceHistory", "ec2:DescribeSubnets",
                    "ec2:DescribeCapacityReservations", "ec2:DescribePlacementGroups", "ec2:DescribeInstanceStatus"],
         "Condition": {"StringEquals": {"aws:RequestedRegion": region}}},
        {"Sid": "AllowSSMReadActions", "Effect": "Allow", "Action": "ssm:GetParameter",
         "Resource": f"arn:{partition}:ssm:{region}::parameter/aws/service/*"},
        {"Sid": "AllowPricingReadActions", "Effect": "Allow", "Action": "pricing:GetProducts", "Resource": "*"},
    ]
    if queue_arn is not None:
        statements.append({"Sid": "AllowInterruptionQueueActions", "Effect": "Allow", "Resource": queue_arn,
                           "Action": ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"]})
    region_tag = {"aws:RequestTag/topology.kubernetes.io/region": region}
    statements += [
        {"Sid": "AllowPassingInstanceRole", "Effect": "Allow", "Action": "iam:PassRole", "Resource": node_role_arn,
         "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}},
        {"Sid": "AllowScopedInstanceProfileCreationActions", "Effect": "Allow", "Action": "iam:CreateInstanceProfile",
         "Resource": profile,
         "Condition": {"StringEquals": {**owned, **region_tag},
                       "StringLike": {"aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*"}}},
        {"Sid": "AllowScopedInstanceProfileTagActions", "Effect": "Allow", "Action": "iam:TagInstanceProfile",
         "Resource": profile,
         "Condition": {"StringEquals": {**res_owned, "aws:ResourceTag/topology.kubernetes.io/region": region, **owned, **region_tag},
                       "StringLike": {"aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*",
                                      "aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*"}}},
        {"Sid": "AllowScopedInstanceProfileActions", "Effect": "Allow", "Resource": profile,
         "Action": ["iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile", "iam:DeleteInstanceProfile"],
         "Condition": {"StringEquals": {**res_owned, "aws:ResourceTag/topology.kubernetes.io/region": region},
                       "StringLike": {"aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*"}}},
        {"Sid": "AllowInstanceProfileReadActions", "Effect": "Allow", "Action": "iam:GetInstanceProfile", "Resource": profile},
        # Newer controllers list instance profiles to garbage-collect their own; no narrower resource exists.
        {"Sid": "AllowInstanceProfileListActions", "Effect": "Allow", "Action": "iam:ListInstanceProfiles", "Resource": "*"},
        {"Sid": "AllowAPIServerEndpointDiscovery", "Effect": "Allow", "Action": "eks:DescribeCluster",
         "Resource": f"arn:{partition}:eks:{region}:{account_id}:cluster/{cluster}"},
    ]
    return {"Version": "2012-10-17", "Statement": statements}


def queue_policy(queue_arn: str, rule_arns: list[str]) -> dict[str, Any]:
    """Queue policy: only the interruption EventBridge rules may send (``aws:SourceArn``; any other
    rule in any account would otherwise inject fake interruptions that drain GPU nodes); anything
    over plain HTTP is denied."""
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "EventBridgeRulesWrite", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": queue_arn,
         "Principal": {"Service": "events.amazonaws.com"},
         "Condition": {"ArnEquals": {"aws:SourceArn": sorted(rule_arns)}}},
        {"Sid": "DenyHTTP", "Effect": "Deny", "Action": "sqs:*", "Resource": queue_arn, "Principal": "*",
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
    ]}


def karpenter_values(*, cluster: str, queue_name: str | None, node_overlay: bool,
                     irsa_role_arn: str | None = None) -> dict[str, Any]:
    """Helm values of the Karpenter chart (aws/karpenter-provider-aws charts/karpenter/values.yaml)."""
    settings: dict[str, Any] = {"clusterName": cluster, "featureGates": {"nodeOverlay": node_overlay}}
    if queue_name is not None:
        settings["interruptionQueue"] = queue_name
    service_account: dict[str, Any] = {"create": True, "name": SERVICE_ACCOUNT}
    if irsa_role_arn is not None:
        service_account["annotations"] = {"eks.amazonaws.com/role-arn": irsa_role_arn}
    return {"settings": settings, "serviceAccount": service_account}


@dataclass(frozen=True)
class KarpenterArgs:
    """Inputs of the Karpenter controller."""

    cluster_name: str
    """EKS cluster name. Required."""
    region: str
    """AWS region of the cluster. Required."""
    chart: ChartRef
    """Pinned Karpenter chart. Required."""
    crd_chart: ChartRef | None = None
    """Pinned ``karpenter-crd`` chart installed first (the controller release then skips CRDs). Default: None:
    the controller chart installs its CRDs once (Helm never upgrades them)."""
    namespace: str = "kube-system"
    """Namespace of the controller (and of its pod identity association). Default: kube-system."""
    identity: Literal["pod-identity", "irsa"] = "pod-identity"
    """How the controller gets AWS credentials: an EKS Pod Identity association (needs the
    ``eks-pod-identity-agent`` add-on) or IRSA (needs the cluster's IAM OIDC provider). Default:
    pod-identity."""
    interruption_queue: bool = True
    """Create the SQS interruption queue and its EventBridge rules. Default: true."""
    node_overlay: bool = True
    """Turn on Karpenter's ``nodeOverlay`` feature gate, without which it ignores the NodeOverlays
    ``GpuNodePool`` emits (its ``node_overlay``, also default true) for MIG and shared-GPU pools.
    Default: true, like the pool's knob and ``gpu.karpenter.nodeOverlay``; the stack turns it on
    only when one of its pools needs an overlay."""


def problems(args: KarpenterArgs) -> list[tuple[str, str]]:
    """Everything wrong with ``args`` (paths relative to them), by the config's field types of
    ``cluster.name``, ``cluster.region`` and ``gpu.karpenter`` (namespace, identity)."""
    return (type_issues(ClusterName, args.cluster_name, path="clusterName")
            + type_issues(AwsRegion, args.region, path="region")
            + value_issues(KarpenterSpec, "namespace", args.namespace, path="namespace")
            + value_issues(KarpenterSpec, "identity", args.identity, path="identity"))


class KarpenterController(pulumi.ComponentResource):
    """IAM roles, interruption queue and rules, access entry, identity binding, and the Helm release.

    Raises ``pulumi.InputPropertiesError`` listing every problem of its args (:func:`problems`)
    before it registers anything."""

    node_role_name: pulumi.Output[str]
    """IAM role of Karpenter's nodes (EC2NodeClass ``role``)."""
    node_role_arn: pulumi.Output[str]
    """Its ARN."""
    controller_role_arn: pulumi.Output[str]
    """IAM role the controller assumes."""
    queue_name: pulumi.Output[str] | None
    """Interruption queue name, or None when disabled."""
    release: pulumi.Resource
    """The Karpenter release (its CRDs must exist before NodePools), for ``depends_on``."""

    def __init__(self, name: str, args: KarpenterArgs, opts: pulumi.ResourceOptions | None = None):
        refuse_inputs("KarpenterController", name, problems(args))
        super().__init__("llmplatform:gpu:KarpenterController", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        cluster = args.cluster_name
        partition = aws.get_partition_output(opts=invoke).partition
        account_id = aws.get_caller_identity_output(opts=invoke).account_id
        tags = {"karpenter.sh/discovery": cluster, "app.kubernetes.io/part-of": "llm-platform"}

        node_role = aws.iam.Role(
            f"{name}-node-role", name=f"KarpenterNode-{cluster}", description=f"Karpenter nodes of EKS cluster {cluster}",
            assume_role_policy=json.dumps(node_trust_policy()), tags=tags, opts=child)
        for policy in NODE_MANAGED_POLICIES:
            aws.iam.RolePolicyAttachment(
                f"{name}-node-{policy}", role=node_role.name,
                policy_arn=partition.apply(lambda p, policy=policy: f"arn:{p}:iam::aws:policy/{policy}"), opts=child)
        aws.eks.AccessEntry(f"{name}-node-access", cluster_name=cluster, principal_arn=node_role.arn, type="EC2_LINUX",
                            tags=tags, opts=child)

        queue = None
        if args.interruption_queue:
            queue = aws.sqs.Queue(f"{name}-queue", name=f"Karpenter-{cluster}", message_retention_seconds=300,
                                  sqs_managed_sse_enabled=True, tags=tags, opts=child)
            rules = []
            for role, pattern in INTERRUPTION_EVENTS.items():
                rule = aws.cloudwatch.EventRule(
                    f"{name}-{role}", name=f"Karpenter-{cluster}-{role}"[:64],
                    description=f"Karpenter interruption handling: {pattern['detail-type'][0]}",
                    event_pattern=json.dumps(pattern), tags=tags, opts=child)
                aws.cloudwatch.EventTarget(f"{name}-{role}-target", rule=rule.name, target_id="KarpenterInterruptionQueueTarget",
                                           arn=queue.arn, opts=child)
                rules.append(rule)
            aws.sqs.QueuePolicy(f"{name}-queue-policy", queue_url=queue.url,
                                policy=pulumi.Output.all(queue.arn, *[r.arn for r in rules]).apply(
                                    lambda arns: json.dumps(queue_policy(arns[0], list(arns[1:])))), opts=child)
        self.queue_name = queue.name if queue is not None else None

        oidc_issuer: pulumi.Output[str | None] = pulumi.Output.from_input(None)
        if args.identity == "irsa":
            eks_cluster = aws.eks.get_cluster_output(name=cluster, opts=invoke)
            oidc_issuer = eks_cluster.identities.apply(lambda ids: ids[0].oidcs[0].issuer)
        trust = pulumi.Output.all(partition, account_id, oidc_issuer).apply(
            lambda a: json.dumps(controller_trust_policy(args.identity, partition=a[0], account_id=a[1], oidc_issuer=a[2],
                                                         namespace=args.namespace)))
        controller_role = aws.iam.Role(
            f"{name}-controller-role", name=f"KarpenterController-{cluster}",
            description=f"Karpenter controller of EKS cluster {cluster}", assume_role_policy=trust, tags=tags, opts=child)
        queue_arn = queue.arn if queue is not None else pulumi.Output.from_input(None)
        policy = pulumi.Output.all(partition, account_id, node_role.arn, queue_arn).apply(
            lambda a: json.dumps(controller_policy(cluster=cluster, region=args.region, partition=a[0], account_id=a[1],
                                                   node_role_arn=a[2], queue_arn=a[3])))
        controller_policy_resource = aws.iam.RolePolicy(f"{name}-controller-policy", name="KarpenterController",
                                                        role=controller_role.id, policy=policy, opts=child)
        identity_binding: list[pulumi.Resource] = [controller_policy_resource]
        irsa_arn = None
        if args.identity == "pod-identity":
            identity_binding.append(aws.eks.PodIdentityAssociation(
                f"{name}-pod-identity", cluster_name=cluster, namespace=args.namespace, service_account=SERVICE_ACCOUNT,
                role_arn=controller_role.arn, tags=tags, opts=child))
        else:
            irsa_arn = controller_role.arn

        values = pulumi.Output.all(self.queue_name, irsa_arn).apply(
            lambda a: karpenter_values(cluster=cluster, queue_name=a[0], node_overlay=args.node_overlay, irsa_role_arn=a[1]))
        if args.crd_chart is not None:
            # aws/karpenter-provider-aws upgrade guide (v1.14): CRDs from karpenter-crd, upgraded with the controller.
            identity_binding.append(helm_release(f"{name}-crd", args.crd_chart, args.namespace, {},
                                                 pulumi.ResourceOptions(parent=self), create_namespace=False, holds_crds=True))
        self.release = helm_release(f"{name}-release", args.chart, args.namespace, values,
                                    pulumi.ResourceOptions(parent=self, depends_on=identity_binding), create_namespace=False,
                                    skip_crds=args.crd_chart is not None)
        self.node_role_name = node_role.name
        self.node_role_arn = node_role.arn
        self.controller_role_arn = controller_role.arn
        self.register_outputs({
            "node_role_name": self.node_role_name,
            "node_role_arn": self.node_role_arn,
            "controller_role_arn": self.controller_role_arn,
            "queue_name": self.queue_name,
        })
