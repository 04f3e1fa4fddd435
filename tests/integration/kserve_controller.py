"""The KServe v0.20.0 controller manager (``github.com/kserve/kserve/cmd/manager``) as a local process,
configured as the stack's ``kserve-resources`` release would configure it.

The ``inferenceservice-config`` ConfigMap and the webhook configurations are rendered from the
chart with the stack's own values (a stack without the release, such as ``local`` where the
controllers are assumed present, gets the chart's defaults). The manager's webhooks (InferenceService
defaulting and validation, ServingRuntime validation, the pod mutator that injects the storage
initializer) are served on a certificate for 127.0.0.1; the webhook configurations point there.

Known deviation: the manager has no flag for its webhook bind address, so controller-runtime
binds the (random) webhook port on all interfaces; the API server reaches it at 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import copy
import json
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import controllers
import kube
from tests.support import helm_render

KSERVE_NAMESPACE = "kserve"
ISVC_CONTROLLER = "inferenceservice"  # controller-runtime's name for it (the lowercased kind)
CONFIG_MAP = "inferenceservice-config"
CHART_KEY = "kserve-resources@v0.20.0"
CRD_CHART_KEY = "kserve-crd@v0.20.0"
# Paths cmd/manager registers (v0.20.0 cmd/manager/main.go); the chart also configures webhooks
# of the LLMInferenceService and local-model controllers, which are other binaries.
SERVED_PATHS = {
    "/mutate-pods",
    "/mutate-serving-kserve-io-v1beta1-inferenceservice",
    "/validate-serving-kserve-io-v1beta1-inferenceservice",
    "/validate-serving-kserve-io-v1alpha1-servingruntime",
    "/validate-serving-kserve-io-v1alpha1-clusterservingruntime",
    "/validate-serving-kserve-io-v1alpha1-trainedmodel",
    "/validate-serving-kserve-io-v1alpha1-inferencegraph",
}


def kserve_release(synth) -> helm_render.Release:
    """The stack's kserve-resources release, or the chart with default values where there is none."""
    for r in helm_render.releases(synth):
        if r.chart_ref.rsplit("/", 1)[-1] == CHART_KEY or r.chart_dir.parent.name == "kserve-resources":
            return r
    index = helm_render._index()
    return helm_render.Release(stack=synth.stack, name="kserve", namespace=KSERVE_NAMESPACE, chart_ref=CHART_KEY,
                               chart_dir=helm_render.charts_dir() / index[CHART_KEY], values={}, skip_crds=False)


def _install_missing_crds(cp: kube.ControlPlane, synth, api_versions: list[str]) -> None:
    """The kserve-crd chart's CRDs the cluster lacks (../shared/crds has no TrainedModel, whose
    watch and finalizer the InferenceService controller needs), as the kserve-crd release installs them."""
    index = helm_render._index()
    release = helm_render.Release(stack=synth.stack, name="kserve-crd", namespace=KSERVE_NAMESPACE, chart_ref=CRD_CHART_KEY,
                                  chart_dir=helm_render.charts_dir() / index[CRD_CHART_KEY], values={}, skip_crds=False)
    crds = [o for o in helm_render.render(release, api_versions=api_versions,
                                          kube_version=helm_render.kube_version(synth.config.cluster.kubernetes_version))
            if o["kind"] == "CustomResourceDefinition"]
    missing = [c for c in crds if not cp.client.exists(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{c['metadata']['name']}")]
    if missing:
        f = cp.workdir / "kserve-chart-crds.json"
        f.write_text("\n---\n".join(json.dumps(c) for c in missing))
        cp.apply_crds([f])


@dataclass
class KServeManager:
    controller: controllers.Controller
    rendered: list[dict]
    webhooks: list[dict]
    started_in: float
    metrics_url: str

    @property
    def config_map(self) -> dict:
        return next(o for o in self.rendered if o["kind"] == "ConfigMap" and o["metadata"]["name"] == CONFIG_MAP)

    def _metrics(self) -> dict[str, float]:
        """controller-runtime's own gauges and counters for the InferenceService controller."""
        with urllib.request.urlopen(self.metrics_url, timeout=5) as resp:
            text = resp.read().decode()
        wanted = {
            "reconciles": ("controller_runtime_reconcile_total", f'controller="{ISVC_CONTROLLER}"'),
            "active": ("controller_runtime_active_workers", f'controller="{ISVC_CONTROLLER}"'),
            "queued": ("workqueue_depth", f'name="{ISVC_CONTROLLER}"'),
        }
        out = dict.fromkeys(wanted, 0.0)
        for line in text.splitlines():
            for key, (metric, label) in wanted.items():
                if line.startswith(metric + "{") and label in line:
                    out[key] += float(line.rsplit(" ", 1)[1])
        return out

    def reconciles(self) -> float:
        """InferenceService reconciles completed so far (any result)."""
        return self._metrics()["reconciles"]

    def wait_reconciled(self, since: float, timeout: float = 60) -> None:
        """Bounded wait until a reconcile completed after ``since`` (a ``reconciles()`` reading
        taken before a change) and the controller is idle: nothing queued, nothing running. Then
        every object KServe derives from the change (the predictor Deployment) is written. The
        InferenceService's status cannot say this: KServe copies status.observedGeneration from the
        Deployment, not from the InferenceService's generation."""
        def done():
            m = self._metrics()
            return m["reconciles"] > since and m["active"] == 0 and m["queued"] == 0
        kube.wait_for(done, timeout, interval=0.2, what="the InferenceService controller to reconcile the change")


@contextlib.contextmanager
def running(cp: kube.ControlPlane, binary: Path, synth, api_versions: list[str]):
    """Render the stack's KServe release, install its ConfigMap, start the manager, register its webhooks."""
    client = cp.client
    assert client is not None
    release = kserve_release(synth)
    rendered = helm_render.render(release, api_versions=api_versions,
                                  kube_version=helm_render.kube_version(synth.config.cluster.kubernetes_version))
    _install_missing_crds(cp, synth, api_versions)
    client.ensure_namespace(KSERVE_NAMESPACE)
    config_map = copy.deepcopy(next(o for o in rendered if o["kind"] == "ConfigMap" and o["metadata"]["name"] == CONFIG_MAP))
    config_map["metadata"]["namespace"] = KSERVE_NAMESPACE
    client.apply(client.object_path(config_map), config_map)
    # The chart's ClusterStorageContainer ``default`` is what the pod mutator injects as the storage
    # initializer for s3:// and pvc:// URIs (image, resources and the containerSecurityContext that
    # restricted Pod Security needs); without it KServe falls back to a bare container.
    for storage in (o for o in rendered if o["kind"] == "ClusterStorageContainer"):
        client.apply(client.object_path(storage), storage)

    home = cp.workdir / "home" / "kserve-manager"
    # controller-runtime's webhook server reads <TMPDIR>/k8s-webhook-server/serving-certs/tls.{crt,key}.
    cert = controllers.serving_cert(cp, "kserve")
    certs = home / "k8s-webhook-server" / "serving-certs"
    certs.mkdir(parents=True, exist_ok=True)
    for f in ("tls.crt", "tls.key"):
        (certs / f).write_bytes((cert / f).read_bytes())
    webhook_port, health, metrics = kube.free_port(), kube.free_port(), kube.free_port()
    t0 = time.monotonic()
    ctl = controllers.start(cp, "kserve-manager", binary,
                            ["--leader-elect=false", f"--webhook-port={webhook_port}", f"--metrics-addr=127.0.0.1:{metrics}",
                             f"--health-probe-addr=127.0.0.1:{health}"],
                            env={"POD_NAMESPACE": KSERVE_NAMESPACE},
                            ready_url=f"http://127.0.0.1:{health}/readyz")
    hooks = controllers.url_webhooks(rendered, webhook_port, cp.pki.ca_crt, SERVED_PATHS)
    try:
        for obj in hooks:
            client.apply(client.object_path(obj), obj)
        yield KServeManager(ctl, rendered, hooks, time.monotonic() - t0, f"http://127.0.0.1:{metrics}/metrics")
    finally:
        for obj in hooks:
            with contextlib.suppress(kube.ApiError):
                client.delete(client.object_path(obj))
        ctl.stop()


def describe(client: kube.KubeClient, namespace: str, name: str) -> str:
    """Why an InferenceService is not Ready, as ``kubectl describe`` would show it: its
    conditions, its predictor Deployment's, and each predictor pod's phase, conditions and
    container states (for a timeout message)."""
    lines: list[str] = []

    def section(title: str, fn) -> None:
        try:
            fn()
        except kube.ApiError as exc:
            lines.append(f"{title}: {exc}")

    def isvc() -> None:
        got = client.get(f"/apis/serving.kserve.io/v1beta1/namespaces/{namespace}/inferenceservices/{name}")
        for c in got.get("status", {}).get("conditions", []):
            lines.append(f"isvc {c['type']}={c['status']} {c.get('reason', '')} {c.get('message', '')}".rstrip())

    def deployment() -> None:
        d = client.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}-predictor")
        for c in d.get("status", {}).get("conditions", []):
            lines.append(f"deployment {c['type']}={c['status']} {c.get('reason', '')} {c.get('message', '')}".rstrip())

    def pods() -> None:
        items = client.get(f"/api/v1/namespaces/{namespace}/pods",
                           params={"labelSelector": f"serving.kserve.io/inferenceservice={name}"})["items"]
        lines.append(f"pods: {len(items)}")
        for p in items:
            st = p.get("status", {})
            conds = ", ".join(f"{c['type']}={c['status']}{'(' + c['message'] + ')' if c.get('message') else ''}"
                              for c in st.get("conditions", []))
            lines.append(f"pod {p['metadata']['name']} on {p['spec'].get('nodeName')}: {st.get('phase')} [{conds}]")
            for cs in st.get("initContainerStatuses", []) + st.get("containerStatuses", []):
                lines.append(f"  {cs['name']}: ready={cs.get('ready')} state={json.dumps(cs.get('state'))}")

    def events() -> None:
        for e in client.get(f"/api/v1/namespaces/{namespace}/events")["items"][-15:]:
            if e.get("type") == "Warning":
                lines.append(f"event {e['involvedObject']['kind']}/{e['involvedObject']['name']}: "
                             f"{e.get('reason')} {e.get('message', '')[:300]}")

    for title, fn in (("isvc", isvc), ("deployment", deployment), ("pods", pods), ("events", events)):
        section(title, fn)
    return "\n".join(lines)
