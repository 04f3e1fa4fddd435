"""Session fixtures: one real vLLM, the real MinIO, the tiny model's adapters published by the
real publisher (digests pinned), and a factory for real sync sidecars. Every process is
stopped by its PID at the end."""

from __future__ import annotations

import pytest

from components.models.adapters import AdapterVersionProvider
from components.models.adapter_checks import adapter_prefix, prepare_adapter
from tests.support import realvllm
from tests.support.s3_server import s3_server  # noqa: F401  (fixture)


@pytest.fixture(scope="session")
def vllm_env(tmp_path_factory):
    python = realvllm.vllm_python()
    base, adapters = realvllm.tiny_models(python)
    return {"python": python, "base": base, "adapters": adapters, "workdir": tmp_path_factory.mktemp("realvllm")}


@pytest.fixture(scope="session")
def vllm_server(vllm_env):
    proc, url = realvllm.start_vllm(vllm_env["python"], vllm_env["base"], vllm_env["workdir"])
    yield {"proc": proc, "url": url}
    proc.stop()


@pytest.fixture(scope="session")
def published(s3_server, vllm_env):  # noqa: F811
    """Each tiny adapter published as versions v1 (its own weights); ``a1`` also as ``v2``
    with a2's weights (a bump that visibly changes outputs). name -> version -> registry entry."""
    root = s3_server.client()
    if not root.bucket_exists("adapters"):
        root.make_bucket("adapters")
    provider = AdapterVersionProvider()
    base = str(vllm_env["base"])
    versions = {("a1", "v1"): "a1", ("a1", "v2"): "a2", ("a2", "v1"): "a2", ("a3", "v1"): "a3"}
    out: dict[str, dict[str, dict]] = {}
    for (name, version), source in versions.items():
        src = vllm_env["adapters"][source]
        prefix = adapter_prefix("tiny", name, version)
        props = {"sourceDir": str(src), "rank": 8, "modelPath": base, "endpoint": s3_server.endpoint, "bucket": "adapters",
                 "prefix": prefix, "region": "us-east-1", "verifySsl": True, "mode": "upload",
                 "digests": prepare_adapter(src, 8, base).digests,
                 "accessKey": s3_server.access_key, "secretKey": s3_server.secret_key}
        outs = provider.create(props).outs
        out.setdefault(name, {})[version] = {"prefix": outs["prefix"], "files": dict(outs["digests"])}
    return out


@pytest.fixture(scope="session")
def s3(s3_server):  # noqa: F811
    return {"endpoint": s3_server.endpoint, "bucket": "adapters", "access_key": s3_server.access_key,
            "secret_key": s3_server.secret_key}


@pytest.fixture
def sidecars(vllm_env, s3):
    """Start real sidecars (``start(vllm_url, registry_file, name=...)``); all stopped after the test."""
    started: list[realvllm.Sidecar] = []

    def start(vllm_url: str, registry_file, **kw) -> realvllm.Sidecar:
        sc = realvllm.start_sidecar(vllm_env["python"], vllm_env["workdir"], s3, vllm_url, registry_file, **kw)
        started.append(sc)
        return sc

    yield start
    for sc in started:
        sc.proc.stop()
