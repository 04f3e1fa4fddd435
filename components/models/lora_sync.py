"""LoRA adapter sync sidecar: materialise the registry's adapter versions into vLLM's resolver cache.

Runs next to vLLM in every replica, with the vLLM image's own ``python3`` and only the standard
library (no pip install, no extra image to mirror in an air-gapped registry). It is shipped in
a ConfigMap whose content never depends on which adapters exist, so adding an adapter changes
no pod template.

Every ``SYNC_INTERVAL_SECONDS`` it reads ``REGISTRY_FILE`` (a JSON object: served name ->
pinned object prefix ``adapters/<base>/<adapter>/<version>/``), mounted from the service's
registry ConfigMap as a volume -- the kubelet refreshes such mounts in place, without a
restart -- and makes ``CACHE_DIR`` match it:

* each entry appears as ``CACHE_DIR/<served name>`` -> a directory holding that version's
  files. Downloads go to a temporary directory under ``CACHE_DIR/.store``; the served name is
  then switched with an atomic symlink rename, so vLLM's filesystem resolver never sees a
  half-written adapter;
* a version is identified by its prefix and the objects' ETags: re-publishing the same content
  does nothing, changed content is fetched again;
* an entry removed from the registry disappears from the cache;
* vLLM keeps an adapter it resolved once (by name) until it is unloaded, so when an entry is
  removed or switched to another version the sidecar asks the local vLLM to unload it
  (``POST /v1/unload_lora_adapter``, available with ``VLLM_ALLOW_RUNTIME_LORA_UPDATING``);
  the next request naming it resolves the new files through the filesystem resolver. An
  adapter that was never loaded answers 4xx, and a vLLM not up yet refuses the connection:
  both mean "nothing to unload";
* a failed download keeps the previous state and is retried on the next pass.

Environment: ``S3_ENDPOINT`` (``http(s)://host:port``), ``S3_BUCKET``, ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION`` (default us-east-1), ``REGISTRY_FILE``,
``CACHE_DIR``, ``SYNC_INTERVAL_SECONDS`` (default 15), ``S3_VERIFY_SSL`` (default 1),
``AWS_CA_BUNDLE`` (optional CA file), ``VLLM_URL`` (the pod's own vLLM on
localhost; unset: never unload) and ``VLLM_API_KEY`` (when vLLM requires one).
Requests are signed with AWS Signature V4, path style.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import os
import shutil
import ssl
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
STORE = ".store"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def log(message: str) -> None:
    print(f"lora-sync: {message}", file=sys.stderr, flush=True)


class S3:
    """The two S3 calls the sidecar needs (ListObjectsV2, GetObject), SigV4-signed."""

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

    def _signed(self, path: str, query: dict[str, str]) -> urllib.request.Request:
        now = datetime.datetime.now(datetime.timezone.utc)
        amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
        uri = urllib.parse.quote(path, safe="/-_.~")
        qs = "&".join(f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}"
                      for k, v in sorted(query.items()))
        headers = {"host": self.host, "x-amz-content-sha256": EMPTY_SHA256, "x-amz-date": amz_date}
        signed = ";".join(sorted(headers))
        canonical = "\n".join(["GET", uri, qs, "".join(f"{k}:{headers[k]}\n" for k in sorted(headers)), signed, EMPTY_SHA256])
        scope = f"{day}/{self.region}/s3/aws4_request"
        to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
        key = ("AWS4" + self.secret_key).encode()
        for part in (day, self.region, "s3", "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        url = f"{self.scheme}://{self.host}{uri}" + (f"?{qs}" if qs else "")
        request = urllib.request.Request(url, method="GET")
        request.add_header("Host", self.host)
        request.add_header("x-amz-content-sha256", EMPTY_SHA256)
        request.add_header("x-amz-date", amz_date)
        request.add_header("Authorization", f"AWS4-HMAC-SHA256 Credential={self.access_key}/{scope}, "
                                            f"SignedHeaders={signed}, Signature={signature}")
        return request

    def _open(self, path: str, query: dict[str, str]):
        return urllib.request.urlopen(self._signed(path, query), timeout=60, context=self.context)

    def list(self, bucket: str, prefix: str) -> list[tuple[str, str]]:
        """(key, etag) of every object under ``prefix``."""
        found, token = [], None
        while True:
            query = {"list-type": "2", "prefix": prefix}
            if token:
                query["continuation-token"] = token
            with self._open(f"/{bucket}", query) as response:
                root = ET.fromstring(response.read())
            for item in root.iter(f"{S3_NS}Contents"):
                found.append((item.findtext(f"{S3_NS}Key"), (item.findtext(f"{S3_NS}ETag") or "").strip('"')))
            if root.findtext(f"{S3_NS}IsTruncated") != "true":
                return sorted(found)
            token = root.findtext(f"{S3_NS}NextContinuationToken")

    def download(self, bucket: str, key: str, dest: str) -> None:
        with self._open(f"/{bucket}/{key}", {}) as response, open(dest, "wb") as out:
            shutil.copyfileobj(response, out, 1024 * 1024)


def read_registry(path: str) -> dict[str, str]:
    """Served name -> object prefix; invalid entries are logged and skipped."""
    with open(path) as f:
        raw = json.load(f)
    registry = {}
    for name, prefix in sorted(raw.items()):
        if not name or name.startswith(".") or "/" in name or not isinstance(prefix, str) or not prefix.endswith("/"):
            log(f"ignoring registry entry {name!r}: {prefix!r}")
            continue
        registry[name] = prefix
    return registry


def version_id(prefix: str, objects: list[tuple[str, str]]) -> str:
    h = hashlib.sha256(prefix.encode())
    for key, etag in objects:
        h.update(f"\0{key}\0{etag}".encode())
    return h.hexdigest()[:32]


def _swap_link(cache: str, name: str, target: str) -> None:
    """Point ``cache/name`` at ``target`` atomically (rename of a fresh symlink over the old one)."""
    link = os.path.join(cache, name)
    if os.path.isdir(link) and not os.path.islink(link):
        shutil.rmtree(link)  # left by an older layout; replace with a link
    tmp = os.path.join(cache, f".{name}.{os.getpid()}.tmp")
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(target, tmp)
    os.replace(tmp, link)


def vllm_unloader(url: str, api_key: str | None = None, timeout: float = 10):
    """A function asking the vLLM at ``url`` to unload an adapter by served name; True if it did."""
    def unload(name: str) -> bool:
        request = urllib.request.Request(f"{url.rstrip('/')}/v1/unload_lora_adapter", method="POST",
                                         data=json.dumps({"lora_name": name}).encode(),
                                         headers={"Content-Type": "application/json"})
        if api_key:
            request.add_header("Authorization", f"Bearer {api_key}")
        try:
            with urllib.request.urlopen(request, timeout=timeout):
                log(f"{name}: unloaded from vLLM (next request loads the registry's version)")
                return True
        except urllib.error.HTTPError as exc:  # 4xx: not loaded, nothing to do
            if exc.code >= 500:
                log(f"{name}: vLLM could not unload it ({exc.code})")
            return False
        except OSError:  # vLLM not listening yet: nothing is loaded
            return False

    return unload


def sync_once(s3: S3, bucket: str, registry: dict[str, str], cache: str, strict: bool = False,
              unload=None) -> dict[str, str]:
    """Make ``cache`` match ``registry``; return served name -> version id now materialised.

    ``strict`` (the init container of static mode): raise if any entry could not be fetched.
    ``unload(name)`` is called for every served name switched to another version or removed.
    """
    stale: list[str] = []
    store = os.path.join(cache, STORE)
    os.makedirs(store, exist_ok=True)
    live: dict[str, str] = {}
    failed: list[str] = []
    for name, prefix in registry.items():
        link = os.path.join(cache, name)
        try:
            objects = [(k, e) for k, e in s3.list(bucket, prefix) if not k.endswith("/")]
            if not any(k.endswith("/adapter_config.json") or k == prefix + "adapter_config.json" for k, _ in objects):
                raise FileNotFoundError(f"no adapter_config.json under s3://{bucket}/{prefix}")
            vid = version_id(prefix, objects)
            target = os.path.join(STORE, vid)
            if os.path.islink(link) and os.readlink(link) == target and os.path.isdir(os.path.join(cache, target)):
                live[name] = vid
                continue
            final = os.path.join(store, vid)
            if not os.path.isdir(final):
                tmp = tempfile.mkdtemp(prefix=f".{vid}.", dir=store)
                for key, _ in objects:
                    rel = key[len(prefix):]
                    dest = os.path.join(tmp, rel)
                    os.makedirs(os.path.dirname(dest), exist_ok=True)
                    s3.download(bucket, key, dest)
                os.chmod(tmp, 0o755)
                os.rename(tmp, final)
            if os.path.islink(link):
                stale.append(name)  # it pointed at another version, which vLLM may hold
            _swap_link(cache, name, target)
            live[name] = vid
            log(f"{name} -> s3://{bucket}/{prefix} ({len(objects)} files)")
        except Exception as exc:  # keep serving what is there; retry next pass
            log(f"{name}: {exc}")
            failed.append(name)
            if os.path.islink(link):
                live[name] = os.path.basename(os.readlink(link))
    for entry in os.listdir(cache):
        path = os.path.join(cache, entry)
        if entry.startswith(".") or entry in registry:
            continue
        if os.path.islink(path):
            os.unlink(path)
        elif os.path.isdir(path):
            shutil.rmtree(path)
        stale.append(entry)
        log(f"{entry} removed (no longer in the registry)")
    for entry in os.listdir(store):
        if entry not in live.values():
            shutil.rmtree(os.path.join(store, entry), ignore_errors=True)
    if unload is not None:
        for name in stale:
            unload(name)
    if strict and failed:
        raise RuntimeError(f"could not fetch {', '.join(failed)}")
    return live


def main() -> int:
    env = os.environ
    s3 = S3(env["S3_ENDPOINT"], env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"],
            env.get("AWS_DEFAULT_REGION", "us-east-1"), env.get("S3_VERIFY_SSL", "1") not in ("0", "false", "False"),
            env.get("AWS_CA_BUNDLE") or None)
    bucket, registry_file, cache = env["S3_BUCKET"], env["REGISTRY_FILE"], env["CACHE_DIR"]
    interval = float(env.get("SYNC_INTERVAL_SECONDS", "15"))
    once = env.get("SYNC_ONCE") == "1"
    unload = vllm_unloader(env["VLLM_URL"], env.get("VLLM_API_KEY") or None) if env.get("VLLM_URL") else None
    while True:
        try:
            sync_once(s3, bucket, read_registry(registry_file), cache, strict=once, unload=unload)
        except Exception as exc:
            log(f"pass failed: {exc}")
            if once:
                return 1
        if once:
            return 0
        time.sleep(interval)


if __name__ == "__main__":
    sys.exit(main())
