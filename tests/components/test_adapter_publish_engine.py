"""Adapter publishing through the REAL Pulumi engine (built by tools/engine/build.sh) into a REAL
S3 server (MinIO on loopback): the dynamic provider is pickled into the state, run in Pulumi's
own provider process, uploads on ``up``, does nothing on an unchanged ``up``, refuses new content
under a published version and publishes it under a new one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.support.s3_server import s3_server  # noqa: F401  (fixture)

pytestmark = [pytest.mark.engine, pytest.mark.timeout(1800)]

REPO = Path(__file__).resolve().parents[2]
SQL = REPO / "adapters" / "llama-3.1-8b" / "sql" / "v2026-11-01"


@pytest.fixture(scope="module")
def engine(engine):
    """infra.engine, once the session's engine (tests/conftest.py) is built."""
    from infra import engine as engine_mod

    return engine_mod


def _program(source: Path, endpoint: str, key: str, secret: str, version: str = "v2026-11-01"):
    def program() -> None:
        from components.models.adapters import AdapterCatalog, AdapterCatalogArgs, StoreConnection
        from components.models.spec import AdapterSpec

        AdapterCatalog("adapters", AdapterCatalogArgs(
            adapters=[AdapterSpec(name="sql", base_model="llama-3.1-8b", version=version,
                                  source_dir=str(source), rank=16)],
            store=StoreConnection(endpoint=endpoint, bucket="adapters", access_key=key, secret_key=secret),
            root=REPO,
        ))

    return program


def test_publish_update_and_noop_through_the_engine(engine, s3_server, tmp_path):  # noqa: F811
    client = s3_server.client()
    if not client.bucket_exists("adapters"):
        client.make_bucket("adapters")
    source = tmp_path / "sql"
    shutil.copytree(SQL, source)
    program = _program(source, s3_server.endpoint, s3_server.access_key, s3_server.secret_key)
    state = tmp_path / "state"
    prefix = "adapters/llama-3.1-8b/sql/v2026-11-01/"

    first = engine.run("up", "local", program=program, state_dir=state, build=False)
    assert first.summary.get("create", 0) >= 2, first.summary  # component + adapter version
    stored = json.loads(client.get_object("adapters", prefix + "adapter_config.json").read())
    assert stored["base_model_name_or_path"] == "/mnt/models"
    etags = {o.object_name: o.etag for o in client.list_objects("adapters", prefix=prefix, recursive=True)}
    assert len(etags) == 2

    again = engine.run("up", "local", program=program, state_dir=state, build=False)
    assert set(again.summary) == {"same"}, again.summary
    assert {o.object_name: o.etag for o in client.list_objects("adapters", prefix=prefix, recursive=True)} == etags

    # Same version, new content: refused by the provider's check (preview and up alike), before
    # any byte moves; the stored version keeps its content.
    config = json.loads((source / "adapter_config.json").read_text())
    config["lora_alpha"] = 48
    (source / "adapter_config.json").write_text(json.dumps(config))
    with pytest.raises(engine.EngineError) as refused:
        engine.run("up", "local", program=program, state_dir=state, build=False)
    message = str(refused.value)
    assert "already published and versions are immutable" in message and "adapter_config.json" in message, message
    assert "Traceback" not in message, message
    assert {o.object_name: o.etag for o in client.list_objects("adapters", prefix=prefix, recursive=True)} == etags

    # The same content under a new version: a new version is created, the old one stays as it was.
    bumped = _program(source, s3_server.endpoint, s3_server.access_key, s3_server.secret_key, version="v2026-11-02")
    changed = engine.run("up", "local", program=bumped, state_dir=state, build=False)
    assert changed.summary.get("create") == 1, changed.summary
    new_prefix = "adapters/llama-3.1-8b/sql/v2026-11-02/"
    assert json.loads(client.get_object("adapters", new_prefix + "adapter_config.json").read())["lora_alpha"] == 48
    assert {o.object_name: o.etag for o in client.list_objects("adapters", prefix=prefix, recursive=True)} == etags

    gone = engine.run("destroy", "local", program=bumped, state_dir=state, build=False)
    assert gone.summary.get("delete", 0) >= 2
    for kept in (prefix, new_prefix):  # published versions are data
        assert len(list(client.list_objects("adapters", prefix=kept, recursive=True))) == 2
