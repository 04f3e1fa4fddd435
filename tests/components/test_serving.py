"""The serving layer as the stacks synthesize it: deployment mode on every InferenceService and
replacement when it changes, controllers before the objects that need them, llm-d values
accepted by the charts' schemas with one source of pool labels, and queries scoped to their
service."""

from __future__ import annotations

import pytest

from components.gpu.placement import PodPlacement
from components.serving import llmd
from components.serving.inference_service import (DEPLOYMENT_MODE_ANNOTATION, MODE_REPLACE_PATH, check_mode,
                                                  isvc_metadata, isvc_options)
from components.serving.kserve import KnativeArgs, knative_serving_spec
from components.common.helm import ChartRef
from components.common.images import ImageRef
from components.observability.promql import check_query
from infra.synth import Synthesis
from tests.conftest import STACKS
from tests.support.schemas import crd_errors, values_errors
from tests.support.server_pod import server_pod

MODELSERVICE_SCHEMA = "llm-d/llm-d-modelservice/values.schema.json"
INFRA_SCHEMA = "llm-d/llm-d-infra/values.schema.json"
RELEASE = "kubernetes:helm.sh/v3:Release"


# ---------------------------------------------------------------------------- helpers

def _closure(s: Synthesis, urn: str) -> set[str]:
    """Every URN ``urn`` waits for, directly or through what it waits for."""
    by_urn = {r.urn: r for r in s.registrations}
    seen: set[str] = set()
    todo = list(by_urn[urn].dependencies)
    while todo:
        dep = todo.pop()
        if dep in seen:
            continue
        seen.add(dep)
        if dep in by_urn:
            todo.extend(by_urn[dep].dependencies)
    return seen


def _release(s: Synthesis, name: str):
    found = [r for r in s.by_type(RELEASE) if r.name == name]
    assert found, f"no Helm release {name!r} in {s.stack}: {[r.name for r in s.by_type(RELEASE)]}"
    return found[0]


def _kind(s: Synthesis, kind: str):
    return [r for r in s.registrations if r.custom and r.type.endswith(f":{kind}")]


def _platform() -> llmd.LlmdPlatform:
    return llmd.LlmdPlatform(
        gateway_name="gw", gateway_namespace="llm", gateway_provider="istio",
        router_chart=ChartRef(name="llm-d-router-gateway", version="v0.10.0", repository="oci://ghcr.io/llm-d/charts"),
        modelservice_chart=ChartRef(name="llm-d-modelservice", version="v0.4.12", repository="https://example.com/charts"),
        epp_image=ImageRef.parse("ghcr.io/llm-d/llm-d-router-endpoint-picker:v0.10.0"),
        routing_sidecar_image=ImageRef.parse("ghcr.io/llm-d/llm-d-routing-sidecar:v0.4.0"),
        prometheus_url="http://prometheus-operated.monitoring.svc:9090", monitoring_release_label="kube-prometheus-stack",
        storage_initializer_image=ImageRef.parse("docker.io/kserve/storage-initializer:v0.20.0"),
    )


POD_FIELDS = ("vllm_args", "placement", "model_uri", "node_sidecars", "api_sidecars")


def _args(**overrides) -> llmd.LlmdModelServiceArgs:
    pod = dict(
        model_uri="s3://models/meta-llama/Llama-3.1-70B-Instruct",
        vllm_args=[f"--model={llmd.MODEL_DIR}", "--served-model-name", "llama-3.1-70b", "--port=8200",
                   "--tensor-parallel-size=2", "--enable-lora"],
        placement=PodPlacement(resources={"nvidia.com/gpu": "2"}, node_selector={"llm-platform.io/pool": "h100-full"},
                               tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]),
    )
    pod.update({k: overrides.pop(k) for k in POD_FIELDS if k in overrides})
    base = dict(platform=_platform(), service="llama-70b", namespace="llm", served_name="llama-3.1-70b",
                server=server_pod(port=8200, **pod), tensor_parallel=2, replicas=2)
    base.update(overrides)
    return llmd.LlmdModelServiceArgs(**base)


# ---------------------------------------------------------------------------- deployment mode

@pytest.mark.parametrize("stack", STACKS)
def test_every_inference_service_carries_the_stack_mode_and_is_replaced_when_it_changes(stack, synthesized):
    s = synthesized(stack)
    isvcs = _kind(s, "InferenceService")
    if s.config.serving.services and any(v.frontend == "kserve" for v in s.config.serving.services.values()):
        assert isvcs, f"{stack} has kserve services but no InferenceService"
    for r in isvcs:
        annotations = r.inputs["metadata"]["annotations"]
        assert annotations[DEPLOYMENT_MODE_ANNOTATION] == s.config.serving.kserve.mode
        assert MODE_REPLACE_PATH in r.replace_on_changes, r.replace_on_changes
        assert r.delete_before_replace, "same Kubernetes name: the old InferenceService must be deleted first"


def test_switching_dev_to_standard_changes_annotation_controller_and_drops_knative(synth, synthesized):
    knative = synthesized("dev")
    assert _kind(knative, "KnativeServing")
    assert _release(knative, "kserve-controller").inputs["values"]["kserve"]["controller"]["deploymentMode"] == "Knative"

    def to_standard(sections):
        sections["serving"]["kserve"]["mode"] = "Standard"
        for svc in sections["serving"]["services"].values():
            svc["replicas"]["min"] = 1  # scale to zero is Knative-only

    standard = synth("dev", to_standard)
    assert not _kind(standard, "KnativeServing")
    assert "kserve-knative-operator" not in {r.name for r in standard.by_type(RELEASE)}
    controller = _release(standard, "kserve-controller").inputs["values"]["kserve"]["controller"]
    assert controller["deploymentMode"] == "Standard"
    assert controller["gateway"] == {"disableIngressCreation": True}, "no Istio on dev: no Ingress per InferenceService"
    before = {r.name: r.inputs["metadata"]["annotations"][DEPLOYMENT_MODE_ANNOTATION] for r in _kind(knative, "InferenceService")}
    after = {r.name: r.inputs["metadata"]["annotations"][DEPLOYMENT_MODE_ANNOTATION] for r in _kind(standard, "InferenceService")}
    assert before and set(before.values()) == {"Knative"} and set(after.values()) == {"Standard"}
    assert before.keys() == after.keys(), "same resources: the engine sees an annotation change and replaces them"


def test_isvc_metadata_refuses_a_contradicting_or_legacy_mode():
    assert isvc_metadata("a", "llm", "Knative", {})["annotations"] == {DEPLOYMENT_MODE_ANNOTATION: "Knative"}
    with pytest.raises(ValueError, match="contradicts"):
        isvc_metadata("a", "llm", "Standard", {}, {DEPLOYMENT_MODE_ANNOTATION: "Knative"})
    with pytest.raises(ValueError, match="deprecated alias; use 'Standard'"):
        check_mode("RawDeployment")
    with pytest.raises(ValueError, match="Knative mode scales"):
        isvc_metadata("a", "llm", "Knative", {}, {"serving.kserve.io/autoscalerClass": "keda"})


def test_isvc_options_keep_caller_options():
    import pulumi

    opts = isvc_options(pulumi.ResourceOptions(replace_on_changes=["spec.predictor"], protect=True))
    assert opts.replace_on_changes == ["spec.predictor", MODE_REPLACE_PATH]
    assert opts.delete_before_replace and opts.protect


# ---------------------------------------------------------------------------- order

def _installs_kserve(stack: str) -> bool:
    from infra.config_loading import load_stack

    return load_stack(stack).serving.kserve.install


@pytest.mark.parametrize("stack", [s for s in STACKS if _installs_kserve(s)])
def test_kserve_controller_waits_for_crds_cert_manager_and_knative(stack, synthesized):
    s = synthesized(stack)
    controller = _release(s, "kserve-controller")
    deps = _closure(s, controller.urn)
    assert _release(s, "kserve-crd").urn in deps
    if s.config.serving.kserve.cert_manager.install:
        assert _release(s, "kserve-cert-manager").urn in deps
    if s.config.serving.kserve.mode == "Knative":
        serving = _kind(s, "KnativeServing")[0]
        assert serving.urn in deps
        assert serving.inputs["metadata"]["annotations"]["pulumi.com/waitFor"] == "condition=Ready", \
            "depending on the CR alone would not wait for Knative to be installed"
        assert _release(s, "kserve-knative-operator").urn in _closure(s, serving.urn)


@pytest.mark.parametrize("stack", [s for s in STACKS if s != "local"])
def test_workloads_wait_for_the_controllers_that_serve_their_apis(stack, synthesized):
    s = synthesized(stack)
    releases = {r.name: r.urn for r in s.by_type(RELEASE)}
    for r in _kind(s, "InferenceService") + _kind(s, "ServingRuntime"):
        if s.config.serving.kserve.install:
            deps = _closure(s, r.urn)
            assert {releases["kserve-crd"], releases["kserve-controller"]} <= deps, r.name
    for r in _kind(s, "ScaledObject"):
        if s.config.serving.keda.install:
            assert releases["keda"] in _closure(s, r.urn), r.name
    for r in _kind(s, "LeaderWorkerSet"):
        if s.config.serving.lws.install:
            assert releases["lws"] in _closure(s, r.urn), r.name
    for r in _kind(s, "HTTPRoute"):
        deps = _closure(s, r.urn)
        assert releases["llm-d-infra"] in deps, "the Gateway must exist first"
        assert any(n.endswith("-pool") and u in deps for n, u in releases.items()), "the InferencePool must exist first"
    for kind in ("PodMonitor", "PrometheusRule"):
        for r in _kind(s, kind):
            if s.config.observability.install_prometheus_stack:
                assert releases[s.config.observability.release_label] in _closure(s, r.urn), r.name


# ---------------------------------------------------------------------------- llm-d

def test_prod_llmd_releases_validate_against_chart_schemas_and_share_pool_labels(synthesized):
    s = synthesized("prod")
    infra = _release(s, "llm-d-infra")
    assert values_errors(infra.inputs["values"], INFRA_SCHEMA) == []
    services = [n for n, v in s.config.serving.services.items() if v.frontend == "llm-d"]
    assert services == ["llama-70b"]
    ms = _release(s, "llama-70b-ms").inputs["values"]
    router = _release(s, "llama-70b-pool").inputs["values"]
    assert values_errors(ms, MODELSERVICE_SCHEMA) == []
    labels = llmd.pool_selector_labels("llama-70b")
    assert ms["modelArtifacts"]["labels"] == labels == router["router"]["modelServers"]["matchLabels"]
    assert {"number": llmd.SERVICE_PORT} in router["router"]["modelServers"]["targetPorts"]
    assert ms["routing"]["servicePort"] == llmd.SERVICE_PORT
    assert router["router"]["epp"]["image"]["tag"] == "v0.10.0", "the chart's default EPP tag is 'main'"
    assert router["provider"] == {"name": "istio"}, "Istio needs the chart's DestinationRule to reach the EPP"
    route = s.objects("HTTPRoute")[0]
    backend = route["spec"]["rules"][0]["backendRefs"][0]
    assert (backend["kind"], backend["name"]) == ("InferencePool", "llama-70b-pool")
    parent = route["spec"]["parentRefs"][0]
    assert parent["name"] == infra.inputs["values"]["gateway"]["fullnameOverride"]
    assert crd_errors(route) == []


def test_modelservice_values_put_mig_and_dra_gpus_where_the_chart_will_not_add_whole_gpus():
    mig = llmd.modelservice_values(_args(placement=PodPlacement(
        resources={"nvidia.com/mig-3g.40gb": "1"}, node_selector={}, tolerations=[]), tensor_parallel=1,
        vllm_args=[f"--model={llmd.MODEL_DIR}", "--served-model-name", "llama-3.1-70b", "--port=8200"]))
    assert mig["accelerator"]["resources"]["nvidia"] == "nvidia.com/mig-3g.40gb"
    assert mig["decode"]["containers"][0]["resources"]["limits"]["nvidia.com/mig-3g.40gb"] == "1"
    dra = llmd.modelservice_values(_args(placement=PodPlacement(
        resources={}, node_selector={}, tolerations=[], resource_claims=[{"name": "gpu", "resourceClaimTemplateName": "h100-80g"}],
        container_claims=[{"name": "gpu"}])))
    assert dra["accelerator"]["resources"]["nvidia"] == "", "empty resource name: the chart adds no nvidia.com/gpu"
    assert dra["decode"]["resourceClaims"] == [{"name": "gpu", "resourceClaimTemplateName": "h100-80g"}]
    assert dra["decode"]["containers"][0]["resources"]["claims"] == [{"name": "gpu"}]
    for values in (mig, dra):
        assert values_errors(values, MODELSERVICE_SCHEMA) == []


def test_model_is_always_at_model_dir_whatever_the_uri():
    s3 = llmd.modelservice_values(_args())
    init = s3["decode"]["initContainers"][0]
    assert init["args"] == ["s3://models/meta-llama/Llama-3.1-70B-Instruct", llmd.MODEL_DIR]
    pvc = llmd.modelservice_values(_args(model_uri="pvc://weights/Llama-3.1-70B-Instruct"))
    mounts = [m for m in pvc["decode"]["containers"][0]["volumeMounts"] if m["mountPath"] == llmd.MODEL_DIR]
    assert mounts == [{"name": "model-storage", "mountPath": llmd.MODEL_DIR, "readOnly": True, "subPath": "Llama-3.1-70B-Instruct"}]
    assert pvc["decode"]["initContainers"] == []
    claims = [v["persistentVolumeClaim"] for v in pvc["decode"]["volumes"] if "persistentVolumeClaim" in v]
    assert claims == [{"claimName": "weights", "readOnly": True}]


def test_prefill_decode_disaggregation_adds_prefill_pods_on_the_service_port():
    values = llmd.modelservice_values(_args(prefill_replicas=2, prefill_vllm_args=[
        f"--model={llmd.MODEL_DIR}", "--served-model-name", "llama-3.1-70b", "--port=8000", "--tensor-parallel-size=2"]))
    assert values["prefill"]["create"] and values["prefill"]["replicas"] == 2
    assert values["prefill"]["containers"][0]["ports"][0]["containerPort"] == llmd.SERVICE_PORT
    assert values["decode"]["containers"][0]["ports"][0]["containerPort"] == llmd.PROXY_TARGET_PORT
    assert values["routing"]["proxy"]["enabled"]
    assert values_errors(values, MODELSERVICE_SCHEMA) == []


@pytest.mark.parametrize("change, message", [
    (dict(vllm_args=["--model=/models/x", "--served-model-name", "llama-3.1-70b", "--port=8200", "--tensor-parallel-size=2"]), "--model must be"),
    (dict(vllm_args=[f"--model={llmd.MODEL_DIR}", "--served-model-name", "llama-3.1-70b", "--tensor-parallel-size=2"]), "--port must be 8200"),
    (dict(vllm_args=[f"--model={llmd.MODEL_DIR}", "--served-model-name", "other", "--port=8200", "--tensor-parallel-size=2"]), "--served-model-name must include"),
    (dict(tensor_parallel=4), "disagrees with tensor_parallel=4"),
    (dict(model_uri="hf://meta-llama/Llama-3.1-70B"), "must be pvc://"),
    (dict(prefill_replicas=1), "needs prefill_vllm_args"),
    (dict(scaling=llmd.LlmdScaling(min_replicas=0, max_replicas=2)), "1 <= min_replicas"),
])
def test_model_service_args_are_refused_before_anything_deploys(change, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        llmd.modelservice_values(_args(**change))


def test_two_pools_in_one_namespace_do_not_share_chart_owned_objects():
    a, b = llmd.router_values(_args()), llmd.router_values(_args(service="qwen-7b"))
    secret = lambda v: v["router"]["monitoring"]["prometheus"]["auth"]["secretName"]
    assert secret(a) != secret(b), "the EPP metrics token Secret is created by each release"
    assert a["router"]["monitoring"]["prometheus"]["extraLabels"] == {"release": "kube-prometheus-stack"}
    assert a["router"]["modelServers"]["matchLabels"] != b["router"]["modelServers"]["matchLabels"]


def test_service_url_names_the_proxy_service_the_gateway_implementation_creates():
    assert _platform().service_url("llama-70b") == "http://gw-istio.llm.svc.cluster.local/llama-70b"
    import dataclasses
    agw = dataclasses.replace(_platform(), gateway_provider="agentgateway")
    assert agw.service_url("llama-70b") == "http://gw.llm.svc.cluster.local/llama-70b"
    route = llmd.http_route_spec("llama-70b", _platform())
    # Only the OpenAI API is routed (the gate also serves /metrics to the endpoint picker, in-cluster),
    # and a client's fairness header never reaches the endpoint picker.
    rule = route["rules"][0]
    assert rule["matches"][0]["path"]["value"] == "/llama-70b/v1/"
    assert rule["filters"][0]["urlRewrite"]["path"]["replacePrefixMatch"] == "/v1/"
    assert rule["filters"][1] == {"type": "RequestHeaderModifier",
                                  "requestHeaderModifier": {"remove": ["x-llm-d-inference-fairness-id"]}}


def test_platform_pull_secrets_reach_model_servers_once():
    import dataclasses
    platform = dataclasses.replace(_platform(), image_pull_secrets=("internal-registry",))
    args = _args(platform=platform, image_pull_secrets=["internal-registry", "team"])
    assert llmd.modelservice_values(args)["decode"]["imagePullSecrets"] == [{"name": "internal-registry"}, {"name": "team"}]
    # llm-d-router-gateway v0.10.0 has no pull-secret value (its rendered templates read none).
    assert "imagePullSecrets" not in llmd.router_values(args)["router"]


def test_infra_values_validate_for_every_provider():
    for provider in ("istio", "agentgateway", "kgateway", "gke-l7-regional-external-managed"):
        args = llmd.LlmdArgs(namespace="llm", namespace_name="llm", provider=provider,
                             infra_chart=ChartRef(name="llm-d-infra", version="v1.4.0", repository="https://example.com"),
                             router_chart=_platform().router_chart, modelservice_chart=_platform().modelservice_chart,
                             epp_image=_platform().epp_image, routing_sidecar_image=_platform().routing_sidecar_image,
                             storage_initializer_image=_platform().storage_initializer_image, prometheus_url="http://p:9090")
        assert values_errors(llmd.infra_values(args), INFRA_SCHEMA) == []


# ---------------------------------------------------------------------------- Knative

@pytest.mark.parametrize("networking, ingress_class, ingress_key", [
    ("kourier", "kourier.ingress.networking.knative.dev", "kourier"),
    ("istio", "istio.ingress.networking.knative.dev", "istio"),
])
def test_knative_serving_networking_layer(networking, ingress_class, ingress_key):
    spec = knative_serving_spec(KnativeArgs(version="1.21.1", domain="dev.example.com", networking=networking,
                                            operator_chart=ChartRef(name="knative-operator", version="v1.21.1",
                                                                    repository="https://knative.github.io/operator")))
    assert spec["config"]["network"]["ingress-class"] == ingress_class
    assert spec["ingress"][ingress_key]["enabled"] is True
    if networking == "kourier":
        assert spec["ingress"]["kourier"]["service-type"] == "ClusterIP", "no cloud load balancer unless asked"
    assert spec["config"]["domain"] == {"dev.example.com": ""}
    obj = {"apiVersion": "operator.knative.dev/v1beta1", "kind": "KnativeServing",
           "metadata": {"name": "knative-serving", "namespace": "knative-serving"}, "spec": spec}
    assert crd_errors(obj) == []


# ---------------------------------------------------------------------------- scoped queries

def _service_of(s: Synthesis, obj) -> str:
    return obj["metadata"]["labels"]["app.kubernetes.io/instance"]


@pytest.mark.parametrize("stack", STACKS)
def test_every_scaling_query_is_scoped_to_its_service_and_single_series(stack, synthesized):
    s = synthesized(stack)
    checked = 0
    for obj in s.objects("ScaledObject"):
        svc = _service_of(s, obj)
        for trigger in obj["spec"]["triggers"]:
            if trigger["type"] == "prometheus":
                assert check_query(trigger["metadata"]["query"], obj["metadata"]["namespace"], s.config.served_name(svc)) == []
                checked += 1
    for obj in s.objects("InferenceService"):
        svc = obj["metadata"]["name"]
        for metric in (obj["spec"]["predictor"].get("autoScaling") or {}).get("metrics", []):
            if metric["type"] == "External":
                query = metric["external"]["metric"]["query"]
                assert check_query(query, obj["metadata"]["namespace"], s.config.served_name(svc)) == [], query
                checked += 1
    scaled = [n for n, v in s.config.serving.services.items() if v.autoscaling.enabled]
    assert checked >= len(scaled), f"{stack}: {len(scaled)} autoscaled services but {checked} queries found"


# ---------------------------------------------------------------------------- chart sources

def test_every_serving_and_monitoring_release_takes_its_chart_from_config(synth):
    """Point every chart of the layer at a local path (as an air-gapped team with vendored charts
    would) and every release must follow: no chart source is hard-coded."""
    charts = {
        ("serving", "kserve", "crdChart"): "kserve-crd", ("serving", "kserve", "chart"): "kserve-resources",
        ("serving", "kserve", "certManager", "chart"): "cert-manager", ("serving", "keda", "chart"): "keda",
        ("serving", "lws", "chart"): "lws", ("serving", "llmd", "infraChart"): "llm-d-infra",
        ("serving", "llmd", "routerChart"): "llm-d-router-gateway",
        ("serving", "llmd", "modelserviceChart"): "llm-d-modelservice", ("observability", "chart"): "kube-prometheus-stack",
    }

    def vendored(sections):
        for path, chart_name in charts.items():
            node = sections
            for key in path[:-1]:
                node = node.setdefault(key, {})
            node[path[-1]] = {"name": chart_name, "version": "1.0.0", "path": f"vendor/charts/{chart_name}"}

    s = synth("prod", vendored)
    by_name = {r.name: r.inputs for r in s.by_type(RELEASE)}
    expected = {"kserve-crd": "kserve-crd", "kserve-controller": "kserve-resources", "kserve-cert-manager": "cert-manager",
                "keda": "keda", "lws": "lws", "llm-d-infra": "llm-d-infra", "llama-70b-pool": "llm-d-router-gateway",
                "llama-70b-ms": "llm-d-modelservice", "kube-prometheus-stack": "kube-prometheus-stack"}
    for release, chart_name in expected.items():
        assert by_name[release]["chart"].endswith(f"vendor/charts/{chart_name}"), (release, by_name[release]["chart"])


def test_model_server_pods_run_as_a_fixed_non_root_user():
    """The upstream vLLM image runs as root: runAsNonRoot alone would stop the container."""
    values = llmd.modelservice_values(_args())
    decode = values["decode"]
    assert decode["podSecurityContext"]["runAsUser"] == decode["podSecurityContext"]["fsGroup"] == 1000
    for container in [*decode["containers"], *decode["initContainers"]]:
        ctx = container["securityContext"]
        assert ctx["runAsNonRoot"] and ctx["runAsUser"] == 1000 and ctx["allowPrivilegeEscalation"] is False
        assert ctx["capabilities"] == {"drop": ["ALL"]}


@pytest.mark.parametrize("stack", STACKS)
def test_scale_to_zero_only_in_knative_mode(stack, synthesized):
    s = synthesized(stack)
    zero = [o["metadata"]["name"] for o in s.objects("InferenceService") if o["spec"]["predictor"].get("minReplicas") == 0]
    for obj in s.objects("ScaledObject"):
        assert obj["spec"]["minReplicaCount"] >= 1, "Standard mode (KEDA) never scales to zero"
    if not zero:
        return
    assert s.config.serving.kserve.mode == "Knative", f"{stack}: {zero} scale to zero outside Knative mode"
    if s.config.serving.kserve.install:
        [serving] = s.objects("KnativeServing")
        assert serving["spec"]["config"]["autoscaler"]["enable-scale-to-zero"] == "true"


@pytest.mark.parametrize("stack", STACKS)
def test_knative_allows_every_pod_field_the_inference_services_use(stack, synthesized):
    """Knative's webhook refuses nodeSelector, tolerations, affinity and a pod securityContext
    unless their feature flags are on: a GPU service would never become ready."""
    s = synthesized(stack)
    if s.config.serving.kserve.mode != "Knative" or not s.config.serving.kserve.install:
        return
    [serving] = s.objects("KnativeServing")
    features = serving["spec"]["config"]["features"]
    flags = {"nodeSelector": "kubernetes.podspec-nodeselector", "tolerations": "kubernetes.podspec-tolerations",
             "affinity": "kubernetes.podspec-affinity", "securityContext": "kubernetes.podspec-securitycontext"}
    used = set()
    for isvc in s.objects("InferenceService"):
        used |= {field for field in flags if isvc["spec"]["predictor"].get(field)}
    assert {"nodeSelector", "tolerations", "securityContext"} <= used, "dev's GPU service uses them: the test must see them"
    for field in used:
        assert features.get(flags[field]) == "enabled", f"{field} is used but {flags[field]} is not enabled"
