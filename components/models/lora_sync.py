"""LoRA adapter sync sidecar: make the pod's vLLM serve exactly the registry's adapter versions.

Runs next to vLLM in every replica with the vLLM image's own ``python3`` and only the standard
library (no pip install, no extra image to mirror). Shipped in a ConfigMap whose content never
depends on which adapters exist, so adding an adapter changes no pod template.

Registry: a JSON object, served name (``<base>:<adapter>``) -> ``{"prefix": "adapters/<base>/
<adapter>/<version>/", "files": {<file name>: <sha256 hex>}}``. The publisher computes the
digests and refuses to re-publish different content under a version, so an entry pins content.

How a change goes live (one reconcile pass, woken by the registry source):

1. the version's files are downloaded into ``CACHE_DIR/.store/.<vid>.*`` (``vid`` is derived
   from the prefix and the pinned digests), each hashed while streaming and compared with its
   pinned digest; a mismatch or a short read discards the whole directory (``digest_mismatch``
   failure), so vLLM never sees a partial or altered file. A verified directory is made
   read-only and renamed to ``.store/<vid>`` in one step;
2. the sidecar tells vLLM to load it: ``POST /v1/load_lora_adapter {lora_name: <served name>,
   lora_path: CACHE_DIR/.store/<vid>}``; a bump or rollback first unloads the name (the
   window where it answers 404 is one adapter load). The path is per-version on purpose:
   vLLM's prefix-cache block hashes include the adapter's name *and path*
   (``kv_cache_utils._gen_lora_extra_hash_keys``), so a bumped or rolled-back version can never
   reuse KV computed with other weights. ``load_inplace`` is not used: in vLLM 0.32 the flag
   stays on the registered request and the worker reloads the files on every engine step.
   vLLM's filesystem resolver is not used either (it resolves ``CACHE_DIR/<name>``, one path
   for every version);
3. a name that left the registry is unloaded (``POST /v1/unload_lora_adapter``); versions no
   longer live are deleted from the store after ``RETIRE_GRACE_SECONDS`` (600): requests
   admitted before the switch still read them, and a vanished path kills vLLM's engine.

Every load or unload that fails is retried with exponential backoff (0.5 s .. 30 s), logged,
and counted in ``lora_sync_failures_total{op=...}``. vLLM is re-checked every
``RESYNC_SECONDS`` (one ``GET /v1/models``): adapters it lost (a restarted engine) are loaded
again. Unchanged adapters cost nothing per pass: no object-store request, no file access.

Registry sources (``REGISTRY_SOURCE``):

* ``kube`` -- the ConfigMap ``REGISTRY_CONFIGMAP`` in ``POD_NAMESPACE`` read through the
  Kubernetes API with the pod's ServiceAccount token, then *watched*: a change wakes the
  sidecar within the API server's watch latency (milliseconds) instead of the kubelet's
  ConfigMap volume refresh (sync period + cache TTL, about a minute). On any watch error it
  lists again (backoff), and while the API is unreachable it falls back to the mounted file.
* ``file`` -- ``REGISTRY_FILE`` (the same ConfigMap mounted as a volume), checked every
  ``REGISTRY_POLL_SECONDS`` (a stat and a read: cheap).

HTTP on ``STATUS_PORT`` (default 9400): ``/ready`` answers 200 only when the registry was read
and every entry is live in vLLM at its pinned version (the container's readiness probe, so a
new replica takes no traffic before its adapters are in place); ``/metrics`` is Prometheus text.

``SYNC_ONCE=1`` (static mode's init container): materialise every entry once, link
``CACHE_DIR/<name>`` to it for ``--lora-modules``, exit non-zero if anything failed.

Environment: ``S3_ENDPOINT`` (``http(s)://host:port``), ``S3_BUCKET``, ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION`` (us-east-1), ``S3_VERIFY_SSL`` (1),
``AWS_CA_BUNDLE``, ``CACHE_DIR``, ``REGISTRY_SOURCE`` (file), ``REGISTRY_FILE``,
``REGISTRY_POLL_SECONDS`` (1), ``REGISTRY_CONFIGMAP``, ``REGISTRY_KEY`` (registry.json),
``POD_NAMESPACE``, ``VLLM_URL`` (the pod's vLLM on localhost), ``VLLM_API_KEY``,
``STATUS_HOST`` (0.0.0.0: the kubelet probes the pod IP), ``STATUS_PORT``, ``RESYNC_SECONDS`` (10), ``RETIRE_GRACE_SECONDS`` (600), ``SYNC_ONCE``.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import http.server
import json
import os
import re
import shutil
import ssl
import stat
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

STORE = ".store"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$")
FILE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
PREFIX_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*/$")
SHA_RE = re.compile(r"^[0-9a-f]{64}$")
BACKOFF_MIN, BACKOFF_MAX = 0.5, 30.0
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)


def log(message: str) -> None:
    print(f"lora-sync: {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ registry


class Entry:
    """One pinned adapter version."""

    __slots__ = ("prefix", "files", "vid")

    def __init__(self, prefix: str, files: dict[str, str]):
        self.prefix, self.files = prefix, dict(sorted(files.items()))
        h = hashlib.sha256(prefix.encode())
        for name, digest in self.files.items():
            h.update(f"\0{name}\0{digest}".encode())
        self.vid = h.hexdigest()[:32]


def entry_problem(name: object, value: object) -> str | None:
    """Why a registry entry cannot be used safely (None: fine)."""
    if not isinstance(name, str) or not NAME_RE.match(name) or ".." in name:
        return "served name must be 1-200 of [A-Za-z0-9._:-], not starting with '.' and without '..'"
    if not isinstance(value, dict):
        return "must be {prefix, files: {name: sha256}} (content pinned by digest)"
    prefix, files = value.get("prefix"), value.get("files")
    if not isinstance(prefix, str) or not PREFIX_RE.match(prefix) or any(p in ("..", ".") for p in prefix.split("/")):
        return f"prefix {prefix!r} must be a relative object path ending in '/' without '.'/'..' segments"
    if not isinstance(files, dict) or "adapter_config.json" not in files:
        return "files must pin adapter_config.json and the weights by sha256"
    for fname, digest in files.items():
        if not isinstance(fname, str) or not FILE_RE.match(fname) or ".." in fname:
            return f"file name {fname!r} must be a plain name of [A-Za-z0-9._-] (no path)"
        if not isinstance(digest, str) or not SHA_RE.match(digest):
            return f"file {fname!r}: digest must be 64 lowercase hex characters (sha256)"
    return None


def parse_registry(raw: object) -> dict[str, Entry]:
    """Served name -> entry; unsafe entries are logged and skipped (never materialised)."""
    if not isinstance(raw, dict):
        raise ValueError("registry must be a JSON object")
    registry = {}
    for name, value in sorted(raw.items(), key=lambda kv: str(kv[0])):
        problem = entry_problem(name, value)
        if problem:
            log(f"refusing registry entry {name!r}: {problem}")
            METRICS.inc("lora_sync_failures_total", op="registry_entry")
            continue
        registry[name] = Entry(value["prefix"], value["files"])
    return registry


# ------------------------------------------------------------------ metrics


class Metrics:
    """Counters, gauges and histograms in Prometheus text format (no client library)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.values: dict[tuple[str, tuple], float] = {}
        self.kinds: dict[str, str] = {}
        self.hists: dict[tuple[str, tuple], list[float]] = {}

    def inc(self, name: str, amount: float = 1, **labels: str) -> None:
        with self.lock:
            self.kinds[name] = "counter"
            key = (name, tuple(sorted(labels.items())))
            self.values[key] = self.values.get(key, 0) + amount

    def set(self, name: str, value: float, **labels: str) -> None:
        with self.lock:
            self.kinds[name] = "gauge"
            self.values[(name, tuple(sorted(labels.items())))] = value

    def replace(self, name: str, series: dict[tuple, float]) -> None:
        """Set a gauge's whole series (labels tuple -> value), dropping the others."""
        with self.lock:
            self.kinds[name] = "gauge"
            for key in [k for k in self.values if k[0] == name]:
                del self.values[key]
            for labels, value in series.items():
                self.values[(name, labels)] = value

    def observe(self, name: str, seconds: float, **labels: str) -> None:
        with self.lock:
            self.kinds[name] = "histogram"
            key = (name, tuple(sorted(labels.items())))
            counts = self.hists.setdefault(key, [0.0] * (len(LATENCY_BUCKETS) + 2))
            for i, bound in enumerate(LATENCY_BUCKETS):
                if seconds <= bound:
                    counts[i] += 1
            counts[-2] += 1  # count
            counts[-1] += seconds  # sum

    def render(self) -> str:
        def fmt(labels: tuple) -> str:
            if not labels:
                return ""
            return "{" + ",".join(f'{k}="{str(v)}"'.replace("\n", " ") for k, v in labels) + "}"

        lines = []
        with self.lock:
            for name in sorted(self.kinds):
                lines.append(f"# TYPE {name} {self.kinds[name]}")
                if self.kinds[name] == "histogram":
                    for (n, labels), counts in sorted(self.hists.items()):
                        if n != name:
                            continue
                        for i, bound in enumerate(LATENCY_BUCKETS):
                            lines.append(f"{name}_bucket{fmt(labels + (('le', str(bound)),))} {counts[i]:g}")
                        lines.append(f"{name}_bucket{fmt(labels + (('le', '+Inf'),))} {counts[-2]:g}")
                        lines.append(f"{name}_count{fmt(labels)} {counts[-2]:g}")
                        lines.append(f"{name}_sum{fmt(labels)} {counts[-1]:.6f}")
                    continue
                for (n, labels), value in sorted(self.values.items()):
                    if n == name:
                        lines.append(f"{name}{fmt(labels)} {value:g}")
        return "\n".join(lines) + "\n"


METRICS = Metrics()


# ------------------------------------------------------------------ object store


class DigestMismatch(Exception):
    pass


class S3:
    """GetObject, SigV4-signed, path style."""

    def __init__(self, endpoint: str, access_key: str, secret_key: str, region: str = "us-east-1",
                 verify_ssl: bool = True, ca_file: str | None = None):
        parsed = urllib.parse.urlparse(endpoint)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"S3_ENDPOINT {endpoint!r} must be http(s)://host[:port]")
        self.scheme, self.host = parsed.scheme, parsed.netloc
        self.access_key, self.secret_key, self.region = access_key, secret_key, region
        self.context = None
        if self.scheme == "https":
            self.context = ssl.create_default_context(cafile=ca_file) if verify_ssl else ssl._create_unverified_context()

    def _signed(self, path: str) -> urllib.request.Request:
        now = datetime.datetime.now(datetime.timezone.utc)
        amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
        uri = urllib.parse.quote(path, safe="/-_.~")
        headers = {"host": self.host, "x-amz-content-sha256": EMPTY_SHA256, "x-amz-date": amz_date}
        signed = ";".join(sorted(headers))
        canonical = "\n".join(["GET", uri, "", "".join(f"{k}:{headers[k]}\n" for k in sorted(headers)), signed, EMPTY_SHA256])
        scope = f"{day}/{self.region}/s3/aws4_request"
        to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
        key = ("AWS4" + self.secret_key).encode()
        for part in (day, self.region, "s3", "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        request = urllib.request.Request(f"{self.scheme}://{self.host}{uri}", method="GET")
        request.add_header("x-amz-content-sha256", EMPTY_SHA256)
        request.add_header("x-amz-date", amz_date)
        request.add_header("Authorization", f"AWS4-HMAC-SHA256 Credential={self.access_key}/{scope}, "
                                            f"SignedHeaders={signed}, Signature={signature}")
        return request

    def download_verified(self, bucket: str, key: str, dest: str, digest: str) -> None:
        """Stream ``key`` into ``dest``; DigestMismatch unless its sha256 is ``digest``."""
        h = hashlib.sha256()
        with urllib.request.urlopen(self._signed(f"/{bucket}/{key}"), timeout=60, context=self.context) as response, \
                open(dest, "xb") as out:
            while chunk := response.read(1024 * 1024):
                h.update(chunk)
                out.write(chunk)
        if h.hexdigest() != digest:
            raise DigestMismatch(f"{key}: sha256 {h.hexdigest()} differs from the pinned {digest}")


def _inside(root: str, path: str) -> bool:
    root, path = os.path.realpath(root), os.path.realpath(path)
    return os.path.commonpath([root, path]) == root


def materialise(s3: S3, bucket: str, cache: str, entry: Entry) -> str:
    """Path of the verified, read-only directory of ``entry`` (downloaded if missing)."""
    store = os.path.join(cache, STORE)
    os.makedirs(store, exist_ok=True)
    final = os.path.join(store, entry.vid)
    if os.path.isdir(final):
        return final
    tmp = tempfile.mkdtemp(prefix=f".{entry.vid}.", dir=store)
    try:
        for fname, digest in entry.files.items():
            dest = os.path.join(tmp, fname)
            if not _inside(tmp, dest) or os.path.dirname(dest) != tmp:  # names are checked; belt and braces
                raise ValueError(f"{fname!r} would be written outside the cache")
            s3.download_verified(bucket, entry.prefix + fname, dest, digest)
            os.chmod(dest, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        os.chmod(tmp, 0o555)
        os.rename(tmp, final)
    except BaseException:
        _remove_tree(tmp)
        raise
    return final


def _remove_tree(path: str) -> None:
    if not os.path.lexists(path):
        return
    for root, dirs, _ in os.walk(path):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o755)
    os.chmod(path, 0o755)
    shutil.rmtree(path, ignore_errors=True)


def collect_garbage(cache: str, keep: set[str]) -> None:
    """Delete store versions not in ``keep`` (and stale temporaries)."""
    store = os.path.join(cache, STORE)
    if not os.path.isdir(store):
        return
    for name in os.listdir(store):
        if name not in keep:
            _remove_tree(os.path.join(store, name))


# ------------------------------------------------------------------ vLLM


class VllmError(Exception):
    pass


class Vllm:
    """The pod's own vLLM: load, unload and list adapters."""

    def __init__(self, url: str, api_key: str | None = None, timeout: float = 60):
        self.url, self.api_key, self.timeout = url.rstrip("/"), api_key, timeout

    def _call(self, method: str, path: str, body: dict | None = None) -> bytes:
        request = urllib.request.Request(self.url + path, method=method,
                                         data=json.dumps(body).encode() if body is not None else None,
                                         headers={"Content-Type": "application/json"})
        if self.api_key:
            request.add_header("Authorization", f"Bearer {self.api_key}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:300].decode(errors="replace")
            raise VllmError(f"{method} {path}: HTTP {exc.code} {detail}") from None
        except OSError as exc:
            raise VllmError(f"{method} {path}: {exc}") from None

    def loaded(self) -> dict[str, str]:
        """Adapter name -> path vLLM serves it from."""
        data = json.loads(self._call("GET", "/v1/models"))["data"]
        return {m["id"]: m.get("root", "") for m in data if m.get("parent")}

    def load(self, name: str, path: str, inplace: bool) -> None:
        self._call("POST", "/v1/load_lora_adapter", {"lora_name": name, "lora_path": path, "load_inplace": inplace})

    def unload(self, name: str) -> None:
        try:
            self._call("POST", "/v1/unload_lora_adapter", {"lora_name": name})
        except VllmError as exc:
            if "HTTP 404" in str(exc):  # not loaded: nothing to do
                return
            raise


# ------------------------------------------------------------------ reconcile


class Syncer:
    """Desired (registry) vs live (vLLM) adapters, reconciled with retries."""

    def __init__(self, s3: S3, bucket: str, cache: str, vllm: Vllm | None, resync_seconds: float = 10,
                 retire_grace_seconds: float = 600):
        self.s3, self.bucket, self.cache, self.vllm = s3, bucket, cache, vllm
        self.resync_seconds, self.retire_grace_seconds = resync_seconds, retire_grace_seconds
        self.retired: dict[str, float] = {}  # vid -> when it stopped being live
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.desired: dict[str, Entry] | None = None
        self.changed_at: dict[str, float] = {}  # name -> when its desired state changed (go-live clock)
        self.live: dict[str, str] = {}  # name -> vid vLLM serves
        self.retry_at: dict[str, float] = {}
        self.backoff: dict[str, float] = {}
        self.last_resync = 0.0
        self.vllm_ok = False

    # registry sources call this
    def set_registry(self, registry: dict[str, Entry]) -> None:
        now = time.monotonic()
        with self.lock:
            old = self.desired or {}
            for name in set(old) | set(registry):
                if (old.get(name) and old[name].vid) != (registry.get(name) and registry[name].vid):
                    self.changed_at[name] = now
                    self.retry_at.pop(name, None)
                    self.backoff.pop(name, None)
            self.desired = registry
        METRICS.set("lora_sync_registry_adapters", len(registry))
        self.wake.set()

    def ready(self) -> bool:
        with self.lock:
            return (self.desired is not None and self.vllm_ok
                    and all(self.live.get(n) == e.vid for n, e in self.desired.items()) and set(self.live) <= set(self.desired))

    def _fail(self, name: str, op: str, exc: Exception) -> None:
        delay = min(BACKOFF_MAX, self.backoff.get(name, BACKOFF_MIN / 2) * 2)
        self.backoff[name] = delay
        self.retry_at[name] = time.monotonic() + delay
        METRICS.inc("lora_sync_failures_total", op=op)
        log(f"{name}: {op} failed ({exc}); retrying in {delay:.1f} s")

    def _resync(self) -> None:
        """Compare with what vLLM really serves (a restarted engine forgets everything)."""
        try:
            loaded = self.vllm.loaded()
        except VllmError as exc:
            if self.vllm_ok:
                log(f"vLLM unreachable: {exc}")
            self.vllm_ok = False
            return
        self.vllm_ok = True
        self.last_resync = time.monotonic()
        store = os.path.join(self.cache, STORE)
        actual = {}
        for name, root in loaded.items():
            vid = os.path.basename(root.rstrip("/")) if os.path.dirname(root.rstrip("/")) == store else "?"
            actual[name] = vid
        for name in set(self.live) - set(actual):
            log(f"{name}: vLLM no longer serves it; loading it again")
        self.live = actual

    def reconcile_once(self) -> float:
        """One pass; returns seconds until the next retry is due (or the resync interval)."""
        now = time.monotonic()
        with self.lock:
            desired = dict(self.desired or {})
        if self.vllm is not None and (not self.vllm_ok or now - self.last_resync >= self.resync_seconds):
            self._resync()
            if not self.vllm_ok:
                return 1.0
        for name, entry in desired.items():
            if self.live.get(name) == entry.vid or self.retry_at.get(name, 0) > now:
                continue
            try:
                start = time.monotonic()
                path = materialise(self.s3, self.bucket, self.cache, entry)
            except DigestMismatch as exc:
                self._fail(name, "digest_mismatch", exc)
                continue
            except Exception as exc:
                self._fail(name, "download", exc)
                continue
            try:
                if name in self.live:
                    # Re-register rather than load_inplace: in vLLM 0.32 an in-place request
                    # keeps load_inplace=True and makes the worker reload the files on every
                    # engine step (and die if they are gone).
                    self.vllm.unload(name)
                    self.live.pop(name)
                self.vllm.load(name, path, inplace=False)
            except VllmError as exc:
                self._fail(name, "load", exc)
                continue
            took = time.monotonic() - start
            self.live[name] = entry.vid
            self.backoff.pop(name, None)
            self.retry_at.pop(name, None)
            METRICS.observe("lora_sync_load_seconds", took)
            self._went_live(name, f"{name} -> {entry.prefix} live ({took:.2f} s)")
        for name in sorted(set(self.live) - set(desired)):
            if self.retry_at.get(name, 0) > now:
                continue
            try:
                self.vllm.unload(name)
            except VllmError as exc:
                self._fail(name, "unload", exc)
                continue
            del self.live[name]
            self.backoff.pop(name, None)
            self.retry_at.pop(name, None)
            self._went_live(name, f"{name} unloaded (left the registry)")
        self._collect_garbage(desired)
        self._publish_state(desired)
        pending = [t for t in self.retry_at.values()]
        due = min(pending) - time.monotonic() if pending else self.resync_seconds
        return max(0.05, min(due, self.resync_seconds))

    def _collect_garbage(self, desired: dict[str, Entry]) -> None:
        """Delete versions retired more than ``retire_grace_seconds`` ago. Requests admitted
        before a switch still carry the old path, and vLLM re-reads it whenever the adapter is
        re-activated; a vanished directory kills its engine (EngineDeadError), so retired
        versions outlive any request."""
        now = time.monotonic()
        keep = set(self.live.values()) | {e.vid for e in desired.values()}
        store = os.path.join(self.cache, STORE)
        present = set(os.listdir(store)) if os.path.isdir(store) else set()
        for vid in present - keep:
            self.retired.setdefault(vid, now)
        for vid in list(self.retired):
            if vid in keep or vid not in present:
                self.retired.pop(vid)
        collect_garbage(self.cache, keep | {v for v, t in self.retired.items() if now - t < self.retire_grace_seconds})

    def _went_live(self, name: str, message: str) -> None:
        changed = self.changed_at.pop(name, None)
        if changed is not None:
            METRICS.observe("lora_sync_go_live_seconds", time.monotonic() - changed)
        log(message)

    def _publish_state(self, desired: dict[str, Entry]) -> None:
        live = {n for n, e in desired.items() if self.live.get(n) == e.vid}
        METRICS.set("lora_sync_adapters_live", len(live))
        METRICS.set("lora_sync_adapters_pending", len(desired) - len(live) + len(set(self.live) - set(desired)))
        METRICS.set("lora_sync_ready", 1 if self.ready() else 0)
        METRICS.replace("lora_sync_adapter_live", {(("adapter", n),): 1.0 for n in sorted(live)})

    def run(self) -> None:
        while True:
            self.wake.clear()
            try:
                wait = self.reconcile_once() if self.desired is not None else 1.0
            except Exception as exc:  # never die: log, count, try again
                METRICS.inc("lora_sync_failures_total", op="pass")
                log(f"pass failed: {exc!r}")
                wait = 1.0
            self.wake.wait(wait)


# ------------------------------------------------------------------ registry sources


def watch_file(path: str, syncer: Syncer, interval: float) -> None:
    last = None
    while True:
        try:
            with open(path, "rb") as f:
                raw = f.read()
            if raw != last:
                syncer.set_registry(parse_registry(json.loads(raw)))
                last = raw
        except Exception as exc:
            METRICS.inc("lora_sync_failures_total", op="registry_read")
            log(f"registry {path}: {exc}")
        time.sleep(interval)


class KubeConfigMap:
    """GET and WATCH of one ConfigMap with the pod's ServiceAccount."""

    SA = "/var/run/secrets/kubernetes.io/serviceaccount"

    def __init__(self, namespace: str, name: str, server: str | None = None, token_file: str | None = None,
                 ca_file: str | None = None):
        host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        self.server = (server or f"https://{host}:{port}").rstrip("/")
        self.namespace, self.name = namespace, name
        self.token_file = token_file or f"{self.SA}/token"
        ca = ca_file or f"{self.SA}/ca.crt"
        self.context = ssl.create_default_context(cafile=ca) if self.server.startswith("https") and os.path.exists(ca) else None

    def _open(self, query: str, timeout: float):
        with open(self.token_file) as f:  # re-read: projected tokens rotate
            token = f.read().strip()
        url = f"{self.server}/api/v1/namespaces/{self.namespace}/configmaps{query}"
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
        return urllib.request.urlopen(request, timeout=timeout, context=self.context)

    def get(self) -> dict:
        with self._open(f"/{urllib.parse.quote(self.name)}", 10) as response:
            return json.loads(response.read())

    def watch(self, resource_version: str):
        """Yield watch events (dicts) until the server closes the stream."""
        selector = urllib.parse.quote(f"metadata.name={self.name}")
        query = f"?watch=1&fieldSelector={selector}&resourceVersion={resource_version}&timeoutSeconds=300"
        with self._open(query, 330) as response:
            for line in response:
                if line.strip():
                    yield json.loads(line)


def watch_kube(api: KubeConfigMap, key: str, syncer: Syncer, fallback_file: str | None) -> None:
    delay = BACKOFF_MIN
    while True:
        try:
            obj = api.get()
            syncer.set_registry(parse_registry(json.loads((obj.get("data") or {}).get(key, "{}"))))
            rv = obj["metadata"]["resourceVersion"]
            delay = BACKOFF_MIN
            for event in api.watch(rv):
                if event.get("type") in ("ADDED", "MODIFIED"):
                    obj = event["object"]
                    syncer.set_registry(parse_registry(json.loads((obj.get("data") or {}).get(key, "{}"))))
                elif event.get("type") == "ERROR":
                    raise RuntimeError(f"watch error: {event.get('object', {}).get('message')}")
        except Exception as exc:
            METRICS.inc("lora_sync_failures_total", op="registry_watch")
            log(f"registry watch: {exc}; listing again in {delay:.1f} s")
            if fallback_file and os.path.exists(fallback_file):
                try:
                    with open(fallback_file) as f:
                        syncer.set_registry(parse_registry(json.load(f)))
                except Exception as file_exc:
                    log(f"fallback registry {fallback_file}: {file_exc}")
            time.sleep(delay)
            delay = min(BACKOFF_MAX, delay * 2)


# ------------------------------------------------------------------ status server


def serve_status(host: str, port: int, syncer: Syncer) -> http.server.ThreadingHTTPServer:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/ready":
                ok = syncer.ready()
                body, code, kind = (b"ready\n" if ok else b"adapters not in place\n"), (200 if ok else 503), "text/plain"
            elif self.path == "/metrics":
                body, code, kind = METRICS.render().encode(), 200, "text/plain; version=0.0.4"
            else:
                body, code, kind = b"not found\n", 404, "text/plain"
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_):
            pass

    server = http.server.ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# ------------------------------------------------------------------ static mode


def sync_static(s3: S3, bucket: str, cache: str, registry: dict[str, Entry]) -> int:
    """Materialise every entry and link ``cache/<name>`` to it (``--lora-modules`` paths)."""
    failed = 0
    for name, entry in registry.items():
        try:
            target = materialise(s3, bucket, cache, entry)
            link = os.path.join(cache, name)
            tmp = os.path.join(cache, f".{name}.link")
            if os.path.lexists(tmp):
                os.unlink(tmp)
            os.symlink(os.path.relpath(target, cache), tmp)
            os.replace(tmp, link)
        except Exception as exc:
            log(f"{name}: {exc}")
            failed += 1
    return 1 if failed else 0


def main() -> int:
    env = os.environ
    s3 = S3(env["S3_ENDPOINT"], env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"],
            env.get("AWS_DEFAULT_REGION", "us-east-1"), env.get("S3_VERIFY_SSL", "1") not in ("0", "false", "False"),
            env.get("AWS_CA_BUNDLE") or None)
    bucket, cache = env["S3_BUCKET"], env["CACHE_DIR"]
    registry_file = env.get("REGISTRY_FILE")
    if env.get("SYNC_ONCE") == "1":
        with open(registry_file) as f:
            return sync_static(s3, bucket, cache, parse_registry(json.load(f)))
    vllm = Vllm(env.get("VLLM_URL", "http://localhost:8000"), env.get("VLLM_API_KEY") or None)
    syncer = Syncer(s3, bucket, cache, vllm, float(env.get("RESYNC_SECONDS", "10")),
                    float(env.get("RETIRE_GRACE_SECONDS", "600")))
    serve_status(env.get("STATUS_HOST", "0.0.0.0"), int(env.get("STATUS_PORT", "9400")), syncer)
    if env.get("REGISTRY_SOURCE", "file") == "kube":
        api = KubeConfigMap(env["POD_NAMESPACE"], env["REGISTRY_CONFIGMAP"], env.get("KUBE_API_URL") or None,
                            env.get("KUBE_TOKEN_FILE") or None, env.get("KUBE_CA_FILE") or None)
        source = threading.Thread(target=watch_kube, args=(api, env.get("REGISTRY_KEY", "registry.json"), syncer,
                                                            registry_file), daemon=True)
    else:
        source = threading.Thread(target=watch_file, args=(registry_file, syncer,
                                                            float(env.get("REGISTRY_POLL_SECONDS", "1"))), daemon=True)
    source.start()
    syncer.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
