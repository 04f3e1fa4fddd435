"""Air-gap policies, each with a compliant and a violating resource."""

from __future__ import annotations

from policies.llm_platform_policies import airgap
from tests.support.policy_harness import AIRGAP, CONNECTED, deployment, run_policy

DEPLOY = "kubernetes:apps/v1:Deployment"
MIRRORED = "registry.internal:5000/mirror/vllm/vllm-openai:v0.33.0"
DIGEST = "sha256:" + "a" * 64
CA_ENV = [{"name": n, "value": "/etc/llm-platform/ca/cabundle.crt"} for n in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "AWS_CA_BUNDLE")]
OFFLINE = [{"name": n, "value": "1"} for n in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")]
CA_POD = {"volumes": [{"name": "ca", "configMap": {"name": "trusted-ca-bundle"}}]}
CA_MOUNT = [{"name": "ca", "mountPath": "/etc/llm-platform/ca", "readOnly": True}]


def test_registry_allowlist():
    assert run_policy(airgap.registry_allowlist, DEPLOY, deployment({"name": "c", "image": MIRRORED})) == []
    msgs = run_policy(airgap.registry_allowlist, DEPLOY, deployment({"name": "c", "image": "vllm/vllm-openai:v0.33.0"}))
    assert msgs == ["llm/d: spec.template.spec.containers[0].image pulls 'vllm/vllm-openai:v0.33.0', which is not under "
                    "an allowed registry (registry.internal:5000/mirror)"]
    # A connected stack accepts the upstream registries.
    assert run_policy(airgap.registry_allowlist, DEPLOY, deployment({"name": "c", "image": "vllm/vllm-openai:v0.33.0"}), CONNECTED) == []


def test_images_pinned():
    assert run_policy(airgap.pinned_images, DEPLOY, deployment({"name": "c", "image": MIRRORED})) == []
    msgs = run_policy(airgap.pinned_images, DEPLOY, deployment({"name": "c", "image": "quay.io/x/y:latest"}), CONNECTED)
    assert msgs and "moving tag" in msgs[0]
    digests = AIRGAP.__class__(**{**AIRGAP.__dict__, "require_digests": True})
    assert run_policy(airgap.pinned_images, DEPLOY, deployment({"name": "c", "image": f"{MIRRORED}@{DIGEST}"}), digests) == []
    msgs = run_policy(airgap.pinned_images, DEPLOY, deployment({"name": "c", "image": MIRRORED}), digests)
    assert msgs == [f"llm/d: spec.template.spec.containers[0].image uses {MIRRORED!r} without a digest, but "
                    "airgap.requireDigests is set; list its upstream 'registry/repository:tag' with the mirrored digest "
                    "in airgap.imageDigests"]


def test_no_external_model_sources():
    isvc_ok = {"metadata": {"name": "m", "namespace": "llm"},
               "spec": {"predictor": {"model": {"storageUri": "pvc://weights/llama", "args": ["--model=/mnt/models"]}}}}
    isvc = "kubernetes:serving.kserve.io/v1beta1:InferenceService"
    assert run_policy(airgap.no_external_sources, isvc, isvc_ok) == []
    bad = {"metadata": {"name": "m", "namespace": "llm"},
           "spec": {"predictor": {"model": {"storageUri": "hf://meta-llama/Llama-3.1-8B"}}}}
    assert run_policy(airgap.no_external_sources, isvc, bad) == [
        "llm/m: spec.predictor.model.storageUri refers to 'hf://meta-llama/Llama-3.1-8B'; an air-gapped stack may only "
        "use in-cluster or internal sources"]
    public = deployment({"name": "c", "image": MIRRORED, "args": ["--model", "meta-llama/Llama-3.1-8B"],
                         "env": [{"name": "S3_ENDPOINT", "value": "https://s3.us-east-1.amazonaws.com"}]})
    msgs = run_policy(airgap.no_external_sources, DEPLOY, public)
    assert any("https://s3.us-east-1.amazonaws.com" in m for m in msgs)
    assert any("serves --model 'meta-llama/Llama-3.1-8B', a Hub id" in m for m in msgs)
    internal = deployment({"name": "c", "image": MIRRORED, "env": [{"name": "S3_ENDPOINT", "value": "http://minio.minio.svc:9000"}]})
    assert run_policy(airgap.no_external_sources, DEPLOY, internal) == []
    # Connected stacks may download from the Hub.
    assert run_policy(airgap.no_external_sources, isvc, bad, CONNECTED) == []


def test_offline_env_on_model_servers():
    server = {"name": "vllm", "image": MIRRORED, "command": ["python3", "-m", "vllm.entrypoints.openai.api_server"]}
    assert run_policy(airgap.offline_env, DEPLOY, deployment({**server, "env": OFFLINE})) == []
    msgs = run_policy(airgap.offline_env, DEPLOY, deployment({**server, "env": OFFLINE[:1]}))
    assert msgs == ["llm/d: model server spec.template.spec.containers[0] lacks TRANSFORMERS_OFFLINE=1, HF_DATASETS_OFFLINE=1"]
    # Non-model containers are not model servers.
    assert run_policy(airgap.offline_env, DEPLOY, deployment({"name": "minio", "image": "registry.internal:5000/mirror/minio/minio:T"})) == []


def test_trusted_ca_mounted():
    ok = deployment({"name": "c", "image": MIRRORED, "env": CA_ENV, "volumeMounts": CA_MOUNT}, CA_POD)
    assert run_policy(airgap.ca_bundle, DEPLOY, ok) == []
    msgs = run_policy(airgap.ca_bundle, DEPLOY, deployment({"name": "c", "image": MIRRORED}))
    assert msgs[0] == "llm/d: pod spec.template.spec does not mount the trusted CA ConfigMap 'trusted-ca-bundle'"
    assert "does not point SSL_CERT_FILE, REQUESTS_CA_BUNDLE, AWS_CA_BUNDLE at the trusted CA bundle" in msgs[1]
    secret = {"metadata": {"name": "s3", "namespace": "llm", "annotations": {"serving.kserve.io/s3-endpoint": "minio.minio.svc:9000"}}}
    assert run_policy(airgap.ca_bundle, "kubernetes:core/v1:Secret", secret) == [
        "llm/s3: S3 credentials for KServe's storage initializer lack serving.kserve.io/s3-cabundle-configmap: trusted-ca-bundle"]
    secret["metadata"]["annotations"]["serving.kserve.io/s3-cabundle-configmap"] = "trusted-ca-bundle"
    assert run_policy(airgap.ca_bundle, "kubernetes:core/v1:Secret", secret) == []


def test_charts_from_mirror():
    release = "kubernetes:helm.sh/v3:Release"
    assert run_policy(airgap.charts_from_mirror, release,
                      {"chart": "oci://registry.internal:5000/charts/keda", "version": "2.18.0"}) == []
    msgs = run_policy(airgap.charts_from_mirror, release,
                      {"chart": "keda", "version": "2.18.0", "repositoryOpts": {"repo": "https://kedacore.github.io/charts"}})
    assert msgs == ["Helm release r: chart 'keda' comes from 'https://kedacore.github.io/charts', not the chart mirror "
                    "'oci://registry.internal:5000/charts'"]


def test_chart_images_from_mirror():
    release = "kubernetes:helm.sh/v3:Release"
    mirror = AIRGAP.registry
    keda = {"chart": "oci://registry.internal:5000/charts/keda", "version": "2.18.0",
            "values": {"global": {"image": {"registry": mirror}}}}
    assert run_policy(airgap.chart_images, release, keda) == []
    keda["values"]["global"]["image"]["registry"] = "ghcr.io"
    assert run_policy(airgap.chart_images, release, keda) == [
        "Helm release r: values.global.image.registry is 'ghcr.io', not 'registry.internal:5000/mirror'; chart 'keda' "
        "would pull that image from outside the mirror"]
    unmapped = {"chart": "oci://registry.internal:5000/charts/llm-d-infra", "version": "v1.4.0"}
    assert run_policy(airgap.chart_images, release, unmapped) == [
        "Helm release r: chart 'llm-d-infra' has no image mapping in components/airgap/helm_values.py, so its images "
        "would be pulled from their upstream registries"]
    assert run_policy(airgap.chart_images, release, {"chart": "oci://registry.internal:5000/charts/kserve-crd", "version": "v0.20.0"}) == []


def test_trusted_ca_in_workload_namespaces():
    from tests.support.policy_harness import run_stack_policy

    pod = deployment({"name": "c", "image": MIRRORED, "env": CA_ENV, "volumeMounts": CA_MOUNT}, CA_POD)
    cm = ("kubernetes:core/v1:ConfigMap", {"metadata": {"name": "trusted-ca-bundle", "namespace": "llm"}})
    assert run_stack_policy(airgap.ca_in_namespaces, [(DEPLOY, pod), cm]) == []
    other_ns = ("kubernetes:core/v1:ConfigMap", {"metadata": {"name": "trusted-ca-bundle", "namespace": "minio"}})
    assert run_stack_policy(airgap.ca_in_namespaces, [(DEPLOY, pod), other_ns]) == [
        "llm/d mounts ConfigMap 'trusted-ca-bundle', but the stack creates none in namespace 'llm'; its pods would wait "
        "in ContainerCreating"]
