"""The air-gapped stack's synthesis, checked without the policy pack: nothing is pulled or
fetched from outside the internal network, and every model server runs offline and trusts the
internal CA. These fail if the stack has no model-serving pod at all."""

from __future__ import annotations

import re
from typing import Any, Iterator
from urllib.parse import urlparse

import pytest

STACK = "airgap"
_URL = re.compile(r"(hf://[^\s\"',]+|https?://[^\s\"',]+)")
_NEVER_FETCHED = ("http://s3.amazonaws.com/doc/", "http://www.w3.org/")


def _walk(value: Any, path: str = "") -> Iterator[tuple[str, str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield path, k, v
            yield from _walk(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk(v, f"{path}[{i}]")


@pytest.fixture(scope="module")
def airgap(synthesized):
    return synthesized(STACK)


def _internal(host: str, cfg) -> bool:
    host = host.split(":")[0]
    mirror_hosts = {cfg.airgap.registry.split("/")[0].split(":")[0], cfg.airgap.chart_mirror.split("://")[1].split("/")[0].split(":")[0]}
    return "." not in host or host in mirror_hosts or host.endswith((".svc", ".cluster.local", ".internal", ".invalid"))


def test_every_image_comes_from_the_mirror(airgap):
    mirror = airgap.config.airgap.registry + "/"
    images = [(m["kind"], m["metadata"]["name"], v) for m in airgap.manifests for _p, k, v in _walk(m) if k == "image" and isinstance(v, str)]
    assert images, "the air-gapped stack runs no container at all"
    outside = [i for i in images if not i[2].startswith(mirror)]
    assert outside == []


def test_every_chart_comes_from_the_chart_mirror(airgap):
    mirror = airgap.config.airgap.chart_mirror.rstrip("/") + "/"
    releases = airgap.by_type("kubernetes:helm.sh/v3:Release") + airgap.by_type("kubernetes:helm.sh/v4:Chart")
    assert releases
    assert [r.name for r in releases if not str(r.inputs.get("chart", "")).startswith(mirror)] == []


def test_no_external_url_anywhere(airgap):
    found = []
    for m in airgap.manifests:
        body = {k: v for k, v in m.items() if k != "metadata"}
        for path, key, value in _walk(body):
            if isinstance(value, str):
                for url in _URL.findall(value):
                    if url.startswith("hf://") or (not url.startswith(_NEVER_FETCHED) and not _internal(urlparse(url).hostname or "", airgap.config)):
                        found.append((m["kind"], m["metadata"]["name"], f"{path}.{key}", url))
    assert found == []


def _model_server_pods(airgap) -> list[tuple[str, dict, list[dict]]]:
    """(object, pod-level spec, containers) of every pod spec that runs vLLM."""
    out = []
    for m in airgap.manifests:
        for path, key, value in _walk(m):
            if key in ("containers",) and isinstance(value, list):
                containers = [c for c in value if isinstance(c, dict)]
                if any("vllm" in (c.get("image", "") + " ".join(map(str, c.get("command", []) + c.get("args", [])))).lower()
                       for c in containers):
                    parent = eval_path(m, path)
                    out.append((f"{m['kind']}/{m['metadata']['name']}{path}", parent, containers))
    return out


def eval_path(obj: dict, path: str) -> dict:
    for part in filter(None, re.split(r"\.|\[(\d+)\]", path)):
        obj = obj[int(part)] if part.isdigit() and isinstance(obj, list) else obj[part]
    return obj


def test_every_model_server_runs_offline_and_trusts_the_internal_ca(airgap):
    pods = _model_server_pods(airgap)
    assert pods, "no model-serving pod in the air-gapped stack"
    ca = airgap.config.airgap.ca_bundle
    problems = []
    for where, pod, containers in pods:
        ca_volumes = {v["name"] for v in pod.get("volumes", []) if (v.get("configMap") or {}).get("name") == ca.bundle_config_map}
        if not ca_volumes:
            problems.append(f"{where}: no volume from ConfigMap {ca.bundle_config_map}")
        for c in containers:
            env = {e["name"]: e.get("value") for e in c.get("env", [])}
            for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
                if env.get(name) != "1":
                    problems.append(f"{where}/{c['name']}: {name}={env.get(name)}")
            for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "AWS_CA_BUNDLE"):
                if env.get(name) != f"{ca.mount_path}/{ca.bundle_key}":
                    problems.append(f"{where}/{c['name']}: {name}={env.get(name)}")
            if not any(vm["name"] in ca_volumes and vm["mountPath"] == ca.mount_path for vm in c.get("volumeMounts", [])):
                problems.append(f"{where}/{c['name']}: CA bundle not mounted at {ca.mount_path}")
    assert problems == []


def test_model_weights_are_readable_by_the_non_root_server(airgap):
    isvcs = airgap.objects("InferenceService")
    assert isvcs
    for isvc in isvcs:
        sc = isvc["spec"]["predictor"].get("securityContext") or {}
        assert sc.get("fsGroup") is not None, isvc["metadata"]["name"]


def test_kserve_storage_initializer_trusts_the_internal_ca(airgap):
    ca = airgap.config.airgap.ca_bundle
    creds = [m for m in airgap.manifests if m["kind"] in ("Secret", "ServiceAccount")
             and "serving.kserve.io/s3-endpoint" in (m["metadata"].get("annotations") or {})]
    for m in creds:
        assert m["metadata"]["annotations"].get("serving.kserve.io/s3-cabundle-configmap") == ca.bundle_config_map, m["metadata"]["name"]
    assert ca.bundle_key == "cabundle.crt"


def test_rewritten_objects_still_validate_against_upstream_schemas(airgap):
    from tests.support.schemas import object_errors

    masked = "stringData: '[secret]' is not of type 'object', 'null'"  # secret inputs are masked whole in synthesis
    errors = {f"{m['kind']}/{m['metadata']['name']}": [e for e in object_errors(m) if e != masked] for m in airgap.manifests}
    assert {k: v for k, v in errors.items() if v} == {}
