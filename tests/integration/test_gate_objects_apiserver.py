"""The gate's objects against a real API server: every NetworkPolicy, gate ConfigMap and key
Secret of every stack is admitted (server-side dry run: full validation, nothing persisted), and
a NetworkPolicy the API server must refuse is refused (the check is live)."""

from __future__ import annotations

import copy

import pytest

import kube
from infra.synth import synthesize

pytestmark = pytest.mark.timeout(900)

STACKS = ("local", "dev", "staging", "prod", "airgap")


@pytest.fixture(scope="module")
def gate_objects() -> list[dict]:
    objs = []
    for stack in STACKS:
        for o in synthesize(stack).manifests:
            name = o["metadata"]["name"]
            if o["kind"] == "NetworkPolicy" or (o["kind"] == "ConfigMap" and name.endswith("-gate")) \
                    or (o["kind"] == "Secret" and name.endswith("-gate-keys")):
                objs.append(copy.deepcopy(o))
    assert {o["kind"] for o in objs} == {"NetworkPolicy", "ConfigMap", "Secret"}
    return objs


def _admit(client: kube.KubeClient, obj: dict) -> None:
    if obj["kind"] == "Secret" and obj.get("stringData") == "[secret]":
        obj["stringData"] = {"keys.map": f"{'ab' * 32} some-tenant\n"}  # synthesis masks the real hashes
    client.admit(obj)


def test_every_gate_object_is_admitted(kube_client, gate_objects):
    for obj in gate_objects:
        _admit(kube_client, obj)


def test_a_broken_network_policy_is_refused(kube_client, gate_objects):
    policy = copy.deepcopy(next(o for o in gate_objects if o["metadata"]["name"].endswith("-gate-clients")))
    policy["metadata"]["name"] = "broken"
    policy["spec"]["ingress"][0]["ports"][0]["port"] = 70000
    kube_client.ensure_namespace(policy["metadata"]["namespace"])
    with pytest.raises(kube.ApiError) as refused:
        kube_client.dry_run_apply(policy)
    assert refused.value.code == 422 and "70000" in str(refused.value.body)
