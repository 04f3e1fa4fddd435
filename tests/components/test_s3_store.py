"""The ObjectStore interface on AWS S3 (storage.kind: s3): same consumers, AWS resources."""

from __future__ import annotations

import json

import pytest

from infra.config_loading import PlatformConfigError
from infra.mocks import SECRET_MASK

S3 = {"kind": "s3", "adaptersBucket": "acme-llm-staging-adapters", "modelsBucket": "acme-llm-staging-models"}


@pytest.fixture(scope="module")
def s3_staging():
    from infra.synth import synthesize
    from tests.conftest import stack_sections

    sections = stack_sections("staging")
    sections["storage"] = dict(S3)
    return synthesize("staging", sections)


def test_buckets_are_private_encrypted_versioned_and_protected(s3_staging):
    buckets = {r.inputs["bucket"]: r for r in s3_staging.by_type("aws:s3/bucket:Bucket")}
    assert set(buckets) == {"acme-llm-staging-adapters", "acme-llm-staging-models"}
    assert all(b.protect and b.retain_on_delete and b.inputs["forceDestroy"] is False for b in buckets.values())
    blocks = s3_staging.by_type("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    assert len(blocks) == 2 and all(all(b.inputs[k] for k in ("blockPublicAcls", "blockPublicPolicy",
                                                               "ignorePublicAcls", "restrictPublicBuckets")) for b in blocks)
    sse = s3_staging.by_type("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    assert [r.inputs["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] for r in sse] == ["AES256"] * 2
    assert len(s3_staging.by_type("aws:s3/bucketVersioning:BucketVersioning")) == 2
    assert not any(m["metadata"]["name"] == "minio" for m in s3_staging.objects("Deployment"))


def test_iam_users_have_one_bucket_each_and_the_publisher_never_writes_models(s3_staging):
    policies = {r.inputs["user"]: json.loads(r.inputs["policy"]) for r in s3_staging.by_type("aws:iam/userPolicy:UserPolicy")}
    actions = {u: {a for st in p["Statement"] for a in st["Action"]} for u, p in policies.items()}
    resources = {u: {res for st in p["Statement"] for res in st["Resource"]} for u, p in policies.items()}
    adapters, models = "arn:aws:s3:::acme-llm-staging-adapters", "arn:aws:s3:::acme-llm-staging-models"
    assert resources == {"s3-adapters-reader": {adapters, adapters + "/*"}, "s3-models-reader": {models, models + "/*"},
                         "s3-publisher": {adapters, adapters + "/*"}}
    assert "s3:PutObject" not in actions["s3-adapters-reader"] | actions["s3-models-reader"]
    assert "s3:PutObject" in actions["s3-publisher"]


def test_kserve_wiring_and_publishers_use_the_regional_https_endpoint(s3_staging):
    secret = next(r for r in s3_staging.by_type("kubernetes:core/v1:Secret") if r.inputs["metadata"]["name"] == "s3-kserve-s3")
    assert secret.inputs["stringData"] == SECRET_MASK
    assert secret.inputs["metadata"]["annotations"]["serving.kserve.io/s3-endpoint"] == "s3.us-east-1.amazonaws.com"
    assert secret.inputs["metadata"]["annotations"]["serving.kserve.io/s3-usehttps"] == "1"
    setup = {r.urn for r in s3_staging.registrations if r.type.startswith("aws:s3/") or r.type.startswith("aws:iam/userPolicy")}
    for pub in s3_staging.by_type("pulumi-python:dynamic/models:AdapterVersion"):
        assert pub.inputs["mode"] == "upload" and pub.inputs["endpoint"] == "https://s3.us-east-1.amazonaws.com"
        assert pub.inputs["bucket"] == "acme-llm-staging-adapters"
        assert setup & set(pub.dependencies)
    runtime = next(m for m in s3_staging.objects("ServingRuntime") if m["metadata"]["name"] == "llama-8b-vllm")
    sync = next(c for c in runtime["spec"]["containers"] if c["name"] == "lora-sync")
    env = {e["name"]: e.get("value") for e in sync["env"]}
    assert env["S3_ENDPOINT"] == "https://s3.us-east-1.amazonaws.com" and env["S3_VERIFY_SSL"] == "1"


def test_s3_needs_an_eks_stack(synth):
    with pytest.raises(PlatformConfigError, match="storage.kind"):
        synth("local", lambda s: s.__setitem__("storage", dict(S3)))
