"""Adapter publishing and the sync sidecar against a REAL S3 server (MinIO built from its Go
module, started on 127.0.0.1; see tests/support/s3_server.py)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from components.models.adapter_checks import KSERVE_MODEL_PATH, AdapterCheckError, adapter_prefix, prepare_adapter
from components.models.adapters import AdapterVersionProvider
from components.models import lora_sync
from components.storage.interface import bucket_policy
from tests.support.s3_server import s3_server  # noqa: F401  (fixture)

REPO = Path(__file__).resolve().parents[2]
SQL = REPO / "adapters" / "llama-3.1-8b" / "sql" / "v2026-11-01"
JA = REPO / "adapters" / "llama-3.1-8b" / "support-ja" / "v2026-11-10"


@pytest.fixture(scope="module")
def store(s3_server):  # noqa: F811
    """Buckets plus reader/publisher users holding exactly the ObjectStore's policies."""
    from minio.credentials import StaticProvider
    from minio.minioadmin import MinioAdmin

    root = s3_server.client()
    for bucket in ("adapters", "models"):
        if not root.bucket_exists(bucket):
            root.make_bucket(bucket)
    admin = MinioAdmin(endpoint=s3_server.endpoint.removeprefix("http://"), secure=False,
                       credentials=StaticProvider(s3_server.access_key, s3_server.secret_key))
    users = {"reader": ("readerkey01", "readersecret0123456789"), "publisher": ("publisherkey01", "publishersecret0123456789")}
    for role, (key, secret) in users.items():
        admin.policy_add(f"platform-{role}", policy=bucket_policy(role.title(), ["adapters", "models"], write=role == "publisher"))
        admin.user_add(key, secret)
        admin.attach_policy([f"platform-{role}"], user=key)
    return {"server": s3_server, **users}


def _props(store, source: Path, rank: int, prefix: str) -> dict:
    key, secret = store["publisher"]
    return {
        "sourceDir": str(source), "rank": rank, "modelPath": KSERVE_MODEL_PATH,
        "endpoint": store["server"].endpoint, "bucket": "adapters", "prefix": prefix, "region": "us-east-1",
        "verifySsl": True, "mode": "upload", "digests": prepare_adapter(source, rank).digests,
        "accessKey": key, "secretKey": secret,
    }


def test_publish_lands_at_the_versioned_path_with_rewritten_config(store):
    prefix = adapter_prefix("llama-3.1-8b", "sql", "v2026-11-01")
    result = AdapterVersionProvider().create(_props(store, SQL, 16, prefix))
    assert result.id == f"adapters/{prefix}"
    assert sorted(result.outs["uploaded"]) == ["adapter_config.json", "adapter_model.safetensors"]
    assert "accessKey" not in result.outs and "secretKey" not in result.outs
    client = store["server"].client()
    names = sorted(o.object_name for o in client.list_objects("adapters", prefix=prefix, recursive=True))
    assert names == [prefix + "adapter_config.json", prefix + "adapter_model.safetensors"]
    config = json.loads(client.get_object("adapters", prefix + "adapter_config.json").read())
    assert config["base_model_name_or_path"] == "/mnt/models"
    weights = client.get_object("adapters", prefix + "adapter_model.safetensors").read()
    assert weights == (SQL / "adapter_model.safetensors").read_bytes()


def test_republishing_unchanged_is_a_noop(store):
    prefix = adapter_prefix("llama-3.1-8b", "sql", "v-noop")
    provider = AdapterVersionProvider()
    props = _props(store, SQL, 16, prefix)
    provider.create(props)
    client = store["server"].client()
    before = {o.object_name: (o.etag, o.last_modified) for o in client.list_objects("adapters", prefix=prefix, recursive=True)}
    # The engine's view: identical inputs -> no diff at all.
    assert provider.diff(f"adapters/{prefix}", provider.create(props).outs, props).changes is False
    # Even a forced re-run (e.g. after a lost state) uploads nothing.
    again = provider.update(f"adapters/{prefix}", props, props)
    assert again.outs["uploaded"] == []
    after = {o.object_name: (o.etag, o.last_modified) for o in client.list_objects("adapters", prefix=prefix, recursive=True)}
    assert after == before


def test_changed_adapter_is_an_update_of_only_the_changed_file(store, tmp_path):
    src = tmp_path / "sql"
    shutil.copytree(SQL, src)
    prefix = adapter_prefix("llama-3.1-8b", "sql", "v-changed")
    provider = AdapterVersionProvider()
    old = provider.create(_props(store, src, 16, prefix)).outs
    config = json.loads((src / "adapter_config.json").read_text())
    config["lora_alpha"] = 64
    (src / "adapter_config.json").write_text(json.dumps(config))
    new = _props(store, src, 16, prefix)
    diff = provider.diff(f"adapters/{prefix}", old, new)
    assert diff.changes and not diff.replaces
    assert provider.update(f"adapters/{prefix}", old, new).outs["uploaded"] == ["adapter_config.json"]
    stored = json.loads(store["server"].client().get_object("adapters", prefix + "adapter_config.json").read())
    assert stored["lora_alpha"] == 64


@pytest.mark.parametrize("change, message", [
    ({"use_dora": True}, "use_dora"),
    ({"modules_to_save": ["embed_tokens"]}, "modules_to_save"),
    ({"r": 32}, "r is 32 but the stack declares rank 16"),
    ({"peft_type": "PREFIX_TUNING"}, "peft_type is 'PREFIX_TUNING'"),
])
def test_bad_adapter_is_refused_and_nothing_is_uploaded(store, tmp_path, change, message):
    src = tmp_path / "bad"
    shutil.copytree(SQL, src)
    good = _props(store, src, 16, adapter_prefix("llama-3.1-8b", "bad", "v1"))
    config = json.loads((src / "adapter_config.json").read_text())
    config.update(change)
    (src / "adapter_config.json").write_text(json.dumps(config))
    with pytest.raises(AdapterCheckError, match=message):
        AdapterVersionProvider().create(good)
    assert list(store["server"].client().list_objects("adapters", prefix="adapters/llama-3.1-8b/bad/", recursive=True)) == []


def test_destroy_keeps_published_objects(store):
    prefix = adapter_prefix("llama-3.1-8b", "sql", "v-kept")
    provider = AdapterVersionProvider()
    outs = provider.create(_props(store, SQL, 16, prefix)).outs
    provider.delete(f"adapters/{prefix}", outs)
    assert len(list(store["server"].client().list_objects("adapters", prefix=prefix, recursive=True))) == 2


def test_reader_policy_reads_but_cannot_write(store):
    from minio import Minio
    from minio.error import S3Error
    import io

    prefix = adapter_prefix("llama-3.1-8b", "sql", "v-policy")
    AdapterVersionProvider().create(_props(store, SQL, 16, prefix))
    key, secret = store["reader"]
    reader = Minio(store["server"].endpoint.removeprefix("http://"), access_key=key, secret_key=secret, secure=False)
    assert reader.get_object("adapters", prefix + "adapter_config.json").read()
    with pytest.raises(S3Error) as err:
        reader.put_object("adapters", prefix + "evil.bin", io.BytesIO(b"x"), 1)
    assert err.value.code == "AccessDenied"


def test_sync_sidecar_materialises_swaps_and_removes_atomically(store, tmp_path):
    """The sidecar script (stdlib SigV4 client) against the same server, with reader credentials."""
    provider = AdapterVersionProvider()
    sql = adapter_prefix("llama-3.1-8b", "sql", "v2026-11-01")
    ja = adapter_prefix("llama-3.1-8b", "support-ja", "v2026-11-10")
    provider.create(_props(store, SQL, 16, sql))
    provider.create(_props(store, JA, 64, ja))
    key, secret = store["reader"]
    s3 = lora_sync.S3(store["server"].endpoint, key, secret)
    cache = tmp_path / "cache"
    cache.mkdir()

    live = lora_sync.sync_once(s3, "adapters", {"llama-3.1-8b:sql": sql}, str(cache))
    entry = cache / "llama-3.1-8b:sql"
    assert entry.is_symlink() and set(os.listdir(entry)) == {"adapter_config.json", "adapter_model.safetensors"}
    assert json.loads((entry / "adapter_config.json").read_text())["base_model_name_or_path"] == "/mnt/models"
    first_target = os.readlink(entry)

    # Unchanged registry: nothing re-downloaded, same target.
    assert lora_sync.sync_once(s3, "adapters", {"llama-3.1-8b:sql": sql}, str(cache)) == live
    assert os.readlink(entry) == first_target

    # Add one adapter and bump sql to another version: new targets, swapped by rename; vLLM is
    # asked to unload the bumped adapter (it holds the old version), not the new one.
    unloaded: list[str] = []
    sql_v2 = adapter_prefix("llama-3.1-8b", "sql", "v2026-12-01")
    provider.create(_props(store, SQL, 16, sql_v2))
    registry = {"llama-3.1-8b:sql": sql_v2, "llama-3.1-8b:support-ja": ja}
    lora_sync.sync_once(s3, "adapters", registry, str(cache), unload=unloaded.append)
    assert os.readlink(entry) != first_target
    assert unloaded == ["llama-3.1-8b:sql"]
    assert (cache / "llama-3.1-8b:support-ja" / "adapter_model.safetensors").read_bytes() == \
        (JA / "adapter_model.safetensors").read_bytes()
    assert not any(name.startswith(".") and name.endswith(".tmp") for name in os.listdir(cache))

    # Remove one: its entry disappears (and is unloaded), the old version's files are garbage-collected.
    lora_sync.sync_once(s3, "adapters", {"llama-3.1-8b:support-ja": ja}, str(cache), unload=unloaded.append)
    assert not os.path.lexists(entry)
    assert unloaded == ["llama-3.1-8b:sql", "llama-3.1-8b:sql"]
    assert len(os.listdir(cache / ".store")) == 1

    # A registry entry pointing at nothing keeps the rest and fails strict (init container) mode.
    with pytest.raises(RuntimeError, match="llama-3.1-8b:ghost"):
        lora_sync.sync_once(s3, "adapters", {"llama-3.1-8b:support-ja": ja, "llama-3.1-8b:ghost": "adapters/x/y/z/"},
                            str(cache), strict=True)
    assert (cache / "llama-3.1-8b:support-ja" / "adapter_config.json").is_file()


def test_sync_script_runs_as_the_sidecar_does(store, tmp_path):
    """``python3 lora_sync.py`` with the sidecar's environment (one pass), reading a registry file."""
    import subprocess
    import sys

    prefix = adapter_prefix("llama-3.1-8b", "sql", "v2026-11-01")
    AdapterVersionProvider().create(_props(store, SQL, 16, prefix))
    registry = tmp_path / "registry.json"
    registry.write_text(json.dumps({"llama-3.1-8b:sql": prefix}))
    cache = tmp_path / "cache"
    cache.mkdir()
    key, secret = store["reader"]
    env = {"PATH": os.environ["PATH"], "S3_ENDPOINT": store["server"].endpoint, "S3_BUCKET": "adapters",
           "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret, "REGISTRY_FILE": str(registry),
           "CACHE_DIR": str(cache), "SYNC_ONCE": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run([sys.executable, "-I", str(REPO / "components" / "models" / "lora_sync.py")],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert (cache / "llama-3.1-8b:sql" / "adapter_config.json").is_file()
    assert secret not in result.stderr


def _fake_vllm(api_key: str):
    """A loopback stand-in for vLLM's /v1/unload_lora_adapter: 401 without the key, 200 for a
    loaded adapter; records (lora_name, Authorization)."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    calls: list[tuple[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            auth = self.headers.get("Authorization", "")
            if self.path != "/v1/unload_lora_adapter" or auth != f"Bearer {api_key}":
                self.send_response(401)
            else:
                calls.append((body["lora_name"], auth))
                self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, calls


def _kubelet_write(volume: Path, data: dict[str, str], generation: int) -> None:
    """Write a ConfigMap volume the way the kubelet's AtomicWriter does: a timestamped dir,
    ``..data`` switched to it by an atomic symlink rename, user files linking through ``..data``."""
    ts = volume / f"..2026_11_21_07_00_{generation:02d}.000000001"
    ts.mkdir()
    for name, content in data.items():
        (ts / name).write_text(content)
    tmp = volume / "..data_tmp"
    tmp.symlink_to(ts.name)
    os.replace(tmp, volume / "..data")
    for name in data:
        link = volume / name
        if not link.is_symlink():
            link.symlink_to(f"..data/{name}")


def test_running_sidecar_follows_a_kubelet_configmap_refresh_without_restarting(store, tmp_path):
    """The registry changes under a running sidecar exactly as a kubelet refresh would; the same
    process materialises the new adapter and drops the removed one."""
    import subprocess
    import sys
    import time

    provider = AdapterVersionProvider()
    sql = adapter_prefix("llama-3.1-8b", "sql", "v2026-11-01")
    ja = adapter_prefix("llama-3.1-8b", "support-ja", "v2026-11-10")
    provider.create(_props(store, SQL, 16, sql))
    provider.create(_props(store, JA, 64, ja))
    volume, cache = tmp_path / "registry", tmp_path / "cache"
    volume.mkdir()
    cache.mkdir()
    _kubelet_write(volume, {"registry.json": json.dumps({"llama-3.1-8b:sql": sql})}, 1)
    key, secret = store["reader"]
    vllm, unloads = _fake_vllm("token-123")
    env = {"PATH": os.environ["PATH"], "S3_ENDPOINT": store["server"].endpoint, "S3_BUCKET": "adapters",
           "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret, "REGISTRY_FILE": str(volume / "registry.json"),
           "CACHE_DIR": str(cache), "SYNC_INTERVAL_SECONDS": "0.2", "PYTHONDONTWRITEBYTECODE": "1",
           "VLLM_URL": f"http://127.0.0.1:{vllm.server_address[1]}", "VLLM_API_KEY": "token-123"}
    proc = subprocess.Popen([sys.executable, "-I", str(REPO / "components" / "models" / "lora_sync.py")], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def wait_for(predicate, what):
        deadline = time.monotonic() + 30
        while not predicate():
            assert proc.poll() is None, f"sidecar exited: {proc.stderr.read()}"
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.1)

    try:
        wait_for(lambda: (cache / "llama-3.1-8b:sql" / "adapter_config.json").is_file(), "sql")
        _kubelet_write(volume, {"registry.json": json.dumps({"llama-3.1-8b:support-ja": ja})}, 2)
        wait_for(lambda: (cache / "llama-3.1-8b:support-ja" / "adapter_model.safetensors").is_file()
                 and not os.path.lexists(cache / "llama-3.1-8b:sql"), "support-ja added and sql removed")
        wait_for(lambda: unloads, "the removed adapter unloaded from vLLM")
        assert unloads == [("llama-3.1-8b:sql", "Bearer token-123")]
        assert proc.poll() is None  # the same process: nothing restarted
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        vllm.shutdown()
