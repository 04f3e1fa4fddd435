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
KINDS = {  # (apiVersion, kind) of the GPU layer's own objects
    ("karpenter.sh/v1", "NodePool"),
    ("karpenter.k8s.aws/v1", "EC2NodeClass"),
    ("resource.k8s.io/v1", "ResourceClaimTemplate"),
}


@pytest.fixture(scope="module")
def gpu_objects() -> list[dict]:
    objs = []
    for stack in EKS_STACKS:
        result = synthesize(stack)
        objs += [o for o in result.manifests if (o["apiVersion"], o["kind"]) in KINDS]
    kinds = {o["kind"] for o in objs}
    assert kinds == {"NodePool", "EC2NodeClass", "ResourceClaimTemplate"}, kinds
    return objs


def test_every_gpu_object_is_admitted(kube_client, gpu_objects):
    for obj in gpu_objects:
        kube_client.admit(obj)


def test_a_broken_claim_selector_is_refused(kube_client, gpu_objects):
    [tmpl] = [o for o in gpu_objects if o["kind"] == "ResourceClaimTemplate"][:1]
    broken = copy.deepcopy(tmpl)
    selectors = broken["spec"]["spec"]["devices"]["requests"][0]["exactly"]["selectors"]
    selectors[0]["cel"]["expression"] = "device.attributes['gpu.nvidia.com'].productName.lowerAscii().contains(1)"
    kube_client.ensure_namespace(broken["metadata"]["namespace"])
    with pytest.raises(kube.ApiError) as info:
        kube_client.dry_run_apply(broken)
    assert info.value.code == 422


def test_a_restricted_nodepool_label_is_refused_by_the_crd_rules(kube_client, gpu_objects):
    pool = copy.deepcopy(next(o for o in gpu_objects if o["kind"] == "NodePool"))
    pool["spec"]["template"]["metadata"]["labels"]["karpenter.sh/nodepool"] = "x"
    with pytest.raises(kube.ApiError) as info:
        kube_client.dry_run_apply(pool)
    assert info.value.code == 422
