"""Air-gap transforms: image rewriting (pure), the rewrite of inputs in every shape the SDK hands
to a transformation, and the transformation applied to a whole synthesized program."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
import pytest

from components.airgap.helm_values import MIRROR_VALUES, mirror_values_for_chart
from components.airgap.images import mirror_image, parse_image
from components.airgap.transforms import CA_VOLUME, AirgapSettings, CaBundle, airgap_props
from components.airgap.workloads import pod_specs
from infra.compose import build_platform

MIRROR = "registry.internal:5000/mirror"
DIGEST = "sha256:" + "b" * 64
SETTINGS = AirgapSettings(registry=MIRROR, chart_mirror="oci://registry.internal:5000/charts", digests={},
                          pull_secrets=("internal-registry",),
                          ca=CaBundle("trusted-ca-bundle", "cabundle.crt", "/etc/llm-platform/ca"))


@pytest.mark.parametrize("ref, expected", [
    ("vllm/vllm-openai:v0.33.0", "registry.internal:5000/mirror/vllm/vllm-openai:v0.33.0"),
    ("nginx:1.27", "registry.internal:5000/mirror/library/nginx:1.27"),
    ("quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z", "registry.internal:5000/mirror/minio/minio:RELEASE.2025-09-07T16-13-09Z"),
    ("localhost:5000/team/app:1", "registry.internal:5000/mirror/team/app:1"),
    (f"nvcr.io/nvidia/k8s/dcgm-exporter:4.1@{DIGEST}", f"registry.internal:5000/mirror/nvidia/k8s/dcgm-exporter:4.1@{DIGEST}"),
    ("registry.internal:5000/mirror/vllm/vllm-openai:v1", "registry.internal:5000/mirror/vllm/vllm-openai:v1"),
])
def test_mirror_image_keeps_the_repository_path(ref, expected):
    assert mirror_image(ref, MIRROR) == expected


def test_mirror_image_pins_listed_digests():
    digests = {"docker.io/vllm/vllm-openai:v0.33.0": DIGEST}
    assert mirror_image("vllm/vllm-openai:v0.33.0", MIRROR, digests) == f"{MIRROR}/vllm/vllm-openai:v0.33.0@{DIGEST}"
    assert mirror_image("vllm/vllm-openai:v0.34.0", MIRROR, digests) == f"{MIRROR}/vllm/vllm-openai:v0.34.0"


def test_parse_image_like_the_runtime():
    assert parse_image("ubuntu") == parse_image("docker.io/library/ubuntu")
    assert parse_image("ubuntu").tag is None and parse_image("ubuntu").mutable


def _pod(props: dict, type_: str) -> dict:
    return next(pod for _, _, pod in pod_specs(type_, props))


def test_custom_resource_pod_specs_get_every_rewrite():
    isvc = {
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "metadata": {"name": "llama", "namespace": "llm"},
        "spec": {"predictor": {"model": {"modelFormat": {"name": "vLLM"}, "env": [{"name": "HF_HUB_OFFLINE", "value": "0"}]}}},
    }
    out = airgap_props("kubernetes:serving.kserve.io/v1beta1:InferenceService", isvc, SETTINGS, "wire")
    pred = out["spec"]["predictor"]
    env = {e["name"]: e["value"] for e in pred["model"]["env"]}
    assert env["HF_HUB_OFFLINE"] == "1" and env["TRANSFORMERS_OFFLINE"] == "1" and env["HF_DATASETS_OFFLINE"] == "1"
    assert env["SSL_CERT_FILE"] == env["REQUESTS_CA_BUNDLE"] == env["AWS_CA_BUNDLE"] == "/etc/llm-platform/ca/cabundle.crt"
    assert [e["name"] for e in pred["model"]["env"]].count("HF_HUB_OFFLINE") == 1
    assert pred["model"]["volumeMounts"] == [{"name": CA_VOLUME, "mountPath": "/etc/llm-platform/ca", "readOnly": True}]
    assert pred["volumes"] == [{"name": CA_VOLUME, "configMap": {"name": "trusted-ca-bundle"}}]
    assert pred["imagePullSecrets"] == [{"name": "internal-registry"}]
    assert "securityContext" not in pred, "pod identity is the components' (pod_security), never the transform's"
    assert "image" not in pred["model"]  # the runtime supplies the image; none is invented
    assert isvc["spec"]["predictor"]["model"]["env"] == [{"name": "HF_HUB_OFFLINE", "value": "0"}], "inputs are not mutated"


def test_serving_runtime_gets_no_pod_security_context():
    sr = {"spec": {"containers": [{"name": "kserve-container", "image": "vllm/vllm-openai:v0.33.0"}]}}
    out = airgap_props("kubernetes:serving.kserve.io/v1alpha1:ServingRuntime", sr, SETTINGS, "wire")
    assert "securityContext" not in out["spec"], "ServingRuntime's CRD has no pod securityContext"
    assert out["spec"]["containers"][0]["image"] == f"{MIRROR}/vllm/vllm-openai:v0.33.0"


def test_security_contexts_are_left_alone():
    dep = {"spec": {"template": {"spec": {"securityContext": {"fsGroup": 2000}, "containers": [{"name": "c", "image": "a.io/b:1"}]}}}}
    out = airgap_props("kubernetes:apps/v1:Deployment", dep, SETTINGS, "wire")
    assert out["spec"]["template"]["spec"]["securityContext"] == {"fsGroup": 2000}
    bare = {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "a.io/b:1"}]}}}}
    assert "securityContext" not in airgap_props("kubernetes:apps/v1:Deployment", bare, SETTINGS, "wire")["spec"]["template"]["spec"]


def test_kserve_s3_credentials_name_the_ca_bundle():
    secret = {"metadata": {"name": "s3", "annotations": {"serving.kserve.io/s3-endpoint": "minio.minio.svc:9000"}}}
    out = airgap_props("kubernetes:core/v1:Secret", secret, SETTINGS, "py")
    assert out["metadata"]["annotations"]["serving.kserve.io/s3-cabundle-configmap"] == "trusted-ca-bundle"
    storage_config = {"metadata": {"name": "storage-config"}, "string_data": {"minio": '{"type": "s3", "bucket": "m"}'}}
    out = airgap_props("kubernetes:core/v1:Secret", storage_config, SETTINGS, "py")
    assert '"cabundle_configmap": "trusted-ca-bundle"' in out["string_data"]["minio"]


def test_helm_release_points_at_the_chart_mirror_and_image_mirror():
    props = {"chart": "keda", "version": "2.18.0", "repository_opts": k8s.helm.v3.RepositoryOptsArgs(repo="https://kedacore.github.io/charts"),
             "values": {"crds": {"install": True}}}
    out = airgap_props("kubernetes:helm.sh/v3:Release", props, SETTINGS, "py")
    assert out["chart"] == "oci://registry.internal:5000/charts/keda" and out["version"] == "2.18.0"
    assert "repository_opts" not in out
    assert out["values"]["crds"] == {"install": True}
    assert out["values"]["global"]["image"]["registry"] == MIRROR
    assert out["values"]["imagePullSecrets"] == [{"name": "internal-registry"}]


def test_every_mapped_chart_points_only_at_the_mirror():
    def strings(v):
        if isinstance(v, dict):
            for x in v.values():
                yield from strings(x)
        elif isinstance(v, list):
            for x in v:
                yield from strings(x)
        elif isinstance(v, str):
            yield v
    for chart in MIRROR_VALUES:
        values = mirror_values_for_chart(chart, MIRROR, ("s",))
        refs = [s for s in strings(values) if "/" in s or "." in s]
        assert refs and all(s.startswith(MIRROR) for s in refs), chart


def _typed_workloads():
    """Workloads written three ways: input classes, ArgsDict (Python names), raw wire dicts."""
    k8s.apps.v1.Deployment(
        "typed", metadata=k8s.meta.v1.ObjectMetaArgs(name="typed", namespace="llm"),
        spec=k8s.apps.v1.DeploymentSpecArgs(
            selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"a": "b"}),
            template=k8s.core.v1.PodTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(labels={"a": "b"}),
                spec=k8s.core.v1.PodSpecArgs(containers=[k8s.core.v1.ContainerArgs(
                    name="c", image="vllm/vllm-openai:v0.33.0",
                    volume_mounts=[k8s.core.v1.VolumeMountArgs(name="w", mount_path="/w")])],
                    volumes=[k8s.core.v1.VolumeArgs(name="w", empty_dir={})])),
        ))
    k8s.batch.v1.Job(
        "dicts", metadata={"name": "dicts", "namespace": "llm"},
        spec={"template": {"spec": {"restart_policy": "Never", "init_containers": [{"name": "i", "image": "busybox:1.36"}],
                                    "containers": [{"name": "c", "image": pulumi.Output.from_input("quay.io/minio/mc:RELEASE.1")}]}}})
    k8s.apiextensions.CustomResource(
        "lws", api_version="leaderworkerset.x-k8s.io/v1", kind="LeaderWorkerSet",
        metadata={"name": "lws", "namespace": "llm"},
        spec={"leaderWorkerTemplate": {"leaderTemplate": {"spec": {"containers": [{"name": "l", "image": "vllm/vllm-openai:v0.33.0"}]}},
                                       "workerTemplate": {"spec": {"containers": [{"name": "w", "image": "vllm/vllm-openai:v0.33.0"}]}}}})


def test_transformation_rewrites_inputs_in_every_shape_under_synthesis(synth):
    def program(cfg, stack):
        ctx = build_platform(cfg, stack)
        _typed_workloads()
        return ctx

    result = synth("airgap", program=program)
    by_name = {m["metadata"]["name"]: m for m in result.manifests if m["metadata"].get("name") in ("typed", "dicts", "lws")}
    registry = result.config.airgap.registry
    typed = by_name["typed"]["spec"]["template"]["spec"]
    assert typed["containers"][0]["image"] == f"{registry}/vllm/vllm-openai:v0.33.0"
    # Wire names reach the engine whatever shape the program used.
    assert {m["name"] for m in typed["containers"][0]["volumeMounts"]} == {"w", CA_VOLUME}
    assert {v["name"] for v in typed["volumes"]} == {"w", CA_VOLUME}
    assert typed["imagePullSecrets"] == [{"name": "internal-registry"}]
    job = by_name["dicts"]["spec"]["template"]["spec"]
    assert job["initContainers"][0]["image"] == f"{registry}/library/busybox:1.36"
    assert job["containers"][0]["image"] == f"{registry}/minio/mc:RELEASE.1", "Output-valued images are rewritten too"
    assert "init_containers" not in job and "volumeMounts" in job["containers"][0]
    lws = by_name["lws"]["spec"]["leaderWorkerTemplate"]
    for role in ("leaderTemplate", "workerTemplate"):
        c = lws[role]["spec"]["containers"][0]
        assert c["image"].startswith(registry + "/") and any(e["name"] == "HF_HUB_OFFLINE" for e in c["env"])


def test_connected_stacks_are_not_rewritten(synthesized):
    result = synthesized("dev")
    assert not result.by_type("llmplatform:airgap:Transforms")
    assert not any(m["kind"] == "ConfigMap" and m["metadata"]["name"] == "trusted-ca-bundle" for m in result.manifests)


def test_ca_bundle_config_map_in_every_platform_namespace(synthesized):
    result = synthesized("airgap")
    namespaces = {m["metadata"]["name"] for m in result.objects("Namespace")}
    bundles = [m for m in result.objects("ConfigMap") if m["metadata"]["name"] == "trusted-ca-bundle"]
    assert namespaces and {b["metadata"]["namespace"] for b in bundles} == namespaces
    pem = (result.config.airgap.ca_bundle.file)
    from infra.context import REPO_ROOT
    assert all(b["data"] == {"cabundle.crt": (REPO_ROOT / pem).read_text()} for b in bundles)
    # Created before any workload: every bundle depends on its namespace, and is a child of the transform.
    transform = result.by_type("llmplatform:airgap:Transforms")[0]
    for reg in result.by_type("kubernetes:core/v1:ConfigMap"):
        if reg.inputs["metadata"]["name"] == "trusted-ca-bundle":
            assert reg.parent == transform.urn
            assert any("Namespace" in d for d in reg.dependencies)


def test_engine_side_transforms_are_not_run_by_the_mock_monitor(synth):
    """Why the SDK-side transformation API: a register_resource_transform is never applied
    under mocks, so synthesis would not show what the engine deploys."""
    seen = []

    def program(cfg, stack):
        def transform(args):
            seen.append(args.name)
            return None
        pulumi.runtime.register_resource_transform(transform)
        seen.append("registered")
        k8s.core.v1.ConfigMap("probe", metadata={"name": "probe"}, data={"a": "b"})

    synth("local", program=program)
    assert seen == ["registered"], "the mock monitor accepted the transform but never called it"


def test_listed_digests_pin_images_across_the_stack(synth):
    minio = "quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z"

    def edit(sections):
        sections["airgap"]["requireDigests"] = True
        sections["airgap"]["imageDigests"] = {minio: DIGEST}

    result = synth("airgap", edit)
    images = {c["image"] for m in result.objects("Deployment") for c in m["spec"]["template"]["spec"]["containers"]}
    registry = result.config.airgap.registry
    assert f"{registry}/minio/minio:RELEASE.2025-09-07T16-13-09Z@{DIGEST}" in images
    from infra.policy_check import check
    unpinned = [v for v in check(result) if v.policy == "images-pinned"]
    assert unpinned and not any("minio/minio:RELEASE" in v.message for v in unpinned)


def test_wire_named_levels_keep_wire_names_below_them():
    """A typed resource written with raw camelCase dicts: the SDK stops translating at the first
    wire-named level, so keys added below it must be wire names too."""
    props = {"spec": {"template": {"spec": {"initContainers": [{"name": "i", "image": "busybox:1.36"}],
                                            "containers": [{"name": "c", "image": "busybox:1.36"}]}}}}
    out = airgap_props("kubernetes:apps/v1:Deployment", props, SETTINGS, "py")
    pod = out["spec"]["template"]["spec"]
    assert "imagePullSecrets" in pod and "image_pull_secrets" not in pod
    assert all("volumeMounts" in c and "volume_mounts" not in c for c in pod["containers"] + pod["initContainers"])
    py = airgap_props("kubernetes:apps/v1:Deployment",
                      {"spec": {"template": {"spec": {"init_containers": [{"name": "i", "image": "busybox:1.36"}]}}}}, SETTINGS, "py")
    assert "image_pull_secrets" in py["spec"]["template"]["spec"]
