"""The models layer's Kubernetes objects against a real API server (loopback control plane):
every object the stacks emit for MinIO, adapters and vLLM services is admitted by server-side
apply with ``dryRun=All`` (full validation and admission, nothing persisted), and the pods of
the MinIO server and its setup Job pass Pod Security admission at the level their namespace
enforces (``restricted``), as real pods created from the emitted templates.
"""

from __future__ import annotations

import copy
import json

import pytest

import kube
from infra.mocks import SECRET_MASK
from infra.synth import synthesize

pytestmark = pytest.mark.timeout(900)

STACKS = ("local", "dev", "staging", "prod", "airgap", "openshift")
CORE = {"Secret", "ConfigMap", "ServiceAccount", "PersistentVolumeClaim", "Service", "Deployment", "Job"}
CUSTOM = {"InferenceService", "ServingRuntime", "LeaderWorkerSet"}
MODELS_COMPONENTS = ("object-store", "object-store-setup", "lora-registry", "lora-sync", "model-server", "model-weights")


def _unmask(obj: dict) -> dict:
    obj = copy.deepcopy(obj)
    if obj.get("stringData") == SECRET_MASK:
        obj["stringData"] = {"MASKED": "placeholder"}
    return obj


def _models_objects(result) -> list[dict]:
    objs = []
    for o in result.manifests:
        component = (o["metadata"].get("labels") or {}).get("app.kubernetes.io/component")
        if (o["kind"] in CORE and component in MODELS_COMPONENTS) or o["kind"] in CUSTOM:
            objs.append(o)
    return objs


@pytest.fixture(scope="module")
def stacks() -> dict:
    return {stack: synthesize(stack) for stack in STACKS}


@pytest.fixture(scope="module")
def namespaces(kube_client, stacks) -> dict[str, dict]:
    """The stacks' own Namespace objects (with their Pod Security labels), created for real."""
    found = {}
    for result in stacks.values():
        for ns in result.objects("Namespace"):
            found[ns["metadata"]["name"]] = ns
    for name, ns in found.items():
        kube_client.apply(f"/api/v1/namespaces/{name}", kube.wire_ints(ns), manager="llm-platform-models-tests")
    return found


def test_every_models_object_is_admitted(kube_client, stacks, namespaces):
    admitted = 0
    for stack, result in stacks.items():
        for obj in _models_objects(result):
            try:
                kube_client.dry_run_apply(_unmask(obj), manager="llm-platform-models-tests")
            except kube.ApiError as e:
                pytest.fail(f"{stack}: {obj['kind']} {obj['metadata']['name']} refused: {e.code} {e.body}")
            admitted += 1
    assert admitted >= 60


def _pod_from(template: dict, name: str, namespace: str) -> dict:
    spec = copy.deepcopy(template["spec"])
    for volume in spec.get("volumes", []):
        volume.pop("persistentVolumeClaim", None) and volume.setdefault("emptyDir", {})
    return kube.wire_ints({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace,
                                                                  "labels": template["metadata"].get("labels", {})},
                  "spec": spec})


@pytest.mark.parametrize("kind, name", [("Deployment", "minio"), ("Job", "minio-setup")])
def test_minio_pods_pass_restricted_pod_security(kube_client, stacks, namespaces, kind, name):
    for stack in ("local", "prod", "airgap", "openshift"):
        obj = next(o for o in stacks[stack].objects(kind) if o["metadata"]["name"] == name)
        ns = obj["metadata"]["namespace"]
        assert namespaces[ns]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
        pod = _pod_from(obj["spec"]["template"], f"{name}-{stack}-probe", ns)
        try:
            kube_client.request("POST", f"/api/v1/namespaces/{ns}/pods", pod, params={"dryRun": "All"})
        except kube.ApiError as e:
            pytest.fail(f"{stack}: a {kind} {name} pod is refused in {ns}: {e.code} {e.body}")


def test_a_privileged_variant_is_refused_so_the_check_is_live(kube_client, stacks, namespaces):
    obj = next(o for o in stacks["local"].objects("Deployment") if o["metadata"]["name"] == "minio")
    pod = _pod_from(obj["spec"]["template"], "minio-root-probe", obj["metadata"]["namespace"])
    pod["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
    with pytest.raises(kube.ApiError) as err:
        kube_client.request("POST", f"/api/v1/namespaces/{pod['metadata']['namespace']}/pods", pod, params={"dryRun": "All"})
    assert err.value.code == 403 and "allowPrivilegeEscalation" in json.dumps(err.value.body)


def _kserve_pod(runtime: dict, isvc: dict, namespace: str) -> dict:
    """The predictor pod KServe builds from a ServingRuntime and an InferenceService (its
    container merge: runtime containers, the model's resources/args on kserve-container, the
    predictor's pod fields); the injected storage initializer is left out."""
    predictor = isvc["spec"]["predictor"]
    containers = copy.deepcopy(runtime["spec"]["containers"])
    main = containers[0]
    main["resources"] = copy.deepcopy(predictor["model"]["resources"])
    main["args"] = main["args"] + predictor["model"].get("args", [])
    spec = {"containers": containers, "volumes": copy.deepcopy(runtime["spec"]["volumes"]),
            "securityContext": predictor["securityContext"], "nodeSelector": predictor.get("nodeSelector", {}),
            "tolerations": predictor.get("tolerations", []), "initContainers": predictor.get("initContainers", []),
            "resourceClaims": predictor.get("resourceClaims", [])}
    return kube.wire_ints({"apiVersion": "v1", "kind": "Pod",
                  "metadata": {"name": f"{isvc['metadata']['name']}-predictor-probe", "namespace": namespace},
                  "spec": {k: v for k, v in spec.items() if v}})


def test_vllm_pods_pass_restricted_pod_security(kube_client, stacks):
    """The serving namespace enforces baseline and warns restricted; the vLLM pods meet restricted."""
    ns = "psa-restricted-probe"
    kube_client.apply(f"/api/v1/namespaces/{ns}", {"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": ns, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}}, manager="llm-platform-models-tests")
    checked = 0
    for stack, result in stacks.items():
        runtimes = {r["metadata"]["name"]: r for r in result.objects("ServingRuntime")}
        for isvc in result.objects("InferenceService"):
            pod = _kserve_pod(runtimes[isvc["spec"]["predictor"]["model"]["runtime"]], isvc, ns)
            try:
                kube_client.request("POST", f"/api/v1/namespaces/{ns}/pods", pod, params={"dryRun": "All"})
            except kube.ApiError as e:
                pytest.fail(f"{stack}: {isvc['metadata']['name']} pod refused under restricted: {e.code} {e.body}")
            checked += 1
    assert checked >= 6
