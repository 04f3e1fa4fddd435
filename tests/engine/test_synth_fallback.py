"""`make up` on a render stack when the engine cannot be built here: the same manifests come
from offline synthesis, loudly; any other stack fails with the engine's reason."""

from __future__ import annotations

import pytest
import yaml

from infra import engine
from infra.synth import synthesize


@pytest.fixture
def no_engine(monkeypatch):
    def fail():
        raise engine.EngineError('tools/engine/build.sh failed:\n[engine] FAILED at step "preflight"')

    monkeypatch.setattr(engine, "build_engine", fail)
    monkeypatch.setattr(engine, "_engine_present", lambda: False)


def test_render_stack_falls_back_to_synthesis(no_engine, tmp_path, capsys):
    code = engine.main(["up", "--stack", "local", "--out", str(tmp_path), "--synth-fallback", "--quiet"])
    captured = capsys.readouterr()
    assert code == 0
    assert "engine is not available" in captured.err and 'FAILED at step "preflight"' in captured.err
    files = sorted(tmp_path.glob("*.yaml"))
    objects = [yaml.safe_load(f.read_text()) for f in files]
    expected = synthesize("local").manifests
    assert len(files) == len(expected) > 0
    key = lambda m: (m["kind"], m["metadata"].get("namespace", ""), m["metadata"]["name"])  # noqa: E731
    assert sorted(map(key, objects)) == sorted(map(key, expected))
    assert f"rendered {len(expected)} manifests to {tmp_path}" in captured.out


def test_without_fallback_flag_the_engine_error_is_the_result(no_engine, tmp_path, capsys):
    assert engine.main(["up", "--stack", "local", "--out", str(tmp_path), "--quiet"]) == 1
    assert "preflight" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.yaml"))


def test_cluster_stacks_never_fall_back(no_engine, capsys):
    assert engine.main(["up", "--stack", "prod", "--synth-fallback", "--quiet"]) == 1
    assert "preflight" in capsys.readouterr().err
