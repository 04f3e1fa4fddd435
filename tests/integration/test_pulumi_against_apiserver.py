"""`pulumi up` of the program, through the real engine, against the loopback API server.

The stack is the local stack's platform pointed at the loopback cluster (``cluster.kind:
kubeconfig``), with three test-only changes, all in a temporary stack file (stacks/ is untouched):

* GPU sharing off on its pool: time-slicing is configured by the NVIDIA GPU Operator, a Helm
  release that cannot be fetched here; without it the pool advertises whole ``nvidia.com/gpu``.
* Namespaces renamed (``it-llm``, ``it-minio``) so other modules' objects never collide.
* A kwok node per GPU pool (its labels, taint and advertised resources), one CPU node, and a
  PersistentVolume per PersistentVolumeClaim the stack declares: what a real cluster provides.

What runs for real: the Pulumi engine with the pulumi-kubernetes provider and this project's
bridged random provider, built from Go modules (tools/engine), the program inline
(infra.engine.run), kube-apiserver admission with the upstream CRDs, the controller-manager (Job,
Deployment, PV binding, endpoints), kube-scheduler and kwok making pods Running/Succeeded, so the
provider's readiness awaits are real awaits.
"""

from __future__ import annotations

import contextlib
import copy
import os
import time
from pathlib import Path

import pytest
import yaml

import kserve_controller
import kube
from kube import wait_for

from infra import engine as engine_mod  # noqa: E402
from components.gpu.placement import GPU_TAINT_KEY  # noqa: E402
from components.gpu.sharing import advertised, node_labels  # noqa: E402
from infra.config_loading import read_stack_file  # noqa: E402
from infra.synth import synthesize  # noqa: E402

pytestmark = [pytest.mark.timeout(900), pytest.mark.engine]

STACK = "it-loopback"
BASE = "local"
SERVING_NS = "it-llm"
MINIO_NS = "it-minio"
PASSPHRASE = "llm-platform-integration"  # throwaway state in a temp dir


# ------------------------------------------------------------------------------------ stack


def _sections(kubeconfig: Path) -> dict:
    sections, _ = read_stack_file(BASE)
    sections = copy.deepcopy(sections)
    sections["cluster"] = {"kind": "kubeconfig", "kubeconfig": str(kubeconfig), "kubernetesVersion": "1.37"}
    for pool in sections["gpu"]["pools"].values():
        pool.pop("sharing", None)
    sections["serving"]["namespace"] = SERVING_NS
    sections.setdefault("storage", {}).setdefault("minio", {})["namespace"] = MINIO_NS
    return sections


class LoopbackStack:
    def __init__(self, cluster: kube.ControlPlane, workdir: Path, engine: dict[str, str]):
        self.cluster = cluster
        self.client = cluster.client
        self.workdir = workdir
        self.engine = engine
        self.state = workdir / "state"
        self.stack_file = workdir / f"Pulumi.{STACK}.yaml"
        self.sections = _sections(cluster.kubeconfig)
        self.stack_file.write_text(yaml.safe_dump(
            {"config": {f"llm-platform:{k}": v for k, v in self.sections.items()}}, sort_keys=False))
        self.synth = synthesize(BASE, sections=self.sections)  # what the program declares
        self.log: list[str] = []

    @contextlib.contextmanager
    def _patched(self):
        real_stack_file = engine_mod.stack_file
        old_pass = os.environ.get("PULUMI_CONFIG_PASSPHRASE")
        engine_mod.stack_file = lambda stack: self.stack_file if stack == STACK else real_stack_file(stack)
        os.environ["PULUMI_CONFIG_PASSPHRASE"] = PASSPHRASE
        cwd = os.getcwd()
        try:
            yield
        finally:
            engine_mod.stack_file = real_stack_file
            if old_pass is None:
                os.environ.pop("PULUMI_CONFIG_PASSPHRASE", None)
            else:
                os.environ["PULUMI_CONFIG_PASSPHRASE"] = old_pass
            os.chdir(cwd)  # engine.run changes into the repo root

    def run(self, operation: str) -> "engine_mod.Result":
        with self._patched():
            return engine_mod.run(operation, STACK, state_dir=self.state, build=False,
                                  on_output=self.log.append)

    def destroy_excluding_protected(self):
        """``pulumi destroy --exclude-protected``."""
        with self._patched():
            return engine_mod.run("destroy", STACK, state_dir=self.state, build=False,
                                  on_output=self.log.append, exclude_protected=True)

    def prepare_cluster(self) -> None:
        c = self.client
        # Observability writes its dashboards into the monitoring namespace a Prometheus stack owns.
        c.apply("/api/v1/namespaces/monitoring",
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "monitoring"}})
        # Every kubelet advertises ephemeral-storage; platform pods request it (bounded emptyDirs).
        for pool_name, pool in self.synth.config.gpu.pools.items():
            res = {"cpu": "64", "memory": "512Gi", "pods": "110", "ephemeral-storage": "2Ti",
                   **{k: str(v) for k, v in advertised(pool).items()}}
            taints = [{"key": GPU_TAINT_KEY, "value": "true", "effect": "NoSchedule"}] if pool.taint else []
            self._node(f"it-pulumi-{pool_name}-0", node_labels(pool_name, pool), taints, res)
        self._node("it-pulumi-cpu-0", {}, [], {"cpu": "64", "memory": "512Gi", "pods": "110", "ephemeral-storage": "2Ti"})
        for pvc in self.synth.objects("PersistentVolumeClaim"):
            spec = pvc["spec"]
            name = f"it-pv-{pvc['metadata']['namespace']}-{pvc['metadata']['name']}"
            pv = {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
                  "spec": {"capacity": {"storage": spec["resources"]["requests"]["storage"]},
                           "accessModes": spec["accessModes"], "persistentVolumeReclaimPolicy": "Retain",
                           "hostPath": {"path": f"/nonexistent/{name}"},
                           "claimRef": {"namespace": pvc["metadata"]["namespace"],
                                        "name": pvc["metadata"]["name"]}}}
            if spec.get("storageClassName"):
                pv["spec"]["storageClassName"] = spec["storageClassName"]
            c.create("/api/v1/persistentvolumes", pv)

    def _node(self, name: str, labels: dict, taints: list, resources: dict) -> None:
        self.client.create("/api/v1/nodes", {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name,
                         "annotations": {kube.KWOK_NODE_ANNOTATION[0]: kube.KWOK_NODE_ANNOTATION[1]},
                         "labels": {**labels, "kubernetes.io/hostname": name, "type": "kwok"}},
            "spec": {"taints": taints},
            "status": {"capacity": resources, "allocatable": resources}})

        def ready() -> bool:
            node = self.client.get(f"/api/v1/nodes/{name}")
            conds = {c["type"]: c["status"] for c in node.get("status", {}).get("conditions", [])}
            lifecycle = [t for t in node["spec"].get("taints", []) if t["key"].startswith("node.kubernetes.io/")]
            return conds.get("Ready") == "True" and not lifecycle

        wait_for(ready, 60, what=f"node {name} Ready")

    def cleanup_cluster(self) -> None:
        for path in [f"/api/v1/nodes/{n['metadata']['name']}"
                     for n in self.client.get("/api/v1/nodes")["items"]
                     if n["metadata"]["name"].startswith("it-pulumi-")] + \
                    [f"/api/v1/persistentvolumes/{p['metadata']['name']}"
                     for p in self.client.get("/api/v1/persistentvolumes")["items"]
                     if p["metadata"]["name"].startswith("it-pv-")]:
            with contextlib.suppress(kube.ApiError):
                self.client.delete(path)


# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def loopback(engine, kube_cluster, tmp_path_factory, request):
    """Requested before kube_cluster (both session-scoped): no control plane start when the
    engine cannot be built."""
    stack = LoopbackStack(kube_cluster, tmp_path_factory.mktemp("pulumi-loopback"), engine)
    stack.prepare_cluster()
    tr = request.config.pluginmanager.get_plugin("terminalreporter")
    cap = request.config.pluginmanager.get_plugin("capturemanager")
    note = (f"engine pulumi {engine.get('PULUMI_VERSION')}, kubernetes {engine.get('KUBERNETES_VERSION')}, "
            f"random {engine.get('RANDOM_VERSION')}")
    if tr is not None and cap is not None:
        with cap.global_and_fixture_disabled():
            tr.write_line(f"\nintegration/pulumi: {note}")
    # The CLI's stack init can write the secrets salt into the default stack file even when the
    # runner passes --config-file; a stray stacks/Pulumi.<test stack>.yaml would become a stack.
    stray = engine_mod.ROOT / "stacks" / f"Pulumi.{STACK}.yaml"
    existed = stray.exists()
    try:
        yield stack
    finally:
        stack.cleanup_cluster()
        if not existed and stray.exists():
            stray.unlink()


@pytest.fixture(scope="module")
def ups(loopback):
    t0 = time.monotonic()
    try:
        first = loopback.run("up")
    except engine_mod.EngineError as exc:
        pytest.fail(f"first up failed:\n{exc}", pytrace=False)
    second = loopback.run("up")
    first.seconds_total = time.monotonic() - t0  # type: ignore[attr-defined]
    return first, second


# ------------------------------------------------------------------------------------ tests


def test_up_creates_every_declared_object_on_the_apiserver(loopback, ups):
    first, _ = ups
    assert first.summary.get("create", 0) > 0, first.summary
    assert set(first.summary) == {"create"}, first.summary
    missing = []
    for obj in loopback.synth.manifests:
        if not loopback.client.exists(loopback.client.object_path(obj)):
            missing.append(loopback.client.object_path(obj))
    assert not missing, f"declared but not on the API server: {missing}"


def test_second_up_changes_nothing(ups):
    first, second = ups
    assert second.changes == 0, (second.summary, [l for l in second.stdout.splitlines() if l.lstrip().startswith("~")])
    assert second.summary.get("same", 0) == sum(first.summary.values())


def test_provider_awaits_were_met_by_the_control_plane(loopback, ups):
    """The provider waited for the MinIO Deployment to be available and its setup Job to
    complete: real controllers, kwok pods."""
    c = loopback.client
    dep = c.get(f"/apis/apps/v1/namespaces/{MINIO_NS}/deployments/minio")
    assert dep["status"].get("availableReplicas") == dep["spec"]["replicas"]
    job = c.get(f"/apis/batch/v1/namespaces/{MINIO_NS}/jobs/minio-setup")
    assert any(cond["type"] == "Complete" and cond["status"] == "True" for cond in job["status"]["conditions"])
    for pvc in loopback.synth.objects("PersistentVolumeClaim"):
        got = c.get(c.object_path(pvc))
        assert got["status"]["phase"] == "Bound", (pvc["metadata"], got["status"])


@pytest.mark.gotools("helm", "kserve")
def test_kserve_reconciles_the_applied_inferenceservice_on_its_pool(loopback, ups, kserve_bin, helm_bin, api_versions):
    """The real KServe manager (configured from the chart with the stack's values) reconciles the
    InferenceService exactly as the provider stored it: Ready, with its predictor pod on the node
    of the service's pool."""
    c = loopback.client
    with kserve_controller.running(loopback.cluster, kserve_bin, loopback.synth, api_versions):
        for name, service in loopback.synth.config.serving.services.items():
            path = f"/apis/serving.kserve.io/v1beta1/namespaces/{SERVING_NS}/inferenceservices/{name}"

            def ready():
                got = c.get(path)
                conds = {x["type"]: x["status"] for x in got.get("status", {}).get("conditions", [])}
                return got if conds.get("Ready") == "True" else None

            try:
                wait_for(ready, 120, interval=1, what=f"InferenceService {name} Ready")
            except TimeoutError as exc:
                pytest.fail(f"{exc}\n{kserve_controller.describe(c, SERVING_NS, name)}", pytrace=False)
            pods = c.get(f"/api/v1/namespaces/{SERVING_NS}/pods",
                         params={"labelSelector": f"serving.kserve.io/inferenceservice={name}"})["items"]
            assert pods and all(p["spec"]["nodeName"] == f"it-pulumi-{service.pool}-0" for p in pods), \
                [(p["metadata"]["name"], p["spec"].get("nodeName")) for p in pods]


@pytest.mark.gotools("helm", "kserve")
def test_destroy_keeps_protected_data(loopback, ups, kserve_bin, helm_bin, api_versions):
    """Plain ``destroy`` deletes what it may and refuses the protected data (an error naming
    it); ``destroy --exclude-protected`` then succeeds. Either way the protected namespaces and
    volumes (still Bound to their PVs) stay in the cluster; every other declared object is gone.

    KServe runs throughout, as in a real cluster: once it has reconciled an InferenceService, the
    object carries KServe's finalizer and only KServe lets it go."""
    with kserve_controller.running(loopback.cluster, kserve_bin, loopback.synth, api_versions):
        _destroy_keeps_protected_data(loopback)


def _destroy_keeps_protected_data(loopback) -> None:
    c = loopback.client
    protected_objs = [o for o in loopback.synth.manifests if _is_protected(loopback, o)]
    assert {o["kind"] for o in protected_objs} >= {"Namespace", "PersistentVolumeClaim"}, protected_objs
    # The serving namespace holds the weights claim, so it is protected; a claim the user made there
    # before (outside Pulumi, like airgap's pre-existing weights volume) must survive destroy with it.
    assert {"kind": "Namespace", "name": SERVING_NS} in [{"kind": o["kind"], "name": o["metadata"]["name"]} for o in protected_objs]
    user_claim = f"/api/v1/namespaces/{SERVING_NS}/persistentvolumeclaims/user-weights"
    c.create(f"/api/v1/namespaces/{SERVING_NS}/persistentvolumeclaims", {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "user-weights", "namespace": SERVING_NS},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})

    with pytest.raises(engine_mod.EngineError) as err:
        loopback.run("destroy")
    assert "protected" in str(err.value), str(err.value)[-2000:]
    for obj in protected_objs:
        assert c.exists(c.object_path(obj)), f"protected {c.object_path(obj)} was deleted by destroy"

    # Raises EngineError unless the CLI exits 0; its summary may be the history's previous
    # (refused) destroy when nothing is left to delete, so the cluster is checked instead.
    loopback.destroy_excluding_protected()
    for obj in loopback.synth.manifests:
        path = c.object_path(obj)
        if obj in protected_objs:
            assert c.exists(path), f"protected {path} was deleted by destroy --exclude-protected"
        else:
            wait_for(lambda: not c.exists(path), 60, what=f"{path} to be deleted")
    for pvc in (o for o in protected_objs if o["kind"] == "PersistentVolumeClaim"):
        assert c.get(c.object_path(pvc))["status"]["phase"] == "Bound"
    assert c.exists(user_claim), "a claim the user created in the serving namespace was deleted by destroy"


def _is_protected(loopback, obj: dict) -> bool:
    meta = obj["metadata"]
    for r in loopback.synth.registrations:
        if r.protect and r.type == f"kubernetes:{_type_token(obj)}":
            props = r.inputs if isinstance(getattr(r, "inputs", None), dict) else {}
            rmeta = props.get("metadata") or {}
            if rmeta.get("name") == meta["name"] and (rmeta.get("namespace") or None) == (meta.get("namespace") or None):
                return True
    return False


def _type_token(obj: dict) -> str:
    api_version = obj["apiVersion"]
    group_version = f"core/{api_version}" if "/" not in api_version else api_version
    return f"{group_version}:{obj['kind']}"
