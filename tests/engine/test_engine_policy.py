"""The CrossGuard pack (policies/) runs inside the real engine: `preview --policy-pack policies`
passes on the local stack and fails on a planted mandatory violation."""

from __future__ import annotations

import json
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from infra import engine as engine_mod

# The session fixture may build the engine from source on first use (about 40 min on a
# busy 2-core machine), inside whichever test needs it first.
pytestmark = [pytest.mark.engine, pytest.mark.timeout(5400)]

PACK = engine_mod.ROOT / "policies"
POLICY = "images-pinned"  # no 'latest' or untagged images (policies/llm_platform_policies/airgap.py)


@pytest.fixture(scope="module")
def pack_config(engine, tmp_path_factory) -> dict:
    """The local stack's --policy-pack-config, generated the documented way (infra.policy_check)."""
    assert (PACK / "PulumiPolicy.yaml").exists(), "policies/PulumiPolicy.yaml missing: the pack has not landed"
    path = tmp_path_factory.mktemp("pack") / "local.json"
    proc = subprocess.run([sys.executable, "-m", "infra.policy_check", "--stack", "local", "--pack-config", str(path),
                           "--no-check"], cwd=engine_mod.ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    config = json.loads(path.read_text())
    assert POLICY in config, f"{POLICY} is not in the pack config: {sorted(config)}"
    return config


def _write(config: dict, path: Path, **levels: str) -> str:
    config = json.loads(json.dumps(config))
    for name, level in levels.items():
        config[name.replace("_", "-")]["enforcementLevel"] = level
    path.write_text(json.dumps(config))
    return str(path)


def _program_with_planted_violation(render_dir: Path):
    """The real program plus one Pod on a moving tag, through its own render-mode provider."""

    def program() -> None:
        import pulumi
        import pulumi_kubernetes as k8s

        runpy.run_path(str(engine_mod.ROOT / "infra"), run_name="__main__")
        provider = k8s.Provider("planted", render_yaml_to_directory=str(render_dir))
        k8s.core.v1.Pod("planted", metadata={"name": "planted", "namespace": "default"},
                        spec={"containers": [{"name": "c", "image": "nginx:latest"}]},
                        opts=pulumi.ResourceOptions(provider=provider))

    return program


def test_pack_passes_the_local_stack(pack_config, tmp_path):
    cfg = _write(pack_config, tmp_path / "cfg.json")
    result = engine_mod.run("preview", "local", out=tmp_path / "out", state_dir=tmp_path / "state",
                            policy_packs=[str(PACK)], policy_pack_configs=[cfg], build=False)
    assert "Policies:" in result.stdout and "llm-platform@v" in result.stdout, result.stdout  # the pack ran
    assert "[mandatory]" not in result.stdout, result.stdout
    assert not any((tmp_path / "out").rglob("*.yaml")), "preview must not render"


def test_planted_violation_fails_preview_when_mandatory(pack_config, tmp_path):
    cfg = _write(pack_config, tmp_path / "cfg.json", **{POLICY: "mandatory"})
    with pytest.raises(engine_mod.EngineError) as failure:
        engine_mod.run("preview", "local", out=tmp_path / "out", state_dir=tmp_path / "state",
                       policy_packs=[str(PACK)], policy_pack_configs=[cfg], build=False,
                       program=_program_with_planted_violation(tmp_path / "planted"))
    message = str(failure.value)
    assert f"[mandatory]  {POLICY}" in message and "nginx:latest" in message, message


def test_planted_violation_is_only_reported_when_advisory(pack_config, tmp_path):
    """Same program, advisory level: the preview succeeds and reports the violation (so the failure above
    is the policy's doing, not the planted program's)."""
    cfg = _write(pack_config, tmp_path / "cfg.json", **{POLICY: "advisory"})
    result = engine_mod.run("preview", "local", out=tmp_path / "out", state_dir=tmp_path / "state",
                            policy_packs=[str(PACK)], policy_pack_configs=[cfg], build=False,
                            program=_program_with_planted_violation(tmp_path / "planted"))
    assert f"[advisory]  {POLICY}" in result.stdout and "nginx:latest" in result.stdout, result.stdout
