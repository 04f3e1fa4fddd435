"""The gate as OpenShift AI runs it (behind kube-rbac-proxy, which owns ``Authorization``): a
real HAProxy on loopback with the configuration rendered for ``key_header=x-tenant-key``, in
front of a header-echoing server. No vLLM needed: what matters is which header names the tenant
and that neither credential reaches the model server."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from components.gate.haproxy import FAIRNESS_HEADER, PROXIED_KEY_HEADER, GatePaths, gate_files, key_hash, key_header_for
from components.gate.spec import GateSpec, TenantSpec
from tests.gate.conftest import EchoServer
from tests.support.real_servers import free_port, haproxy_binary, http, start_haproxy, write_secret_volume

TENANTS = {"team-a": TenantSpec(keys={"main": 1}, grants=["tiny:a1"])}
SERVED = {"tiny": ["tiny:a1"]}
OPENSHIFT_TOKEN = "sha256~" + secrets.token_urlsafe(32)  # what the proxy passes on after checking it
BODY = json.dumps({"model": "tiny:a1", "messages": [{"role": "user", "content": "hi"}]}).encode()


@pytest.fixture(scope="module")
def proxied_gate(tmp_path_factory):
    root = tmp_path_factory.mktemp("proxied-gate")
    echo = EchoServer()
    process = None
    try:
        port = free_port()
        spec = GateSpec(vllm_port=echo.port, metrics_port=free_port(), map_reload_seconds=1)
        paths = GatePaths(conf_dir=str(root / "conf"), keys_dir=str(root / "keys"), runtime_socket=str(root / "admin.sock"))
        key = "sk-" + secrets.token_urlsafe(32)
        files = gate_files(spec, TENANTS, {"team-a": [key_hash(key)]}, SERVED, listen_port=port, vllm_key=False,
                           paths=paths, bind="127.0.0.1", key_header=key_header_for("openshift"))
        write_secret_volume(Path(paths.conf_dir), files.config_map)
        write_secret_volume(Path(paths.keys_dir), files.secret)
        process = start_haproxy(haproxy_binary(), Path(paths.conf_dir) / "haproxy.cfg", root,
                                health_url=f"http://127.0.0.1:{port}/health")
        yield f"http://127.0.0.1:{port}", key, echo
    finally:
        if process is not None:
            process.stop()
        echo.stop()


def _chat(url: str, headers: dict[str, str]) -> tuple[int, bytes]:
    status, _, body = http("POST", url + "/v1/chat/completions", BODY, {"content-type": "application/json", **headers})
    return status, body


def test_openshift_reads_the_proxied_header():
    assert key_header_for("openshift") == PROXIED_KEY_HEADER
    assert key_header_for("eks") == key_header_for("kubeconfig") == "authorization"


def test_token_in_authorization_and_key_in_its_header_pass_without_either_reaching_the_server(proxied_gate):
    url, key, echo = proxied_gate
    status, body = _chat(url, {"authorization": f"Bearer {OPENSHIFT_TOKEN}", PROXIED_KEY_HEADER: key})
    assert status == 200, body
    seen = json.loads(body)["headers"]
    assert "authorization" not in seen and PROXIED_KEY_HEADER not in seen
    assert seen[FAIRNESS_HEADER] == "team-a"


def test_the_key_in_authorization_is_not_a_tenant_key_here(proxied_gate):
    url, key, _ = proxied_gate
    assert _chat(url, {"authorization": f"Bearer {key}"})[0] == 401
    assert _chat(url, {"authorization": f"Bearer {OPENSHIFT_TOKEN}"})[0] == 401
    assert _chat(url, {"authorization": f"Bearer {OPENSHIFT_TOKEN}", PROXIED_KEY_HEADER: "sk-wrong"})[0] == 401
