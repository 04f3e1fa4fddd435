"""The ObjectStore's setup script (what its Job runs in the mc image), run for real: the pinned
``mc`` client built from its Go module against MinIO on loopback. Twice, to prove it idempotent."""

from __future__ import annotations

import io
import json
import os
import subprocess

import pytest

from components.storage.minio import SETUP_SCRIPT, bucket_policy
from tests.support.s3_server import ensure_binary, s3_server  # noqa: F401  (fixture)


def test_setup_script_creates_buckets_users_and_policies_idempotently(s3_server, tmp_path):  # noqa: F811
    from minio import Minio
    from minio.error import S3Error

    mc = ensure_binary("mc")
    policies = tmp_path / "policies"
    policies.mkdir()
    for name, write in (("reader", False), ("publisher", True)):
        (policies / f"{name}.json").write_text(json.dumps(bucket_policy(name.title(), ["adapters", "models"], write)))
    script = tmp_path / "setup.sh"
    script.write_text(SETUP_SCRIPT)
    host = s3_server.endpoint.removeprefix("http://")
    env = {
        "PATH": f"{mc.parent}:{os.environ['PATH']}", "MC_CONFIG_DIR": str(tmp_path / ".mc"), "POLICY_DIR": str(policies),
        "MINIO_SCHEME": "http", "MINIO_HOSTPORT": host, "BUCKETS": "adapters models",
        "MINIO_ROOT_USER": s3_server.access_key, "MINIO_ROOT_PASSWORD": s3_server.secret_key,
        "READER_ACCESS_KEY": "setupreader01", "READER_SECRET_KEY": "setupreadersecret0123",
        "PUBLISHER_ACCESS_KEY": "setuppublisher01", "PUBLISHER_SECRET_KEY": "setuppublishersecret01",
    }
    for run in (1, 2):
        result = subprocess.run(["/bin/sh", str(script)], env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"run {run}: {result.stdout}\n{result.stderr}"
        assert s3_server.secret_key not in result.stdout + result.stderr
        assert "setupreadersecret0123" not in result.stdout + result.stderr

    publisher = Minio(host, access_key="setuppublisher01", secret_key="setuppublishersecret01", secure=False)
    reader = Minio(host, access_key="setupreader01", secret_key="setupreadersecret0123", secure=False)
    for bucket in ("adapters", "models"):
        assert publisher.bucket_exists(bucket)
        publisher.put_object(bucket, "probe/x.txt", io.BytesIO(b"ok"), 2)
        assert reader.get_object(bucket, "probe/x.txt").read() == b"ok"
        assert [o.object_name for o in reader.list_objects(bucket, prefix="probe/")] == ["probe/x.txt"]
        with pytest.raises(S3Error) as err:
            reader.put_object(bucket, "probe/y.txt", io.BytesIO(b"no"), 2)
        assert err.value.code == "AccessDenied"
    with pytest.raises(S3Error):
        publisher.make_bucket("not-allowed")
