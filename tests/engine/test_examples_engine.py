"""The examples through the real engine: ``pulumi up`` of each example project (the Python
language host running its ``__main__.py`` in the project's .venv, where `make venv` installed
the component library), rendering to a directory, then a second ``up`` that changes nothing.

Skipped with build.sh's reason when the engine cannot be built here (see the ``engine`` fixture).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from infra import engine as engine_mod

pytestmark = pytest.mark.engine

EXAMPLES = engine_mod.ROOT / "examples"
EXPECTED_KINDS = {"lora_service": {"ConfigMap", "InferenceService", "ServingRuntime"},
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
    workspace = auto.LocalWorkspace(work_dir=str(work), pulumi_home=str(engine_mod.PULUMI_HOME), env_vars=env,
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
