"""`python -m infra.engine` (make up / preview / destroy) reports a stack's config error with exit
status 2, naming the field, before it builds or runs any part of the engine."""

from __future__ import annotations

import pytest
import yaml

from infra import config_loading, engine
from infra.config_loading import list_stacks

STACKS = list_stacks()


@pytest.fixture
def engine_must_not_run(monkeypatch):
    def refuse(*_, **__):
        raise AssertionError("the engine was built or run despite a config error")

    monkeypatch.setattr(engine, "build_engine", refuse)
    monkeypatch.setattr(engine, "run", refuse)


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("operation", ["up", "preview", "destroy"])
def test_config_error_exits_2_naming_the_field(stack, operation, engine_must_not_run, tmp_path, monkeypatch, capsys):
    doc = yaml.safe_load(config_loading.stack_file(stack).read_text())
    doc["config"]["llm-platform:cluster"]["renderDirectory"] = "typo"
    (tmp_path / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(doc))
    monkeypatch.setattr(config_loading, "STACKS_DIR", tmp_path)

    assert engine.main([operation, "--stack", stack]) == 2
    err = capsys.readouterr().err
    assert f"stack {stack!r}" in err and "cluster.renderDirectory: unknown key" in err, err
    assert "Traceback" not in err


def test_unknown_stack_exits_2(engine_must_not_run, capsys):
    assert engine.main(["up", "--stack", "nosuch"]) == 2
    err = capsys.readouterr().err
    assert "no stack file stacks/Pulumi.nosuch.yaml" in err and "known stacks:" in err, err
