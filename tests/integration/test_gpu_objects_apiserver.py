"""The GPU layer's objects against a real API server: Karpenter NodePools and EC2NodeClasses of every
EKS stack pass the upstream CRDs' CEL rules (which JSON Schema validation cannot evaluate), and
the ResourceClaimTemplates' CEL selectors compile in the API server's DRA environment.

Server-side apply with ``dryRun=All``: full admission and validation, nothing persisted.
"""

from __future__ import annotations

import copy

import pytest

import kube
from infra.synth import synthesize

pytestmark = pytest.mark.timeout(600)

EKS_STACKS = ("dev", "staging", "prod")
PATHS = {
    ("karpenter.sh/v1", "NodePool"): "/apis/karpenter.sh/v1/nodepools/{name}",
    ("karpenter.k8s.aws/v1", "EC2NodeClass"): "/apis/karpenter.k8s.aws/v1/ec2nodeclasses/{name}",
    ("resource.k8s.io/v1", "ResourceClaimTemplate"):
        "/apis/resource.k8s.io/v1/namespaces/{namespace}/resourceclaimtemplates/{name}",
}


def _ints(value):
    """Mock synthesis carries numbers as floats (protobuf Struct); the provider sends integers."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ints(v) for v in value]
    return value


def _dry_run_apply(client: kube.KubeClient, obj: dict):
    meta = obj["metadata"]
    path = PATHS[(obj["apiVersion"], obj["kind"])].format(name=meta["name"], namespace=meta.get("namespace", ""))
    return client.request("PATCH", path, _ints(obj), params={"fieldManager": "llm-platform-tests", "force": "true",
                                                            "dryRun": "All"},
                          content_type="application/apply-patch+yaml")


def _ensure_namespace(client: kube.KubeClient, name: str) -> None:
    client.apply(f"/api/v1/namespaces/{name}", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})


@pytest.fixture(scope="module")
def gpu_objects() -> list[dict]:
    objs = []
    for stack in EKS_STACKS:
        result = synthesize(stack)
        objs += [o for o in result.manifests if (o["apiVersion"], o["kind"]) in PATHS]
    kinds = {o["kind"] for o in objs}
    assert kinds == {"NodePool", "EC2NodeClass", "ResourceClaimTemplate"}, kinds
    return objs


def test_every_gpu_object_is_admitted(kube_client, gpu_objects):
    for obj in gpu_objects:
        if obj["metadata"].get("namespace"):
            _ensure_namespace(kube_client, obj["metadata"]["namespace"])
        try:
            _dry_run_apply(kube_client, obj)
        except kube.ApiError as e:
            pytest.fail(f"{obj['kind']} {obj['metadata']['name']} refused: {e.code} {e.body}")


def test_a_broken_claim_selector_is_refused(kube_client, gpu_objects):
    [tmpl] = [o for o in gpu_objects if o["kind"] == "ResourceClaimTemplate"][:1]
    broken = copy.deepcopy(tmpl)
    selectors = broken["spec"]["spec"]["devices"]["requests"][0]["exactly"]["selectors"]
    selectors[0]["cel"]["expression"] = "device.attributes['gpu.nvidia.com'].productName.lowerAscii().contains(1)"
    _ensure_namespace(kube_client, broken["metadata"]["namespace"])
    with pytest.raises(kube.ApiError) as info:
        _dry_run_apply(kube_client, broken)
    assert info.value.code == 422


def test_a_restricted_nodepool_label_is_refused_by_the_crd_rules(kube_client, gpu_objects):
    pool = copy.deepcopy(next(o for o in gpu_objects if o["kind"] == "NodePool"))
    pool["spec"]["template"]["metadata"]["labels"]["karpenter.sh/nodepool"] = "x"
    with pytest.raises(kube.ApiError) as info:
        _dry_run_apply(kube_client, pool)
    assert info.value.code == 422
