"""The loopback control plane comes up, serves the upstream CRDs, accepts
valid custom objects and rejects invalid ones with the API server's message."""

from __future__ import annotations

import json
import re

import pytest

import kube

pytestmark = pytest.mark.timeout(300)  # the first test also pays the control plane start


def _versions_env() -> dict[str, str]:
    text = (kube.REPO_ROOT / "tools" / "kube" / "versions.env").read_text()
    return dict(re.findall(r"^([A-Z_]+)=(\S+)", text, re.M))


def test_apiserver_ready_and_version(kube_client):
    assert kube_client.get("/readyz", raw=True).strip() == "ok"
    assert kube_client.get("/livez", raw=True).strip() == "ok"
    version = kube_client.get("/version")
    assert version["gitVersion"] == _versions_env()["KUBE_VERSION"]


def test_dra_v1_is_served(kube_client):
    # resource.k8s.io/v1 (Dynamic Resource Allocation) is GA from 1.34 on.
    kinds = {r["kind"] for r in kube_client.get("/apis/resource.k8s.io/v1")["resources"]}
    assert {"DeviceClass", "ResourceClaim", "ResourceClaimTemplate", "ResourceSlice"} <= kinds


def test_controllers_and_scheduler_are_running(kube_cluster):
    names = {p.name: p.alive() for p in kube_cluster.procs}
    assert names == {
        "etcd": True,
        "kube-apiserver": True,
        "kube-controller-manager": True,
        "kube-scheduler": True,
        "kwok": True,
    }
    # The controller-manager made the default ServiceAccount and published the CA.
    cm = kube_cluster.client.get("/api/v1/namespaces/default/configmaps/kube-root-ca.crt")
    assert "BEGIN CERTIFICATE" in cm["data"]["ca.crt"]


def test_every_indexed_kind_is_served(kube_client):
    index = json.loads((kube.crds_dir() / "index.json").read_text())
    missing = []
    by_group_version: dict[str, set[str]] = {}
    for gvk in index:
        group, version, kind = gvk.split("/")
        gv = f"{group}/{version}"
        if gv not in by_group_version:
            try:
                res = kube_client.get(f"/apis/{gv}")["resources"]
            except kube.ApiError as e:
                missing.append(f"{gv}: {e.code}")
                by_group_version[gv] = set()
                continue
            by_group_version[gv] = {r["kind"] for r in res}
        if kind not in by_group_version[gv]:
            missing.append(gvk)
    assert not missing, f"not served: {missing}"


# -- karpenter.sh/v1 NodePool ----------------------------------------------

NODEPOOLS = "/apis/karpenter.sh/v1/nodepools"


def _nodepool(name: str, **spec_overrides) -> dict:
    obj = {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {"name": name},
        "spec": {
            "template": {
                "spec": {
                    "nodeClassRef": {
                        "group": "karpenter.k8s.aws",
                        "kind": "EC2NodeClass",
                        "name": "gpu",
                    },
                    "requirements": [
                        {"key": "karpenter.sh/capacity-type", "operator": "In",
                         "values": ["on-demand"]},
                        {"key": "node.kubernetes.io/instance-type", "operator": "In",
                         "values": ["p5.48xlarge"]},
                    ],
                    "taints": [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}],
                }
            },
            "limits": {"nvidia.com/gpu": "16"},
        },
    }
    obj["spec"].update(spec_overrides)
    return obj


def test_nodepool_is_accepted_with_schema_defaults(kube_client):
    created = kube_client.create(NODEPOOLS, _nodepool("it-gpu-h100"))
    try:
        assert created["metadata"]["uid"]
        got = kube_client.get(f"{NODEPOOLS}/it-gpu-h100")
        # Defaults from the upstream structural schema were applied by the server.
        disruption = got["spec"]["disruption"]
        assert disruption["consolidationPolicy"] == "WhenEmptyOrUnderutilized"
        assert disruption["budgets"] == [{"nodes": "10%"}]
        assert got["spec"]["template"]["spec"]["taints"] == [
            {"key": "nvidia.com/gpu", "effect": "NoSchedule"}
        ]
    finally:
        kube_client.delete(f"{NODEPOOLS}/it-gpu-h100")


def test_nodepool_violating_a_cel_rule_is_rejected(kube_client):
    bad = _nodepool("it-bad-cel")
    bad["spec"]["template"]["spec"]["requirements"][1]["values"] = []
    with pytest.raises(kube.ApiError) as err:
        kube_client.create(NODEPOOLS, bad)
    assert err.value.code == 422
    assert err.value.reason == "Invalid"
    assert "requirements with operator 'In' must have a value defined" in err.value.message
    assert not kube_client.exists(f"{NODEPOOLS}/it-bad-cel")


def test_nodepool_with_restricted_label_domain_is_rejected(kube_client):
    bad = _nodepool("it-bad-label")
    bad["spec"]["template"]["spec"]["requirements"].append(
        {"key": "karpenter.sh/custom", "operator": "Exists"}
    )
    with pytest.raises(kube.ApiError) as err:
        kube_client.create(NODEPOOLS, bad)
    assert err.value.code == 422
    assert 'label domain "karpenter.sh" is restricted' in err.value.message


def test_nodepool_violating_the_openapi_schema_is_rejected(kube_client):
    with pytest.raises(kube.ApiError) as err:
        kube_client.create(NODEPOOLS, _nodepool("it-bad-weight", weight=101))
    assert err.value.code == 422
    assert "spec.weight" in err.value.message
    assert "should be less than or equal to 100" in err.value.message


def test_nodepool_with_unknown_field_is_rejected_in_strict_mode(kube_client):
    bad = _nodepool("it-bad-field")
    bad["spec"]["template"]["spec"]["gpuCount"] = 8
    with pytest.raises(kube.ApiError) as err:
        kube_client.request("POST", NODEPOOLS, bad, params={"fieldValidation": "Strict"})
    assert err.value.code == 400
    assert 'unknown field "spec.template.spec.gpuCount"' in err.value.message


# -- serving.kserve.io/v1beta1 InferenceService ------------------------------

ISVCS = "/apis/serving.kserve.io/v1beta1/namespaces/default/inferenceservices"


def _isvc(name: str) -> dict:
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "predictor": {
                "minReplicas": 1,
                "maxReplicas": 2,
                "model": {
                    "modelFormat": {"name": "huggingface"},
                    "storageUri": "hf://Qwen/Qwen2.5-0.5B-Instruct",
                    "resources": {
                        "requests": {"cpu": "4", "memory": "32Gi"},
                        "limits": {"nvidia.com/gpu": "1", "memory": "32Gi"},
                    },
                },
                "tolerations": [
                    {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
                ],
            }
        },
    }


def test_inferenceservice_is_accepted_by_server_side_apply(kube_client):
    applied = kube_client.apply(f"{ISVCS}/it-qwen", _isvc("it-qwen"))
    try:
        assert applied["spec"]["predictor"]["model"]["modelFormat"]["name"] == "huggingface"
        managers = {m["manager"] for m in applied["metadata"]["managedFields"]}
        assert "llm-platform-tests" in managers
        # A second identical apply is a no-op (same resourceVersion).
        again = kube_client.apply(f"{ISVCS}/it-qwen", _isvc("it-qwen"))
        assert again["metadata"]["resourceVersion"] == applied["metadata"]["resourceVersion"]
    finally:
        kube_client.delete(f"{ISVCS}/it-qwen")


def test_inferenceservice_violating_the_schema_is_rejected(kube_client):
    bad = _isvc("it-bad-isvc")
    bad["spec"]["predictor"]["model"]["modelFormat"] = {"version": "1"}  # name is required
    with pytest.raises(kube.ApiError) as err:
        kube_client.create(ISVCS, bad)
    assert err.value.code == 422
    assert "spec.predictor.model.modelFormat.name: Required value" in err.value.message

    no_predictor = _isvc("it-bad-isvc")
    no_predictor["spec"] = {}
    with pytest.raises(kube.ApiError) as err:
        kube_client.create(ISVCS, no_predictor)
    assert err.value.code == 422
    assert "spec.predictor: Required value" in err.value.message
    assert not kube_client.exists(f"{ISVCS}/it-bad-isvc")
