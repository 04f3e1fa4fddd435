"""Every Helm release of every stack, rendered by Helm 3 (v3.22.0, built from its Go module) from
the pinned chart sources with exactly the values the program passes, the stack's Kubernetes
version and the cluster's API versions, then:

- every rendered object passes the API server's server-side dry run (CRDs the charts carry are
  installed first, as Helm does, so their custom resources are checked against them);
- on the air-gapped stack every image the render runs (pod templates, the GPU Operator's
  ClusterPolicy operands, the images KServe's inferenceservice-config hands to the controller)
  is its upstream image under the mirror, upstream path kept, and every pod pulling it gets the
  pull secret (on the pod or on its ServiceAccount);
- each value we set is read: changing it (or, where a chart only tests presence, removing it)
  changes the render. Helm silently ignores keys a chart never reads; this catches them.
"""

from __future__ import annotations

import copy
import json
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import pytest

import kube
from components.airgap.helm_values import mirror_values_for_chart
from components.airgap.images import mirror_image
from infra.config_loading import list_stacks
from infra.synth import synthesize
from tests.support import helm_render
from tests.support.helm_render import Release

pytestmark = [pytest.mark.timeout(1800), pytest.mark.gotools("helm")]

POD_TEMPLATE_KINDS = {"Deployment", "DaemonSet", "StatefulSet", "ReplicaSet", "Job"}
# Istio is a cluster prerequisite of llm-d (README) whose CRDs are not in ../shared/crds: objects
# of these groups (llm-d-infra's Telemetry, the router's DestinationRule) cannot be admitted here.
UNCHECKED_PREREQUISITE_GROUPS = {"telemetry.istio.io", "networking.istio.io"}


@lru_cache(maxsize=None)
def _synth(stack: str):
    return synthesize(stack)


ALL_RELEASES: list[Release] = [r for s in list_stacks() for r in helm_render.releases(_synth(s))]


def _kube_version(stack: str) -> str:
    return helm_render.kube_version(_synth(stack).config.cluster.kubernetes_version)


@pytest.fixture(scope="session")
def renderer(helm_bin, api_versions):
    cache: dict[tuple, list[dict] | helm_render.RenderError] = {}

    def render(release: Release, values: dict | None = None) -> list[dict]:
        key = (str(release.chart_dir), release.name, release.namespace, release.skip_crds, _kube_version(release.stack),
               json.dumps(release.values if values is None else values, sort_keys=True))
        if key not in cache:
            try:
                cache[key] = helm_render.render(release, kube_version=key[4], api_versions=api_versions, values=values)
            except helm_render.RenderError as e:
                cache[key] = e
        if isinstance(cache[key], Exception):
            raise cache[key]
        return cache[key]  # type: ignore[return-value]

    return render


def test_every_stack_with_controllers_has_releases():
    by_stack = {r.stack for r in ALL_RELEASES}
    assert {"dev", "staging", "prod", "airgap"} <= by_stack, by_stack


@pytest.mark.parametrize("release", ALL_RELEASES, ids=lambda r: r.id)
def test_release_renders(renderer, release: Release):
    objs = renderer(release)
    assert objs, f"{release.id}: {release.chart_ref} rendered nothing"


# --------------------------------------------------------------------------- admission


def _with_namespace(client: kube.KubeClient, obj: dict, namespace: str) -> dict:
    """Helm installs a namespaced object without metadata.namespace into the release namespace."""
    if obj["metadata"].get("namespace"):
        return obj
    path = client.object_path({**obj, "metadata": {**obj["metadata"], "namespace": "x"}})
    if "/namespaces/x/" in path:
        return {**obj, "metadata": {**obj["metadata"], "namespace": namespace}}
    return obj


@pytest.fixture(scope="session")
def installed_chart_crds(kube_cluster, kube_client, renderer) -> set[str]:
    """The CRDs the rendered releases carry that the cluster does not have yet (from ../shared/crds),
    applied for real once each (Helm installs them before anything else), so the charts' own custom
    resources (cert-manager's Issuer and Certificate, ...) are checked against them."""
    crds: dict[str, dict] = {}
    for release in ALL_RELEASES:
        for o in renderer(release):
            if o.get("kind") == "CustomResourceDefinition":
                crds.setdefault(o["metadata"]["name"], o)
    missing = [c for name, c in sorted(crds.items())
               if not kube_client.exists(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")]
    if missing:
        f = kube_cluster.workdir / "chart-crds.json"
        f.write_text("\n---\n".join(json.dumps(c) for c in missing))
        kube_cluster.apply_crds([f])
    return set(crds)


@pytest.mark.parametrize("release", ALL_RELEASES, ids=lambda r: r.id)
def test_rendered_objects_are_admitted(kube_client, renderer, installed_chart_crds, release: Release):
    kube_client.ensure_namespace(release.namespace)
    refused = []
    for obj in renderer(release):
        if obj.get("kind") == "CustomResourceDefinition":
            continue
        if obj["apiVersion"].split("/")[0] in UNCHECKED_PREREQUISITE_GROUPS:
            continue
        obj = _with_namespace(kube_client, obj, release.namespace)
        if obj["metadata"].get("namespace"):
            kube_client.ensure_namespace(obj["metadata"]["namespace"])
        try:
            kube_client.dry_run_apply(obj)
        except kube.ApiError as e:
            refused.append(f"{obj['kind']} {obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}: {e.code} {e.message}")
        except KeyError as e:
            refused.append(f"{obj['apiVersion']} {obj['kind']} {obj['metadata']['name']}: not served ({e})")
    assert not refused, f"{release.id}: {len(refused)} rendered objects refused:\n" + "\n".join(refused)


# --------------------------------------------------------------------------- air gap


def _pod_specs(obj: dict):
    kind, spec = obj.get("kind"), obj.get("spec") or {}
    if kind == "Pod":
        yield spec
    elif kind in POD_TEMPLATE_KINDS:
        yield spec.get("template", {}).get("spec", {})
    elif kind == "CronJob":
        yield spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec", {})


def _images(objs: list[dict]) -> dict[str, tuple[str, list[str] | None]]:
    """Every image the render runs -> (reference, pull secrets its pods get, or None where the
    consumer is not a pod template): pod templates (pod-level secrets plus those of the pod's
    ServiceAccount, which the ServiceAccount admission plugin copies in), the GPU Operator's
    ClusterPolicy operands, the images KServe's inferenceservice-config hands to the controller."""
    sa_secrets = {o["metadata"]["name"]: [s["name"] for s in o.get("imagePullSecrets") or []]
                  for o in objs if o["kind"] == "ServiceAccount"}
    out: dict[str, tuple[str, list[str] | None]] = {}
    for obj in objs:
        where = f"{obj['kind']} {obj['metadata']['name']}"
        for spec in _pod_specs(obj):
            secrets = [s["name"] for s in spec.get("imagePullSecrets") or []]
            secrets += sa_secrets.get(spec.get("serviceAccountName") or spec.get("serviceAccount") or "default", [])
            for key in ("initContainers", "containers", "ephemeralContainers"):
                for c in spec.get(key) or []:
                    out[f"{where} {key}/{c['name']}"] = (c.get("image", ""), secrets)
        if obj["kind"] == "ClusterPolicy":
            for component, c in (obj.get("spec") or {}).items():
                subs = [(component, c)] + [(f"{component}.{k}", v) for k, v in (c.items() if isinstance(c, dict) else [])
                                           if isinstance(v, dict) and "repository" in v]
                for name, part in subs:
                    if isinstance(part, dict) and part.get("repository"):
                        ref = f"{part['repository']}/{part.get('image', '')}:{part.get('version', '')}"
                        out[f"{where} {name}"] = (ref, c.get("imagePullSecrets") or [])
        if obj["kind"] == "ConfigMap" and obj["metadata"]["name"] == "inferenceservice-config":
            for key, raw in (obj.get("data") or {}).items():
                try:
                    section = json.loads(raw)
                except ValueError:
                    continue
                for field in ("image", "storageInitializerImage"):
                    if isinstance(section, dict) and section.get(field):
                        out[f"{where} {key}.{field}"] = (section[field], None)
    return out


def _without(values: dict, overlay: dict) -> dict:
    """``values`` with every key the air-gap overlay sets removed: what the release passes upstream."""
    out = copy.deepcopy(values)

    def strip(v: dict, o: dict) -> None:
        for k, ov in o.items():
            if k in v and isinstance(ov, dict) and isinstance(v[k], dict):
                strip(v[k], ov)
                if not v[k]:
                    del v[k]
            else:
                v.pop(k, None)

    strip(out, overlay)
    return out


AIRGAP_RELEASES = [r for r in ALL_RELEASES if _synth(r.stack).config.airgap.enabled]


@pytest.mark.parametrize("release", AIRGAP_RELEASES, ids=lambda r: r.id)
def test_airgap_render_pulls_only_from_the_mirror_with_the_pull_secret(renderer, release: Release):
    """Each image is the upstream image (the same chart rendered without the air-gap overlay) under
    the mirror, upstream path kept (``mirror_image``), and each pod pulling it has the pull secret."""
    airgap = _synth(release.stack).config.airgap
    secrets = set(airgap.image_pull_secrets)
    overlay = mirror_values_for_chart(release.chart_dir.parent.name, airgap.registry, tuple(airgap.image_pull_secrets)) or {}
    mirrored = _images(renderer(release))
    upstream = _images(renderer(release, _without(release.values, overlay)))
    assert mirrored.keys() == upstream.keys()
    wrong = []
    for where, (image, pull) in sorted(mirrored.items()):
        expected = mirror_image(upstream[where][0], airgap.registry, airgap.image_digests)
        if image != expected:
            wrong.append(f"{where}: image {image!r}, expected {expected!r} (upstream {upstream[where][0]!r})")
        if pull is not None and not secrets <= set(pull):
            wrong.append(f"{where}: pull secrets {sorted(pull)} lack {sorted(secrets - set(pull))}")
    assert not wrong, f"{release.id}:\n" + "\n".join(wrong)


def test_airgap_stack_has_releases_to_check():
    assert len(AIRGAP_RELEASES) >= 5, [r.id for r in AIRGAP_RELEASES]


# --------------------------------------------------------------------------- every value is read


def _unread_values(renderer, release: Release) -> list[str]:
    baseline = renderer(release)
    paths = list(helm_render.leaf_paths(release.values))

    def read(path) -> bool:
        for variant in (helm_render.with_change, helm_render.without):
            try:
                if renderer(release, variant(release.values, path)) != baseline:
                    return True
            except helm_render.RenderError:
                return True   # the chart refused the changed value: it reads it
        return False

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(read, paths))
    return [helm_render.dotted(p) for p, ok in zip(paths, results) if not ok]


@pytest.mark.parametrize("release", [r for r in ALL_RELEASES if r.values], ids=lambda r: r.id)
def test_every_value_we_set_is_read_by_the_chart(renderer, release: Release):
    unread = _unread_values(renderer, release)
    assert not unread, (f"{release.id} ({release.chart_ref}): the chart never reads these values "
                        f"(changing or removing each leaves the render identical): {unread}")


def test_the_value_check_catches_a_key_the_chart_does_not_read(renderer):
    """The check itself can fail: a planted key no template reads is reported."""
    release = next(r for r in ALL_RELEASES if r.name == "keda")
    planted = Release(**{**release.__dict__, "values": {**release.values, "notAKedaValue": {"enabled": True}}})
    assert _unread_values(renderer, planted) == ["notAKedaValue.enabled"]
