"""Security, GPU and data policies, each with a compliant and a violating resource."""

from __future__ import annotations

from policies.llm_platform_policies import data, gpu, security
from tests.support.policy_harness import AIRGAP, deployment, run_policy

DEPLOY = "kubernetes:apps/v1:Deployment"
IMG = "registry.internal:5000/mirror/vllm/vllm-openai:v0.33.0"
NON_ROOT = {"securityContext": {"runAsNonRoot": True, "runAsUser": 1000}}
GPU_TOLERATION = {"tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]}


def test_no_public_load_balancers():
    svc = "kubernetes:core/v1:Service"
    lb = {"metadata": {"name": "gw", "namespace": "llm"}, "spec": {"type": "LoadBalancer"}}
    assert run_policy(security.no_public_lb, svc, lb) == [
        "llm/gw: Service type LoadBalancer is internet-facing; annotate it internal (e.g. "
        "service.beta.kubernetes.io/aws-load-balancer-scheme: internal) or use ClusterIP behind the gateway"]
    lb["metadata"]["annotations"] = {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"}
    assert run_policy(security.no_public_lb, svc, lb) == []
    assert run_policy(security.no_public_lb, svc, {"metadata": {"name": "x"}, "spec": {"type": "ClusterIP"}}) == []


def test_run_as_non_root():
    assert run_policy(security.non_root, DEPLOY, deployment({"name": "c", "image": IMG}, NON_ROOT)) == []
    assert run_policy(security.non_root, DEPLOY, deployment({"name": "c", "image": IMG})) == [
        "llm/d: container spec.template.spec.containers[0] may run as root; set securityContext.runAsNonRoot: true "
        "(and a non-zero runAsUser)"]
    # The GPU operator's namespace runs system daemons as root by design.
    assert run_policy(security.non_root, DEPLOY, deployment({"name": "c", "image": IMG}, namespace="gpu-operator")) == []


def test_no_privileged_containers():
    ok = deployment({"name": "c", "image": IMG, "securityContext": {"privileged": False}})
    assert run_policy(security.no_privileged, DEPLOY, ok) == []
    bad = deployment({"name": "c", "image": IMG, "securityContext": {"privileged": True}}, {"hostNetwork": True})
    assert run_policy(security.no_privileged, DEPLOY, bad) == [
        "llm/d: container spec.template.spec.containers[0] is privileged",
        "llm/d: pod spec.template.spec sets hostNetwork"]
    assert run_policy(security.no_privileged, DEPLOY, {**bad, "metadata": {"name": "d", "namespace": "gpu-operator"}}) == []


def test_no_literal_secrets_in_env():
    ok = deployment({"name": "c", "image": IMG, "env": [
        {"name": "VLLM_API_KEY", "valueFrom": {"secretKeyRef": {"name": "k", "key": "VLLM_API_KEY"}}},
        {"name": "AWS_CA_BUNDLE", "value": "/etc/llm-platform/ca/cabundle.crt"},
        {"name": "HF_TOKEN_PATH", "value": "/var/run/hf/token"}]})
    assert run_policy(security.literal_secrets, DEPLOY, ok) == []
    bad = deployment({"name": "c", "image": IMG, "env": [
        {"name": "VLLM_API_KEY", "value": "s3cr3t"}, {"name": "EXTRA", "value": "hf_" + "x" * 34}]})
    msgs = run_policy(security.literal_secrets, DEPLOY, bad)
    assert msgs == [
        "llm/d: container spec.template.spec.containers[0] env VLLM_API_KEY holds a literal secret-like value; use valueFrom.secretKeyRef",
        "llm/d: container spec.template.spec.containers[0] env EXTRA holds a literal secret-like value; use valueFrom.secretKeyRef"]


def test_gpu_workloads_limited_and_tolerating():
    ok = deployment({"name": "c", "image": IMG, "resources": {"limits": {"nvidia.com/gpu": "1"}}}, GPU_TOLERATION)
    assert run_policy(gpu.gpu_limits, DEPLOY, ok) == []
    bad = deployment({"name": "c", "image": IMG, "resources": {"requests": {"nvidia.com/mig-3g.40gb": "1"}}})
    assert run_policy(gpu.gpu_limits, DEPLOY, bad) == [
        "llm/d: container spec.template.spec.containers[0] requests nvidia.com/mig-3g.40gb without a limit; extended "
        "resources must be set as limits",
        "llm/d: pod spec.template.spec uses GPUs but does not tolerate the nvidia.com/gpu:NoSchedule taint of GPU nodes"]
    # CPU-only pods need neither.
    assert run_policy(gpu.gpu_limits, DEPLOY, deployment({"name": "c", "image": IMG})) == []


def test_mig_resources_in_catalog():
    ok = deployment({"name": "c", "image": IMG, "resources": {"limits": {"nvidia.com/mig-3g.40gb": "1"}}})
    assert run_policy(gpu.mig_catalog, DEPLOY, ok) == []
    bad = deployment({"name": "c", "image": IMG, "resources": {"limits": {"nvidia.com/mig-3g.45gb": "1"}}})
    assert run_policy(gpu.mig_catalog, DEPLOY, bad) == [
        "llm/d: container spec.template.spec.containers[0] requests nvidia.com/mig-3g.45gb, which no GPU in the MIG "
        "catalog offers (known: nvidia.com/mig-1g.10gb, nvidia.com/mig-3g.40gb)"]


def test_mig_catalog_facts_come_from_the_catalog():
    from components.gpu import mig
    from policies.llm_platform_policies.facts import mig_resource_names

    names = mig_resource_names()
    assert "nvidia.com/mig-3g.40gb" in names  # an H100-80GB / A100-80GB profile
    assert len(names) >= sum(1 for _ in mig.catalog())
    # +me profiles are advertised with a dot (device plugin rm.go): the name a pod must request.
    assert "nvidia.com/mig-1g.10gb.me" in names and not any("+" in n for n in names)
    assert names == tuple(sorted({mig.mig_resource_name(p) for g in mig.catalog() for p in g.profile_names}))


def test_data_resources_protected():
    pvc = "kubernetes:core/v1:PersistentVolumeClaim"
    props = {"metadata": {"name": "minio-data", "namespace": "minio"}}
    assert run_policy(data.data_protected, pvc, props, protect=True) == []
    assert run_policy(data.data_protected, pvc, props, protect=False) == [
        "PersistentVolumeClaim minio/minio-data holds data but is not protected; register it with "
        "components.common.protection.protected(opts)"]
    assert run_policy(data.data_protected, "kubernetes:core/v1:ConfigMap", props, protect=False) == []
    assert run_policy(data.data_protected, "aws:s3/bucketV2:BucketV2", {"bucket": "adapters"}, AIRGAP, protect=False)
