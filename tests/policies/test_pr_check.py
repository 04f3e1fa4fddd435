"""The PR check (policies in-process over offline synthesis) on every stack, on a deliberately
broken copy of the air-gapped stack, and its agreement with the engine's pack config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s
import pytest

from infra.config_loading import PlatformConfigError
import yaml

from infra.compose import build_platform
from infra.policy_check import check, evaluate, pack_config, policy_levels
from policies.llm_platform_policies import POLICY_NAMES
from tests.conftest import STACKS

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_passes_its_mandatory_policies(stack, synthesized):
    violations = check(synthesized(stack))
    assert [(v.policy, v.resource_name, v.message) for v in violations if v.level == "mandatory"] == []


def test_enforcement_follows_the_stack_config(synthesized):
    assert set(policy_levels(synthesized("prod").config).values()) == {"mandatory"}
    assert set(policy_levels(synthesized("airgap").config).values()) == {"mandatory"}
    assert set(policy_levels(synthesized("dev").config).values()) == {"advisory"}


def _plant_violations():
    """Resources no real component would emit, registered before the air-gap transform exists
    (so it cannot repair them)."""
    labels = {"app.kubernetes.io/instance": "llama-8b"}
    k8s.apps.v1.Deployment(
        "planted", metadata={"name": "planted", "namespace": "llm", "labels": labels},
        spec={"selector": {"match_labels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}}, "spec": {
            "host_network": True,
            "containers": [{
                "name": "vllm", "image": "docker.io/vllm/vllm-openai:latest",
                "command": ["vllm", "serve"],
                "args": ["--model", "meta-llama/Llama-3.1-8B", "--max-lora-rank=8", "--max-cpu-loras=0", "--api-key", "k"],
                "env": [{"name": "HF_TOKEN", "value": "hf_" + "a" * 34},
                        {"name": "S3_URL", "value": "https://reader:hunter2@minio.minio.svc:9000"}],
                "security_context": {"privileged": True},
                "resources": {"requests": {"nvidia.com/mig-5g.99gb": "1"}},
            }]}}})
    k8s.batch.v1.Job("planted-job", metadata={"name": "planted-job", "namespace": "default"},
                     spec={"template": {"spec": {"restart_policy": "Never",
                                                 "volumes": [{"name": "ca", "config_map": {"name": "trusted-ca-bundle"}}],
                                                 "containers": [{"name": "c", "image": "registry.llm.internal:5000/mirror/x:1"}]}}})
    k8s.core.v1.Service("planted-lb", metadata={"name": "planted-lb", "namespace": "llm"},
                        spec={"type": "LoadBalancer", "ports": [{"port": 80}]})
    k8s.core.v1.PersistentVolumeClaim("planted-pvc", metadata={"name": "planted-pvc", "namespace": "llm"},
                                      spec={"access_modes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}})
    k8s.helm.v3.Release("planted-chart", chart="nginx", version="1.0.0",
                        repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo="https://charts.example.com"))
    k8s.apiextensions.CustomResource(
        "planted-isvc", api_version="serving.kserve.io/v1beta1", kind="InferenceService",
        metadata={"name": "planted-isvc", "namespace": "llm"},
        spec={"predictor": {"minReplicas": 1, "model": {"modelFormat": {"name": "vLLM"}, "storageUri": "hf://meta-llama/Llama-3.1-8B"}}})
    k8s.core.v1.ConfigMap(
        "planted-registry", metadata={"name": "planted-registry", "namespace": "llm",
                                      "labels": {**labels, "app.kubernetes.io/component": "lora-registry"}},
        data={"registry.json": json.dumps({"llama-3.1-8b:sql": "adapters/llama-3.1-8b/sql/v2026-11-01/",
                                           "llama-3.1-8b:chat": "adapters/llama-3.1-8b/chat/latest/"})})


def broken_airgap(synth):
    def edit(sections):
        sections["airgap"]["requireDigests"] = True
        sections["airgap"]["imageDigests"] = {"docker.io/vllm/vllm-openai:v0.0.1": "sha256:" + "c" * 64}

    def program(cfg, stack):
        _plant_violations()
        return build_platform(cfg, stack)

    return synth("airgap", edit, program=program)


def test_a_broken_airgap_stack_trips_at_least_ten_policies(synth):
    violations = check(broken_airgap(synth))
    tripped = {v.policy for v in violations if v.level == "mandatory"}
    assert len(tripped) >= 10, sorted(tripped)
    expected = {"images-from-allowed-registries", "images-pinned", "no-external-model-sources", "offline-env-on-model-servers",
                "trusted-ca-mounted", "trusted-ca-in-workload-namespaces", "charts-from-mirror", "no-public-load-balancers", "run-as-non-root",
                "no-privileged-containers", "no-literal-secrets-in-env", "gpu-workloads-limited-and-tolerating",
                "mig-resources-in-catalog", "adapter-versions-pinned", "lora-rank-within-max", "chart-images-from-mirror",
                "adapters-within-max-cpu-loras", "data-resources-protected", "inference-services-bounded",
                "inference-services-monitored", "no-secrets-in-args", "no-credentials-in-urls"}
    assert expected - tripped == set()


def test_pack_config_carries_levels_and_facts(synthesized):
    result = synthesized("airgap")
    config = pack_config(result.config, "airgap")
    assert config["all"] == "mandatory"
    assert set(config) == {"all", *POLICY_NAMES}
    facts = config["images-from-allowed-registries"]["platform"]
    assert facts["airgap"] is True and facts["allowed_registries"] == [result.config.airgap.registry]
    assert facts["ca_config_map"] == "trusted-ca-bundle" and "nvidia.com/mig-3g.40gb" in facts["mig_resources"]
    json.dumps(config)  # serialisable as the --policy-pack-config file


def test_overrides_change_levels_and_unknown_names_are_refused(synth):
    result = synth("airgap", lambda s: s["policy"].update({"overrides": {"run-as-non-root": "advisory", "images-pinned": "disabled"}}))
    levels = policy_levels(result.config)
    assert levels["run-as-non-root"] == "advisory" and levels["images-pinned"] == "disabled"
    assert levels["images-from-allowed-registries"] == "mandatory"
    # An unknown name is a config error (the stack is refused before anything is registered).
    with pytest.raises(PlatformConfigError) as info:
        synth("dev", lambda s: s["policy"].update({"overrides": {"run-as-nonroot": "advisory"}}))
    assert [(i.path, i.message.split(";")[0]) for i in info.value.issues] == [
        ("policy.overrides.run-as-nonroot", "unknown policy")]
    assert "did you mean 'run-as-non-root'?" in info.value.issues[0].message


def test_without_pack_config_the_policies_use_connected_defaults_never_the_stack_file(synth):
    """The pack reads no stack file: without --policy-pack-config an air-gapped stack is checked as
    a connected one (public registries allowed, no offline or CA requirement)."""
    result = broken_airgap(synth)
    with_config = {v.policy for v in evaluate(result.registrations, pack_config(result.config, "airgap"))}
    bare = {v.policy for v in evaluate(result.registrations, {"all": "mandatory"})}
    airgap_only = {"offline-env-on-model-servers", "trusted-ca-mounted", "charts-from-mirror"}
    assert airgap_only <= with_config and not airgap_only & bare, (sorted(with_config), sorted(bare))
    assert "mig-resources-in-catalog" in bare  # the MIG catalog is hardware, not stack config


def test_the_pack_checks_another_projects_stack_from_its_pack_config(synth):
    """Facts come from the pack config alone: the same resources under another project's and
    stack's URNs (no stack file of that name exists) get the same violations."""
    import dataclasses

    result = broken_airgap(synth)
    config = pack_config(result.config, "airgap")
    foreign = [dataclasses.replace(r, urn=r.urn.replace("urn:pulumi:airgap::llm-platform::", "urn:pulumi:onprem-7::their-platform::"),
                                   parent=r.parent and r.parent.replace("urn:pulumi:airgap::llm-platform::", "urn:pulumi:onprem-7::their-platform::"),
                                   dependencies=[d.replace("urn:pulumi:airgap::llm-platform::", "urn:pulumi:onprem-7::their-platform::")
                                                 for d in r.dependencies])
               for r in result.registrations]
    key = lambda v: (v.policy, v.resource_name, v.message)  # noqa: E731
    ours = {key(v) for v in evaluate(result.registrations, config)}
    assert ours and {key(v) for v in evaluate(foreign, config)} == ours


def test_synth_policy_flag_prints_violations_and_exits_by_level(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "infra.synth", "--stack", "airgap", "--out", str(tmp_path), "--policy"],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "policy check of stack airgap: " in proc.stdout and ", 0 mandatory" in proc.stdout


def test_policy_check_writes_the_engine_pack_config(tmp_path):
    out = tmp_path / "airgap.json"
    proc = subprocess.run([sys.executable, "-m", "infra.policy_check", "--stack", "airgap", "--no-check", "--pack-config", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text())["charts-from-mirror"]["enforcementLevel"] == "mandatory"


def test_pack_project_runs_in_the_project_virtualenv():
    project = yaml.safe_load((REPO / "policies" / "PulumiPolicy.yaml").read_text())
    assert project["runtime"]["name"] == "python"
    venv = (REPO / "policies" / project["runtime"]["options"]["virtualenv"]).resolve()
    assert (venv / "bin" / "python").exists()
    # __main__ only assembles the pack: importing the policies never starts a gRPC server.
    main = (REPO / "policies" / "__main__.py").read_text()
    assert "PolicyPack(" in main and "def " not in main


def test_pack_starts_as_the_engine_starts_it():
    """The analyzer prints its gRPC port on start; we kill it after that."""
    env = {**os.environ, "PYTHONPATH": ""}
    proc = subprocess.Popen([sys.executable, "__main__.py", "127.0.0.1:0"], cwd=REPO / "policies", env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        assert line.isdigit(), proc.stderr.read() if proc.poll() is not None else line
    finally:
        proc.kill()
        proc.wait(timeout=30)


def test_policies_read_the_engines_proxies_not_dicts(synthesized):
    """Under the engine, props are read-only Mapping/Sequence proxies (pulumi_policy.proxy), not
    dicts or lists; the PR check hands policies the same, so code that tests for dict would fail
    here as it would in pulumi preview."""
    from pulumi_policy.proxy import unknown_checking_proxy

    from infra.policy_check import _stack_resources

    resources = _stack_resources(synthesized("airgap").registrations)
    assert all(not isinstance(r.props, dict) for r in resources)
    assert not isinstance(unknown_checking_proxy({"a": [1]})["a"], list)
