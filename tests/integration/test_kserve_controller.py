"""The real KServe controller (v0.20.0) reconciling every stack's Standard-mode InferenceServices.

For each stack: the manager runs with the ``inferenceservice-config`` the stack's chart values
produce (``kserve_controller.py``), kwok nodes stand in for the stack's GPU pools, and the
program's serving-namespace objects (namespace, ServiceAccount, Secrets, ConfigMaps, PVCs,
ServingRuntime, InferenceService) are applied for real. KServe builds the predictor Deployment
and Service; its pod mutator webhook admits the pods; the real scheduler puts them on the pool's
kwok node; kwok marks them Ready.

Proves: each InferenceService reaches Ready; ``status.address.url`` is the endpoint the stack
exports (``modelEndpoints``); the pod KServe builds carries our sync sidecar, volumes, env,
pod and container security context and GPU request, and lands on the service's pool. The
zero-restart claim holds on the real controller: adding, bumping or removing an adapter leaves
the predictor Deployment's pod template hash unchanged, while ``adapterMode: static`` changes it.
DRA-backed predictors (staging's ``llama-70b``) get the DeviceClass the stack's DRA driver chart
renders and a ResourceSlice as the driver would publish; the scheduler allocates the claim.
Cannot prove: that the containers start (kwok runs none), that the DRA driver prepares the
device, Knative mode (``dev``; no Knative Serving controller runs here).
"""

from __future__ import annotations

import contextlib
import copy
import json
from functools import lru_cache

import pytest

import gpu_nodes
import kserve_controller
import kube
from tests.support import helm_render
from tests.support.adapter_edits import adapter_edits
from infra.compose import build_platform
from infra.config_loading import read_stack_file
from infra.mocks import SECRET_MASK
from infra.synth import synthesize
from kube import wait_for

pytestmark = [pytest.mark.timeout(900), pytest.mark.gotools("helm", "kserve")]

STACKS = ("local", "staging", "prod", "airgap")
APPLIED_KINDS = ("Namespace", "ServiceAccount", "Secret", "ConfigMap", "PersistentVolumeClaim", "ResourceClaimTemplate",
                 "ServingRuntime", "InferenceService")
DRA_DRIVER = "gpu.nvidia.com"
ISVC_LABEL = "serving.kserve.io/inferenceservice"


def _synth_with_exports(stack: str, sections: dict | None = None):
    exports: dict = {}

    def program(cfg, s):
        ctx = build_platform(cfg, s)
        exports.update(ctx.exports)
        return ctx

    return synthesize(stack, sections, program=program), exports


@lru_cache(maxsize=None)
def _synth(stack: str):
    return _synth_with_exports(stack)


def _standard_isvcs(synth) -> list[dict]:
    return [o for o in synth.objects("InferenceService")
            if o["metadata"].get("annotations", {}).get("serving.kserve.io/deploymentMode") == "Standard"]


def _serving_objects(synth) -> list[dict]:
    ns = synth.config.serving.namespace
    out = []
    for o in synth.manifests:
        if o["kind"] not in APPLIED_KINDS:
            continue
        if o["kind"] == "Namespace" and o["metadata"]["name"] != ns:
            continue
        if o["kind"] != "Namespace" and o["metadata"].get("namespace") != ns:
            continue
        if o["kind"] == "InferenceService" and o not in _standard_isvcs(synth):
            continue
        o = kube.wire_ints(copy.deepcopy(o))
        if o.get("stringData") == SECRET_MASK:
            o["stringData"] = {"MASKED": "placeholder"}
        out.append(o)
    return sorted(out, key=lambda o: APPLIED_KINDS.index(o["kind"]))


def _existing_claims(synth, objs: list[dict]) -> list[dict]:
    """Stand-ins for model claims a stack uses but does not create (``pvc://`` storage URIs of a
    claim the cluster already has, as on ``airgap``): what the real cluster provides."""
    declared = {(o["metadata"]["namespace"], o["metadata"]["name"]) for o in objs if o["kind"] == "PersistentVolumeClaim"}
    out = []
    for isvc in _standard_isvcs(synth):
        uri = isvc["spec"]["predictor"].get("model", {}).get("storageUri", "")
        ns = isvc["metadata"]["namespace"]
        if uri.startswith("pvc://") and (ns, uri[6:].split("/")[0]) not in declared:
            out.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                        "metadata": {"name": uri[6:].split("/")[0], "namespace": ns},
                        "spec": {"accessModes": ["ReadOnlyMany"], "storageClassName": "",
                                 "resources": {"requests": {"storage": "100Gi"}}}})
    return out


def _pvs_for(stack: str, objs: list[dict]) -> list[dict]:
    """A PersistentVolume pre-bound to each claim (no provisioner runs here)."""
    pvs = []
    for pvc in (o for o in objs if o["kind"] == "PersistentVolumeClaim"):
        meta, spec = pvc["metadata"], pvc["spec"]
        pvs.append({"apiVersion": "v1", "kind": "PersistentVolume",
                    "metadata": {"name": f"it-{stack}-{meta['namespace']}-{meta['name']}"},
                    "spec": {"capacity": {"storage": spec["resources"]["requests"]["storage"]},
                             "accessModes": spec["accessModes"], "storageClassName": spec.get("storageClassName", ""),
                             "persistentVolumeReclaimPolicy": "Delete",
                             "claimRef": {"namespace": meta["namespace"], "name": meta["name"]},
                             "hostPath": {"path": f"/tmp/it-{meta['name']}"}}})
    return pvs


def _dra_objects(synth, api_versions, node_names: dict[str, str]) -> list[dict]:
    """For a stack with DRA-backed predictors: the DeviceClasses its DRA driver release renders and a
    ResourceSlice per DRA pool node, published as the NVIDIA DRA driver does (an H100 80GB HBM3 as NVML
    reports it; see test_gpu_dra_scheduling.py)."""
    dra_pools = [p for p in node_names if synth.config.gpu.pools[p].sharing.mode == "dra"]
    if not dra_pools:
        return []
    [release] = [r for r in helm_render.releases(synth) if r.chart_dir.parent.name == "dra-driver-nvidia-gpu"]
    rendered = helm_render.render(release, api_versions=api_versions,
                                  kube_version=helm_render.kube_version(synth.config.cluster.kubernetes_version))
    objs = [o for o in rendered if o["kind"] == "DeviceClass"]
    assert any(o["metadata"]["name"] == DRA_DRIVER for o in objs), [o["metadata"]["name"] for o in objs]
    for pool in dra_pools:
        node = node_names[pool]
        devices = [{"name": f"gpu-{i}", "attributes": {"type": {"string": "gpu"},
                                                       "productName": {"string": "NVIDIA H100 80GB HBM3"},
                                                       "uuid": {"string": f"GPU-{node}-{i}"}, "index": {"int": i}},
                    "capacity": {"memory": {"value": "81559Mi"}}}
                   for i in range(synth.config.gpu.pools[pool].gpus_per_node)]
        objs.append({"apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice", "metadata": {"name": f"{node}-{DRA_DRIVER}"},
                     "spec": {"driver": DRA_DRIVER, "nodeName": node, "devices": devices,
                              "pool": {"name": node, "generation": 1, "resourceSliceCount": 1}}})
    return objs


def _apply_all(client: kube.KubeClient, objs: list[dict]) -> None:
    for o in objs:
        client.apply(client.object_path(o), o)


def _isvc_path(ns: str, name: str) -> str:
    return f"/apis/serving.kserve.io/v1beta1/namespaces/{ns}/inferenceservices/{name}"


def _subset(ours, theirs) -> bool:
    """``ours`` is in ``theirs`` up to what the API server defaults (``defaultMode: 420``, ...)."""
    if isinstance(ours, dict):
        return isinstance(theirs, dict) and all(k in theirs and _subset(v, theirs[k]) for k, v in ours.items())
    if isinstance(ours, list):
        return isinstance(theirs, list) and len(ours) == len(theirs) and all(_subset(a, b) for a, b in zip(ours, theirs))
    return ours == theirs


def _ready(client: kube.KubeClient, ns: str, name: str):
    got = client.get(_isvc_path(ns, name))
    conds = {c["type"]: c for c in got.get("status", {}).get("conditions", [])}
    # KServe v0.20's status.observedGeneration can run ahead of metadata.generation: ">=" means "seen".
    if conds.get("Ready", {}).get("status") == "True" and \
            got["status"].get("observedGeneration", 0) >= got["metadata"]["generation"]:
        return got
    return None


def _pods(client: kube.KubeClient, ns: str, name: str) -> list[dict]:
    return client.get(f"/api/v1/namespaces/{ns}/pods", params={"labelSelector": f"{ISVC_LABEL}={name}"})["items"]


def _delete_applied(client: kube.KubeClient, objs: list[dict]) -> None:
    """Delete what a stack applied (the namespace stays: the next stack reuses it) and wait until
    KServe's finalizer let the InferenceServices go and their pods are gone."""
    for o in reversed(objs):
        if o["kind"] != "Namespace":
            with contextlib.suppress(kube.ApiError):
                client.delete(client.object_path(o))
    for o in objs:
        if o["kind"] == "InferenceService":
            ns, name = o["metadata"]["namespace"], o["metadata"]["name"]
            wait_for(lambda: not client.exists(_isvc_path(ns, name)) and not _pods(client, ns, name), 180, interval=1,
                     what=f"InferenceService {name} and its pods deleted")
    # The next stack applies objects of the same names (a PVC still terminating would vanish after).
    for o in objs:
        if o["kind"] != "Namespace":
            path = client.object_path(o)
            wait_for(lambda: not client.exists(path), 120, interval=1, what=f"{path} deleted")


@pytest.fixture(scope="module")
def kserve_stack(request, kube_cluster, kube_client, kserve_bin, helm_bin, api_versions):
    """One stack's serving objects reconciled by a KServe manager configured from its chart values."""
    stack = request.param
    synth, exports = _synth(stack)
    objs = _serving_objects(synth)
    objs = objs[:1] + _existing_claims(synth, objs) + objs[1:] if objs and objs[0]["kind"] == "Namespace" \
        else _existing_claims(synth, objs) + objs
    pvs = _pvs_for(stack, objs)
    pools = {synth.config.serving.services[i["metadata"]["name"]].pool for i in _standard_isvcs(synth)}
    node_names = {p: f"it-kserve-{stack}-{p}" for p in sorted(pools)}
    node_objs = [gpu_nodes.pool_node(synth, p, n) for p, n in node_names.items()]
    dra = _dra_objects(synth, api_versions, node_names)
    with kserve_controller.running(kube_cluster, kserve_bin, synth, api_versions) as manager, \
            gpu_nodes.nodes(kube_client, node_objs):
        try:
            for obj in pvs + dra:
                kube_client.apply(kube_client.object_path(obj), obj)
            _apply_all(kube_client, objs)
            yield stack, synth, exports, manager, node_names
        finally:
            if request.session.testsfailed:
                kube_cluster.keep_workdir()
            _delete_applied(kube_client, objs)
            for obj in pvs + dra:
                with contextlib.suppress(kube.ApiError):
                    kube_client.delete(kube_client.object_path(obj))


def _cases():
    return [pytest.param(s, i["metadata"]["name"], id=f"{s}-{i['metadata']['name']}")
            for s in STACKS for i in _standard_isvcs(_synth(s)[0])]


def test_every_stack_with_kserve_has_a_standard_isvc_to_reconcile():
    assert {c.values[0] for c in _cases()} == set(STACKS)


@pytest.mark.parametrize("kserve_stack,name", _cases(), indirect=["kserve_stack"])
def test_isvc_is_ready_at_the_exported_address(kube_client, kserve_stack, name):
    stack, synth, exports, manager, _ = kserve_stack
    ns = synth.config.serving.namespace
    got = wait_for(lambda: _ready(kube_client, ns, name), 120, interval=1,
                   what=f"{stack}/{name} Ready (manager log {manager.controller.log})")
    assert got["status"]["address"]["url"] == exports["modelEndpoints"][name]
    if got["metadata"].get("annotations", {}).get("serving.kserve.io/autoscalerClass") == "keda":
        # KServe writes the ScaledObject KEDA acts on, from our autoScaling metrics.
        scaled = kube_client.get(f"/apis/keda.sh/v1alpha1/namespaces/{ns}/scaledobjects")["items"]
        mine = [o for o in scaled if o["spec"]["scaleTargetRef"]["name"] == f"{name}-predictor"]
        assert mine, [o["metadata"]["name"] for o in scaled]
        [trigger] = mine[0]["spec"]["triggers"]
        ours = got["spec"]["predictor"]["autoScaling"]["metrics"][0]["external"]["metric"]
        assert trigger["type"] == "prometheus" and trigger["metadata"]["query"] == ours["query"], trigger



def _env_defaults(env: dict) -> dict:
    """An env entry as the API server stores it: an empty ``value`` is omitted, a ``fieldRef``
    gets ``apiVersion: v1``."""
    if env.get("value") == "":
        env = {k: v for k, v in env.items() if k != "value"}
    ref = env.get("valueFrom", {}).get("fieldRef")
    if ref is None or "apiVersion" in ref:
        return env
    return env | {"valueFrom": env["valueFrom"] | {"fieldRef": {"apiVersion": "v1", **ref}}}

@pytest.mark.parametrize("kserve_stack,name", _cases(), indirect=["kserve_stack"])
def test_predictor_pod_kserve_builds_carries_our_spec(kube_client, kserve_stack, name):
    stack, synth, _, _, node_names = kserve_stack
    ns = synth.config.serving.namespace
    pool = synth.config.serving.services[name].pool
    wait_for(lambda: _ready(kube_client, ns, name), 120, interval=1, what=f"{stack}/{name} Ready")
    [isvc] = [i for i in _standard_isvcs(synth) if i["metadata"]["name"] == name]
    isvc = kube.wire_ints(isvc)
    predictor = isvc["spec"]["predictor"]
    [runtime] = [kube.wire_ints(r) for r in synth.objects("ServingRuntime") if r["metadata"]["name"] == predictor["model"]["runtime"]]
    pods = wait_for(lambda: [p for p in _pods(kube_client, ns, name) if p.get("status", {}).get("phase") == "Running"],
                    60, what=f"{stack}/{name} predictor pods Running")
    pod = pods[0]
    spec = pod["spec"]
    assert spec["nodeName"] == node_names[pool], f"landed on {spec['nodeName']}, not on pool {pool}"
    containers = {c["name"]: c for c in spec["containers"] + spec.get("initContainers", [])}

    # The sync sidecar (and any other runtime container) exactly as we declared it.
    for ours in runtime["spec"]["containers"][1:] + runtime["spec"].get("initContainers", []) + predictor.get("initContainers", []):
        theirs = containers.get(ours["name"])
        assert theirs is not None, f"{ours['name']} missing from the pod: {sorted(containers)}"
        for field in ("image", "command", "args", "volumeMounts", "securityContext", "restartPolicy"):
            if field in ours:
                assert theirs.get(field) == ours[field], f"{ours['name']}.{field}: {theirs.get(field)} != {ours[field]}"
        # KServe adds its own variables (INFERENCE_SERVICE_NAME, ...) to every container: ours must all be there.
        missing = [e for e in map(_env_defaults, ours.get("env", [])) if e not in theirs.get("env", [])]
        assert not missing, f"{ours['name']}: env {missing} missing"

    main = containers["kserve-container"]
    ours_main = runtime["spec"]["containers"][0]
    got_env = {e["name"]: e for e in main.get("env", [])}
    for e in map(_env_defaults, ours_main.get("env", []) + predictor["model"].get("env", [])):
        assert got_env.get(e["name"]) == e, f"env {e['name']}: {got_env.get(e['name'])} != {e}"
    assert main["securityContext"] == ours_main["securityContext"]
    mounts = {m["mountPath"]: m for m in main.get("volumeMounts", [])}
    for m in ours_main.get("volumeMounts", []):
        assert mounts.get(m["mountPath"]) == m, f"mount {m['mountPath']}: {mounts.get(m['mountPath'])}"
    gpu = {k: v for k, v in predictor["model"]["resources"]["limits"].items() if k.startswith("nvidia.com/")}
    assert {k: v for k, v in main["resources"]["limits"].items() if k.startswith("nvidia.com/")} == gpu
    if predictor.get("resourceClaims"):   # the GPU comes through a DRA claim the scheduler allocated
        assert main["resources"]["claims"] == predictor["model"]["resources"]["claims"]
        assert [c["name"] for c in spec["resourceClaims"]] == [c["name"] for c in predictor["resourceClaims"]]
        claim = kube_client.get(f"/apis/resource.k8s.io/v1/namespaces/{ns}/resourceclaims/"
                                f"{pod['status']['resourceClaimStatuses'][0]['resourceClaimName']}")
        assert claim["status"]["allocation"]["devices"]["results"][0]["driver"] == DRA_DRIVER
    else:
        assert gpu, "no GPU request on the predictor"

    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    for v in runtime["spec"].get("volumes", []) + predictor.get("volumes", []):
        assert _subset(v, volumes.get(v["name"])), f"volume {v['name']}: {volumes.get(v['name'])} lacks {v}"
    for field, value in predictor.get("securityContext", {}).items():
        assert spec["securityContext"].get(field) == value, f"pod securityContext.{field}"
    for field in ("serviceAccountName", "nodeSelector", "tolerations", "imagePullSecrets", "resourceClaims"):
        if field in predictor:
            have = spec.get(field)
            if field == "tolerations":
                have = [t for t in have if t in predictor[field]]
            assert have == predictor[field], f"{field}: {spec.get(field)} != {predictor[field]}"


@pytest.mark.parametrize("kserve_stack", ["prod"], indirect=True)
def test_a_predictor_asking_for_a_slice_its_pool_does_not_cut_stays_pending(kube_client, kserve_stack):
    """The same path catches a predictor/pool mismatch: prod's MIG predictor asking for a MIG
    profile the pool's layout does not produce gets a pod from KServe that the scheduler refuses."""
    _, synth, _, _, _ = kserve_stack
    ns = synth.config.serving.namespace
    [isvc] = [kube.wire_ints(copy.deepcopy(i)) for i in _standard_isvcs(synth) if i["metadata"]["name"] == "llama-8b"]
    isvc["metadata"]["name"] = "llama-8b-wrong-slice"
    res = isvc["spec"]["predictor"]["model"]["resources"]
    for part in ("limits", "requests"):
        [mig] = [k for k in res[part] if k.startswith("nvidia.com/mig-")]
        res[part]["nvidia.com/mig-7g.80gb"] = res[part].pop(mig)
    path = kube_client.object_path(isvc)
    kube_client.apply(path, isvc)
    try:
        def unschedulable():
            for pod in _pods(kube_client, ns, "llama-8b-wrong-slice"):
                cond = next((c for c in pod.get("status", {}).get("conditions", []) if c["type"] == "PodScheduled"), {})
                if cond.get("reason") == "Unschedulable":
                    return cond
            return None

        cond = wait_for(unschedulable, 90, interval=1, what="the wrong-slice predictor pod Unschedulable")
        assert "Insufficient nvidia.com/mig-7g.80gb" in cond["message"]
        assert _ready(kube_client, ns, "llama-8b-wrong-slice") is None
    finally:
        with contextlib.suppress(kube.ApiError):
            kube_client.delete(path)


# --------------------------------------------------------------------------- zero restart

ROLLOUT_STACK = "prod"
ROLLOUT_SERVICE = "llama-8b"


def _sections(edit=None, static: bool = False) -> dict:
    sections, _ = read_stack_file(ROLLOUT_STACK)
    sections = json.loads(json.dumps(sections))
    if static:
        sections["serving"]["services"][ROLLOUT_SERVICE]["adapterMode"] = "static"
    if edit is not None:
        edit(sections)
    return sections


def _template_hashes(client: kube.KubeClient, ns: str) -> set[str]:
    rs = client.get(f"/apis/apps/v1/namespaces/{ns}/replicasets",
                    params={"labelSelector": f"{ISVC_LABEL}={ROLLOUT_SERVICE}"})["items"]
    return {r["metadata"]["labels"]["pod-template-hash"] for r in rs}


def _deployment(client: kube.KubeClient, ns: str) -> dict:
    return client.get(f"/apis/apps/v1/namespaces/{ns}/deployments/{ROLLOUT_SERVICE}-predictor")


def _rollout(client: kube.KubeClient, manager, sections: dict) -> tuple[dict, set[str]]:
    synth, _ = _synth_with_exports(ROLLOUT_STACK, sections)
    ns = synth.config.serving.namespace
    path = _isvc_path(ns, ROLLOUT_SERVICE)

    def seen_by_kserve(obj):  # what KServe derives the Deployment from
        return obj["metadata"].get("generation"), obj["metadata"].get("labels"), obj["metadata"].get("annotations")

    old = seen_by_kserve(client.get(path)) if client.exists(path) else None
    before = manager.reconciles()
    _apply_all(client, [o for o in _serving_objects(synth) if o["kind"] != "Namespace"])
    if seen_by_kserve(client.get(path)) != old:
        # KServe has written the Deployment for this change (then the Deployment controller saw it).
        manager.wait_reconciled(before)
    wait_for(lambda: _ready(client, ns, ROLLOUT_SERVICE), 300, interval=1, what="the InferenceService Ready again")

    def settled():
        d = _deployment(client, ns)
        return d if d["status"].get("observedGeneration") == d["metadata"]["generation"] else None

    d = wait_for(settled, 60, what="the predictor Deployment observed")
    return d, _template_hashes(client, ns)


@pytest.mark.parametrize("kserve_stack", [ROLLOUT_STACK], indirect=True)
def test_adapter_changes_leave_the_predictor_pod_template_alone(kube_client, kserve_stack):
    _, synth, _, manager, _ = kserve_stack
    base, base_hashes = _rollout(kube_client, manager, _sections())
    assert len(base_hashes) == 1
    for what, edit in adapter_edits("llama-3.1-8b").items():
        d, hashes = _rollout(kube_client, manager, _sections(edit))
        assert hashes == base_hashes, f"{what} adapter: new ReplicaSet {hashes - base_hashes}"
        assert d["spec"]["template"] == base["spec"]["template"], f"{what} adapter changed the pod template"
        assert d["metadata"]["generation"] == base["metadata"]["generation"], what


@pytest.mark.parametrize("kserve_stack", [ROLLOUT_STACK], indirect=True)
def test_static_adapter_mode_restarts_pods_on_an_adapter_change(kube_client, kserve_stack):
    """The comparison case, so the check above can fail: ``--lora-modules`` lives in the pod template."""
    manager = kserve_stack[3]
    base, base_hashes = _rollout(kube_client, manager, _sections(static=True))
    d, hashes = _rollout(kube_client, manager, _sections(adapter_edits("llama-3.1-8b")["add"], static=True))

    def args(dep):
        return {c["name"]: c.get("args") for c in dep["spec"]["template"]["spec"]["containers"]}

    assert hashes - base_hashes, f"static mode: adding an adapter should roll a new ReplicaSet; args before {args(base)}, after {args(d)}"
    assert d["spec"]["template"] != base["spec"]["template"]
