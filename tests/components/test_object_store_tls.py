"""MinIO over TLS where the stack provides a CA: the server serves HTTPS from the given Secret,
every in-cluster client is pointed at https and verifies, and the publisher verifies the
endpoint against the stack's CA bundle (proved against a real MinIO on 127.0.0.1 serving a
certificate issued by a CA made here with openssl)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from components.models.adapter_checks import prepare_adapter
from components.models.adapters import publish, s3_client
from infra.config_loading import PlatformConfigError
from tests.support.s3_server import REPO_ROOT, run_minio

TLS = {"tlsSecret": "minio-tls", "publishEndpoint": "https://minio.registry.llm.internal:443"}


def test_airgap_with_a_tls_secret_speaks_https_everywhere(synth):
    result = synth("airgap", lambda s: s["storage"]["minio"].update(TLS))
    server = next(m for m in result.objects("Deployment") if m["metadata"]["name"] == "minio")["spec"]["template"]["spec"]
    c = server["containers"][0]
    assert c["args"][c["args"].index("--certs-dir") + 1] == "/etc/minio/certs"
    assert {"name": "tls", "mountPath": "/etc/minio/certs", "readOnly": True} in c["volumeMounts"]
    tls = next(v for v in server["volumes"] if v["name"] == "tls")["secret"]
    assert tls["secretName"] == "minio-tls" and {i["path"] for i in tls["items"]} == {"public.crt", "private.key"}
    assert c["readinessProbe"]["httpGet"]["scheme"] == "HTTPS"
    job = next(m for m in result.objects("Job") if m["metadata"]["name"] == "minio-setup")
    assert {e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}["MINIO_SCHEME"] == "https"
    s3 = next(m for m in result.objects("Secret") if m["metadata"]["name"] == "minio-kserve-s3")["metadata"]["annotations"]
    assert s3["serving.kserve.io/s3-usehttps"] == "1" and s3["serving.kserve.io/s3-verifyssl"] == "1"
    runtime = next(m for m in result.objects("ServingRuntime"))
    sync = {e["name"]: e.get("value") for e in next(x for x in runtime["spec"]["containers"] if x["name"] == "lora-sync")["env"]}
    assert sync["S3_ENDPOINT"].startswith("https://") and sync["S3_VERIFY_SSL"] == "1"
    assert sync["SSL_CERT_FILE"] == "/etc/llm-platform/ca/cabundle.crt"  # the internal CA, from the air-gap transform
    publisher = next(r for r in result.by_type("pulumi-python:dynamic/models:AdapterVersion"))
    assert publisher.inputs["endpoint"] == TLS["publishEndpoint"] and publisher.inputs["mode"] == "upload"
    assert publisher.inputs["caFile"] == str((REPO_ROOT / "stacks" / "airgap-ca.pem").resolve())


def test_tls_needs_the_stack_ca_and_an_https_publish_endpoint(synth):
    with pytest.raises(PlatformConfigError) as info:
        synth("local", lambda s: s["storage"].setdefault("minio", {}).update({"tlsSecret": "minio-tls"}))
    assert [i.path for i in info.value.issues] == ["storage.minio.tlsSecret"]
    with pytest.raises(PlatformConfigError) as info:
        synth("airgap", lambda s: s["storage"]["minio"].update({**TLS, "publishEndpoint": "http://127.0.0.1:9000"}))
    assert [i.path for i in info.value.issues] == ["storage.minio.publishEndpoint"]


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is needed to issue the test certificates")
def test_publisher_verifies_minio_against_the_stack_ca(tmp_path):
    certs = tmp_path / "certs"
    (certs / "CAs").mkdir(parents=True)
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
             "-subj", "/CN=llm-platform test CA", "-keyout", "ca.key", "-out", "CAs/ca.crt", cwd=certs)
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=127.0.0.1",
             "-keyout", "private.key", "-out", "server.csr", cwd=certs)
    (certs / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "CAs/ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "1",
             "-extfile", "ext.cnf", "-out", "public.crt", cwd=certs)
    (certs / "ca.key").unlink()  # MinIO must not find the CA key in its certs dir
    data = tmp_path / "data"
    data.mkdir()
    adapter = REPO_ROOT / "adapters" / "llama-3.1-8b" / "sql" / "v2026-11-01"
    prepared = prepare_adapter(adapter, 16)
    with run_minio(data, certs_dir=certs) as server:
        client = s3_client(server.endpoint, server.access_key, server.secret_key, ca_file=str(certs / "CAs" / "ca.crt"))
        client.make_bucket("adapters")
        uploaded = publish(client, "adapters", "adapters/llama-3.1-8b/sql/v2026-11-01/", prepared)
        assert sorted(uploaded) == sorted(prepared.files)
        # Without the stack's CA the same endpoint is refused: verification is really on.
        untrusted = s3_client(server.endpoint, server.access_key, server.secret_key)
        with pytest.raises(Exception) as err:
            untrusted.bucket_exists("adapters")
        assert "CERTIFICATE_VERIFY_FAILED" in repr(err.value) or "certificate verify failed" in str(err.value)
