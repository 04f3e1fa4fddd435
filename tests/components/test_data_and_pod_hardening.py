"""What #16 asked of data and pods: destroy cannot take user data or CRD-backed objects with it,
serving namespaces enforce Pod Security "restricted", vLLM runs on a read-only root file system,
and every vLLM pod declares the node-local disk it may fill."""

from __future__ import annotations

import re

from components.models.capacity import checkpoint_gib


def _ns(result, name):
    return next(m for m in result.objects("Namespace") if m["metadata"]["name"] == name)


def test_serving_namespace_with_a_preexisting_weights_claim_is_protected(synthesized):
    airgap = synthesized("airgap")
    # airgap mounts an existing claim (create: false): deleting the namespace would delete it.
    assert all(not getattr(m.source, "create", True) for m in airgap.config.models.base_models.values())
    ns = next(r for r in airgap.registrations if r.type == "kubernetes:core/v1:Namespace"
              and r.inputs["metadata"]["name"] == "llm")
    assert ns.protect and ns.retain_on_delete


def test_crd_releases_are_protected_and_controllers_keep_their_crds(synthesized):
    for stack, releases in (("airgap", {"kserve-crd"}), ("prod", {"kserve-crd", "karpenter-crd"})):
        result = synthesized(stack)
        helm = {r.name: r for r in result.by_type("kubernetes:helm.sh/v3:Release")}
        for name in releases:
            assert helm[name].protect and helm[name].retain_on_delete, (stack, name)
        assert not helm["kserve-controller"].protect  # controllers may go; their CRDs and objects stay
    airgap = {r.name: r for r in synthesized("airgap").by_type("kubernetes:helm.sh/v3:Release")}
    assert airgap["keda"].inputs["values"]["crds"]["additionalAnnotations"] == {"helm.sh/resource-policy": "keep"}
    assert airgap["kserve-cert-manager"].inputs["values"]["crds"] == {"enabled": True, "keep": True}


def test_serving_namespaces_enforce_restricted_unless_llmd_charts_run_there(synthesized):
    for stack in ("local", "dev", "staging", "airgap"):
        labels = _ns(synthesized(stack), "llm")["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted", stack
    # llm-d's endpoint picker and routing sidecar do not meet restricted (see infra/layers/serving.py).
    prod = _ns(synthesized("prod"), "llm")["metadata"]["labels"]
    assert prod["pod-security.kubernetes.io/enforce"] == "baseline" and prod["pod-security.kubernetes.io/warn"] == "restricted"


def _vllm_containers(result):
    for runtime in result.objects("ServingRuntime"):
        yield runtime["metadata"]["name"], runtime["spec"]["containers"][0], runtime["spec"]["volumes"]
    for lws in result.objects("LeaderWorkerSet"):
        for role in ("leaderTemplate", "workerTemplate"):
            pod = lws["spec"]["leaderWorkerTemplate"][role]["spec"]
            yield lws["metadata"]["name"] + "/" + role, pod["containers"][0], pod["volumes"]


def test_vllm_runs_read_only_with_writable_tmp(synthesized):
    seen = 0
    for stack in ("local", "dev", "staging", "prod", "airgap"):
        for name, container, volumes in _vllm_containers(synthesized(stack)):
            seen += 1
            assert container["securityContext"]["readOnlyRootFilesystem"] is True, (stack, name)
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert "/tmp" in mounts and "/dev/shm" in mounts, (stack, name)
            by_name = {v["name"]: v for v in volumes}
            assert "emptyDir" in by_name[mounts["/tmp"]], (stack, name)
            assert {e["name"]: e.get("value") for e in container["env"]}["HOME"] == "/tmp"
    assert seen >= 6
    prod = synthesized("prod")
    release = next(r for r in prod.by_type("kubernetes:helm.sh/v3:Release") if r.name.endswith("-ms"))
    vllm = release.inputs["values"]["decode"]["containers"][0]
    assert vllm["securityContext"]["readOnlyRootFilesystem"] is True
    assert "/tmp" in {m["mountPath"] for m in vllm["volumeMounts"]}


def _gib(quantity: str) -> int:
    number, unit = re.fullmatch(r"(\d+)(Gi)", quantity).groups()
    return int(number)


def test_pods_that_download_weights_declare_ephemeral_storage(synthesized):
    dev = synthesized("dev")  # Llama-3.1-8B from s3:// through KServe's storage initializer
    isvc = next(m for m in dev.objects("InferenceService"))
    resources = isvc["spec"]["predictor"]["model"]["resources"]
    assert resources["requests"]["ephemeral-storage"] == resources["limits"]["ephemeral-storage"]
    base = next(iter(dev.config.models.base_models.values()))
    assert base.source.kind == "s3"
    weights = checkpoint_gib(base.architecture, None)
    assert 15 <= weights <= 17  # 8.03 B parameters in bf16 are 14.96 GiB, plus 5%
    assert _gib(resources["requests"]["ephemeral-storage"]) == weights + 20 + dev.config.models.lora_cache_gib
    # A PVC-backed model downloads nothing: only /tmp and the adapter cache count.
    airgap = synthesized("airgap")
    local = next(m for m in airgap.objects("InferenceService"))["spec"]["predictor"]["model"]["resources"]
    assert _gib(local["limits"]["ephemeral-storage"]) == 20 + airgap.config.models.lora_cache_gib
