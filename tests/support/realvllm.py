"""A real vLLM (CPU build, tools/vllm/install.sh), a tiny Llama with LoRA adapters
(tools/vllm/tiny_model.py) and the real sync sidecar, all on 127.0.0.1, stopped by PID.

Used by tests/realvllm and bench/lora_rollout.py. Everything heavy is cached per machine
under ~/.cache/llm-platform (the vLLM environment, the tiny model and its adapters)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / "tools" / "vllm"
SIDECAR = REPO / "components" / "models" / "lora_sync.py"
CACHE_ROOT = Path(os.environ.get("LLM_PLATFORM_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "llm-platform")
ADAPTER_SEEDS = {"a1": 1, "a2": 2, "a3": 3}
SERVED = "tiny"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def vllm_python() -> Path:
    """The vLLM environment's python, installed on first use (progress printed)."""
    subprocess.run(["bash", str(TOOLS / "install.sh")], check=True)
    out = subprocess.run(["bash", str(TOOLS / "install.sh"), "--print-python"], check=True, capture_output=True, text=True)
    return Path(out.stdout.strip())


def tiny_models(python: Path) -> tuple[Path, dict[str, Path]]:
    """(base dir, adapter name -> dir), made once per machine (keyed by the generator's code)."""
    key = hashlib.sha256((TOOLS / "tiny_model.py").read_bytes() + (TOOLS / "corpus.txt").read_bytes()
                         + json.dumps(ADAPTER_SEEDS).encode()).hexdigest()[:12]
    root = CACHE_ROOT / f"tiny-llama-{key}"
    base, adapters = root / "base", {n: root / n for n in ADAPTER_SEEDS}
    if not (root / ".complete").exists():
        print(f"[realvllm] making the tiny model and {len(adapters)} adapters in {root}", flush=True)
        script = (f"import sys; sys.path.insert(0, {str(TOOLS)!r}); from pathlib import Path; import tiny_model as t; "
                  f"t.make_base(Path({str(base)!r})); "
                  + "".join(f"t.make_adapter(Path({str(base)!r}), Path({str(p)!r}), seed={ADAPTER_SEEDS[n]}); "
                            for n, p in adapters.items()))
        subprocess.run([str(python), "-c", script], check=True)
        (root / ".complete").touch()
    return base, adapters


@dataclass
class Proc:
    """A process we started, stopped by its PID (and its process group) only."""

    popen: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stop(self, timeout: float = 30) -> None:
        if self.popen.poll() is not None:
            return
        os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(10)

    def tail(self, n: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else ""


def start(cmd: list[str], env: dict[str, str], log: Path) -> Proc:
    out = open(log, "wb")
    popen = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return Proc(popen, log)


def wait_http(url: str, proc: Proc, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{what} exited ({proc.popen.returncode}): {proc.tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{what} not up at {url} after {timeout:.0f} s: {proc.tail()}")


def start_vllm(python: Path, base: Path, workdir: Path, port: int | None = None, max_loras: int = 2) -> tuple[Proc, str]:
    """vLLM with runtime LoRA updating and no resolver plugin (the sidecar loads every adapter)."""
    port = port or free_port()
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "1",
           "VLLM_PLUGINS": "", "HF_HUB_OFFLINE": "1", "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1",
           "VLLM_CONFIG_ROOT": str(workdir / "vllm-config"), "VLLM_CACHE_ROOT": str(workdir / "vllm-cache")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    cmd = [str(python), "-m", "vllm.entrypoints.openai.api_server", "--model", str(base), "--served-model-name", SERVED,
           "--host", "127.0.0.1", "--port", str(port), "--enable-lora", "--max-lora-rank", "8",
           "--max-loras", str(max_loras), "--max-cpu-loras", "8", "--max-model-len", "1024", "--dtype", "bfloat16",
           "--enable-prefix-caching"]
    proc = start(cmd, env, workdir / f"vllm-{port}.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/health", proc, 420, "vLLM")
    except Exception:
        proc.stop()
        raise
    return proc, url


@dataclass
class Sidecar:
    proc: Proc
    status_url: str
    registry_file: Path

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.status_url}/ready", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def metrics(self) -> str:
        with urllib.request.urlopen(f"{self.status_url}/metrics", timeout=5) as r:
            return r.read().decode()

    def metric(self, name: str, **labels: str) -> float:
        want = name + ("{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}" if labels else "")
        total = 0.0
        for line in self.metrics().splitlines():
            if line.startswith(want + " "):
                total += float(line.split()[-1])
        return total


def start_sidecar(python: Path, workdir: Path, s3: dict[str, str], vllm_url: str, registry_file: Path,
                  name: str = "sidecar", poll: float = 0.2, resync: float = 2, extra_env: dict | None = None) -> Sidecar:
    port = free_port()
    cache = workdir / f"{name}-cache"
    cache.mkdir(parents=True, exist_ok=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "S3_ENDPOINT": s3["endpoint"], "S3_BUCKET": s3["bucket"],
           "AWS_ACCESS_KEY_ID": s3["access_key"], "AWS_SECRET_ACCESS_KEY": s3["secret_key"],
           "CACHE_DIR": str(cache), "REGISTRY_SOURCE": "file", "REGISTRY_FILE": str(registry_file),
           "REGISTRY_POLL_SECONDS": str(poll), "VLLM_URL": vllm_url, "STATUS_HOST": "127.0.0.1", "STATUS_PORT": str(port),
           "RESYNC_SECONDS": str(resync), "PYTHONDONTWRITEBYTECODE": "1", **(extra_env or {})}
    proc = start([str(python), str(SIDECAR)], env, workdir / f"{name}-{port}.log")
    status = f"http://127.0.0.1:{port}"
    wait_http(f"{status}/metrics", proc, 30, "sidecar")
    return Sidecar(proc, status, registry_file)


def write_registry(path: Path, entries: dict) -> None:
    """Atomic replace, as the kubelet swaps a ConfigMap volume."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(entries, indent=2, sort_keys=True))
    os.replace(tmp, path)
