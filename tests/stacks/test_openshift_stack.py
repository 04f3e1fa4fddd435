"""The ``openshift`` stack (OpenShift AI): every pod it emits is admitted by the ``restricted-v2``
SCC in a namespace with an OpenShift-allocated UID range, while the fixed-UID pods of the other
stacks are not (so the check is live); nothing OpenShift AI owns is installed; the trusted CA,
the dashboard metadata, the exposure and its auth are what OpenShift AI reads."""

from __future__ import annotations

import pytest

from components.airgap.workloads import pod_specs
from components.gate.spec import GateSpec
from components.openshift.dashboard import AUTH_PROXY_PORT
from tests.support.scc import NAMESPACE_ANNOTATIONS, RESTRICTED_V2, admit, kserve_predictor_pod
from tests.support.schemas import crd_errors

STACK = "openshift"
KSERVE_KINDS = ("ServingRuntime", "InferenceService")


def _token(obj: dict) -> str:
    api = obj["apiVersion"] if "/" in obj["apiVersion"] else f"core/{obj['apiVersion']}"
    return f"kubernetes:{api}:{obj['kind']}"


def stack_pods(result) -> list[tuple[str, dict]]:
    """(where, pod spec) of every pod the stack's objects create: workload templates and the
    predictor pods KServe builds from each ServingRuntime + InferenceService."""
    pods = []
    for obj in result.manifests:
        if obj["kind"] in KSERVE_KINDS:
            continue
        for path, _loc, spec in pod_specs(_token(obj), obj):
            pods.append((f"{obj['kind']}/{obj['metadata']['name']}.{path}", spec))
    runtimes = {r["metadata"]["name"]: r for r in result.objects("ServingRuntime")}
    for isvc in result.objects("InferenceService"):
        runtime = runtimes[isvc["spec"]["predictor"]["model"]["runtime"]]
        pods.append((f"InferenceService/{isvc['metadata']['name']}", kserve_predictor_pod(runtime, isvc)))
    return pods


@pytest.fixture(scope="module")
def openshift(synthesized):
    return synthesized(STACK)


def test_the_restricted_v2_scc_is_a_valid_scc():
    assert crd_errors(RESTRICTED_V2) == []


def test_every_pod_is_admitted_by_restricted_v2(openshift):
    pods = stack_pods(openshift)
    kinds = {where.split("/")[0] for where, _ in pods}
    assert {"Deployment", "Job", "InferenceService"} <= kinds, kinds  # MinIO, its setup job, vLLM
    refused = {where: problems for where, pod in pods
               if (problems := admit(pod, RESTRICTED_V2, NAMESPACE_ANNOTATIONS)[1])}
    assert refused == {}


def test_pods_pin_no_identity_and_keep_the_restricted_settings(openshift):
    for where, pod in stack_pods(openshift):
        psc = pod.get("securityContext") or {}
        assert not {"runAsUser", "runAsGroup", "fsGroup"} & set(psc), (where, psc)
        assert psc.get("runAsNonRoot") is True and psc.get("seccompProfile") == {"type": "RuntimeDefault"}, where
        for c in pod.get("initContainers", []) + pod["containers"]:
            sc = c.get("securityContext") or {}
            assert not {"runAsUser", "runAsGroup"} & set(sc), (where, c["name"], sc)
            assert sc.get("allowPrivilegeEscalation") is False and sc.get("capabilities") == {"drop": ["ALL"]}, (where, c["name"])
            assert sc.get("runAsNonRoot") is True and sc.get("seccompProfile") == {"type": "RuntimeDefault"}, (where, c["name"])


def test_the_assigned_identity_is_the_namespace_block(openshift):
    _where, pod = next(p for p in stack_pods(openshift) if p[0].startswith("InferenceService/"))
    mutated, problems = admit(pod, RESTRICTED_V2, NAMESPACE_ANNOTATIONS)
    assert problems == []
    assert mutated["securityContext"]["fsGroup"] == 1000620000
    assert {c["securityContext"]["runAsUser"] for c in mutated["containers"]} == {1000620000}
    # The tenant gate and the sync sidecar are in the admitted pod, with vLLM, under the same identity.
    assert {c["name"] for c in mutated["containers"]} == {"kserve-container", "gate", "lora-sync"}


def test_the_gate_reads_tenant_keys_from_their_own_header(openshift):
    """Authorization carries the caller's OpenShift token to kube-rbac-proxy; the gate takes the
    tenant key from X-Tenant-Key, drops both before vLLM, and presents no vLLM key (vLLM has none)."""
    cfg = next(c for c in openshift.objects("ConfigMap") if c["metadata"]["name"] == "tsuzumi-gate")["data"]["haproxy.cfg"]
    assert "req.hdr(x-tenant-key)" in cfg and "req.hdr(authorization)" not in cfg
    assert "http-request del-header x-tenant-key" in cfg and "http-request del-header authorization" in cfg
    gate = next(c for c in openshift.objects("ServingRuntime")[0]["spec"]["containers"] if c["name"] == "gate")
    assert "VLLM_API_KEY" not in {e["name"] for e in gate["env"]}
    clients = next(p for p in openshift.objects("NetworkPolicy") if p["metadata"]["name"] == "tsuzumi-gate-clients")
    assert [p["port"] for r in clients["spec"]["ingress"] for p in r["ports"]] == [AUTH_PROXY_PORT]


@pytest.mark.parametrize("stack", ["airgap", "prod"])
def test_fixed_uid_pods_of_other_clusters_are_refused_so_the_check_is_live(stack, synthesized):
    pods = stack_pods(synthesized(stack))
    assert pods
    for where, pod in pods:
        if (pod.get("securityContext") or {}).get("runAsUser") == 1000:
            problems = admit(pod, RESTRICTED_V2, NAMESPACE_ANNOTATIONS)[1]
            assert any("must be in the ranges: [1000620000, 1000629999]" in p for p in problems), where
            assert any("1000 is not an allowed group (only 1000620000)" in p for p in problems), where


def test_eks_and_kubeconfig_stacks_keep_their_fixed_uid(synthesized):
    for stack in ("prod", "airgap"):
        isvcs = synthesized(stack).objects("InferenceService")
        assert isvcs
        for isvc in isvcs:
            sc = isvc["spec"]["predictor"]["securityContext"]
            assert sc["runAsUser"] == sc["runAsGroup"] == sc["fsGroup"] == 1000, (stack, isvc["metadata"]["name"])


def test_a_privileged_or_root_variant_is_refused(openshift):
    _where, pod = next(p for p in stack_pods(openshift) if p[0].startswith("Deployment/"))
    pod = {**pod, "hostNetwork": True, "volumes": pod.get("volumes", []) + [{"name": "h", "hostPath": {"path": "/"}}]}
    pod["containers"] = [{**pod["containers"][0], "securityContext": {"privileged": True, "runAsUser": 0,
                                                                       "capabilities": {"add": ["SYS_ADMIN"]}}}]
    problems = " ".join(admit(pod, RESTRICTED_V2, NAMESPACE_ANNOTATIONS)[1])
    for expected in ("hostNetwork", "hostPath volumes are not allowed", "Privileged containers are not allowed",
                     "'SYS_ADMIN': capability may not be added", "runAsUser: Invalid value: 0"):
        assert expected in problems


def test_nothing_openshift_ai_owns_is_installed(openshift):
    types = {r.type for r in openshift.registrations}
    assert not {t for t in types if t.startswith("kubernetes:helm.sh/")}, "no Helm release: KServe, Knative, cert-manager, GPU Operator are not installed"
    kinds = {m["kind"] for m in openshift.manifests}
    assert not kinds & {"CustomResourceDefinition", "KnativeServing", "Certificate", "Issuer", "ClusterIssuer",
                        "DataScienceCluster", "DSCInitialization"}
    assert "kserve" not in {m["metadata"]["name"] for m in openshift.objects("Namespace")}


def test_operators_come_through_olm_in_order(openshift):
    subs = {s["spec"]["name"]: s for s in openshift.objects("Subscription")}
    assert set(subs) == {"gpu-operator-certified", "nfd"}
    assert subs["gpu-operator-certified"]["metadata"]["namespace"] == "nvidia-gpu-operator"
    assert subs["nfd"]["spec"]["installPlanApproval"] == "Manual"
    groups = {g["metadata"]["namespace"]: g["spec"]["targetNamespaces"] for g in openshift.objects("OperatorGroup")}
    assert groups == {"nvidia-gpu-operator": ["nvidia-gpu-operator"], "openshift-nfd": ["openshift-nfd"]}
    policy = openshift.objects("ClusterPolicy")[0]["spec"]
    assert policy["operator"]["use_ocp_driver_toolkit"] is True
    assert policy["migManager"]["config"]["name"] == "llm-platform-mig-parted-config" and policy["mig"]["strategy"] == "mixed"
    assert policy["dcgmExporter"]["serviceMonitor"]["enabled"] is True
    reg = {r.name: r for r in openshift.registrations}
    assert any("gpu-olm-gpu-subscription" in d for d in reg["gpu-olm-cluster-policy"].dependencies)
    assert any("gpu-olm-nfd-instance" in d for d in reg["gpu-olm-cluster-policy"].dependencies)
    ns = {n["metadata"]["name"]: n["metadata"]["labels"] for n in openshift.objects("Namespace")}
    assert ns["nvidia-gpu-operator"]["openshift.io/cluster-monitoring"] == "true"


def test_prerequisite_operators_get_only_the_sharing_config(synth):
    result = synth(STACK, lambda s: s["openshift"].update(operators="prerequisites"))
    kinds = {m["kind"] for m in result.manifests}
    assert not kinds & {"Subscription", "OperatorGroup", "ClusterPolicy", "NodeFeatureDiscovery"}
    assert "nvidia-gpu-operator" not in {n["metadata"]["name"] for n in result.objects("Namespace")}
    cms = [c for c in result.objects("ConfigMap") if c["metadata"]["name"] == "llm-platform-mig-parted-config"]
    assert cms and cms[0]["metadata"]["namespace"] == "nvidia-gpu-operator"


def test_pods_trust_the_injected_cluster_bundle(openshift):
    cms = {c["metadata"]["namespace"]: c for c in openshift.objects("ConfigMap")
           if c["metadata"]["name"] == "llm-platform-trusted-ca"}
    for cm in cms.values():
        assert cm["metadata"]["labels"]["config.openshift.io/inject-trusted-cabundle"] == "true"
        assert "data" not in cm, "the cluster-network-operator writes ca-bundle.crt; the program owns no key"
    for where, pod in stack_pods(openshift):
        vols = {v["name"] for v in pod.get("volumes", []) if (v.get("configMap") or {}).get("name") == "llm-platform-trusted-ca"}
        assert vols, where
        for c in pod.get("initContainers", []) + pod["containers"]:
            env = {e["name"]: e.get("value") for e in c.get("env", [])}
            assert env["SSL_CERT_FILE"] == env["REQUESTS_CA_BUNDLE"] == env["AWS_CA_BUNDLE"] == "/etc/llm-platform/ca/ca-bundle.crt"
            assert any(m["name"] in vols and m["mountPath"] == "/etc/llm-platform/ca" for m in c["volumeMounts"]), (where, c["name"])
    pod_namespaces = {m["metadata"]["namespace"] for m in openshift.manifests if m["kind"] in ("Deployment", "Job", "InferenceService")}
    assert pod_namespaces <= set(cms)
    # RHOAI's inferenceservice-config points the storage initializer at its own bundle: no override.
    for m in openshift.manifests:
        assert "serving.kserve.io/s3-cabundle-configmap" not in (m["metadata"].get("annotations") or {}), m["metadata"]["name"]


def test_the_dashboard_lists_the_project_runtime_and_service(openshift):
    ns = next(n for n in openshift.objects("Namespace") if n["metadata"]["name"] == "llm-serving")
    assert ns["metadata"]["labels"]["opendatahub.io/dashboard"] == "true"
    assert ns["metadata"]["labels"]["modelmesh-enabled"] == "false"
    runtime = openshift.objects("ServingRuntime")[0]
    assert runtime["metadata"]["labels"]["opendatahub.io/dashboard"] == "true"
    assert runtime["metadata"]["annotations"]["opendatahub.io/recommended-accelerators"] == '["nvidia.com/mig-3g.40gb"]'
    assert runtime["spec"]["annotations"]["opendatahub.io/kserve-runtime"] == "vllm"
    assert "prometheus.io/port" not in runtime["spec"]["annotations"], "one scrape: the platform's PodMonitor"
    isvc = openshift.objects("InferenceService")[0]
    assert isvc["spec"]["predictor"]["model"]["runtime"] == runtime["metadata"]["name"]
    assert isvc["spec"]["predictor"]["model"]["modelFormat"]["name"] == "vLLM"
    assert isvc["metadata"]["labels"]["opendatahub.io/dashboard"] == "true"
    assert isvc["metadata"]["labels"]["networking.kserve.io/visibility"] == "exposed"
    ann = isvc["metadata"]["annotations"]
    assert ann["security.opendatahub.io/enable-auth"] == "true" and ann["opendatahub.io/model-type"] == "generative"
    assert ann["haproxy.router.openshift.io/timeout"] == "600s"
    conn = next(s for s in openshift.objects("Secret") if s["metadata"]["name"].startswith("aws-connection-"))
    assert conn["metadata"]["labels"]["opendatahub.io/managed"] == "true"
    assert conn["metadata"]["annotations"]["opendatahub.io/connection-type-ref"] == "s3"


def test_callers_go_through_the_auth_proxy(openshift, synth):
    from infra.compose import build_platform

    exports = {}

    def program(cfg, stack):
        exports.update(build_platform(cfg, stack).exports)

    synth(STACK, program=program)
    runtime = openshift.objects("ServingRuntime")[0]
    envs = {e["name"] for c in runtime["spec"]["containers"] for e in c.get("env", [])}
    assert "VLLM_API_KEY" not in envs, "kube-rbac-proxy checks callers; a vLLM key would reject their tokens"
    assert "apiKeys" not in exports
    role = next(r for r in openshift.objects("Role") if r["metadata"]["name"] == "tsuzumi-view-role")
    assert role["rules"] == [{"apiGroups": ["serving.kserve.io"], "resources": ["inferenceservices"],
                              "resourceNames": ["tsuzumi"], "verbs": ["get"]}]
    token = next(s for s in openshift.objects("Secret") if s["metadata"]["name"] == "tsuzumi-sa-token")
    assert token["type"] == "kubernetes.io/service-account-token"
    assert exports["callerTokenSecrets"] == {"tsuzumi": "tsuzumi-sa-token"}
    policy = next(p for p in openshift.objects("NetworkPolicy") if p["metadata"]["name"] == "tsuzumi-predictor")
    rules = policy["spec"]["ingress"]
    open_ports = [r["ports"][0]["port"] for r in rules if "from" not in r]
    assert open_ports == [AUTH_PROXY_PORT], "only the proxy is reachable from anywhere"
    assert 8080 not in [r["ports"][0]["port"] for r in rules], "the gate's API port only through the proxy"
    metrics = next(r for r in rules if r["ports"][0]["port"] == GateSpec().metrics_port)
    assert metrics["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "openshift-user-workload-monitoring"}}}]


def test_exposing_without_auth_is_refused(synth):
    from infra.config_loading import PlatformConfigError

    with pytest.raises(PlatformConfigError) as err:
        synth(STACK, lambda s: s["serving"]["services"]["tsuzumi"].update(auth=False))
    assert "serving.services.tsuzumi.auth" in str(err.value)


def test_every_object_validates_strictly(openshift):
    from tests.support.schemas import object_errors

    masked = "stringData: '[secret]' is not of type 'object', 'null'"  # secret inputs are masked whole in synthesis
    errors = {f"{m['kind']}/{m['metadata']['name']}": [e for e in object_errors(m) if e != masked] for m in openshift.manifests}
    assert {k: v for k, v in errors.items() if v} == {}


def test_rhoai_bundle_is_mounted_and_never_created(synth):
    result = synth(STACK, lambda s: s["airgap"].update(caBundle={"source": "rhoai"}))
    assert not [c for c in result.objects("ConfigMap") if "trusted-ca" in c["metadata"]["name"]
                or c["metadata"]["name"] == "odh-kserve-custom-ca-bundle"]
    for where, pod in stack_pods(result):
        assert any((v.get("configMap") or {}).get("name") == "odh-kserve-custom-ca-bundle" for v in pod["volumes"]), where
        for c in pod["containers"]:
            env = {e["name"]: e.get("value") for e in c.get("env", [])}
            assert env["SSL_CERT_FILE"] == "/etc/llm-platform/ca/cabundle.crt", (where, c["name"])
