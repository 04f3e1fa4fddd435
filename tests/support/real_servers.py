"""Real servers on loopback for the gate tests: vLLM (CPU build, tiny Llama + LoRA adapters) and
Debian's HAProxy 2.6 running the configuration the program renders.

Both are installed by the project's own scripts (``tools/vllm/install.sh``,
``tools/haproxy/install.sh``; cached per machine), started on 127.0.0.1 with free ports, waited
for with a bound, and stopped by PID. A failed install or start fails the test with the
server's log tail; nothing is skipped.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

REPO_ROOT = Path(__file__).resolve().parents[2]
VLLM_START_TIMEOUT = float(os.environ.get("LLM_PLATFORM_VLLM_START_TIMEOUT", "400"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _install(script: str, print_flag: str, timeout: float) -> Path:
    run = subprocess.run(["bash", str(REPO_ROOT / script)], capture_output=True, text=True, timeout=timeout)
    if run.returncode != 0:
        raise RuntimeError(f"{script} failed:\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}")
    out = subprocess.run(["bash", str(REPO_ROOT / script), print_flag], capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def vllm_python() -> Path:
    """The real vLLM environment's python (installed on first use)."""
    return _install("tools/vllm/install.sh", "--print-python", timeout=3600)


def haproxy_binary() -> Path:
    """Debian's haproxy 2.6 (installed on first use)."""
    return _install("tools/haproxy/install.sh", "--print", timeout=600)


@dataclass
class Process:
    """A server started by a test, stopped by its PID."""

    name: str
    popen: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def stop(self, timeout: float = 20) -> None:
        if self.popen.poll() is not None:
            return
        # Its own session: vLLM's engine core is a child process; signal the group by the leader's PID.
        os.killpg(self.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.pid, signal.SIGKILL)
            self.popen.wait(10)


def start(name: str, argv: list[str], log: Path, env: Mapping[str, str] | None = None) -> Process:
    handle = log.open("wb")
    popen = subprocess.Popen(argv, stdout=handle, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
                             start_new_session=True)
    return Process(name, popen, log)


def http(method: str, url: str, body: bytes | None = None, headers: Mapping[str, str] | None = None,
         timeout: float = 60) -> tuple[int, dict[str, str], bytes]:
    """One request; (status, headers, body) for every status, errors included."""
    req = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def wait_http(url: str, process: Process, timeout: float, ok=(200,)) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.alive():
            raise RuntimeError(f"{process.name} exited with {process.popen.returncode}:\n{process.log_tail()}")
        try:
            if http("GET", url, timeout=5)[0] in ok:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{process.name} did not answer {url} within {timeout:.0f}s:\n{process.log_tail()}")


# ------------------------------------------------------------------ vLLM


@dataclass
class TinyModel:
    """A tiny Llama and its adapters, made locally by tools/vllm/tiny_model.py."""

    base: Path
    adapters: dict[str, Path] = field(default_factory=dict)


def make_tiny_model(python: Path, root: Path, adapters: Mapping[str, int]) -> TinyModel:
    """Base model plus one adapter per name (seed), adapters made two at a time (2 cores)."""
    script = REPO_ROOT / "tools" / "vllm" / "tiny_model.py"
    base = root / "base"
    subprocess.run([str(python), str(script), "base", "--out", str(base)], check=True, capture_output=True, timeout=600)
    model = TinyModel(base=base)
    pending = []
    for name, seed in adapters.items():
        out = root / "adapters" / name
        pending.append(subprocess.Popen([str(python), str(script), "adapter", "--base", str(base), "--out", str(out),
                                         "--seed", str(seed)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        model.adapters[name] = out
        if len(pending) == 2:
            for p in pending:
                _check(p)
            pending = []
    for p in pending:
        _check(p)
    return model


def _check(p: subprocess.Popen) -> None:
    _, err = p.communicate(timeout=600)
    if p.returncode != 0:
        raise RuntimeError(f"tiny_model.py adapter failed: {err.decode()[-2000:]}")


@dataclass
class VllmServer:
    process: Process
    url: str
    """``http://127.0.0.1:<port>``."""
    served_name: str
    cache_dir: Path
    """The filesystem resolver's directory (``<cache>/<served adapter name>`` -> adapter dir)."""


def start_vllm(python: Path, model: TinyModel, served_name: str, workdir: Path, port: int | None = None) -> VllmServer:
    """vLLM with runtime LoRA updating and the filesystem resolver, as the platform runs it."""
    port = port or free_port()
    cache = workdir / "lora-cache"
    cache.mkdir(parents=True, exist_ok=True)
    for name, path in model.adapters.items():
        (cache / f"{served_name}:{name}").symlink_to(path)
    env = {
        "VLLM_CPU_KVCACHE_SPACE": "1",
        "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True",
        "VLLM_PLUGINS": "lora_filesystem_resolver",
        "VLLM_LORA_RESOLVER_CACHE_DIR": str(cache),
        "VLLM_NO_USAGE_STATS": "1",
        "DO_NOT_TRACK": "1",
        "HF_HUB_OFFLINE": "1",
    }
    argv = [str(python), "-m", "vllm.entrypoints.openai.api_server", "--model", str(model.base),
            "--served-model-name", served_name, "--host", "127.0.0.1", "--port", str(port), "--enable-lora",
            "--max-lora-rank", "8", "--max-loras", "2", "--max-model-len", "1024", "--dtype", "bfloat16"]
    process = start("vllm", argv, workdir / "vllm.log", env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/health", process, VLLM_START_TIMEOUT)
    except Exception:
        process.stop()
        raise
    return VllmServer(process=process, url=url, served_name=served_name, cache_dir=cache)


# ------------------------------------------------------------------ HAProxy


def write_secret_volume(directory: Path, files: Mapping[str, str]) -> None:
    """Write ``files`` the way the kubelet updates a mounted Secret: a new timestamped directory,
    an atomic swap of the ``..data`` symlink, and one ``name -> ..data/name`` symlink per file."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = directory / f"..{time.time_ns()}"
    stamp.mkdir()
    for name, content in files.items():
        (stamp / name).write_text(content)
    tmp = directory / "..data_tmp"
    if tmp.is_symlink():
        tmp.unlink()
    tmp.symlink_to(stamp.name)
    previous = os.readlink(directory / "..data") if (directory / "..data").is_symlink() else None
    os.replace(tmp, directory / "..data")
    for name in files:
        link = directory / name
        if not link.is_symlink():
            link.symlink_to(f"..data/{name}")
    if previous:
        for old in (directory / previous).iterdir():
            old.unlink()
        (directory / previous).rmdir()


def runtime_api(socket_path: Path, command: str, timeout: float = 5) -> str:
    """One command on HAProxy's runtime API (the stats socket)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(socket_path))
        s.sendall(command.encode() + b"\n")
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks).decode()


def start_haproxy(binary: Path, config: Path, workdir: Path, env: Mapping[str, str] | None = None,
                  health_url: str | None = None) -> Process:
    check = subprocess.run([str(binary), "-c", "-f", str(config)], capture_output=True, text=True,
                           env={**os.environ, **(env or {})})
    if check.returncode != 0:
        raise RuntimeError(f"haproxy refused the rendered configuration:\n{check.stdout}\n{check.stderr}")
    process = start("haproxy", [str(binary), "-db", "-f", str(config)], workdir / "haproxy.log", env)
    if health_url:
        wait_http(health_url, process, 30, ok=(200, 401, 403, 503))
    return process


def json_body(payload: object) -> bytes:
    return json.dumps(payload).encode()
