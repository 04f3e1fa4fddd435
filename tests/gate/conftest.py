"""One real vLLM per session (tiny Llama, three adapters) behind two real HAProxy gates on
loopback, both running the configuration ``components/gate/haproxy.py`` renders for a pod,
with only file locations and the listen address changed for the test:

* ``gate``: in front of vLLM;
* ``echo_gate``: the same rules in front of a header-echoing HTTP server that can hold a
  request open (what vLLM cannot show: the headers it received, a request in flight for as
  long as the test needs).

Both read the same map directory, laid out like a mounted Secret and updated the way the
kubelet updates one (``write_secret_volume``).
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

from components.gate.haproxy import LUA_SOURCE, GatePaths, key_hash, render_config, render_maps
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
    process: Process
    paths: GatePaths
    config: str


@dataclass
class GateEnv:
    vllm: VllmServer
    gate: Gate
    echo_gate: Gate
    echo: "EchoServer"
    keys: dict[str, str]
    """tenant -> its current API key (plain text, test only)."""
    map_dir: Path
    served: dict[str, list[str]] = field(default_factory=dict)

    def write_maps(self) -> None:
        hashes = {t: [key_hash(k)] for t, k in self.keys.items()}
        write_secret_volume(self.map_dir, render_maps(TENANTS, hashes, self.served))


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


def _gate(binary: Path, workdir: Path, map_dir: Path, upstream_port: int) -> Gate:
    workdir.mkdir(parents=True, exist_ok=True)
    spec = GateSpec(port=free_port(), vllm_port=upstream_port, metrics_port=free_port(),
                    rate_window_seconds=RATE_WINDOW, map_reload_seconds=1)
    paths = GatePaths(conf_dir=str(workdir), map_dir=str(map_dir), runtime_socket=str(workdir / "admin.sock"))
    config = render_config(spec, vllm_key=False, paths=paths, bind="127.0.0.1")
    (workdir / "haproxy.cfg").write_text(config)
    (workdir / "gate.lua").write_text(LUA_SOURCE.read_text())
    url = f"http://127.0.0.1:{spec.port}"
    process = start_haproxy(binary, workdir / "haproxy.cfg", workdir, health_url=url + "/health")
    return Gate(url=url, metrics_url=f"http://127.0.0.1:{spec.metrics_port}", process=process, paths=paths, config=config)


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
        map_dir = root / "maps"
        env_keys = {t: "sk-" + secrets.token_urlsafe(32) for t in TENANTS}
        served = {SERVED: [f"{SERVED}:{a}" for a in ADAPTERS]}
        env = GateEnv(vllm=vllm, gate=None, echo_gate=None, echo=echo, keys=env_keys, map_dir=map_dir,  # type: ignore[arg-type]
                      served=served)
        env.write_maps()
        vllm_port = int(vllm.url.rsplit(":", 1)[1])
        env.gate = _gate(binary, root / "gate", map_dir, vllm_port)
        started.append(env.gate.process)
        env.echo_gate = _gate(binary, root / "echo-gate", map_dir, echo.port)
        started.append(env.echo_gate.process)
        yield env
    finally:
        for thing in reversed(started):
            thing.stop()
