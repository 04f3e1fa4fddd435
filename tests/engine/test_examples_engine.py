"""The examples through the real engine: ``pulumi up`` of each example project, rendering to a
directory, then a second ``up`` that changes nothing.

Each example's ``__main__.py`` runs as an Automation API inline program in this process (the
project's .venv, where `make venv` installed the component library), as ``make up`` runs the
platform: no Python language host is built here (see README "The engine"). A user with a normal
Pulumi install runs ``pulumi up`` in the example's directory instead.
"""

from __future__ import annotations

import runpy
import shutil
from pathlib import Path

import pytest
import yaml

from infra import engine as engine_mod

pytestmark = pytest.mark.engine

EXAMPLES = engine_mod.ROOT / "examples"
EXPECTED_KINDS = {"lora_service": {"ConfigMap", "InferenceService", "Role", "RoleBinding", "ServingRuntime"},
                  "gpu_pool": {"EC2NodeClass", "NodePool", "NodeOverlay"}}


def _project_copy(example: str, tmp: Path) -> Path:
    """The example project in a scratch directory (the engine writes Pulumi.<stack>.yaml next to
    Pulumi.yaml), pointing at the project's .venv."""
    work = tmp / example
    shutil.copytree(EXAMPLES / example, work, ignore=shutil.ignore_patterns("__pycache__"))
    project = yaml.safe_load((work / "Pulumi.yaml").read_text())
    project["runtime"]["options"]["virtualenv"] = str(engine_mod.ROOT / ".venv")
    (work / "Pulumi.yaml").write_text(yaml.safe_dump(project, sort_keys=False))
    return work


def _stack(work: Path, state: Path):
    from pulumi import automation as auto

    state.mkdir(parents=True, exist_ok=True)
    env = {
        "PULUMI_HOME": str(engine_mod.PULUMI_HOME),
        "PULUMI_BACKEND_URL": state.as_uri(),
        "PULUMI_SKIP_UPDATE_CHECK": "1",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_IGNORE_AMBIENT_PLUGINS": "true",
        "PULUMI_DIY_BACKEND_NO_LEGACY_WARNING": "1",
        "PULUMI_CONFIG_PASSPHRASE": engine_mod.LOCAL_RENDER_PASSPHRASE,  # render-only example stacks
    }
    program = str(EXAMPLES / work.name / "__main__.py")  # the example itself: it finds the fixture adapters from there
    workspace = auto.LocalWorkspace(work_dir=str(work), pulumi_home=str(engine_mod.PULUMI_HOME), env_vars=env,
                                    program=lambda: runpy.run_path(program, run_name="__main__"),
                                    secrets_provider="passphrase",
                                    pulumi_command=auto.PulumiCommand(root=str(engine_mod.ENGINE_ROOT)))
    return auto.Stack.create_or_select("test", workspace)


@pytest.mark.parametrize("example", sorted(EXPECTED_KINDS))
def test_example_up_renders_its_objects_and_a_second_up_changes_nothing(engine, example, tmp_path):
    from pulumi import automation as auto

    work = _project_copy(example, tmp_path)
    out = tmp_path / "rendered"
    stack = _stack(work, tmp_path / "state")
    stack.set_config("renderDir", auto.ConfigValue(str(out)))
    first = stack.up(on_output=print)
    assert first.summary.result == "succeeded"
    kinds = {yaml.safe_load(p.read_text())["kind"] for p in out.rglob("*.yaml")}
    assert kinds == EXPECTED_KINDS[example], kinds
    second = stack.up(on_output=print)
    assert set(second.summary.resource_changes or {}) == {"same"}, second.summary.resource_changes
