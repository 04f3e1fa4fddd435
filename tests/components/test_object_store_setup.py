"""The ObjectStore's setup script (what its Job runs in the mc image), run for real: the pinned
``mc`` client built from its Go module against MinIO on loopback. Twice, to prove it idempotent."""

from __future__ import annotations

import io
import json
import os
import subprocess

import pytest

from components.storage.interface import STORE_ROLES, role_policy
from components.storage.minio import SETUP_SCRIPT
from tests.support.s3_server import ensure_binary, s3_server  # noqa: F401  (fixture)


def test_setup_script_creates_buckets_users_and_policies_idempotently(s3_server, tmp_path):  # noqa: F811
    """Per bucket and role: each reader reads only its bucket, the publisher writes adapters and never
    base models; no secret key ever appears on a command line (a shim records every mc argv)."""
    from minio import Minio
    from minio.error import S3Error

    mc = ensure_binary("mc")
    policies = tmp_path / "policies"
    policies.mkdir()
    for role in STORE_ROLES:
        (policies / f"{role.name}.json").write_text(json.dumps(role_policy(role, "adapters", "models")))
    script = tmp_path / "setup.sh"
    script.write_text(SETUP_SCRIPT)
    shim = tmp_path / "bin"
    shim.mkdir()
    argv_log = tmp_path / "argv.log"
    (shim / "mc").write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {argv_log}\nexec {mc} "$@"\n')
    (shim / "mc").chmod(0o755)
    host = s3_server.endpoint.removeprefix("http://")
    creds = {role.name: (f"{role.name.replace('-', '')}01", f"{role.name.replace('-', '')}secret0123") for role in STORE_ROLES}
    env = {
        "PATH": f"{shim}:{os.environ['PATH']}", "MC_CONFIG_DIR": str(tmp_path / ".mc"), "POLICY_DIR": str(policies),
        "MINIO_SCHEME": "http", "MINIO_HOSTPORT": host, "BUCKETS": "adapters models",
        "ROLES": " ".join(f"{r.name}:{r.env_prefix}" for r in STORE_ROLES),
        "MINIO_ROOT_USER": s3_server.access_key, "MINIO_ROOT_PASSWORD": s3_server.secret_key,
    }
    for role in STORE_ROLES:
        env[f"{role.env_prefix}_ACCESS_KEY"], env[f"{role.env_prefix}_SECRET_KEY"] = creds[role.name]
    for run in (1, 2):
        result = subprocess.run(["/bin/sh", str(script)], env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"run {run}: {result.stdout}\n{result.stderr}"
        for _, secret in creds.values():
            assert secret not in result.stdout + result.stderr
    argv = argv_log.read_text()
    assert "admin user add" in argv
    for secret in [s3_server.secret_key, *(secret for _, secret in creds.values())]:
        assert secret not in argv, "a secret key was passed to mc as an argument"

    def client(role: str) -> Minio:
        return Minio(host, access_key=creds[role][0], secret_key=creds[role][1], secure=False)

    root = Minio(host, access_key=s3_server.access_key, secret_key=s3_server.secret_key, secure=False)
    root.put_object("models", "base/config.json", io.BytesIO(b"{}"), 2)
    publisher, adapters_reader, models_reader = client("publisher"), client("adapters-reader"), client("models-reader")
    assert root.bucket_exists("adapters") and root.bucket_exists("models") and publisher.bucket_exists("adapters")
    publisher.put_object("adapters", "probe/x.txt", io.BytesIO(b"ok"), 2)
    assert adapters_reader.get_object("adapters", "probe/x.txt").read() == b"ok"
    assert [o.object_name for o in adapters_reader.list_objects("adapters", prefix="probe/")] == ["probe/x.txt"]
    assert models_reader.get_object("models", "base/config.json").read() == b"{}"
    denied = [
        lambda: publisher.put_object("models", "base/config.json", io.BytesIO(b"xx"), 2),  # cannot overwrite base models
        lambda: publisher.get_object("models", "base/config.json"),
        lambda: adapters_reader.get_object("models", "base/config.json"),  # one reader key opens one bucket
        lambda: models_reader.get_object("adapters", "probe/x.txt"),
        lambda: adapters_reader.put_object("adapters", "probe/y.txt", io.BytesIO(b"no"), 2),
        lambda: models_reader.put_object("models", "probe/y.txt", io.BytesIO(b"no"), 2),
        lambda: publisher.make_bucket("not-allowed"),
    ]
    for attempt in denied:
        with pytest.raises(S3Error) as err:
            attempt()
        assert err.value.code == "AccessDenied"
    assert root.get_object("models", "base/config.json").read() == b"{}"
