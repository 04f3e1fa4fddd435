"""VllmLoraService, ObjectStore and the models layer, synthesized from the real stacks.

Acceptance: adapters roll out without touching any pod spec (dynamic) while static mode
visibly restarts pods; every emitted vLLM argument list passes the pinned argument spec; every
custom resource validates strictly against the upstream CRDs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from components.models.vllm_args import check_args
from infra.mocks import SECRET_MASK
from tests.support.adapter_edits import adapter_edits
from tests.support.schemas import core_errors, crd_errors, has_crd

REPO = Path(__file__).resolve().parents[2]

STACKS = ["local", "dev", "staging", "prod", "airgap"]
ADAPTER_TYPE = "pulumi-python:dynamic/models:AdapterVersion"
POD_SPEC_TYPES = (
    "kubernetes:serving.kserve.io/v1beta1:InferenceService",
    "kubernetes:serving.kserve.io/v1alpha1:ServingRuntime",
    "kubernetes:apps/v1:Deployment",
    "kubernetes:helm.sh/v3:Release",
)


def _by_urn(synthesis) -> dict[str, Any]:
    return {r.urn: r for r in synthesis.registrations}


def _changes(before, after) -> tuple[set[str], set[str], set[str]]:
    """(added, removed, changed) URNs between two syntheses (inputs compared, secrets masked)."""
    a, b = _by_urn(before), _by_urn(after)
    added = set(b) - set(a)
    removed = set(a) - set(b)
    changed = {u for u in set(a) & set(b) if a[u].inputs != b[u].inputs}
    return added, removed, changed


def _add_adapter(sections, service_base="qwen2.5-7b", **extra):
    sections["models"]["adapters"].append({
        "name": "sql-v2", "baseModel": service_base, "version": "v2026-12-01",
        "sourceDir": "adapters/qwen2.5-7b/sql/v2026-11-01", "rank": 8, **extra,
    })


def _types(synthesis, urns) -> set[str]:
    reg = _by_urn(synthesis)
    return {reg[u].type for u in urns}


def _names(synthesis, urns) -> set[str]:
    reg = _by_urn(synthesis)
    return {(reg[u].inputs.get("metadata") or {}).get("name", reg[u].name) for u in urns}


# ---------------------------------------------------------------- acceptance 1: zero-restart rollout


def test_dynamic_adding_an_adapter_changes_only_the_adapter_and_the_registry(synth, synthesized):
    before = synthesized("local")
    after = synth("local", lambda s: _add_adapter(s))
    added, removed, changed = _changes(before, after)
    assert not removed
    assert _types(after, added) == {ADAPTER_TYPE}
    assert _types(after, changed) == {"kubernetes:core/v1:ConfigMap"}
    assert _names(after, changed) == {"qwen-7b-lora-registry"}
    registry = next(m for m in after.objects("ConfigMap") if m["metadata"]["name"] == "qwen-7b-lora-registry")
    entry = json.loads(registry["data"]["registry.json"])["qwen2.5-7b:sql-v2"]
    assert entry["prefix"] == "adapters/qwen2.5-7b/sql-v2/v2026-12-01/"
    assert set(entry["files"]) == {"adapter_config.json", "adapter_model.safetensors"}, "content pinned by digest"
    assert all(len(d) == 64 for d in entry["files"].values())
    assert not _types(after, changed | added) & set(POD_SPEC_TYPES)


def test_dynamic_bumping_and_removing_adapters_touch_no_pod_spec(synth, synthesized):
    before = synthesized("local")

    def bump(s):
        s["models"]["adapters"][0]["version"] = "v2026-12-24"

    def remove(s):
        removed = s["models"]["adapters"].pop(1)
        # A grant naming the removed adapter would be a config error: the tenant loses it too.
        for tenant in s.get("tenants", {}).values():
            tenant["grants"] = [g for g in tenant["grants"] if not g.endswith(":" + removed["name"])]

    for edit in (bump, remove):
        after = synth("local", edit)
        added, removed, changed = _changes(before, after)
        assert _types(after, changed) == {"kubernetes:core/v1:ConfigMap"}, edit.__name__
        # The registry, and the gate's grant and model-list maps when a grant covered the adapter.
        assert "qwen-7b-lora-registry" in _names(after, changed) <= {"qwen-7b-lora-registry", "qwen-7b-gate"}
        assert _types(before, removed) <= {ADAPTER_TYPE} and _types(after, added) <= {ADAPTER_TYPE}


def test_static_mode_adding_an_adapter_changes_the_inference_service_args(synth):
    def static(s):
        s["serving"]["services"]["qwen-7b"]["adapterMode"] = "static"

    before = synth("local", static)
    after = synth("local", lambda s: (static(s), _add_adapter(s)))
    _, _, changed = _changes(before, after)
    assert "kubernetes:serving.kserve.io/v1beta1:InferenceService" in _types(after, changed)
    isvc_before = before.objects("InferenceService")[0]["spec"]["predictor"]["model"]["args"]
    isvc_after = after.objects("InferenceService")[0]["spec"]["predictor"]["model"]["args"]
    assert isvc_before[0] == "--lora-modules" and len(isvc_after) == len(isvc_before) + 1
    assert '{"name":"qwen2.5-7b:sql-v2","path":"/mnt/lora-cache/qwen2.5-7b:sql-v2"}' in isvc_after
    # Static pods fetch adapters once (init container) and run no sync sidecar or resolver.
    predictor = after.objects("InferenceService")[0]["spec"]["predictor"]
    assert [c["name"] for c in predictor["initContainers"]] == ["lora-fetch"]
    runtime = after.objects("ServingRuntime")[0]["spec"]
    assert [c["name"] for c in runtime["containers"]] == ["kserve-container", "gate"]
    assert "VLLM_PLUGINS" not in {e["name"] for e in runtime["containers"][0]["env"]}


# ---------------------------------------------------------------- acceptance 2: vLLM args vs argspec


def _vllm_arg_lists(synthesis) -> dict[str, list[str]]:
    """Every vLLM argument list the stack emits: runtime+isvc per InferenceService, llm-d values."""
    runtimes = {m["metadata"]["name"]: m for m in synthesis.objects("ServingRuntime")}
    found = {}
    for isvc in synthesis.objects("InferenceService"):
        model = isvc["spec"]["predictor"]["model"]
        runtime = runtimes[model["runtime"]]
        main = next(c for c in runtime["spec"]["containers"] if c["name"] == "kserve-container")
        found[f"isvc/{isvc['metadata']['name']}"] = list(main["args"]) + list(model.get("args", []))

    def walk(value, path):
        if isinstance(value, dict):
            if value.get("name") == "vllm" and "args" in value and "command" in value:
                found[path] = list(value["args"])
            for k, v in value.items():
                walk(v, f"{path}.{k}")
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{path}[{i}]")

    for r in synthesis.by_type("kubernetes:helm.sh/v3:Release"):
        walk(r.inputs.get("values") or {}, f"release/{r.name}")
    return found


@pytest.mark.parametrize("stack", STACKS)
def test_every_emitted_vllm_argument_list_passes_the_pinned_argspec(synthesized, stack):
    lists = _vllm_arg_lists(synthesized(stack))
    services = synthesized(stack).config.serving.services
    assert len(lists) >= len(services) - (1 if stack == "local" else 0) and lists
    for where, args in lists.items():
        assert check_args(args, allow_duplicates=False) == [], where
        assert "--api-key" not in " ".join(args), f"{where}: the API key must come from VLLM_API_KEY, never an argument"


def test_prod_emits_llmd_model_service_args_too(synthesized):
    lists = _vllm_arg_lists(synthesized("prod"))
    assert any(k.startswith("release/") for k in lists), sorted(lists)


# ---------------------------------------------------------------- acceptance 3: schemas


def _unmasked(obj: dict) -> dict:
    """Secret payloads are masked by the recorder; validate their shape with placeholders."""
    obj = json.loads(json.dumps(obj))
    for key in ("stringData", "data"):
        if obj.get(key) == SECRET_MASK:
            obj[key] = {"MASKED": "x"}
    return obj


MY_KINDS = {"InferenceService", "ServingRuntime", "ConfigMap", "Secret", "ServiceAccount", "Deployment", "Service",
            "Job", "PersistentVolumeClaim"}


@pytest.mark.parametrize("stack", STACKS)
def test_models_layer_objects_validate_strictly(synthesized, stack):
    checked = 0
    for m in synthesized(stack).manifests:
        if m["kind"] not in MY_KINDS:
            continue
        obj = _unmasked(m)
        errors = crd_errors(obj) if has_crd(obj["apiVersion"], obj["kind"]) else core_errors(obj)
        assert errors == [], f"{m['kind']}/{m['metadata'].get('name')}: {errors}"
        checked += 1
    assert checked >= 10


# ---------------------------------------------------------------- behaviour of the service


def _isvc(synthesis, name):
    return next(m for m in synthesis.objects("InferenceService") if m["metadata"]["name"] == name)


def _runtime(synthesis, name):
    return next(m for m in synthesis.objects("ServingRuntime") if m["metadata"]["name"] == f"{name}-vllm")


def test_dynamic_loading_wiring(synthesized):
    s = synthesized("local")
    rt = _runtime(s, "qwen-7b")["spec"]
    main, sync, gate = rt["containers"]
    assert gate["name"] == "gate"
    env = {e["name"]: e.get("value") for e in main["env"]}
    assert env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] == "True"
    assert env["VLLM_PLUGINS"] == "", "no resolver: the sidecar loads each version from its own path"
    assert "VLLM_LORA_RESOLVER_CACHE_DIR" not in env
    # The sidecar watches its registry through the API, gates readiness and serves metrics.
    sync_env = {e["name"]: e for e in sync["env"]}
    assert sync_env["REGISTRY_SOURCE"]["value"] == "kube" and sync_env["REGISTRY_CONFIGMAP"]["value"] == "qwen-7b-lora-registry"
    assert sync_env["POD_NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert sync["readinessProbe"]["httpGet"] == {"path": "/ready", "port": 9400}
    assert sync["ports"] == [{"name": "lora-sync", "containerPort": 9400, "protocol": "TCP"}]
    (role,) = [r for r in s.objects("Role") if r["metadata"]["name"] == "qwen-7b-lora-registry-reader"]
    assert role["rules"] == [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["qwen-7b-lora-registry"],
                              "verbs": ["get", "list", "watch"]}]
    (binding,) = [b for b in s.objects("RoleBinding") if b["metadata"]["name"] == "qwen-7b-lora-registry-reader"]
    predictor = _isvc(s, "qwen-7b")["spec"]["predictor"]
    assert binding["subjects"][0]["name"] == predictor["serviceAccountName"]
    assert env["HF_HUB_OFFLINE"] == "1"
    assert "--model=/mnt/models" in main["args"] and "--enable-lora" in main["args"]
    assert main["args"][main["args"].index("--served-model-name") + 1] == "qwen2.5-7b"
    assert main["command"] == ["python3", "-m", "vllm.entrypoints.openai.api_server"]
    assert rt["supportedModelFormats"][0]["name"] == "vLLM"  # the native runtime, not huggingface
    # The registry is a whole-ConfigMap volume: no subPath, no env from it (neither would refresh).
    volumes = {v["name"]: v for v in rt["volumes"]}
    assert volumes["lora-registry"]["configMap"]["name"] == "qwen-7b-lora-registry"
    for c in rt["containers"]:
        for mount in c.get("volumeMounts", []):
            assert "subPath" not in mount
        assert all("configMapKeyRef" not in (e.get("valueFrom") or {}) for e in c.get("env", []))
        assert "envFrom" not in c
    assert sync["name"] == "lora-sync" and sync["image"] == main["image"]
    assert {m["name"] for m in sync["volumeMounts"]} == {"lora-cache", "lora-registry", "lora-sync"}


def test_sync_script_configmap_does_not_depend_on_adapters(synth, synthesized):
    before = next(m for m in synthesized("local").objects("ConfigMap") if m["metadata"]["name"] == "qwen-7b-lora-sync")
    # (the tenants go too: their grants would name adapters that no longer exist)
    after = next(m for m in synth("local", lambda s: (s["models"]["adapters"].clear(), s.pop("tenants"))).objects("ConfigMap")
                 if m["metadata"]["name"] == "qwen-7b-lora-sync")
    assert before == after


@pytest.mark.parametrize("stack, service, resource, claim", [
    ("local", "qwen-7b", "nvidia.com/gpu", None),            # time-sliced L4
    ("staging", "llama-8b", "nvidia.com/mig-3g.40gb", None),  # MIG mixed
    ("staging", "llama-70b", None, "h100-80g"),               # DRA claim
    ("airgap", "llama-8b", "nvidia.com/mig-3g.40gb", None),
])
def test_gpu_request_matches_the_pool_sharing_mode(synthesized, stack, service, resource, claim):
    predictor = _isvc(synthesized(stack), service)["spec"]["predictor"]
    res = predictor["model"]["resources"]
    if resource:
        assert res["limits"][resource] == "1" and res["requests"][resource] == "1"
    if claim:
        assert predictor["resourceClaims"] == [{"name": "gpu", "resourceClaimTemplateName": claim}]
        assert res["claims"] == [{"name": "gpu"}]
        assert not any(k.startswith("nvidia.com/") for k in res["limits"])
    assert predictor["nodeSelector"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in predictor.get("tolerations", [])


def test_keda_autoscaling_is_scoped_to_the_service(synthesized):
    isvc = _isvc(synthesized("staging"), "llama-8b")
    assert isvc["metadata"]["annotations"]["serving.kserve.io/autoscalerClass"] == "keda"
    metric = isvc["spec"]["predictor"]["autoScaling"]["metrics"][0]
    assert metric["type"] == "External"
    assert metric["external"]["metric"]["query"] == \
        'sum(vllm:num_requests_waiting{namespace="llm",model_name=~"llama-3\\\\.1-8b(:.*)?"})'
    assert metric["external"]["target"] == {"type": "Value", "value": "4"}
    assert isvc["spec"]["predictor"]["minReplicas"] == 1 and isvc["spec"]["predictor"]["maxReplicas"] == 4


def test_knative_stack_scales_to_zero_without_keda(synthesized):
    isvc = _isvc(synthesized("dev"), "llama-8b")
    assert isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Knative"
    assert "serving.kserve.io/autoscalerClass" not in isvc["metadata"]["annotations"]
    assert isvc["spec"]["predictor"]["minReplicas"] == 0 and "autoScaling" not in isvc["spec"]["predictor"]


def test_base_model_sources(synthesized):
    local = _isvc(synthesized("local"), "qwen-7b")["spec"]["predictor"]
    assert local["model"]["storageUri"] == "pvc://qwen2-5-7b-weights"
    airgap = _isvc(synthesized("airgap"), "llama-8b")["spec"]["predictor"]
    assert airgap["model"]["storageUri"] == "pvc://llama-3-1-8b-weights/Llama-3.1-8B-Instruct"
    staging = _isvc(synthesized("staging"), "llama-8b")["spec"]["predictor"]
    assert staging["model"]["storageUri"] == "s3://models/meta-llama/Llama-3.1-8B-Instruct"
    assert staging["serviceAccountName"] == "minio-kserve-s3"
    pvc = next(r for r in synthesized("local").by_type("kubernetes:core/v1:PersistentVolumeClaim")
               if r.inputs["metadata"]["name"] == "qwen2-5-7b-weights")
    assert pvc.protect and pvc.retain_on_delete


def test_auth_token_is_a_secret_env_never_an_argument(synthesized):
    s = synthesized("airgap")
    main = _runtime(s, "llama-8b")["spec"]["containers"][0]
    key = next(e for e in main["env"] if e["name"] == "VLLM_API_KEY")
    assert key["valueFrom"]["secretKeyRef"] == {"name": "llama-8b-api-key", "key": "VLLM_API_KEY"}
    secret = next(r for r in s.by_type("kubernetes:core/v1:Secret") if r.inputs["metadata"]["name"] == "llama-8b-api-key")
    assert secret.inputs["stringData"] == SECRET_MASK
    assert not any(e["name"] == "VLLM_API_KEY" for e in _runtime(synthesized("local"), "qwen-7b")["spec"]["containers"][0]["env"])


def test_pods_run_non_root_without_privilege_escalation(synthesized):
    s = synthesized("staging")
    predictor = _isvc(s, "llama-8b")["spec"]["predictor"]
    assert predictor["securityContext"]["runAsNonRoot"] is True and predictor["securityContext"]["fsGroup"] == 1000
    for c in _runtime(s, "llama-8b")["spec"]["containers"]:
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False and sc["runAsNonRoot"] is True
        assert sc["capabilities"] == {"drop": ["ALL"]} and sc["seccompProfile"] == {"type": "RuntimeDefault"}


# ---------------------------------------------------------------- object store


def test_minio_server_is_protected_and_restricted(synthesized):
    s = synthesized("prod")
    pvc = next(r for r in s.by_type("kubernetes:core/v1:PersistentVolumeClaim") if r.inputs["metadata"]["name"] == "minio-data")
    assert pvc.protect and pvc.retain_on_delete
    assert pvc.inputs["spec"]["resources"]["requests"]["storage"] == "1000Gi"
    dep = next(m for m in s.objects("Deployment") if m["metadata"]["name"] == "minio")
    pod = dep["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert ":latest" not in c["image"] and c["image"].startswith("quay.io/minio/minio:RELEASE.")
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert {e["name"] for e in c["env"] if "valueFrom" in e} == {"MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"}
    assert c["resources"]["limits"] == c["resources"]["requests"]


def test_kserve_s3_credentials_and_data_connection(synthesized):
    s = synthesized("staging")
    secrets = {r.inputs["metadata"]["name"]: r for r in s.by_type("kubernetes:core/v1:Secret")}
    s3 = secrets["minio-kserve-s3"]
    assert s3.inputs["metadata"]["namespace"] == "llm"
    assert s3.inputs["metadata"]["annotations"] == {
        "serving.kserve.io/s3-endpoint": "minio.minio.svc.cluster.local:9000",
        "serving.kserve.io/s3-usehttps": "0",
        "serving.kserve.io/s3-verifyssl": "0",
        "serving.kserve.io/s3-region": "us-east-1",
    }
    assert s3.inputs["stringData"] == SECRET_MASK
    sa = next(m for m in s.objects("ServiceAccount") if m["metadata"]["name"] == "minio-kserve-s3")
    assert sa["secrets"] == [{"name": "minio-kserve-s3"}]
    conn = secrets["aws-connection-adapters"].inputs["metadata"]
    assert conn["labels"]["opendatahub.io/dashboard"] == "true" and conn["labels"]["opendatahub.io/managed"] == "true"
    assert conn["annotations"]["opendatahub.io/connection-type-protocol"] == "s3"
    assert "openshift.io/display-name" in conn["annotations"]


def test_no_credential_appears_in_plain_text(synthesized):
    from infra.mocks import _fake

    for stack in STACKS:
        s = synthesized(stack)
        fakes = {_fake(r.name, "random") for r in s.registrations if r.type.startswith("random:")}
        assert fakes
        dump = json.dumps([r.inputs for r in s.registrations if not r.type.startswith("random:")])
        leaked = [f for f in fakes if f in dump]
        assert leaked == [], f"{stack}: generated credentials visible in resource inputs"


def test_setup_job_creates_buckets_and_least_privilege_users(synthesized):
    s = synthesized("prod")
    cm = next(m for m in s.objects("ConfigMap") if m["metadata"]["name"] == "minio-setup")
    policy = {role: json.loads(cm["data"][f"{role}.json"]) for role in ("adapters-reader", "models-reader", "publisher")}
    actions = lambda p: {a for st in p["Statement"] for a in st["Action"]}  # noqa: E731
    buckets = lambda p: {r.split(":::")[1].split("/")[0] for st in p["Statement"] for r in st["Resource"]}  # noqa: E731
    assert {role: buckets(p) for role, p in policy.items()} == {
        "adapters-reader": {"adapters"}, "models-reader": {"models"}, "publisher": {"adapters"}}
    assert "s3:PutObject" not in actions(policy["adapters-reader"]) | actions(policy["models-reader"])
    assert "s3:PutObject" in actions(policy["publisher"])
    assert {"s3:GetObject", "s3:ListBucket"} <= actions(policy["adapters-reader"])
    job = next(m for m in s.objects("Job") if m["metadata"]["name"] == "minio-setup")
    c = job["spec"]["template"]["spec"]["containers"][0]
    assert c["image"].startswith("quay.io/minio/mc:RELEASE.")
    assert {e["name"]: e.get("value") for e in c["env"]}["BUCKETS"] == "adapters models"
    assert "mb --ignore-existing" in cm["data"]["setup.sh"]
    # Secrets reach the job through Secrets (envFrom), never as literal values or arguments.
    assert all("value" not in e or "KEY" not in e["name"] for e in c["env"]) and "args" not in c
    server = next(m for m in s.objects("Deployment") if m["metadata"]["name"] == "minio")["spec"]["template"]["spec"]
    ports = [p["name"] for p in server["containers"][0]["ports"]]
    assert ports == ["api"] and "--console-address" not in server["containers"][0]["args"]
    assert {e["name"]: e.get("value") for e in server["containers"][0]["env"]}["MINIO_BROWSER"] == "off"


def test_adapter_publishers_depend_on_store_setup_and_run_verify_only_without_endpoint(synthesized):
    s = synthesized("local")
    job = next(r for r in s.by_type("kubernetes:batch/v1:Job"))
    pubs = s.by_type(ADAPTER_TYPE)
    assert len(pubs) == 2
    for p in pubs:
        assert job.urn in p.dependencies
        assert p.inputs["mode"] == "verify"
        assert {"accessKey", "secretKey"} <= set(p.secret_paths)
        assert p.inputs["prefix"].startswith("adapters/qwen2.5-7b/")


def test_exports_name_endpoints_models_and_buckets():
    from infra.synth import synthesize

    captured = {}

    def program(cfg, stack):
        from infra.compose import build_platform

        ctx = build_platform(cfg, stack)
        captured.update(ctx.exports)
        return ctx

    synthesize("local", program=program)
    assert captured["servedModels"] == {"qwen-7b": ["qwen2.5-7b", "qwen2.5-7b:sql", "qwen2.5-7b:support-ja"]}
    assert captured["modelEndpoints"] == {"qwen-7b": "http://qwen-7b-predictor.llm.svc.cluster.local"}
    assert captured["buckets"] == {"adapters": "adapters", "models": "models"}


def test_multi_node_service_runs_on_a_leader_worker_set_with_the_adapter_sidecar_on_every_pod(synth, tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_test_adapters", REPO / "tools" / "make_test_adapters.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    gen.DIMENSIONS["llama-3.1-405b"] = {"q_proj": (16384, 16384), "v_proj": (16384, 1024)}
    legal = tmp_path / "legal"
    legal.mkdir()
    for name, data in gen.fixture_files("llama-3.1-405b", "legal", 16, "meta-llama/Llama-3.1-405B").items():
        (legal / name).write_bytes(data)

    def add_405b(s):
        s["models"]["baseModels"]["llama-3.1-405b"] = {
            "architecture": "Llama-3.1-405B", "source": {"kind": "s3", "uri": "s3://models/meta-llama/Llama-3.1-405B-FP8"}}
        s["models"]["adapters"].append({"name": "legal", "baseModel": "llama-3.1-405b", "version": "v2026-11-01",
                                        "sourceDir": str(legal), "rank": 16,
                                        "allowExternalSource": True})  # generated under tmp_path
        s["serving"]["services"]["llama-405b"] = {
            "baseModel": "llama-3.1-405b", "pool": "h100-full", "gpu": {"count": 16}, "auth": True,
            "engine": {"quantization": "fp8", "tensorParallel": 8, "pipelineParallel": 2, "maxLoras": 2,
                       "maxModelLen": 8192, "kvCacheDtype": "fp8"},
            "replicas": {"min": 1, "max": 1}, "cpu": "64", "memoryGib": 512}

    s = synth("prod", add_405b)
    assert not any(m["metadata"]["name"] == "llama-405b" for m in s.objects("InferenceService"))
    (lws,) = s.objects("LeaderWorkerSet")
    assert crd_errors(lws) == []
    template = lws["spec"]["leaderWorkerTemplate"]
    assert template["size"] == 2
    for role in ("leaderTemplate", "workerTemplate"):
        pod = template[role]["spec"]
        sidecar = next(c for c in pod["initContainers"] if c["name"] == "lora-sync")
        assert sidecar["restartPolicy"] == "Always"
        assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "8"
        env = {e["name"] for e in pod["containers"][0]["env"]}
        assert {"VLLM_PLUGINS", "VLLM_API_KEY"} <= env
    command = template["leaderTemplate"]["spec"]["containers"][0]["command"]
    serve = command[2:command.index("--distributed-executor-backend")]
    assert check_args(serve, allow_duplicates=False) == []
    registry = next(m for m in s.objects("ConfigMap") if m["metadata"]["name"] == "llama-405b-lora-registry")
    assert "llama-3.1-405b:legal" in json.loads(registry["data"]["registry.json"])
    for role in ("leaderTemplate", "workerTemplate"):
        assert template[role]["spec"]["serviceAccountName"] == "llama-405b-model-server"


def test_knative_predictor_keeps_to_the_pod_fields_knative_accepts(synthesized):
    """Knative's webhook only accepts a subset of PodSecurityContext (feature
    kubernetes.podspec-securitycontext) and one container with ports."""
    predictor = _isvc(synthesized("dev"), "llama-8b")["spec"]["predictor"]
    assert set(predictor["securityContext"]) <= {"fsGroup", "runAsGroup", "runAsNonRoot", "supplementalGroups",
                                                 "runAsUser", "seccompProfile"}
    runtime = _runtime(synthesized("dev"), "llama-8b")["spec"]
    assert [c["name"] for c in runtime["containers"] if c.get("ports")] == ["kserve-container"]
    assert runtime["containers"][0]["ports"][0]["name"] == "http1"
    assert "initContainers" not in predictor


@pytest.mark.parametrize("stack, base, registry", [
    ("prod", "llama-3.1-70b", "llama-70b-lora-registry"),   # llm-d frontend (Helm releases)
    ("prod", "llama-3.1-8b", "llama-8b-lora-registry"),     # KServe + KEDA on MIG
    ("dev", "llama-3.1-8b", "llama-8b-lora-registry"),      # Knative
    ("staging", "llama-3.1-70b", "llama-70b-lora-registry"),  # DRA
])
def test_zero_restart_rollout_on_every_frontend(synth, synthesized, stack, base, registry):
    before = synthesized(stack)
    # A fixture at this base's dimensions (publishing checks tensor shapes against the base).
    source, rank = {"llama-3.1-70b": ("adapters/llama-3.1-70b/contracts/v2026-10-20", 32),
                    "llama-3.1-8b": ("adapters/llama-3.1-8b/sql/v2026-11-01", 16)}[base]
    after = synth(stack, lambda s: s["models"]["adapters"].append({
        "name": "new-one", "baseModel": base, "version": "v2026-12-01", "sourceDir": source, "rank": rank}))
    added, removed, changed = _changes(before, after)
    assert not removed and _types(after, added) == {ADAPTER_TYPE}
    # The registry, and the gate's grant and model-list maps where a tenant's grant covers it.
    gate = registry.removesuffix("-lora-registry") + "-gate"
    assert registry in _names(after, changed) <= {registry, gate}, sorted(_names(after, changed))
    assert _types(after, changed) == {"kubernetes:core/v1:ConfigMap"}


def test_sync_sidecar_can_unload_from_its_own_vllm_with_the_api_key(synthesized):
    sync = _runtime(synthesized("airgap"), "llama-8b")["spec"]["containers"][1]
    env = {e["name"]: e for e in sync["env"]}
    assert env["VLLM_URL"]["value"] == "http://localhost:8081"  # vLLM itself, behind the gate
    assert env["VLLM_API_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "llama-8b-api-key", "key": "VLLM_API_KEY"}
    local = {e["name"] for e in _runtime(synthesized("local"), "qwen-7b")["spec"]["containers"][1]["env"]}
    assert "VLLM_URL" in local and "VLLM_API_KEY" not in local


def test_a_container_added_to_the_server_pod_reaches_every_frontend_once(synth):
    """One building block: the tenant gate, a companion container and its volumes added in
    ``lora_server_pod``, shows up in the KServe ServingRuntime, the llm-d decode pods and the
    LeaderWorkerSet leader, with vLLM moved to 127.0.0.1 behind it, and every pod keeps Pod
    Security "restricted" (also the multi-node storage initializer)."""

    def add_405b(s):
        s["models"]["baseModels"]["llama-3.1-405b"] = {
            "architecture": "Llama-3.1-405B", "source": {"kind": "s3", "uri": "s3://models/meta-llama/Llama-3.1-405B-FP8"}}
        s["serving"]["services"]["llama-405b"] = {
            "baseModel": "llama-3.1-405b", "pool": "h100-full", "gpu": {"count": 16},
            "engine": {"quantization": "fp8", "tensorParallel": 8, "pipelineParallel": 2, "maxModelLen": 8192},
            "replicas": {"min": 1, "max": 1}, "cpu": "64", "memoryGib": 512}

    s = synth("prod", add_405b)
    pods: dict[str, dict] = {}
    for runtime in s.objects("ServingRuntime"):
        pods[f"kserve/{runtime['metadata']['name']}"] = runtime["spec"]
    release = next(r for r in s.by_type("kubernetes:helm.sh/v3:Release") if r.name.endswith("-ms"))
    pods["llm-d/decode"] = release.inputs["values"]["decode"]
    (lws,) = s.objects("LeaderWorkerSet")
    leader = lws["spec"]["leaderWorkerTemplate"]["leaderTemplate"]["spec"]
    worker = lws["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]
    pods["lws/leader"] = leader
    assert len(pods) >= 3
    for where, pod in pods.items():
        companions = [*pod["containers"], *pod.get("initContainers", [])]
        assert [c["name"] for c in companions].count("gate") == 1, where
        assert any(v["name"] == "gate-conf" for v in pod["volumes"]), where
        vllm = next(c for c in pod["containers"] if c["name"] in ("kserve-container", "vllm"))
        words = [*vllm.get("command", []), *vllm.get("args", [])]
        assert "--host=127.0.0.1" in words and "--port=8081" in words, where
    assert not any(c["name"] == "gate" for c in [*worker["containers"], *worker.get("initContainers", [])]), \
        "API sidecars run where the API is served (the leader)"
    assert next(c for c in leader["initContainers"] if c["name"] == "gate")["restartPolicy"] == "Always"
    for pod in (leader, worker):
        for c in [*pod["containers"], *pod.get("initContainers", [])]:
            ctx = c["securityContext"]
            assert ctx["runAsNonRoot"] and ctx["allowPrivilegeEscalation"] is False, c["name"]
            assert ctx["capabilities"] == {"drop": ["ALL"]} and ctx["seccompProfile"] == {"type": "RuntimeDefault"}, c["name"]


def test_llmd_adapter_changes_reach_no_helm_release(synth, synthesized):
    """prod's llm-d service (llama-70b) is a llm-d-modelservice release: an adapter change must not
    reach any release's values, or Helm would re-render its Deployments and roll the pods."""
    from tests.support import helm_render

    def values(s):
        return {r.name: r.values for r in helm_render.releases(s)}

    before = values(synthesized("prod"))
    assert "llama-70b-ms" in before
    for what, edit in adapter_edits("llama-3.1-70b").items():
        assert values(synth("prod", edit)) == before, f"{what} adapter changed a Helm release's values"

    def static(s):
        s["serving"]["services"]["llama-70b"]["adapterMode"] = "static"

    def static_added(s):
        static(s)
        adapter_edits("llama-3.1-70b")["add"](s)

    base, added = values(synth("prod", static)), values(synth("prod", static_added))
    assert base["llama-70b-ms"] != added["llama-70b-ms"], "static mode: --lora-modules is in the modelservice values"
    assert {n: v for n, v in base.items() if n != "llama-70b-ms"} == {n: v for n, v in added.items() if n != "llama-70b-ms"}
