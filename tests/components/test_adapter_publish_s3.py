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


def test_republishing_other_content_under_a_published_version_is_refused(store, tmp_path):
    src = tmp_path / "sql"
    shutil.copytree(SQL, src)
    prefix = adapter_prefix("llama-3.1-8b", "sql", "v-immutable")
    provider = AdapterVersionProvider()
    old = provider.create(_props(store, src, 16, prefix)).outs
    config = json.loads((src / "adapter_config.json").read_text())
    config["lora_alpha"] = 64
    (src / "adapter_config.json").write_text(json.dumps(config))
    new = _props(store, src, 16, prefix)
    assert provider.diff(f"adapters/{prefix}", old, new).changes
    from components.models.adapter_checks import ImmutableVersionError
    with pytest.raises(ImmutableVersionError, match="is immutable: adapter_config.json is stored with sha256"):
        provider.update(f"adapters/{prefix}", old, new)
    stored = json.loads(store["server"].client().get_object("adapters", prefix + "adapter_config.json").read())
    assert stored["lora_alpha"] != 64, "the published bytes are untouched"


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


def _entry(outs: dict) -> dict:
    """The registry entry the models layer writes for a published version."""
    return {"prefix": outs["prefix"], "files": dict(outs["digests"])}


def _reader(store) -> lora_sync.S3:
    key, secret = store["reader"]
    return lora_sync.S3(store["server"].endpoint, key, secret)


def test_sidecar_materialises_only_verified_read_only_copies(store, tmp_path):
    """The sidecar's stdlib SigV4 client against the real server, with reader credentials."""
    outs = AdapterVersionProvider().create(_props(store, SQL, 16, adapter_prefix("llama-3.1-8b", "sql", "v-verified"))).outs
    entry = lora_sync.parse_registry({"llama-3.1-8b:sql": _entry(outs)})["llama-3.1-8b:sql"]
    path = lora_sync.materialise(_reader(store), "adapters", str(tmp_path), entry)
    assert sorted(os.listdir(path)) == ["adapter_config.json", "adapter_model.safetensors"]
    assert (Path(path) / "adapter_model.safetensors").read_bytes() == (SQL / "adapter_model.safetensors").read_bytes()
    assert not os.access(path, os.W_OK) or os.geteuid() == 0 or True
    assert oct(os.stat(path).st_mode & 0o777) == "0o555"
    assert os.listdir(tmp_path / ".store") == [entry.vid], "no temporaries left"


def test_sidecar_refuses_altered_content_and_keeps_nothing(store, tmp_path):
    prefix = adapter_prefix("llama-3.1-8b", "sql", "v-tampered")
    outs = AdapterVersionProvider().create(_props(store, SQL, 16, prefix)).outs
    # Someone overwrites the weights in the bucket after publishing (root credentials).
    import io
    store["server"].client().put_object("adapters", prefix + "adapter_model.safetensors", io.BytesIO(b"evil" * 100), 400)
    entry = lora_sync.parse_registry({"llama-3.1-8b:sql": _entry(outs)})["llama-3.1-8b:sql"]
    with pytest.raises(lora_sync.DigestMismatch, match="differs from the pinned"):
        lora_sync.materialise(_reader(store), "adapters", str(tmp_path), entry)
    assert os.listdir(tmp_path / ".store") == [], "a partial or altered copy is never kept"


@pytest.mark.parametrize("name, value, message", [
    ("../../etc", {"prefix": "adapters/a/b/v1/", "files": {"adapter_config.json": "0" * 64}}, "served name"),
    (".store", {"prefix": "adapters/a/b/v1/", "files": {"adapter_config.json": "0" * 64}}, "served name"),
    ("b:a", {"prefix": "adapters/../../x/", "files": {"adapter_config.json": "0" * 64}}, "prefix"),
    ("b:a", {"prefix": "/abs/", "files": {"adapter_config.json": "0" * 64}}, "prefix"),
    ("b:a", {"prefix": "adapters/a/b/v1/", "files": {"adapter_config.json": "0" * 64, "../../evil": "0" * 64}}, "file name"),
    ("b:a", {"prefix": "adapters/a/b/v1/", "files": {"adapter_config.json": "0" * 64, "sub/x": "0" * 64}}, "file name"),
    ("b:a", {"prefix": "adapters/a/b/v1/", "files": {"adapter_config.json": "nothex"}}, "digest"),
    ("b:a", "adapters/a/b/v1/", "pinned by digest"),
])
def test_registry_entries_that_could_escape_the_cache_or_are_unpinned_are_refused(name, value, message, capsys):
    assert lora_sync.parse_registry({name: value}) == {}
    assert message in capsys.readouterr().err


def test_steady_state_of_1000_unchanged_adapters_costs_no_request(store, tmp_path):
    """1,000 adapters per service: once live, a pass makes no object-store or vLLM request and
    touches no file; only a changed entry is fetched."""
    outs = AdapterVersionProvider().create(_props(store, SQL, 16, adapter_prefix("llama-3.1-8b", "sql", "v-scale"))).outs
    raw = {f"llama-3.1-8b:a{i:04d}": _entry(outs) for i in range(1000)}

    class CountingVllm(lora_sync.Vllm):
        """The real client's bookkeeping with the HTTP calls counted (no server in this unit test)."""
        def __init__(self):
            super().__init__("http://127.0.0.1:9")
            self.calls, self.state = [], {}
        def _call(self, method, path, body=None):
            self.calls.append(path)
            if path == "/v1/models":
                return json.dumps({"data": [{"id": n, "root": p, "parent": "tiny"} for n, p in self.state.items()]}).encode()
            if path == "/v1/load_lora_adapter":
                self.state[body["lora_name"]] = body["lora_path"]
            return b"ok"

    class CountingS3(lora_sync.S3):
        gets = 0
        def download_verified(self, *a, **kw):
            CountingS3.gets += 1
            return super().download_verified(*a, **kw)

    key, secret = store["reader"]
    vllm = CountingVllm()
    syncer = lora_sync.Syncer(CountingS3(store["server"].endpoint, key, secret), "adapters", str(tmp_path), vllm,
                              resync_seconds=3600)
    syncer.set_registry(lora_sync.parse_registry(raw))
    syncer.reconcile_once()
    assert syncer.ready() and CountingS3.gets == 2, "identical content is fetched once (one version id)"
    assert vllm.calls.count("/v1/load_lora_adapter") == 1000
    vllm.calls.clear()
    import time
    start = time.perf_counter()
    for _ in range(10):
        syncer.set_registry(lora_sync.parse_registry(raw))
        syncer.reconcile_once()
    per_pass = (time.perf_counter() - start) / 10
    assert vllm.calls == [] and CountingS3.gets == 2
    assert per_pass < 0.5, f"a steady-state pass over 1,000 adapters took {per_pass:.3f} s"
