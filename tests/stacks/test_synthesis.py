"""Offline synthesis of every stack: it runs, it is deterministic, and bad config exits 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from infra import synth as synth_mod
from tests.conftest import STACKS

REPO = Path(__file__).resolve().parents[2]


def test_five_stacks_exist():
    assert {"local", "dev", "staging", "prod", "airgap"} <= set(STACKS)


@pytest.mark.parametrize("stack", STACKS)
def test_stack_synthesizes(stack, synthesized):
    result = synthesized(stack)
    assert result.registrations, f"{stack} declared nothing"
    for manifest in result.manifests:
        meta = manifest["metadata"]
        assert meta.get("name"), f"{manifest['kind']} without an explicit name: names must be deterministic"


def test_synthesis_is_byte_identical_across_runs(tmp_path):
    outs = []
    for run in ("a", "b"):
        out = tmp_path / run
        proc = subprocess.run([sys.executable, "-m", "infra.synth", "--all", "--out", str(out)], cwd=REPO,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr
        outs.append(out)
    for stack in STACKS:
        for name in ("manifests.yaml", "resources.json"):
            assert (outs[0] / stack / name).read_bytes() == (outs[1] / stack / name).read_bytes(), f"{stack}/{name}"


def test_outputs_are_well_formed(tmp_path, synthesized):
    result = synthesized("local")
    synth_mod.write(result, tmp_path)
    docs = list(yaml.safe_load_all((tmp_path / "manifests.yaml").read_text()))
    assert len(docs) == len(result.manifests)
    assert all({"apiVersion", "kind", "metadata"} <= set(d) for d in docs)
    resources = json.loads((tmp_path / "resources.json").read_text())
    assert {"type", "name", "parent", "inputs"} <= set(resources[0])
    types = {r["type"] for r in resources}
    assert "pulumi:providers:kubernetes" in types


@pytest.mark.parametrize(
    "yaml_edit, expected",
    [
        ("    renderDirr: out/x\n", "cluster.renderDirr: unknown key; did you mean 'renderDir'?"),
        ("    kubernetesVersion: [1, 34]\n", "cluster.kubernetesVersion: input should be a valid string"),
    ],
)
def test_bad_stack_file_exits_2_with_field_message(tmp_path, monkeypatch, yaml_edit, expected):
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    original = (REPO / "stacks" / "Pulumi.local.yaml").read_text()
    broken = original.replace("    kind: render\n", "    kind: render\n" + yaml_edit, 1)
    (stacks / "Pulumi.broken.yaml").write_text(broken)
    monkeypatch.setattr("infra.config_loading.STACKS_DIR", stacks)
    monkeypatch.setattr("infra.config_loading.REPO_ROOT", tmp_path)
    code = synth_mod.main(["--stack", "broken", "--out", str(tmp_path / "out")])
    assert code == 2
    assert not (tmp_path / "out").exists(), "nothing may be written for an invalid stack"


def test_cli_prints_short_message_not_traceback(tmp_path):
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    original = (REPO / "stacks" / "Pulumi.local.yaml").read_text()
    (stacks / "Pulumi.broken.yaml").write_text(original.replace("rank: 8", "rank: 512"))
    code = (
        "import sys, infra.config_loading as c; from pathlib import Path;"
        f"c.STACKS_DIR = Path({str(stacks)!r}); c.REPO_ROOT = Path({str(tmp_path)!r});"
        "from infra.synth import main; sys.exit(main(['--stack', 'broken', '--out', 'unused']))"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "stack 'broken'" in proc.stderr
    assert "models.adapters[0].rank: rank 512 exceeds serving.services.qwen-7b.engine.maxLoraRank (16)" in proc.stderr
