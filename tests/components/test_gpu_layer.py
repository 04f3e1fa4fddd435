"""The GPU layer as every stack synthesizes it: Karpenter objects and claim templates validate against
upstream schemas, MIG/time-slicing reach the GPU Operator and the nodes, the DRA pool never runs the
device plugin, and the Karpenter controller's AWS pieces are scoped and wired as upstream does."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

from infra.compose import build_platform
from tests.conftest import STACKS
from tests.support.schemas import core_errors, crd_errors

NODEPOOL = ("karpenter.sh/v1", "NodePool")
NODECLASS = ("karpenter.k8s.aws/v1", "EC2NodeClass")
CLAIM_TEMPLATE = ("resource.k8s.io/v1", "ResourceClaimTemplate")
RELEASE = "kubernetes:helm.sh/v3:Release"

# NodeOverlay (karpenter.sh/v1alpha1) is not among the shared CRDs. Its spec, transcribed from
# kubernetes-sigs/karpenter pkg/apis/crds/karpenter.sh_nodeoverlays.yaml @070022d9 (patterns and
# enums kept; CEL rules restated as assertions below). Strict: unknown keys fail.
_QUANTITY = r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
NODE_OVERLAY_SPEC = {
    "type": "object",
    "additionalProperties": False,
    "required": ["requirements"],
    "properties": {
        "capacity": {"type": "object", "additionalProperties": {"type": "string", "pattern": _QUANTITY}},
        "price": {"type": "string", "pattern": r"^\d+(\.\d+)?$"},
        "priceAdjustment": {"type": "string"},
        "requirements": {"type": "array", "maxItems": 100, "items": {
            "type": "object", "additionalProperties": False, "required": ["key", "operator"],
            "properties": {
                "key": {"type": "string", "maxLength": 316},
                "operator": {"enum": ["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]},
                "values": {"type": "array", "items": {"type": "string", "maxLength": 63,
                                                      "pattern": r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"}},
            }}},
        "weight": {"type": "integer", "minimum": 1, "maximum": 10000},
    },
}


def _objects(result, api_kind):
    return result.objects(api_kind[1], api_kind[0])


def _release(result, name):
    [release] = [r for r in result.by_type(RELEASE) if r.name == name]
    return release


def _aws(result, type_, name):
    [r] = [r for r in result.registrations if r.type == type_ and r.name == name]
    return r


# --- schemas -----------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_karpenter_objects_and_claim_templates_validate_strictly(stack, synthesized):
    result = synthesized(stack)
    for kind in (NODEPOOL, NODECLASS):
        for obj in _objects(result, kind):
            assert crd_errors(obj) == [], f"{stack} {kind[1]} {obj['metadata']['name']}"
    for obj in _objects(result, CLAIM_TEMPLATE):
        assert core_errors(obj) == [], f"{stack} ResourceClaimTemplate {obj['metadata']['name']}"
    for obj in result.objects("ConfigMap"):
        if obj["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "gpu-sharing":
            assert core_errors(obj) == []


def test_the_schema_test_is_not_vacuous(synthesized):
    staging = synthesized("staging")
    assert {o["metadata"]["name"] for o in _objects(staging, NODEPOOL)} == {"a100-mig", "h100-dra"}
    assert len(_objects(staging, NODECLASS)) == 2
    assert [o["metadata"]["name"] for o in _objects(staging, CLAIM_TEMPLATE)] == ["h100-80g"]
    broken = json.loads(json.dumps(_objects(staging, NODEPOOL)[0]))
    broken["spec"]["disruption"]["consolidateAfter"] = "5 minutes"
    assert crd_errors(broken), "a bad duration must fail the NodePool schema"


@pytest.mark.parametrize("stack", STACKS)
def test_node_overlays_match_the_upstream_shape(stack, synthesized):
    for overlay in synthesized(stack).objects("NodeOverlay", "karpenter.sh/v1alpha1"):
        jsonschema.Draft7Validator(NODE_OVERLAY_SPEC).validate(overlay["spec"])
        # CRD CEL rules: capacity adds extended resources only; the karpenter.sh label domain is
        # restricted to capacity-type and nodepool.
        assert not set(overlay["spec"]["capacity"]) & {"cpu", "memory", "ephemeral-storage", "pods"}
        for req in overlay["spec"]["requirements"]:
            domain = req["key"].split("/")[0]
            assert not domain.endswith("karpenter.sh") or req["key"] in ("karpenter.sh/capacity-type", "karpenter.sh/nodepool")


# --- MIG, time-slicing, DRA reach the nodes ------------------------------------------------------


def test_mig_pool_selects_its_layout_and_announces_its_slices(synthesized):
    staging = synthesized("staging")
    [pool] = [o for o in _objects(staging, NODEPOOL) if o["metadata"]["name"] == "a100-mig"]
    labels = pool["spec"]["template"]["metadata"]["labels"]
    assert labels["nvidia.com/mig.config"] == "all-balanced"  # {3g.40gb:1, 2g.20gb:1, 1g.10gb:2} is NVIDIA's
    [cm] = [o for o in staging.objects("ConfigMap") if o["metadata"]["name"] == "llm-platform-mig-parted-config"]
    doc = yaml.safe_load(cm["data"]["config.yaml"])
    assert list(doc["mig-configs"]) == ["all-disabled", "all-balanced"]
    assert doc["mig-configs"]["all-balanced"] == [
        {"devices": "all", "mig-enabled": True, "mig-devices": {"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1}}]
    [overlay] = staging.objects("NodeOverlay", "karpenter.sh/v1alpha1")
    # 8 A100s per p4de.24xlarge: the layout times eight.
    assert overlay["spec"]["capacity"] == {"nvidia.com/mig-1g.10gb": "16", "nvidia.com/mig-2g.20gb": "8",
                                           "nvidia.com/mig-3g.40gb": "8"}
    assert {"key": "karpenter.sh/nodepool", "operator": "In", "values": ["a100-mig"]} in overlay["spec"]["requirements"]
    karpenter = _release(staging, "karpenter-release").inputs["values"]
    assert karpenter["settings"]["featureGates"]["nodeOverlay"] is True


def test_dra_pool_turns_the_device_plugin_off_and_the_dra_plugin_on(synthesized):
    staging = synthesized("staging")
    [pool] = [o for o in _objects(staging, NODEPOOL) if o["metadata"]["name"] == "h100-dra"]
    labels = pool["spec"]["template"]["metadata"]["labels"]
    assert labels["nvidia.com/gpu.deploy.device-plugin"] == "false"
    dra = _release(staging, "gpu-dra-release").inputs
    assert dra["chart"] == "oci://registry.k8s.io/dra-driver-nvidia/charts/dra-driver-nvidia-gpu" and dra["version"] == "0.4.1"
    values = dra["values"]
    assert values["gpuResourcesEnabledOverride"] is True and values["resources"]["gpus"]["enabled"] is True
    selector = values["kubeletPlugin"]["nodeSelector"]
    assert selector.items() <= labels.items(), "the DRA kubelet plugin must land exactly on the DRA pool"
    for other in _objects(staging, NODEPOOL):
        if other["metadata"]["name"] != "h100-dra":
            assert not selector.items() <= other["spec"]["template"]["metadata"]["labels"].items()
    assert values["nvidiaDriverRoot"] == "/"  # EKS AMIs ship the driver


def test_claim_template_cel_selects_product_and_decimal_memory(synthesized):
    [tmpl] = _objects(synthesized("staging"), CLAIM_TEMPLATE)
    assert tmpl["metadata"]["namespace"] == "llm"
    [request] = tmpl["spec"]["spec"]["devices"]["requests"]
    exactly = request["exactly"]
    assert exactly["deviceClassName"] == "gpu.nvidia.com" and exactly["allocationMode"] == "ExactCount"
    assert [s["cel"]["expression"] for s in exactly["selectors"]] == [
        "device.attributes['gpu.nvidia.com'].productName.lowerAscii().contains('h100')",
        "device.capacity['gpu.nvidia.com'].memory.compareTo(quantity('80G')) >= 0",
    ]


def test_time_slicing_config_and_label_for_karpenter_and_static_pools(synthesized):
    dev = synthesized("dev")
    [pool] = _objects(dev, NODEPOOL)
    assert pool["spec"]["template"]["metadata"]["labels"]["nvidia.com/device-plugin.config"] == "dev-l40s"
    [cm] = [o for o in dev.objects("ConfigMap") if o["metadata"]["name"] == "llm-platform-device-plugin-config"]
    sharing = yaml.safe_load(cm["data"]["dev-l40s"])["sharing"]["timeSlicing"]
    assert sharing["resources"] == [{"name": "nvidia.com/gpu", "replicas": 4}] and sharing["renameByDefault"] is True
    # Renamed shared GPUs are invisible to Karpenter: the overlay announces 4 per 1-GPU g6e, so
    # Karpenter packs four pods per node instead of launching one node per pod.
    [overlay] = dev.objects("NodeOverlay", "karpenter.sh/v1alpha1")
    assert overlay["spec"]["capacity"] == {"nvidia.com/gpu.shared": "4"}
    assert _release(dev, "karpenter-release").inputs["values"]["settings"]["featureGates"]["nodeOverlay"] is True
    operator = _release(dev, "gpu-operator-release").inputs["values"]
    assert operator["devicePlugin"]["config"] == {"create": False, "name": cm["metadata"]["name"], "default": "default"}
    assert "default" in cm["data"]
    local = synthesized("local")
    assert not _objects(local, NODEPOOL) and not _objects(local, NODECLASS), "static pools launch nothing"
    [local_cm] = [o for o in local.objects("ConfigMap") if o["metadata"]["name"] == "llm-platform-device-plugin-config"]
    assert "workstation" in local_cm["data"]


def test_static_pool_labels_are_exported(synth):
    contexts = []
    synth("airgap", program=lambda cfg, stack: contexts.append(build_platform(cfg, stack)))
    pools = contexts[0].exports["gpuPools"]
    assert pools["h100-mig"]["nodeLabels"] == {"llm-platform.io/pool": "h100-mig", "nvidia.com/mig.config": "all-3g.40gb"}
    assert pools["h100-mig"]["resourcesPerNode"] == {"nvidia.com/mig-3g.40gb": 16}


# --- GPU Operator ------------------------------------------------------------------------------

# Key paths of the gpu-operator chart's values.yaml. Source: NVIDIA/gpu-operator
# deployments/gpu-operator/values.yaml read through the search tool's read_file (stored copy at
# commit d7413be, a v24.x values file: driver/toolkit/mig/migManager/devicePlugin/dcgmExporter/cdi
# keys) and the v26.7.0 table in ../shared/research/gpu-karpenter-llmd.md section 1 (same keys;
# dcgmExporter.serviceMonitor.enabled now defaults to true; operator.defaultRuntime removed).
GPU_OPERATOR_VALUE_PATHS = {
    "driver.enabled", "toolkit.enabled", "mig.strategy", "cdi.enabled",
    "migManager.enabled", "migManager.env", "migManager.config.create", "migManager.config.name",
    "migManager.config.default", "migManager.config.data",
    "devicePlugin.config.create", "devicePlugin.config.name", "devicePlugin.config.default", "devicePlugin.config.data",
    "dcgmExporter.enabled", "dcgmExporter.serviceMonitor.enabled", "dcgmExporter.serviceMonitor.additionalLabels",
    "dcgmExporter.serviceMonitor.interval",
    # honorLabels: passed through to ClusterPolicy.spec.dcgmExporter.serviceMonitor (../shared/crds/gpu-operator CRD).
    "dcgmExporter.serviceMonitor.honorLabels",
}
# Sub-trees the air-gap transform owns (image repositories and pull secrets of every operand).
AIRGAP_KEYS = {"repository", "imagePullSecrets", "image", "manager"}


def _leaf_paths(values, prefix=""):
    for key, value in values.items():
        path = f"{prefix}{key}"
        if key in AIRGAP_KEYS:
            continue
        if isinstance(value, dict) and value and not path.endswith(("additionalLabels", "nodeSelector", "annotations")):
            yield from _leaf_paths(value, path + ".")
        else:
            yield path


# local renders no releases; openshift gets the operator from OLM (its ClusterPolicy is checked against the CRD).
@pytest.mark.parametrize("stack", [s for s in STACKS if s not in ("local", "openshift")])
def test_gpu_operator_values_use_known_keys(stack, synthesized):
    values = _release(synthesized(stack), "gpu-operator-release").inputs["values"]
    unknown = {p for p in _leaf_paths(values) if p not in GPU_OPERATOR_VALUE_PATHS
               and not p.startswith("node-feature-discovery")}
    assert unknown == set()
    assert "defaultRuntime" not in json.dumps(values)


def test_gpu_operator_values_follow_the_cluster(synth, synthesized):
    prod = _release(synthesized("prod"), "gpu-operator-release").inputs["values"]
    assert prod["driver"] == {"enabled": False} and prod["toolkit"] == {"enabled": False}  # EKS AMI ships them
    assert prod["mig"] == {"strategy": "mixed"}
    assert prod["migManager"]["config"] == {"name": "llm-platform-mig-parted-config",
                                            "default": "all-disabled"}
    assert prod["dcgmExporter"]["serviceMonitor"] == {"enabled": True, "honorLabels": True,
                                                      "additionalLabels": {"release": "kube-prometheus-stack"}}
    assert _release(synthesized("airgap"), "gpu-operator-release").inputs["values"]["driver"]["enabled"] is True
    no_prometheus = synth("prod", lambda s: s["observability"].update(installPrometheusStack=False))
    values = _release(no_prometheus, "gpu-operator-release").inputs["values"]
    # v26.7.0 defaults it to true: without the Prometheus Operator it must be off explicitly.
    assert values["dcgmExporter"]["serviceMonitor"] == {"enabled": False, "honorLabels": True}


def test_gpu_operator_waits_for_the_configmaps_it_names(synthesized):
    prod = synthesized("prod")
    release = _release(prod, "gpu-operator-release")
    [cm] = [r for r in prod.registrations if r.type == "kubernetes:core/v1:ConfigMap" and r.name == "gpu-sharing-mig-parted"]
    assert cm.urn in release.dependencies
    assert release.inputs["namespace"] == "gpu-operator" and release.inputs["createNamespace"] is False
    [ns] = [o for o in prod.objects("Namespace") if o["metadata"]["name"] == "gpu-operator"]
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"


def test_node_pools_wait_for_the_karpenter_release(synthesized):
    prod = synthesized("prod")
    karpenter = _release(prod, "karpenter-release")
    crds = _release(prod, "karpenter-crd")
    assert crds.inputs["chart"] == "oci://public.ecr.aws/karpenter/karpenter-crd" and crds.inputs["version"] == "1.14.1"
    assert crds.urn in karpenter.dependencies and karpenter.inputs["skipCrds"] is True
    for r in prod.registrations:
        if r.type.startswith("kubernetes:karpenter."):
            assert karpenter.urn in r.dependencies, r.name


# --- Karpenter's AWS pieces --------------------------------------------------------------------


def _policy(registration, key):
    return json.loads(registration.inputs[key])


def test_pod_identity_trust_and_association(synthesized):
    dev = synthesized("dev")
    trust = _policy(_aws(dev, "aws:iam/role:Role", "karpenter-controller-role"), "assumeRolePolicy")
    assert trust["Statement"] == [{"Sid": "PodIdentity", "Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"},
                                   "Action": ["sts:AssumeRole", "sts:TagSession"]}]
    assoc = _aws(dev, "aws:eks/podIdentityAssociation:PodIdentityAssociation", "karpenter-pod-identity").inputs
    assert (assoc["namespace"], assoc["serviceAccount"], assoc["clusterName"]) == ("kube-system", "karpenter", "llm-dev")
    values = _release(dev, "karpenter-release").inputs["values"]
    assert values["serviceAccount"] == {"create": True, "name": "karpenter"}  # no IRSA annotation


def test_irsa_trust_uses_the_clusters_oidc_provider(synth):
    irsa = synth("dev", lambda s: s["gpu"]["karpenter"].update(identity="irsa"))
    [statement] = _policy(_aws(irsa, "aws:iam/role:Role", "karpenter-controller-role"), "assumeRolePolicy")["Statement"]
    issuer = statement["Principal"]["Federated"].split("oidc-provider/")[1]
    assert statement["Principal"]["Federated"].startswith("arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/")
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"]["StringEquals"] == {f"{issuer}:sub": "system:serviceaccount:kube-system:karpenter",
                                                      f"{issuer}:aud": "sts.amazonaws.com"}
    assert not irsa.by_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
    sa = _release(irsa, "karpenter-release").inputs["values"]["serviceAccount"]
    assert sa["annotations"] == {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/KarpenterController-llm-dev"}


def test_node_role_trusts_ec2_and_is_admitted_to_the_cluster(synthesized):
    dev = synthesized("dev")
    role = _aws(dev, "aws:iam/role:Role", "karpenter-node-role")
    assert _policy(role, "assumeRolePolicy")["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    attached = {r.inputs["policyArn"] for r in dev.by_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")}
    assert attached == {f"arn:aws:iam::aws:policy/{p}" for p in (
        "AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryPullOnly", "AmazonEKS_CNI_Policy", "AmazonSSMManagedInstanceCore")}
    entry = _aws(dev, "aws:eks/accessEntry:AccessEntry", "karpenter-node-access").inputs
    assert entry["type"] == "EC2_LINUX" and entry["principalArn"] == "arn:aws:iam::123456789012:role/KarpenterNode-llm-dev"
    [node_class] = _objects(dev, NODECLASS)
    assert node_class["spec"]["role"] == "KarpenterNode-llm-dev"


def test_controller_policy_is_scoped_like_the_terraform_module(synthesized):
    dev = synthesized("dev")
    policy = _policy(_aws(dev, "aws:iam/rolePolicy:RolePolicy", "karpenter-controller-policy"), "policy")
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert {"AllowScopedEC2InstanceAccessActions", "AllowScopedEC2LaunchTemplateAccessActions",
            "AllowScopedEC2InstanceActionsWithTags", "AllowScopedResourceCreationTagging", "AllowScopedResourceTagging",
            "AllowScopedDeletion", "AllowRegionalReadActions", "AllowSSMReadActions", "AllowPricingReadActions",
            "AllowInterruptionQueueActions", "AllowPassingInstanceRole", "AllowScopedInstanceProfileCreationActions",
            "AllowScopedInstanceProfileTagActions", "AllowScopedInstanceProfileActions",
            "AllowInstanceProfileReadActions", "AllowAPIServerEndpointDiscovery"} <= set(by_sid)
    assert by_sid["AllowPassingInstanceRole"]["Resource"] == "arn:aws:iam::123456789012:role/KarpenterNode-llm-dev"
    assert by_sid["AllowInterruptionQueueActions"]["Resource"] == "arn:aws:sqs:us-east-1:123456789012:Karpenter-llm-dev"
    assert by_sid["AllowScopedDeletion"]["Condition"]["StringEquals"] == {
        "aws:ResourceTag/kubernetes.io/cluster/llm-dev": "owned"}
    region = dev.config.cluster.region
    assert region == "us-west-2"
    assert by_sid["AllowRegionalReadActions"]["Condition"] == {"StringEquals": {"aws:RequestedRegion": region}}
    assert by_sid["AllowAPIServerEndpointDiscovery"]["Resource"] == f"arn:aws:eks:{region}:123456789012:cluster/llm-dev"
    assert by_sid["AllowScopedEC2InstanceAccessActions"]["Resource"][0] == f"arn:aws:ec2:{region}::image/*"
    assert all(s["Effect"] == "Allow" for s in policy["Statement"])


def test_interruption_events_feed_the_queue(synthesized):
    dev = synthesized("dev")
    queue = _aws(dev, "aws:sqs/queue:Queue", "karpenter-queue").inputs
    assert queue["messageRetentionSeconds"] == 300 and queue["name"] == "Karpenter-llm-dev"
    rules = {r.inputs["name"]: json.loads(r.inputs["eventPattern"]) for r in dev.by_type("aws:cloudwatch/eventRule:EventRule")}
    assert sorted((p["source"][0], p["detail-type"][0]) for p in rules.values()) == [
        ("aws.ec2", "EC2 Capacity Reservation Instance Interruption Warning"),
        ("aws.ec2", "EC2 Instance Rebalance Recommendation"),
        ("aws.ec2", "EC2 Instance State-change Notification"),
        ("aws.ec2", "EC2 Spot Instance Interruption Warning"),
        ("aws.health", "AWS Health Event"),
    ]
    targets = dev.by_type("aws:cloudwatch/eventTarget:EventTarget")
    assert {t.inputs["rule"] for t in targets} == set(rules)
    assert {t.inputs["arn"] for t in targets} == {"arn:aws:sqs:us-east-1:123456789012:Karpenter-llm-dev"}
    statements = _policy(_aws(dev, "aws:sqs/queuePolicy:QueuePolicy", "karpenter-queue-policy"), "policy")["Statement"]
    allow, deny = statements
    assert allow["Principal"] == {"Service": "events.amazonaws.com"} and allow["Action"] == "sqs:SendMessage"
    # Only the five interruption rules may send (aws:SourceArn), not any rule of any account.
    source_arns = allow["Condition"]["ArnEquals"]["aws:SourceArn"]
    rule_names = set(rules)
    assert len(source_arns) == 5 and {arn.rsplit(":", 1)[1] for arn in source_arns} == rule_names, source_arns
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert _release(dev, "karpenter-release").inputs["values"]["settings"]["interruptionQueue"] == "Karpenter-llm-dev"


def test_no_aws_or_karpenter_objects_off_eks(synthesized):
    for stack in ("local", "airgap"):
        result = synthesized(stack)
        assert not [r for r in result.registrations if r.type.startswith("aws:")]
        assert not [r for r in result.registrations if r.type.startswith("kubernetes:karpenter")]


# Key paths of the other two charts' values.yaml, read through the search tool's read_file:
# aws/karpenter-provider-aws charts/karpenter/values.yaml (stored copy 0003697d; settings.featureGates
# .nodeOverlay per ../shared/research/gpu-karpenter-llmd.md section 3 for 1.14) and
# kubernetes-sigs/dra-driver-nvidia-gpu deployments/helm/dra-driver-nvidia-gpu/values.yaml (0f5a1bc2).
KARPENTER_VALUE_PATHS = {"settings.clusterName", "settings.interruptionQueue", "settings.featureGates.nodeOverlay",
                         "serviceAccount.create", "serviceAccount.name", "serviceAccount.annotations"}
DRA_VALUE_PATHS = {"nvidiaDriverRoot", "gpuResourcesEnabledOverride", "resources.gpus.enabled",
                   "resources.computeDomains.enabled", "kubeletPlugin.nodeSelector", "featureGates.DynamicMIG"}


def test_karpenter_and_dra_values_use_known_keys(synth, synthesized):
    irsa = synth("dev", lambda s: s["gpu"]["karpenter"].update(identity="irsa"))
    for result in (synthesized("staging"), irsa):
        karpenter = _release(result, "karpenter-release").inputs["values"]
        assert set(_leaf_paths(karpenter)) <= KARPENTER_VALUE_PATHS
    dynamic = synth("staging", lambda s: s["gpu"]["dra"].update(dynamicMig=True))
    for result in (synthesized("staging"), dynamic):
        values = _release(result, "gpu-dra-release").inputs["values"]
        assert set(_leaf_paths(values)) <= DRA_VALUE_PATHS
