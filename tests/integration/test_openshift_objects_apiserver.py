"""The ``openshift`` stack against a real API server with the shared OpenShift, OLM, NFD, GPU
Operator and KServe CRDs installed: every object it emits is admitted (server-side apply,
``dryRun=All``), and every pod it creates, as the ``restricted-v2`` SCC would run it (the uid
and fsGroup of its namespace's block assigned), is admitted by Pod Security at the level its
namespace enforces. Namespaces get OpenShift's ``openshift.io/sa.scc.*`` annotations, as the
namespace SCC allocation controller writes them.
"""

from __future__ import annotations

import copy

import pytest

import kube
from infra.mocks import SECRET_MASK
from infra.synth import synthesize
from tests.stacks.test_openshift_stack import stack_pods
from tests.support.scc import NAMESPACE_ANNOTATIONS, RESTRICTED_V2, admit

pytestmark = pytest.mark.timeout(900)

MANAGER = "llm-platform-openshift-tests"
OPENSHIFT_KINDS = {"Subscription", "OperatorGroup", "NodeFeatureDiscovery", "ClusterPolicy", "NetworkPolicy", "Role",
                   "RoleBinding", "ServingRuntime", "InferenceService"}


@pytest.fixture(scope="module")
def openshift():
    return synthesize("openshift")


@pytest.fixture(scope="module")
def namespaces(kube_client, openshift) -> dict[str, dict]:
    found = {}
    for ns in openshift.objects("Namespace"):
        ns = copy.deepcopy(ns)
        ns["metadata"]["annotations"] = dict(NAMESPACE_ANNOTATIONS)
        name = ns["metadata"]["name"]
        kube_client.apply(f"/api/v1/namespaces/{name}", kube.wire_ints(ns), manager=MANAGER)
        kube.wait_for(lambda n=name: kube_client.exists(f"/api/v1/namespaces/{n}/serviceaccounts/default"), 60,
                      what=f"default ServiceAccount in {name}")
        found[name] = ns
    return found


def _unmask(obj: dict) -> dict:
    obj = copy.deepcopy(obj)
    if obj.get("stringData") == SECRET_MASK:
        obj["stringData"] = {"MASKED": "placeholder"}
    return obj


def test_every_object_is_admitted(kube_client, openshift, namespaces):
    kinds = set()
    for obj in openshift.manifests:
        if obj["kind"] == "Namespace":
            continue
        try:
            kube_client.dry_run_apply(_unmask(obj), manager=MANAGER)
        except kube.ApiError as e:
            pytest.fail(f"{obj['kind']} {obj['metadata'].get('namespace', '')}/{obj['metadata']['name']} refused: {e.code} {e.body}")
        kinds.add(obj["kind"])
    assert OPENSHIFT_KINDS <= kinds, OPENSHIFT_KINDS - kinds


def test_a_cluster_policy_without_the_required_components_is_refused(kube_client, openshift, namespaces):
    policy = copy.deepcopy(openshift.objects("ClusterPolicy")[0])
    del policy["spec"]["driver"]
    with pytest.raises(kube.ApiError) as err:
        kube_client.dry_run_apply(policy, manager=MANAGER)
    assert err.value.code == 422 and "driver" in str(err.value.body)


def _namespace_of(where: str, openshift) -> str:
    kind, rest = where.split("/", 1)
    name = rest.split(".", 1)[0]
    return next(o for o in openshift.manifests if o["kind"] == kind and o["metadata"]["name"] == name)["metadata"]["namespace"]


def test_pods_as_the_scc_runs_them_pass_pod_security(kube_client, openshift, namespaces):
    checked = 0
    for where, pod in stack_pods(openshift):
        spec, problems = admit(pod, RESTRICTED_V2, NAMESPACE_ANNOTATIONS)
        assert problems == [], (where, problems)
        spec.pop("serviceAccountName", None)  # created by the stack, not by this dry run; default is there
        for volume in spec.get("volumes", []):
            if volume.pop("persistentVolumeClaim", None) is not None:
                volume["emptyDir"] = {}  # an unbound claim is not what is being tested
        ns = _namespace_of(where, openshift)
        body = kube.wire_ints({"apiVersion": "v1", "kind": "Pod",
                               "metadata": {"name": f"scc-probe-{checked}", "namespace": ns}, "spec": spec})
        try:
            kube_client.request("POST", f"/api/v1/namespaces/{ns}/pods", body, params={"dryRun": "All"})
        except kube.ApiError as e:
            pytest.fail(f"{where} (uid {spec['containers'][0]['securityContext']['runAsUser']}) refused in {ns} "
                        f"({namespaces[ns]['metadata']['labels']['pod-security.kubernetes.io/enforce']}): {e.code} {e.body}")
        checked += 1
    assert checked >= 3
