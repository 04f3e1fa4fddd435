"""The sync sidecar's registry source on a REAL API server: it reads and watches its registry
ConfigMap with a ServiceAccount token bound to exactly the Role the program synthesizes, sees
a change within a second (no kubelet volume refresh), and that token can read nothing else."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.support import realvllm

pytestmark = pytest.mark.integration
SIDECAR = Path(__file__).resolve().parents[2] / "components" / "models" / "lora_sync.py"


def _named(objs, name):
    (obj,) = [o for o in objs if o["metadata"]["name"] == name]
    return obj


def _clean(obj: dict) -> dict:
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"],
            "metadata": {k: v for k, v in obj["metadata"].items() if k in ("name", "namespace", "labels")},
            **{k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata", "status")}}


def _metric(url: str, name: str) -> float | None:
    try:
        with urllib.request.urlopen(f"{url}/metrics", timeout=2) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[-1])
    except OSError:
        return None
    return None


def test_sidecar_watches_its_registry_through_the_api_with_the_synthesized_role(kube_cluster, synthesized, tmp_path):
    s = synthesized("local")
    registry = _named(s.objects("ConfigMap"), "qwen-7b-lora-registry")
    role = _named(s.objects("Role"), "qwen-7b-lora-registry-reader")
    binding = _named(s.objects("RoleBinding"), "qwen-7b-lora-registry-reader")
    ns, sa = registry["metadata"]["namespace"], binding["subjects"][0]["name"]
    api = kube_cluster.client
    api.ensure_namespace(ns)
    api.apply(f"/api/v1/namespaces/{ns}/serviceaccounts/{sa}",
              {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": sa, "namespace": ns}})
    for obj in (registry, role, binding):
        api.apply(api.object_path(obj), _clean(obj))
    api.apply(f"/api/v1/namespaces/{ns}/configmaps/other", {"apiVersion": "v1", "kind": "ConfigMap",
                                                          "metadata": {"name": "other", "namespace": ns}, "data": {"x": "secret"}})
    token = api.create(f"/api/v1/namespaces/{ns}/serviceaccounts/{sa}/token",
                       {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 600}})
    token_file = tmp_path / "token"
    token_file.write_text(token["status"]["token"])

    # Least privilege: that token reads its registry and nothing else.
    import ssl
    ctx = ssl.create_default_context(cafile=str(kube_cluster.pki.ca_crt))

    def get(path: str) -> int:
        req = urllib.request.Request(kube_cluster.server + path, headers={"Authorization": f"Bearer {token['status']['token']}"})
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
                return r.status
        except urllib.error.HTTPError as exc:
            return exc.code

    assert get(f"/api/v1/namespaces/{ns}/configmaps/qwen-7b-lora-registry") == 200
    assert get(f"/api/v1/namespaces/{ns}/configmaps/other") == 403
    assert get(f"/api/v1/namespaces/{ns}/configmaps") == 403
    assert get(f"/api/v1/namespaces/{ns}/secrets") == 403

    port = realvllm.free_port()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "S3_ENDPOINT": "http://127.0.0.1:9", "S3_BUCKET": "adapters",
           "AWS_ACCESS_KEY_ID": "unused", "AWS_SECRET_ACCESS_KEY": "unused", "CACHE_DIR": str(tmp_path / "cache"),
           "REGISTRY_SOURCE": "kube", "REGISTRY_CONFIGMAP": "qwen-7b-lora-registry", "POD_NAMESPACE": ns,
           "KUBE_API_URL": kube_cluster.server, "KUBE_TOKEN_FILE": str(token_file), "KUBE_CA_FILE": str(kube_cluster.pki.ca_crt),
           "VLLM_URL": f"http://127.0.0.1:{realvllm.free_port()}", "STATUS_HOST": "127.0.0.1", "STATUS_PORT": str(port)}
    (tmp_path / "cache").mkdir()
    proc = realvllm.start([sys.executable, "-I", str(SIDECAR)], env, tmp_path / "sidecar.log")
    try:
        url = f"http://127.0.0.1:{port}"
        entries = json.loads(registry["data"]["registry.json"])
        deadline = time.monotonic() + 30
        while _metric(url, "lora_sync_registry_adapters") != len(entries):
            assert time.monotonic() < deadline, proc.tail()
            time.sleep(0.1)
        entries["qwen2.5-7b:extra"] = next(iter(entries.values()))
        t0 = time.monotonic()
        api.apply(api.object_path(registry), {**_clean(registry), "data": {"registry.json": json.dumps(entries)}})
        while _metric(url, "lora_sync_registry_adapters") != len(entries):
            assert time.monotonic() - t0 < 5, f"the watch did not deliver the change: {proc.tail()}"
            time.sleep(0.02)
        seen = time.monotonic() - t0
        assert seen < 2, f"change seen after {seen:.2f} s"
        assert _metric(url, "lora_sync_ready") in (None, 0.0), "vLLM is down here: not Ready"
        assert "registry watch" not in proc.tail(), proc.tail()
    finally:
        proc.stop()
