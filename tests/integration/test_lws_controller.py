"""The real LeaderWorkerSet controller (sigs.k8s.io/lws v0.9.0, built from its Go module) reconciling
the LeaderWorkerSet the program emits for a service wider than one node.

prod plus a Llama-3.1-405B service (tensor parallel 8 × pipeline parallel 2 on the 8-GPU
``h100-full`` pool: two nodes per replica). The LWS manager runs as a local process with its
webhooks (the LWS chart's webhook configurations, rendered with prod's values, pointed at
127.0.0.1); the real kube-scheduler places the leader and worker pods on two kwok nodes of the
pool. Proves: our LeaderWorkerSet passes the controller's own defaulting and validation
webhooks, it builds the leader and worker StatefulSets and pods from our templates (GPU
requests, the sync sidecar on every pod), and the group lands one pod per GPU node; adding,
bumping and removing an adapter of a two-node 70B service leaves its group running (same pods),
while static mode makes LWS recreate it.
Cannot prove: that vLLM's multi-node launch works (kwok runs no containers).

The chart pins LWS 0.10.0; the module proxy refuses v0.10.0, so the controller is v0.9.0,
whose API differs from 0.10.0's by two comment lines.
"""

from __future__ import annotations

import contextlib
import json
import time

import pytest

import controllers
import gpu_nodes
import kube
from infra.synth import synthesize
from kube import wait_for
from tests.support import helm_render
from tests.support.adapter_edits import adapter_edits

pytestmark = [pytest.mark.timeout(900), pytest.mark.gotools("helm", "lws")]

NAMESPACE = "llm"
SERVICE = "llama-405b"
POOL = "h100-full"


def _add_405b(s: dict) -> None:
    s["models"]["baseModels"]["llama-3.1-405b"] = {
        "architecture": "Llama-3.1-405B", "source": {"kind": "s3", "uri": "s3://models/meta-llama/Llama-3.1-405B-FP8"}}
    s["serving"]["services"][SERVICE] = {
        "baseModel": "llama-3.1-405b", "pool": POOL, "gpu": {"count": 16},
        "engine": {"quantization": "fp8", "tensorParallel": 8, "pipelineParallel": 2, "maxLoras": 2,
                   "maxModelLen": 8192, "kvCacheDtype": "fp8"},
        "replicas": {"min": 1, "max": 1}, "cpu": "64", "memoryGib": 512}


@pytest.fixture(scope="module")
def prod_405b():
    from infra.config_loading import read_stack_file

    sections, _ = read_stack_file("prod")
    sections = json.loads(json.dumps(sections))
    _add_405b(sections)
    return synthesize("prod", sections)


@pytest.fixture(scope="module")
def lws_manager(kube_cluster, kube_client, prod_405b, lws_bin, helm_bin, api_versions):
    binary = lws_bin
    [release] = [r for r in helm_render.releases(prod_405b) if r.name == "lws"]
    rendered = helm_render.render(release, kube_version=helm_render.kube_version(prod_405b.config.cluster.kubernetes_version),
                                  api_versions=api_versions)
    crd_file = kube_cluster.workdir / "lws-chart-crds.json"
    crd_file.write_text("\n---\n".join(json.dumps(o) for o in rendered if o["kind"] == "CustomResourceDefinition"))
    kube_cluster.apply_crds([crd_file])

    cert_dir = controllers.serving_cert(kube_cluster, "lws")
    port, health = kube.free_port(), kube.free_port()
    config = kube_cluster.workdir / "lws-config.json"
    config.write_text(json.dumps({
        "apiVersion": "config.lws.x-k8s.io/v1alpha1", "kind": "Configuration",
        "leaderElection": {"leaderElect": False},
        "internalCertManagement": {"enable": False},
        "webhook": {"host": "127.0.0.1", "port": port, "certDir": str(cert_dir)},
        "metrics": {"bindAddress": "0"},
        "health": {"healthProbeBindAddress": f"127.0.0.1:{health}"},
    }))
    t0 = time.monotonic()
    ctl = controllers.start(kube_cluster, "lws-manager", binary, [f"--config={config}", "--zap-log-level=info"],
                            ready_url=f"http://127.0.0.1:{health}/readyz")
    hooks = controllers.url_webhooks(rendered, port, kube_cluster.pki.ca_crt)
    assert {h["name"] for obj in hooks for h in obj["webhooks"]} >= {"mleaderworkerset.kb.io", "mpod.kb.io"}
    try:
        for obj in hooks:
            path = kube_client.object_path(obj)
            kube_client.apply(path, obj)
        yield ctl, time.monotonic() - t0
    finally:
        for obj in hooks:
            with contextlib.suppress(kube.ApiError):
                kube_client.delete(kube_client.object_path(obj))
        ctl.stop()


def test_multinode_service_runs_as_leader_and_worker_pods_on_two_gpu_nodes(kube_client, prod_405b, lws_manager):
    (lws,) = prod_405b.objects("LeaderWorkerSet")
    assert lws["metadata"]["name"] == SERVICE
    lws = kube.wire_ints(lws)
    kube_client.ensure_namespace(NAMESPACE)
    # The pods run as the service's own ServiceAccount (it may read its adapter registry), as the stack creates it.
    for sa in (s for s in prod_405b.objects("ServiceAccount") if s["metadata"]["name"] == lws["spec"]["leaderWorkerTemplate"]
               ["workerTemplate"]["spec"].get("serviceAccountName")):
        kube_client.apply(kube_client.object_path(sa), sa)
    names = [f"it-lws-{POOL}-{i}" for i in range(2)]
    with gpu_nodes.nodes(kube_client, [gpu_nodes.pool_node(prod_405b, POOL, n) for n in names]):
        path = kube_client.object_path(lws)
        kube_client.apply(path, lws)
        try:
            sts_base = f"/apis/apps/v1/namespaces/{NAMESPACE}/statefulsets"
            leader = wait_for(lambda: kube_client.get(f"{sts_base}/{SERVICE}"), 60, what="the leader StatefulSet")
            worker = wait_for(lambda: kube_client.get(f"{sts_base}/{SERVICE}-0"), 60, what="the worker StatefulSet")
            assert leader["spec"]["replicas"] == 1 and worker["spec"]["replicas"] == 1

            def running_pods():
                pods = kube_client.get(f"/api/v1/namespaces/{NAMESPACE}/pods",
                                       params={"labelSelector": f"leaderworkerset.sigs.k8s.io/name={SERVICE}"})["items"]
                ok = [p for p in pods if p.get("status", {}).get("phase") == "Running"]
                return pods if len(pods) == 2 and len(ok) == 2 else None

            pods = wait_for(running_pods, 90, what="leader and worker pods Running")
            by_name = {p["metadata"]["name"]: p for p in pods}
            assert set(by_name) == {f"{SERVICE}-0", f"{SERVICE}-0-1"}
            assert {p["spec"]["nodeName"] for p in pods} == set(names), "one pod of the group per GPU node"
            for pod in pods:
                main = pod["spec"]["containers"][0]
                assert main["resources"]["limits"]["nvidia.com/gpu"] == "8"
                sidecar = next(c for c in pod["spec"]["initContainers"] if c["name"] == "lora-sync")
                assert sidecar["restartPolicy"] == "Always"
                # Set by LWS's pod webhook: the workers find the leader through it.
                assert any(e["name"] == "LWS_LEADER_ADDRESS" for e in main.get("env", [])), main.get("env")

            def available():
                got = kube_client.get(path)
                conds = {c["type"]: c["status"] for c in got.get("status", {}).get("conditions", [])}
                return got if conds.get("Available") == "True" else None

            wait_for(available, 90, what="the LeaderWorkerSet to be Available")
        finally:
            with contextlib.suppress(kube.ApiError):
                kube_client.delete(path)


# --------------------------------------------------------------------------- zero restart

WIDE = "llama-70b-wide"
WIDE_BASE = "llama-3.1-70b"


def _wide_sections(edit=None, static: bool = False) -> dict:
    """prod plus a 70B service two nodes wide (it carries prod's ``contracts`` adapter)."""
    from infra.config_loading import read_stack_file

    sections, _ = read_stack_file("prod")
    sections = json.loads(json.dumps(sections))
    sections["serving"]["services"][WIDE] = {
        "baseModel": WIDE_BASE, "servedName": f"{WIDE_BASE}-wide", "pool": POOL, "gpu": {"count": 16},
        "adapterMode": "static" if static else "dynamic",
        "engine": {"tensorParallel": 8, "pipelineParallel": 2, "maxLoras": 2, "maxLoraRank": 32, "maxModelLen": 8192},
        "replicas": {"min": 1, "max": 1}, "cpu": "64", "memoryGib": 512}
    if edit is not None:
        edit(sections)
    return sections


def _wide_lws(sections: dict) -> tuple[dict, list[dict]]:
    synth = synthesize("prod", sections)
    [lws] = [o for o in synth.objects("LeaderWorkerSet") if o["metadata"]["name"] == WIDE]
    sa_name = lws["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"].get("serviceAccountName")
    return kube.wire_ints(lws), [s for s in synth.objects("ServiceAccount") if s["metadata"]["name"] == sa_name]


def _group_pods(client: kube.KubeClient) -> dict[str, str]:
    """Pod name -> UID of the wide service's group, once both are Running."""
    pods = client.get(f"/api/v1/namespaces/{NAMESPACE}/pods",
                      params={"labelSelector": f"leaderworkerset.sigs.k8s.io/name={WIDE}"})["items"]
    running = [p for p in pods if p.get("status", {}).get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")]
    return {p["metadata"]["name"]: p["metadata"]["uid"] for p in running} if len(running) == 2 == len(pods) else {}


def _statefulset_generations(client: kube.KubeClient) -> dict[str, int]:
    base = f"/apis/apps/v1/namespaces/{NAMESPACE}/statefulsets"
    return {n: client.get(f"{base}/{n}")["metadata"]["generation"] for n in (WIDE, f"{WIDE}-0")}


def test_adapter_changes_leave_the_multinode_group_running(kube_client, lws_manager):
    """The zero-restart claim on the real LWS controller: adding, bumping and removing an adapter
    of a two-node service changes neither the LeaderWorkerSet the program emits nor the
    StatefulSets LWS derives, and the leader and worker pods keep running (same UIDs); the same
    change in ``adapterMode: static`` makes LWS recreate the group (the comparison case)."""
    kube_client.ensure_namespace(NAMESPACE)
    names = [f"it-lws-wide-{i}" for i in range(2)]
    base_lws, sas = _wide_lws(_wide_sections())
    for sa in sas:
        kube_client.apply(kube_client.object_path(sa), sa)
    path = kube_client.object_path(base_lws)
    with gpu_nodes.nodes(kube_client, [gpu_nodes.pool_node(synthesize("prod", _wide_sections()), POOL, n) for n in names]):
        kube_client.apply(path, base_lws)
        try:
            pods = wait_for(lambda: _group_pods(kube_client), 120, what="the wide group Running")
            generations = _statefulset_generations(kube_client)
            generation = kube_client.get(path)["metadata"]["generation"]
            for what, edit in adapter_edits(WIDE_BASE).items():
                lws, _ = _wide_lws(_wide_sections(edit))
                assert lws["spec"] == base_lws["spec"], f"{what} adapter changed the LeaderWorkerSet"
                kube_client.apply(path, lws)
                assert kube_client.get(path)["metadata"]["generation"] == generation, what
                time.sleep(2)  # what LWS would do, it does within this (it reacts to watch events)
                assert _group_pods(kube_client) == pods, f"{what} adapter restarted the group"
                assert _statefulset_generations(kube_client) == generations, what

            static_base, _ = _wide_lws(_wide_sections(static=True))
            kube_client.apply(path, static_base)
            static_pods = wait_for(lambda: (p := _group_pods(kube_client)) and set(p.values()).isdisjoint(pods.values()) and p,
                                   180, what="the group recreated for the switch to static mode")
            static_added, _ = _wide_lws(_wide_sections(adapter_edits(WIDE_BASE)["add"], static=True))
            assert static_added["spec"] != static_base["spec"]
            kube_client.apply(path, static_added)
            wait_for(lambda: (p := _group_pods(kube_client)) and set(p.values()).isdisjoint(static_pods.values()),
                     180, what="static mode: the group recreated for the added adapter")
            leader = kube_client.get(f"/apis/apps/v1/namespaces/{NAMESPACE}/statefulsets/{WIDE}")
            main = leader["spec"]["template"]["spec"]["containers"][0]
            launch = main.get("command", []) + main.get("args", [])  # the multi-node launch is a command
            assert any("contracts-b" in a for a in launch), launch
        finally:
            with contextlib.suppress(kube.ApiError):
                kube_client.delete(path)
