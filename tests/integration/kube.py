"""A real Kubernetes control plane on loopback, for integration tests.

Starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok
(simulated nodes) from the binaries built by ``tools/kube/build.sh`` into
``.tools/kube/bin``. Everything listens on 127.0.0.1 only, on free ports, with
state in one temporary directory: certificates (a throwaway CA, the API
server's serving certificate, client certificates per component), a service
account signing key, kubeconfigs, etcd's data and each process' log.

The client side is plain HTTPS with :mod:`urllib` and :mod:`ssl` from the
standard library (no ``kubernetes`` package, no kubectl build): the tests only
need create/get/list/delete, server-side apply (a PATCH with
``application/apply-patch+yaml``) and the API server's error ``Status``, and
this keeps the integration suite free of one more pinned dependency and one
more Go binary to build.

Certificates are made with the ``openssl`` command line (OpenSSL 3, present on
the Debian images used here); the project's virtualenv has no X.509 library.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

# libyaml's loader parses the multi-megabyte kserve CRDs ~20x faster.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO_ROOT / "tools" / "kube" / "build.sh"
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
KWOK_NODE_ANNOTATION = ("kwok.x-k8s.io/node", "fake")

# Bounds (seconds); overridable for slow machines.
READY_TIMEOUT = float(os.environ.get("LLM_PLATFORM_KUBE_READY_TIMEOUT", "120"))
STOP_TIMEOUT = float(os.environ.get("LLM_PLATFORM_KUBE_STOP_TIMEOUT", "10"))  # per process
# Per API request; applying the multi-megabyte kserve CRDs takes longer on a loaded machine.
CLIENT_TIMEOUT = float(os.environ.get("LLM_PLATFORM_KUBE_CLIENT_TIMEOUT", "60"))
BUILD_TIMEOUT = float(os.environ.get("LLM_PLATFORM_KUBE_BUILD_TIMEOUT", "3600"))


class ControlPlaneUnavailable(RuntimeError):
    """The control plane cannot be provided on this machine (reason in str)."""


class ApiError(RuntimeError):
    """An error answer from the API server, with its ``Status`` object."""

    def __init__(self, method: str, path: str, code: int, body: Any):
        self.code = code
        self.body = body
        self.status = body if isinstance(body, dict) else {}
        self.reason = self.status.get("reason", "")
        self.message = self.status.get("message", str(body))
        super().__init__(f"{method} {path}: HTTP {code} {self.reason}: {self.message}")


# --------------------------------------------------------------------------
# Locating / building the binaries
# --------------------------------------------------------------------------


def crds_dir() -> Path:
    """The shared upstream CRD directory (never copied into the repo)."""
    env = os.environ.get("LLM_PLATFORM_CRDS_DIR")
    return Path(env) if env else (REPO_ROOT / ".." / "shared" / "crds").resolve()


def bin_dir() -> Path:
    env = os.environ.get("LLM_PLATFORM_KUBE_BIN_DIR")
    return Path(env) if env else REPO_ROOT / ".tools" / "kube" / "bin"


def missing_binaries(directory: Path | None = None) -> list[str]:
    d = directory or bin_dir()
    names = list(BINARIES) + ["kwok-stages.yaml"]
    return [n for n in names if not (d / n).is_file()]


def ensure_binaries(log: Path | None = None, echo=None, verbose: bool = False) -> Path:
    """Run tools/kube/build.sh (a no-op when up to date, a copy when the
    machine cache has the key) unless LLM_PLATFORM_KUBE_BUILD=0.

    Raises ControlPlaneUnavailable naming the failed step."""
    d = bin_dir()
    if os.environ.get("LLM_PLATFORM_KUBE_BIN_DIR"):
        missing = missing_binaries(d)
        if missing:
            raise ControlPlaneUnavailable(
                f"LLM_PLATFORM_KUBE_BIN_DIR={d} lacks {', '.join(missing)}"
            )
        return d
    if os.environ.get("LLM_PLATFORM_KUBE_BUILD", "1") == "0":
        missing = missing_binaries(d)
        if missing:
            raise ControlPlaneUnavailable(
                f"{d} lacks {', '.join(missing)} and LLM_PLATFORM_KUBE_BUILD=0; "
                "run tools/kube/build.sh"
            )
        return d
    if shutil.which("go") is None and missing_binaries(d):
        raise ControlPlaneUnavailable(
            f"{d} lacks {', '.join(missing_binaries(d))} and `go` is not on PATH "
            "to build them with tools/kube/build.sh"
        )
    lines: list[str] = []
    proc = subprocess.Popen(
        ["bash", str(BUILD_SCRIPT)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + BUILD_TIMEOUT
    timer = threading.Timer(BUILD_TIMEOUT, proc.kill)  # bounded even if it prints nothing
    timer.start()
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if echo is not None and (line.startswith(("==>", "ERROR", "    [kube-build]")) or verbose):
                echo(line.rstrip("\n"))
        proc.wait()
    finally:
        timer.cancel()
    output = "\n".join(lines)
    if log is not None:
        log.write_text(output)
    if time.monotonic() >= deadline and proc.returncode != 0:
        raise ControlPlaneUnavailable(
            f"tools/kube/build.sh did not finish within {BUILD_TIMEOUT:.0f}s "
            "(LLM_PLATFORM_KUBE_BUILD_TIMEOUT)"
        )
    if proc.returncode != 0:
        failed = [l for l in lines if l.startswith("ERROR [kube-build]")]
        tail = "\n".join(lines[-15:])
        raise ControlPlaneUnavailable(
            (failed[-1] if failed else f"tools/kube/build.sh exited {proc.returncode}")
            + "\n"
            + tail
        )
    missing = missing_binaries(d)
    if missing:
        raise ControlPlaneUnavailable(f"build.sh succeeded but {d} lacks {', '.join(missing)}")
    return d


# --------------------------------------------------------------------------
# Certificates
# --------------------------------------------------------------------------


def _openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(
        ["openssl", *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    if proc.returncode != 0:
        raise ControlPlaneUnavailable(f"openssl {' '.join(args[:2])} failed: {proc.stdout.strip()}")


@dataclass
class Pki:
    dir: Path

    @property
    def ca_crt(self) -> Path:
        return self.dir / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.dir / "ca.key"

    def crt(self, name: str) -> Path:
        return self.dir / f"{name}.crt"

    def key(self, name: str) -> Path:
        return self.dir / f"{name}.key"

    @property
    def sa_key(self) -> Path:
        return self.dir / "sa.key"

    @property
    def sa_pub(self) -> Path:
        return self.dir / "sa.pub"


def make_pki(directory: Path) -> Pki:
    if shutil.which("openssl") is None:
        raise ControlPlaneUnavailable("the `openssl` command is needed to make test certificates")
    directory.mkdir(parents=True, exist_ok=True)
    pki = Pki(directory)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl(
        "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "3",
        "-subj", "/CN=llm-platform-integration-ca",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
        cwd=directory,
    )

    def leaf(name: str, subj: str, ext: str) -> None:
        (directory / f"{name}.ext").write_text(ext)
        _openssl("req", "-new", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 "-subj", subj, cwd=directory)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                 "-CAcreateserial", "-days", "3", "-out", f"{name}.crt",
                 "-extfile", f"{name}.ext", cwd=directory)

    leaf(
        "apiserver",
        "/CN=kube-apiserver",
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,"
        "DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:10.96.0.1\n",
    )
    client_ext = (
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=clientAuth\n"
    )
    # Bootstrap RBAC binds these user names to the components' own roles.
    leaf("admin", "/O=system:masters/CN=llm-platform-admin", client_ext)
    leaf("controller-manager", "/CN=system:kube-controller-manager", client_ext)
    leaf("scheduler", "/CN=system:kube-scheduler", client_ext)
    # Service account token signing key.
    _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
             "-out", "sa.key", cwd=directory)
    _openssl("pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=directory)
    return pki


def write_kubeconfig(path: Path, server: str, pki: Pki, user: str) -> Path:
    """A kubeconfig (JSON is valid YAML) using client-certificate auth."""
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": {
            "server": server, "certificate-authority": str(pki.ca_crt)}}],
        "users": [{"name": user, "user": {
            "client-certificate": str(pki.crt(user)), "client-key": str(pki.key(user))}}],
        "contexts": [{"name": "local", "context": {"cluster": "local", "user": user}}],
        "current-context": "local",
    }
    path.write_text(json.dumps(cfg, indent=2))
    return path


# --------------------------------------------------------------------------
# A minimal API client
# --------------------------------------------------------------------------


class KubeClient:
    def __init__(self, server: str, ca: Path, cert: Path, key: Path, timeout: float = CLIENT_TIMEOUT):
        self.server = server.rstrip("/")
        self.timeout = timeout
        self.ctx = ssl.create_default_context(cafile=str(ca))
        self.ctx.load_cert_chain(str(cert), str(key))
        self._discovery: dict[str, tuple[str, dict[str, dict]]] = {}

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: dict[str, str] | None = None,
        content_type: str = "application/json",
        raw: bool = False,
    ) -> Any:
        url = self.server + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        data = None
        headers = {"Accept": "application/json"}
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers["Content-Type"] = content_type
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=self.timeout) as resp:
                payload = resp.read()
        except urllib.error.HTTPError as e:
            payload = e.read()
            try:
                parsed = json.loads(payload)
            except ValueError:
                parsed = payload.decode(errors="replace")
            raise ApiError(method, path, e.code, parsed) from None
        if raw:
            return payload.decode()
        return json.loads(payload) if payload else None

    # conveniences --------------------------------------------------------
    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def create(self, path: str, obj: dict, **kw: Any) -> Any:
        return self.request("POST", path, obj, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.request("DELETE", path, **kw)

    def exists(self, path: str) -> bool:
        try:
            self.get(path)
            return True
        except ApiError as e:
            if e.code == 404:
                return False
            raise

    def apply(self, path: str, obj: dict, manager: str = "llm-platform-tests", force: bool = True,
              dry_run: bool = False) -> Any:
        """Server-side apply ``obj`` at the object's own path (``dry_run``: full admission, nothing stored)."""
        params = {"fieldManager": manager}
        if force:
            params["force"] = "true"
        if dry_run:
            params["dryRun"] = "All"
        return self.request(
            "PATCH", path, obj, params=params, content_type="application/apply-patch+yaml"
        )

    def object_path(self, obj: dict) -> str:
        """REST path of ``obj``, from the API server's own discovery (plural and scope), so
        core kinds and CRD kinds resolve the same way with no hand-kept tables."""
        api_version, meta = obj["apiVersion"], obj["metadata"]
        if api_version not in self._discovery:
            base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
            resources = self.get(base)["resources"]
            self._discovery[api_version] = (base, {r["kind"]: r for r in resources if "/" not in r["name"]})
        base, kinds = self._discovery[api_version]
        resource = kinds[obj["kind"]]
        ns = f"/namespaces/{meta['namespace']}" if resource["namespaced"] else ""
        return f"{base}{ns}/{resource['name']}/{meta['name']}"

    def dry_run_apply(self, obj: dict, manager: str = "llm-platform-tests") -> Any:
        """Server-side apply of a synthesized object with ``dryRun=All``."""
        return self.apply(self.object_path(obj), wire_ints(obj), manager=manager, dry_run=True)

    def admit(self, obj: dict) -> None:
        """Full admission of a synthesized object (its namespace created first), nothing stored;
        AssertionError with the API server's own words when it is refused."""
        if obj["metadata"].get("namespace"):
            self.ensure_namespace(obj["metadata"]["namespace"])
        try:
            self.dry_run_apply(obj)
        except ApiError as e:
            where = "/".join(x for x in (obj["metadata"].get("namespace"), obj["metadata"]["name"]) if x)
            raise AssertionError(f"{obj['kind']} {where} refused: {e.code} {e.body}") from None

    def ensure_namespace(self, name: str) -> None:
        self.apply(f"/api/v1/namespaces/{name}", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})

    @contextlib.contextmanager
    def scratch_namespace(self, prefix: str):
        """A fresh namespace, usable for pods (its default ServiceAccount exists), deleted afterwards."""
        ns = f"{prefix}-{uuid.uuid4().hex[:8]}"
        self.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        # Pods are admitted only once the controller-manager made the default ServiceAccount.
        wait_for(lambda: self.exists(f"/api/v1/namespaces/{ns}/serviceaccounts/default"), 60,
                 what=f"default ServiceAccount in {ns}")
        try:
            yield ns
        finally:
            with contextlib.suppress(ApiError):
                self.delete(f"/api/v1/namespaces/{ns}")


def wire_ints(value: Any) -> Any:
    """Synthesis carries numbers as floats (protobuf Struct); the provider sends integers."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: wire_ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [wire_ints(v) for v in value]
    return value


def wait_for(predicate, timeout: float, interval: float = 0.25, what: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value; bounded."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as e:  # noqa: BLE001 - reported on timeout
            last_exc = e
        if time.monotonic() >= deadline:
            extra = f" (last error: {last_exc})" if last_exc else ""
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}{extra}")
        time.sleep(interval)


# --------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------


def _die_with_parent() -> None:  # runs in the child between fork and exec
    """Linux: SIGKILL this child when the process that started it dies, so a
    killed pytest (SIGKILL, OOM) leaves no etcd/apiserver behind."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - best effort; stop() is the normal path
        pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 25) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])

    def stop(self) -> None:
        """SIGTERM to this process' own group, SIGKILL after STOP_TIMEOUT."""
        if self.alive():
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            self.popen.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.popen.wait(timeout=5)


def _http_ok(url: str, ctx: ssl.SSLContext | None = None, timeout: float = 2) -> bool:
    try:
        with urllib.request.urlopen(url, context=ctx, timeout=timeout) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError, ssl.SSLError):
        return False


@dataclass
class ControlPlane:
    """Owns the processes and the temporary directory; use start()/stop()."""

    bin: Path
    workdir: Path
    procs: list[Proc] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    server: str = ""
    kubeconfig: Path | None = None
    client: KubeClient | None = None
    pki: Pki | None = None
    _keep_workdir: bool = False

    # -- lifecycle -------------------------------------------------------
    @classmethod
    def create(cls, binaries: Path, workdir: Path | None = None) -> "ControlPlane":
        if workdir is None:
            workdir = Path(tempfile.mkdtemp(prefix="llm-platform-kube-"))
        return cls(bin=binaries, workdir=workdir)

    def _spawn(self, name: str, args: list[str]) -> Proc:
        log = self.workdir / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        fh = open(log, "wb")
        try:
            popen = subprocess.Popen(
                [str(self.bin / args[0]), *args[1:]],
                stdout=fh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.workdir,
                start_new_session=True,  # its own process group, for a clean kill
                preexec_fn=_die_with_parent,
                env={**os.environ, "HOME": str(self.workdir)},
            )
        finally:
            fh.close()
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def _wait_ready(self, proc: Proc, check, timeout: float) -> None:
        def ok():
            if not proc.alive():
                raise ControlPlaneUnavailable(
                    f"{proc.name} exited with code {proc.popen.returncode} during startup; "
                    f"log {proc.log}:\n{proc.tail()}"
                )
            return check()

        try:
            wait_for(ok, timeout, what=f"{proc.name} to become ready")
        except TimeoutError as e:
            raise ControlPlaneUnavailable(f"{e}; log {proc.log}:\n{proc.tail()}") from None

    def start(self, crd_files: Iterable[Path] = ()) -> "ControlPlane":
        t0 = time.monotonic()
        try:
            self._start(list(crd_files))
        except BaseException:
            self.stop()
            raise
        self.timings["total"] = time.monotonic() - t0
        return self

    def _mark(self, what: str, since: float) -> float:
        now = time.monotonic()
        self.timings[what] = now - since
        return now

    def _start(self, crd_files: list[Path]) -> None:
        t = time.monotonic()
        self.pki = pki = make_pki(self.workdir / "pki")
        t = self._mark("pki", t)

        # etcd ------------------------------------------------------------
        etcd_port, peer_port = free_port(), free_port()
        etcd_url = f"http://127.0.0.1:{etcd_port}"
        peer_url = f"http://127.0.0.1:{peer_port}"
        etcd = self._spawn("etcd", [
            "etcd",
            "--name=llm-platform-it",
            f"--data-dir={self.workdir / 'etcd'}",
            f"--listen-client-urls={etcd_url}",
            f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=llm-platform-it={peer_url}",
            "--listen-metrics-urls=",
            "--log-level=warn",
            "--unsafe-no-fsync=true",  # throwaway data: skip fsync, much faster on shared disks
            "--max-request-bytes=10485760",  # large upstream CRDs (kserve) exceed the 1.5 MiB default
            "--quota-backend-bytes=2147483648",
        ])
        self._wait_ready(etcd, lambda: _http_ok(f"{etcd_url}/health"), 60)
        t = self._mark("etcd", t)

        # kube-apiserver ---------------------------------------------------
        api_port = free_port()
        self.server = f"https://127.0.0.1:{api_port}"
        apiserver = self._spawn("kube-apiserver", [
            "kube-apiserver",
            f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={api_port}",
            f"--cert-dir={self.workdir / 'apiserver-certs'}",
            f"--tls-cert-file={pki.crt('apiserver')}",
            f"--tls-private-key-file={pki.key('apiserver')}",
            f"--client-ca-file={pki.ca_crt}",
            f"--service-account-key-file={pki.sa_pub}",
            f"--service-account-signing-key-file={pki.sa_key}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--service-cluster-ip-range=10.96.0.0/16",
            "--authorization-mode=RBAC",
            "--allow-privileged=true",
            # A loopback address is not a valid Endpoints address; nothing
            # routes to the "kubernetes" Service here anyway.
            "--endpoint-reconciler-type=none",
            "--profiling=false",
            "--v=1",
        ])
        admin_kc = write_kubeconfig(self.workdir / "kubeconfig", self.server, pki, "admin")
        self.kubeconfig = admin_kc
        self.client = KubeClient(self.server, pki.ca_crt, pki.crt("admin"), pki.key("admin"))
        client = self.client

        def readyz() -> bool:
            try:
                return client.get("/readyz", raw=True).strip() == "ok"
            except (ApiError, urllib.error.URLError, OSError, ssl.SSLError):
                return False

        self._wait_ready(apiserver, readyz, READY_TIMEOUT)
        t = self._mark("kube-apiserver", t)

        # controller-manager and scheduler -------------------------------
        kcm_kc = write_kubeconfig(self.workdir / "controller-manager.kubeconfig",
                                  self.server, pki, "controller-manager")
        sched_kc = write_kubeconfig(self.workdir / "scheduler.kubeconfig",
                                    self.server, pki, "scheduler")
        kcm_port, sched_port = free_port(), free_port()
        kcm = self._spawn("kube-controller-manager", [
            "kube-controller-manager",
            f"--kubeconfig={kcm_kc}",
            f"--authentication-kubeconfig={kcm_kc}",
            f"--authorization-kubeconfig={kcm_kc}",
            "--bind-address=127.0.0.1",
            f"--secure-port={kcm_port}",
            f"--cert-dir={self.workdir / 'kcm-certs'}",
            "--leader-elect=false",
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={pki.sa_key}",
            f"--root-ca-file={pki.ca_crt}",
            f"--cluster-signing-cert-file={pki.ca_crt}",
            f"--cluster-signing-key-file={pki.ca_key}",
            "--service-cluster-ip-range=10.96.0.0/16",
            "--profiling=false",
            "--v=1",
        ])
        sched = self._spawn("kube-scheduler", [
            "kube-scheduler",
            f"--kubeconfig={sched_kc}",
            f"--authentication-kubeconfig={sched_kc}",
            f"--authorization-kubeconfig={sched_kc}",
            "--bind-address=127.0.0.1",
            f"--secure-port={sched_port}",
            f"--cert-dir={self.workdir / 'scheduler-certs'}",
            "--leader-elect=false",
            "--profiling=false",
            "--v=1",
        ])
        insecure = ssl.create_default_context()
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE  # their self-signed serving certs; /healthz only
        self._wait_ready(kcm, lambda: _http_ok(f"https://127.0.0.1:{kcm_port}/healthz", insecure),
                         READY_TIMEOUT)
        self._wait_ready(sched, lambda: _http_ok(f"https://127.0.0.1:{sched_port}/healthz", insecure),
                         READY_TIMEOUT)
        t = self._mark("controller-manager+scheduler", t)

        # kwok: simulated nodes (only those annotated kwok.x-k8s.io/node=fake)
        kwok = self._spawn("kwok", [
            "kwok",
            f"--kubeconfig={admin_kc}",
            f"--config={self.bin / 'kwok-stages.yaml'}",
            "--manage-all-nodes=false",
            f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION[0]}={KWOK_NODE_ANNOTATION[1]}",
            "--node-lease-duration-seconds=40",
            f"--server-address=127.0.0.1:{free_port()}",
            "--node-ip=127.0.0.1",
            "--cidr=10.244.0.0/16",
        ])

        # CRDs, while kwok and the controllers warm up ---------------------
        if crd_files:
            self.apply_crds(crd_files)
            t = self._mark("crds", t)

        # The controller-manager is useful once it has made the default
        # ServiceAccount (pods are rejected without it).
        def default_sa() -> bool:
            if not kcm.alive():
                raise ControlPlaneUnavailable(f"kube-controller-manager exited:\n{kcm.tail()}")
            return client.exists("/api/v1/namespaces/default/serviceaccounts/default")

        try:
            wait_for(default_sa, READY_TIMEOUT, what="the default ServiceAccount")
        except TimeoutError as e:
            raise ControlPlaneUnavailable(f"{e}; kube-controller-manager log:\n{kcm.tail()}") from None
        if not kwok.alive():
            raise ControlPlaneUnavailable(f"kwok exited during startup:\n{kwok.tail()}")
        t = self._mark("default-serviceaccount+kwok", t)

    def apply_crds(self, files: Iterable[Path], timeout: float = READY_TIMEOUT,
                   workers: int = 3) -> list[str]:
        """Server-side apply every CustomResourceDefinition in ``files`` and
        wait until each is Established. Parsing (client CPU) overlaps with the
        applies (server CPU) through a small thread pool."""
        assert self.client is not None
        client = self.client
        names: list[str] = []

        def apply(doc: dict) -> None:
            # Compact JSON is valid apply-patch+yaml and far smaller than the
            # indented upstream YAML (some kserve CRDs are 2.7 MB).
            client.apply(
                f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{doc['metadata']['name']}",
                doc,
            )

        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = []
            for f in files:
                for doc in yaml.load_all(f.read_text(), Loader=_YAML_LOADER):
                    if not doc or doc.get("kind") != "CustomResourceDefinition":
                        continue
                    names.append(doc["metadata"]["name"])
                    futures.append(pool.submit(apply, doc))
            for fut in futures:
                fut.result()

        def established(name: str) -> bool:
            crd = client.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
            conds = {c["type"]: c["status"] for c in crd.get("status", {}).get("conditions", [])}
            return conds.get("Established") == "True"

        for name in names:
            wait_for(lambda: established(name), timeout, what=f"CRD {name} to be Established")
        return names

    def stop(self) -> None:
        """Stop in reverse start order, one at a time (the API server shuts
        down cleanly only while etcd is still there), each bounded by
        STOP_TIMEOUT before SIGKILL of its process group."""
        for proc in reversed(self.procs):
            proc.stop()
        self.procs.clear()
        if not self._keep_workdir and os.environ.get("LLM_PLATFORM_KUBE_KEEP") != "1":
            shutil.rmtree(self.workdir, ignore_errors=True)

    def keep_workdir(self) -> None:
        """Keep logs and state after stop() (set when a test failed)."""
        self._keep_workdir = True


CRD_KIND = "CustomResourceDefinition"


def crd_files_from_index(directory: Path | None = None) -> list[Path]:
    """Every CustomResourceDefinition file listed in the shared index.json."""
    d = directory or crds_dir()
    index = d / "index.json"
    if not index.is_file():
        raise ControlPlaneUnavailable(
            f"no CRD index at {index} (set LLM_PLATFORM_CRDS_DIR to the shared crds directory)"
        )
    files = []
    for rel in sorted(set(json.loads(index.read_text()).values())):
        path = d / rel
        # index.json also lists Helm values schemas; keep only the CRD documents.
        if path.suffix in (".yaml", ".yml") and (yaml.safe_load(path.read_text()) or {}).get("kind") == CRD_KIND:
            files.append(path)
    return files
