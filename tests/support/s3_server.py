"""A real S3-compatible server on loopback for tests: MinIO built from its Go module.

``tools/minio/build.sh`` builds (or restores from the machine cache) ``.tools/minio/minio``;
``s3_server`` starts it on 127.0.0.1 with a random port and a temporary data directory, waits
until it answers, and yields its endpoint and root credentials. If the binary is missing and
cannot be built, tests using the fixture are skipped with the reason.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import ssl
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
BINARY = REPO_ROOT / ".tools" / "minio" / "minio"
BUILD = REPO_ROOT / "tools" / "minio" / "build.sh"


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    """``http://127.0.0.1:<port>``."""
    access_key: str
    secret_key: str

    def client(self):
        from minio import Minio

        return Minio(self.endpoint.removeprefix("http://"), access_key=self.access_key,
                     secret_key=self.secret_key, secure=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_binary(tool: str = "minio") -> Path:
    """``.tools/minio/<tool>`` (minio or mc), built if needed; pytest.skip when that is impossible."""
    binary = BINARY.parent / tool
    if binary.is_file() and os.access(binary, os.X_OK):
        return binary
    if os.environ.get("LLM_PLATFORM_NO_BUILD") == "1":
        pytest.skip(f"{binary} missing and LLM_PLATFORM_NO_BUILD=1; run tools/minio/build.sh {tool}")
    try:
        result = subprocess.run(["bash", str(BUILD), tool], capture_output=True, text=True, timeout=3600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot build {tool} ({exc}); run tools/minio/build.sh {tool}")
    if result.returncode != 0 or not binary.is_file():
        pytest.skip(f"cannot build {tool} with tools/minio/build.sh: {result.stderr.strip()[-500:]}")
    return binary


@contextlib.contextmanager
def run_minio(data: Path, certs_dir: Path | None = None):
    """MinIO on 127.0.0.1 (HTTPS with ``certs_dir``/public.crt and private.key), stopped by PID on exit."""
    binary = ensure_binary()
    port = _free_port()
    console = _free_port()
    user, password = "root" + secrets.token_hex(4), secrets.token_hex(16)
    env = dict(os.environ, MINIO_ROOT_USER=user, MINIO_ROOT_PASSWORD=password, MINIO_BROWSER="off",
               MINIO_UPDATE="off", HOME=str(data), MINIO_CI_CD="1")
    log_path = data.parent / f"minio-{port}.log"
    log = open(log_path, "wb")
    extra = ["--certs-dir", str(certs_dir)] if certs_dir is not None else []
    proc = subprocess.Popen([str(binary), "server", str(data / "d"), "--address", f"127.0.0.1:{port}",
                             "--console-address", f"127.0.0.1:{console}", "--quiet", *extra],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    scheme = "https" if certs_dir is not None else "http"
    endpoint = f"{scheme}://127.0.0.1:{port}"
    context = ssl.create_default_context(cafile=str(certs_dir / "CAs" / "ca.crt")) if certs_dir is not None else None
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{endpoint}/minio/health/ready", timeout=2, context=context) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            log.close()
            pytest.fail(f"MinIO did not start on {endpoint}: {log_path.read_text()[-2000:]}")
        time.sleep(0.2)
    try:
        yield S3Server(endpoint=endpoint, access_key=user, secret_key=password)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    with run_minio(tmp_path_factory.mktemp("minio-data")) as server:
        yield server
