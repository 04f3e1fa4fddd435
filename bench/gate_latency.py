"""The latency the gate adds: the same requests straight to vLLM and through the real HAProxy gate
(the configuration the program renders), interleaved, on loopback; prints p50 and p99 of each.

    .venv/bin/python bench/gate_latency.py [--requests 200]

Two request kinds: ``POST /v1/chat/completions`` with one output token on an adapter (the gate
hashes the key, reads the body's model, checks the grant and the limits), and ``GET /health``
(the gate only forwards). vLLM is the tiny CPU model of the real-server tests, so its own time
is small and the gate's share is as visible as it gets.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from components.gate.haproxy import GatePaths, gate_files, key_hash  # noqa: E402
from components.gate.spec import GateSpec, TenantSpec  # noqa: E402
from tests.support.real_servers import (  # noqa: E402
    free_port, haproxy_binary, http, make_tiny_model, start_haproxy, start_vllm, vllm_python, write_secret_volume,
)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="gate-bench-"))
    python, binary = vllm_python(), haproxy_binary()
    print("[bench] making the tiny model and one adapter", flush=True)
    model = make_tiny_model(python, root / "model", {"a1": 1})
    print("[bench] starting vLLM", flush=True)
    vllm = start_vllm(python, model, "tiny", root / "vllm")
    gate_proc = None
    try:
        key = "sk-" + secrets.token_urlsafe(32)
        port = free_port()
        spec = GateSpec(vllm_port=int(vllm.url.rsplit(":", 1)[1]), metrics_port=free_port())
        paths = GatePaths(conf_dir=str(root / "gate" / "conf"), keys_dir=str(root / "gate" / "keys"),
                          runtime_socket=str(root / "gate" / "admin.sock"))
        files = gate_files(spec, {"bench": TenantSpec(keys={"main": 1}, grants=["tiny:*"])}, {"bench": [key_hash(key)]},
                           {"tiny": ["tiny:a1"]}, listen_port=port, vllm_key=False, paths=paths, bind="127.0.0.1")
        write_secret_volume(Path(paths.conf_dir), files.config_map)
        write_secret_volume(Path(paths.keys_dir), files.secret)
        gate_url = f"http://127.0.0.1:{port}"
        gate_proc = start_haproxy(binary, Path(paths.conf_dir) / "haproxy.cfg", root / "gate", health_url=gate_url + "/health")
        body = json.dumps({"model": "tiny:a1", "messages": [{"role": "user", "content": "SELECT 1"}],
                           "max_tokens": 1, "temperature": 0}).encode()
        headers = {"content-type": "application/json", "authorization": f"Bearer {key}"}
        kinds = {"chat (1 token)": ("POST", "/v1/chat/completions", body, headers), "health": ("GET", "/health", None, {})}
        results: dict[tuple[str, str], list[float]] = {}
        for kind, (method, path, payload, hdrs) in kinds.items():
            for _ in range(10):  # warm-up: adapter loaded, connections and caches warm
                http(method, vllm.url + path, payload, hdrs)
                http(method, gate_url + path, payload, hdrs)
            for _ in range(args.requests):
                for where, base in (("vLLM", vllm.url), ("gate -> vLLM", gate_url)):
                    start = time.perf_counter()
                    status, _, _ = http(method, base + path, payload, hdrs)
                    results.setdefault((kind, where), []).append((time.perf_counter() - start) * 1000)
                    assert status == 200, (kind, where, status)
        print(f"\n{args.requests} requests each, interleaved, new connection per request (ms):")
        print(f"{'request':<16} {'path':<14} {'p50':>8} {'p99':>8}")
        for kind in kinds:
            for where in ("vLLM", "gate -> vLLM"):
                v = results[(kind, where)]
                print(f"{kind:<16} {where:<14} {statistics.median(v):8.2f} {percentile(v, 0.99):8.2f}")
            d50 = statistics.median(results[(kind, "gate -> vLLM")]) - statistics.median(results[(kind, "vLLM")])
            d99 = percentile(results[(kind, "gate -> vLLM")], 0.99) - percentile(results[(kind, "vLLM")], 0.99)
            print(f"{kind:<16} {'gate adds':<14} {d50:8.2f} {d99:8.2f}")
    finally:
        if gate_proc is not None:
            gate_proc.stop()
        vllm.process.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
