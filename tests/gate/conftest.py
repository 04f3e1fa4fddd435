"""One real vLLM per session (tiny Llama, three adapters) behind two real HAProxy gates on
loopback, both running the configuration ``components/gate/haproxy.py`` renders for a pod,
with only file locations and the listen address changed for the test:

* ``gate``: in front of vLLM;
* ``echo_gate``: the same rules in front of a header-echoing HTTP server that can hold a
  request open (what vLLM cannot show: the headers it received, a request in flight for as
  long as the test needs).

Each gate's files are ``gate_files(...)`` (the component's ConfigMap and Secret data), written
as the kubelet lays out and updates a mounted volume (``write_secret_volume``).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from components.gate.haproxy import GatePaths, gate_files, key_hash
from components.gate.spec import GateSpec, TenantSpec
from tests.support.real_servers import (
    Process,
    VllmServer,
    free_port,
    haproxy_binary,
    make_tiny_model,
    start_haproxy,
    start_vllm,
    vllm_python,
    write_secret_volume,
)

SERVED = "tiny"
ADAPTERS = {"a1": 1, "a2": 2, "b1": 3}
RATE_WINDOW = 2
TENANTS = {
    "team-a": TenantSpec(keys={"main": 1}, grants=["tiny:a*"]),
    "team-b": TenantSpec(keys={"main": 1}, grants=["tiny:b1", "tiny"]),
    "limited": TenantSpec(keys={"main": 1}, grants=["tiny:a1"], max_requests_per_window=3),
    "single": TenantSpec(keys={"main": 1}, grants=["tiny:a2"], max_concurrent=1),
    "rotating": TenantSpec(keys={"main": 1}, grants=["tiny:b1"]),
}


@dataclass
class Gate:
    url: str
    """``http://127.0.0.1:<client port>``."""
    metrics_url: str
    spec: GateSpec
    port: int
    paths: GatePaths
    process: Process | None = None


@dataclass
class GateEnv:
    vllm: VllmServer
    gate: Gate
    echo_gate: Gate
    echo: "EchoServer"
    keys: dict[str, str]
    """tenant -> its current API key (plain text, test only)."""
    served: dict[str, list[str]] = field(default_factory=dict)

    def write_files(self) -> None:
        """Both gates' ConfigMap and Secret volumes, as the component renders them for a pod."""
        hashes = {t: [key_hash(k)] for t, k in self.keys.items()}
        for gate in (self.gate, self.echo_gate):
            files = gate_files(gate.spec, TENANTS, hashes, self.served, listen_port=gate.port, vllm_key=False,
                               paths=gate.paths, bind="127.0.0.1")
            write_secret_volume(Path(gate.paths.conf_dir), files.config_map)
            write_secret_volume(Path(gate.paths.keys_dir), files.secret)


class EchoServer:
    """Answers every request with the headers it received (JSON); ``x-test-hold: <s>`` makes it
    wait that long first."""

    def __init__(self) -> None:
        received: list[dict[str, str]] = []

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                received.append(headers)
                time.sleep(float(headers.get("x-test-hold", "0")))
                body = json.dumps({"headers": headers, "path": self.path}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args) -> None:
                pass

        self.received = received
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _gate(workdir: Path, upstream_port: int) -> Gate:
    port = free_port()
    spec = GateSpec(vllm_port=upstream_port, metrics_port=free_port(), rate_window_seconds=RATE_WINDOW,
                    map_reload_seconds=1)
    paths = GatePaths(conf_dir=str(workdir / "conf"), keys_dir=str(workdir / "keys"),
                      runtime_socket=str(workdir / "admin.sock"))
    return Gate(url=f"http://127.0.0.1:{port}", metrics_url=f"http://127.0.0.1:{spec.metrics_port}", spec=spec,
                port=port, paths=paths)


@pytest.fixture(scope="session")
def gate_env(tmp_path_factory) -> GateEnv:
    root = tmp_path_factory.mktemp("gate")
    python = vllm_python()
    binary = haproxy_binary()
    model = make_tiny_model(python, root / "model", ADAPTERS)
    started: list = []
    try:
        vllm = start_vllm(python, model, SERVED, root / "vllm")
        started.append(vllm.process)
        echo = EchoServer()
        started.append(echo)
        env_keys = {t: "sk-" + secrets.token_urlsafe(32) for t in TENANTS}
        served = {SERVED: [f"{SERVED}:{a}" for a in ADAPTERS]}
        vllm_port = int(vllm.url.rsplit(":", 1)[1])
        env = GateEnv(vllm=vllm, gate=_gate(root / "gate", vllm_port), echo_gate=_gate(root / "echo-gate", echo.port),
                      echo=echo, keys=env_keys, served=served)
        env.write_files()
        for gate in (env.gate, env.echo_gate):
            workdir = Path(gate.paths.conf_dir).parent
            gate.process = start_haproxy(binary, Path(gate.paths.conf_dir) / "haproxy.cfg", workdir,
                                         health_url=gate.url + "/health")
            started.append(gate.process)
        yield env
    finally:
        for thing in reversed(started):
            thing.stop()
