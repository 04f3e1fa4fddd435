"""DRA end to end on the loopback control plane: the staging stack's ResourceClaimTemplate, the pod
placement the GPU layer hands to workloads, and the real kube-scheduler allocating a device.

A kwok node carries the DRA pool's labels and taint, and a ResourceSlice published as the NVIDIA
DRA driver would (driver ``gpu.nvidia.com``; attributes ``type``/``productName``, capacity
``memory`` as NVML reports it for an H100 80GB HBM3: 81559 MiB). The DeviceClass is the driver
chart's ``gpu.nvidia.com`` selector (kubernetes-sigs/dra-driver-nvidia-gpu
templates/deviceclass-gpu.yaml). It shows that the generated CEL selects that GPU, and why the
memory floor is decimal: ``quantity('80Gi')`` would refuse the very GPU it is meant for.
"""

from __future__ import annotations

import copy
import uuid

import pytest

import kube
from kube import wait_for
from components.gpu.placement import placement_for
from components.gpu.sharing import node_labels
from infra.synth import synthesize

pytestmark = pytest.mark.timeout(600)

DRIVER = "gpu.nvidia.com"
NODE = "it-dra-h100-0"
POOL = "h100-dra"
TEMPLATE = "h100-80g"


@pytest.fixture(scope="module")
def staging():
    return synthesize("staging")


def _template(staging) -> dict:
    [tmpl] = [o for o in staging.objects("ResourceClaimTemplate", "resource.k8s.io/v1") if o["metadata"]["name"] == TEMPLATE]
    return tmpl


@pytest.fixture(scope="module")
def dra_node(kube_client, staging):
    pool = staging.config.gpu.pools[POOL]
    capacity = {"cpu": "192", "memory": "2048Gi", "pods": "110", "ephemeral-storage": "1Ti"}
    node = {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": NODE, "annotations": {kube.KWOK_NODE_ANNOTATION[0]: kube.KWOK_NODE_ANNOTATION[1]},
                     "labels": {**node_labels(POOL, pool), "kubernetes.io/hostname": NODE, "kubernetes.io/os": "linux",
                                "kubernetes.io/arch": "amd64", "type": "kwok"}},
        "spec": {"taints": [{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}]},
        "status": {"capacity": capacity, "allocatable": capacity},
    }
    kube_client.create("/api/v1/nodes", node)
    device_class = {
        "apiVersion": "resource.k8s.io/v1", "kind": "DeviceClass", "metadata": {"name": DRIVER},
        "spec": {"selectors": [{"cel": {"expression": f"device.driver == '{DRIVER}' && "
                                                      f"device.attributes['{DRIVER}'].type == 'gpu'"}}]},
    }
    kube_client.apply(f"/apis/resource.k8s.io/v1/deviceclasses/{DRIVER}", device_class)
    devices = [{
        "name": f"gpu-{i}",
        "attributes": {"type": {"string": "gpu"}, "productName": {"string": "NVIDIA H100 80GB HBM3"},
                       "uuid": {"string": f"GPU-{uuid.uuid4()}"}, "index": {"int": i}},
        "capacity": {"memory": {"value": "81559Mi"}},
    } for i in range(2)]
    slice_ = {
        "apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice", "metadata": {"name": f"{NODE}-{DRIVER}"},
        "spec": {"driver": DRIVER, "nodeName": NODE, "pool": {"name": NODE, "generation": 1, "resourceSliceCount": 1},
                 "devices": devices},
    }
    kube_client.create("/apis/resource.k8s.io/v1/resourceslices", slice_)
    try:
        wait_for(lambda: _ready(kube_client), 60, what=f"kwok to make {NODE} Ready")
        yield NODE
    finally:
        for path in (f"/apis/resource.k8s.io/v1/resourceslices/{NODE}-{DRIVER}", f"/api/v1/nodes/{NODE}",
                     f"/apis/resource.k8s.io/v1/deviceclasses/{DRIVER}"):
            try:
                kube_client.delete(path)
            except kube.ApiError:
                pass


def _ready(client) -> bool:
    node = client.get(f"/api/v1/nodes/{NODE}")
    return {c["type"]: c["status"] for c in node.get("status", {}).get("conditions", [])}.get("Ready") == "True"


@pytest.fixture
def namespace(kube_client):
    with kube_client.scratch_namespace("it-dra") as ns:
        yield ns


def _create_template(client, ns: str, tmpl: dict, name: str | None = None) -> str:
    obj = kube.wire_ints(copy.deepcopy(tmpl))
    obj["metadata"] = {"name": name or tmpl["metadata"]["name"], "namespace": ns}
    client.create(f"/apis/resource.k8s.io/v1/namespaces/{ns}/resourceclaimtemplates", obj)
    return obj["metadata"]["name"]


def _pod(staging, ns: str, name: str, template: str) -> dict:
    place = placement_for(POOL, staging.config.gpu.pools[POOL], dra_claim=template)
    return {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
        "spec": {
            "automountServiceAccountToken": False, "terminationGracePeriodSeconds": 0,
            "nodeSelector": place.node_selector, "tolerations": place.tolerations,
            "resourceClaims": place.resource_claims,
            "containers": [{"name": "server", "image": "registry.invalid/vllm:test",
                            "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "1Gi"},
                                          "claims": place.container_claims}}],
        },
    }


def _status(client, ns: str, name: str) -> dict:
    return client.get(f"/api/v1/namespaces/{ns}/pods/{name}")


def _scheduled(pod: dict) -> dict | None:
    return next((c for c in pod.get("status", {}).get("conditions", []) if c["type"] == "PodScheduled"), None)


def test_claim_from_the_stack_template_is_allocated_on_the_dra_pool(kube_client, staging, dra_node, namespace):
    template = _create_template(kube_client, namespace, _template(staging))
    kube_client.create(f"/api/v1/namespaces/{namespace}/pods", _pod(staging, namespace, "vllm-dra", template))
    pod = wait_for(lambda: (p := _status(kube_client, namespace, "vllm-dra")).get("spec", {}).get("nodeName") and p,
                   90, what="the DRA pod to be scheduled")
    assert pod["spec"]["nodeName"] == NODE
    [claim_status] = pod["status"]["resourceClaimStatuses"]
    claim = kube_client.get(f"/apis/resource.k8s.io/v1/namespaces/{namespace}/resourceclaims/{claim_status['resourceClaimName']}")
    [result] = claim["status"]["allocation"]["devices"]["results"]
    assert result["driver"] == DRIVER and result["device"] in {"gpu-0", "gpu-1"}


@pytest.mark.parametrize("edit, why", [
    (lambda sel: sel.__setitem__(1, {"cel": {"expression": sel[1]["cel"]["expression"].replace("'80G'", "'80Gi'")}}),
     "an H100-80GB has 81559 MiB, under 80 GiB"),
    (lambda sel: sel.__setitem__(0, {"cel": {"expression": sel[0]["cel"]["expression"].replace("'h100'", "'a100'")}}),
     "wrong product"),
])
def test_selectors_that_do_not_match_leave_the_pod_pending(kube_client, staging, dra_node, namespace, edit, why):
    tmpl = copy.deepcopy(_template(staging))
    edit(tmpl["spec"]["spec"]["devices"]["requests"][0]["exactly"]["selectors"])
    template = _create_template(kube_client, namespace, tmpl, name="nomatch")
    kube_client.create(f"/api/v1/namespaces/{namespace}/pods", _pod(staging, namespace, "vllm-nomatch", template))

    def unschedulable():
        cond = _scheduled(_status(kube_client, namespace, "vllm-nomatch"))
        return cond if cond and cond["status"] == "False" and cond.get("reason") == "Unschedulable" else None

    cond = wait_for(unschedulable, 90, what=f"the pod to be Unschedulable ({why})")
    assert "cannot allocate all claims" in cond["message"] or "resourceclaim" in cond["message"].lower(), cond["message"]
