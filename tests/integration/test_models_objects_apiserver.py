"""The models layer's Kubernetes objects against a real API server (loopback control plane):
every object the stacks emit for MinIO, adapters and vLLM services is admitted by server-side
apply with ``dryRun=All`` (full validation and admission, nothing persisted), and the pods of
the MinIO server and its setup Job pass Pod Security admission at the level their namespace
enforces (``restricted``), as real pods created from the emitted templates.
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache

import pytest
import yaml

import kube
from infra.mocks import SECRET_MASK
from infra.synth import synthesize

pytestmark = pytest.mark.timeout(900)

STACKS = ("local", "dev", "staging", "prod", "airgap")
CORE = {  # kind -> (api prefix, plural)
    "Secret": ("/api/v1", "secrets"),
    "ConfigMap": ("/api/v1", "configmaps"),
    "ServiceAccount": ("/api/v1", "serviceaccounts"),
    "PersistentVolumeClaim": ("/api/v1", "persistentvolumeclaims"),
    "Service": ("/api/v1", "services"),
    "Deployment": ("/apis/apps/v1", "deployments"),
    "Job": ("/apis/batch/v1", "jobs"),
}
CUSTOM = {"InferenceService", "ServingRuntime", "LeaderWorkerSet"}
MODELS_COMPONENTS = ("object-store", "object-store-setup", "lora-registry", "lora-sync", "model-server", "model-weights")


def _ints(value):
    """Mock synthesis carries numbers as floats (protobuf Struct); the provider sends integers."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ints(v) for v in value]
    return value


def _unmask(obj: dict) -> dict:
    obj = copy.deepcopy(obj)
    if obj.get("stringData") == SECRET_MASK:
        obj["stringData"] = {"MASKED": "placeholder"}
    return obj


@lru_cache(maxsize=None)
def _plural(api_version: str, kind: str) -> str:
    index = json.loads((kube.crds_dir() / "index.json").read_text())
    crd = yaml.load((kube.crds_dir() / index[f"{api_version}/{kind}"]).read_text(), Loader=kube._YAML_LOADER)
    return crd["spec"]["names"]["plural"]


def _path(obj: dict) -> str:
    meta = obj["metadata"]
    ns = f"/namespaces/{meta['namespace']}" if meta.get("namespace") else ""
    if obj["kind"] in CORE:
        prefix, plural = CORE[obj["kind"]]
    else:
        prefix, plural = f"/apis/{obj['apiVersion']}", _plural(obj["apiVersion"], obj["kind"])
    return f"{prefix}{ns}/{plural}/{meta['name']}"


def _dry_run_apply(client: kube.KubeClient, obj: dict):
    return client.request("PATCH", _path(obj), _ints(_unmask(obj)),
                          params={"fieldManager": "llm-platform-models-tests", "force": "true", "dryRun": "All"},
                          content_type="application/apply-patch+yaml")


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
        kube_client.apply(f"/api/v1/namespaces/{name}", _ints(ns), manager="llm-platform-models-tests")
    return found


def test_every_models_object_is_admitted(kube_client, stacks, namespaces):
    admitted = 0
    for stack, result in stacks.items():
        for obj in _models_objects(result):
            try:
                _dry_run_apply(kube_client, obj)
            except kube.ApiError as e:
                pytest.fail(f"{stack}: {obj['kind']} {obj['metadata']['name']} refused: {e.code} {e.body}")
            admitted += 1
    assert admitted >= 60


def _pod_from(template: dict, name: str, namespace: str) -> dict:
    spec = copy.deepcopy(template["spec"])
    for volume in spec.get("volumes", []):
        volume.pop("persistentVolumeClaim", None) and volume.setdefault("emptyDir", {})
    return _ints({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace,
                                                                  "labels": template["metadata"].get("labels", {})},
                  "spec": spec})


@pytest.mark.parametrize("kind, name", [("Deployment", "minio"), ("Job", "minio-setup")])
def test_minio_pods_pass_restricted_pod_security(kube_client, stacks, namespaces, kind, name):
    for stack in ("local", "prod", "airgap"):
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
    return _ints({"apiVersion": "v1", "kind": "Pod",
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
