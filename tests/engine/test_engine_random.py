"""The bridged pulumi-resource-random (tools/engine/random) through the real engine: a
RandomPassword (what the program uses for every credential) and a RandomString are created once,
keep their value across `up`s, and are replaced, with a new value, only when an input changes;
and the schema the registered plugin serves is the pulumi_random SDK's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from infra import engine as engine_mod

pytestmark = [pytest.mark.engine, pytest.mark.timeout(5400)]
CHECK_SCHEMA = engine_mod.ROOT / "tools" / "engine" / "random" / "check_schema.py"


def _stack(state: Path, inputs: dict):
    """An Automation API stack whose inline program declares one password and one string."""
    from pulumi import automation as auto

    def program() -> None:
        import pulumi
        import pulumi_random as random

        password = random.RandomPassword("pw", length=inputs["length"], special=False,
                                         keepers={"rotation": inputs["rotation"]})
        string = random.RandomString("str", length=inputs["length"], upper=False, special=False)
        pulumi.export("password", password.result)  # stays a secret (the SDK marks it so)
        pulumi.export("string", string.result)

    env = {
        "PULUMI_HOME": str(engine_mod.PULUMI_HOME),
        "PULUMI_BACKEND_URL": state.as_uri(),
        "PULUMI_CONFIG_PASSPHRASE": "random-provider-test",
        "PULUMI_SKIP_UPDATE_CHECK": "1",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_IGNORE_AMBIENT_PLUGINS": "true",
    }
    opts = auto.LocalWorkspaceOptions(
        work_dir=str(state), pulumi_home=str(engine_mod.PULUMI_HOME), env_vars=env,
        pulumi_command=auto.PulumiCommand(root=str(engine_mod.ENGINE_ROOT)),
        project_settings=auto.ProjectSettings(name="random-provider-test", runtime="python"))
    return auto.create_or_select_stack("test", project_name="random-provider-test", program=program, opts=opts)


def _up(state: Path, **inputs):
    result = _stack(state, inputs).up(color="never")
    values = {k: v.value for k, v in result.outputs.items()}
    secret = result.outputs["password"].secret
    return dict(result.summary.resource_changes or {}), values, secret


@pytest.fixture(scope="module")
def ups(engine, tmp_path_factory):
    state = tmp_path_factory.mktemp("random-state")
    return [
        _up(state, length=24, rotation="a"),   # create
        _up(state, length=24, rotation="a"),   # unchanged
        _up(state, length=24, rotation="b"),   # keeper changed: password only
        _up(state, length=30, rotation="b"),   # length changed: both
    ]


def test_created_once_as_the_program_asks(ups):
    changes, values, secret = ups[0]
    assert changes == {"create": 3}, changes  # the stack + two resources
    assert len(values["password"]) == 24 and values["password"].isalnum()
    assert len(values["string"]) == 24 and values["string"] == values["string"].lower()
    assert secret, "the password reached the outputs in plain text"


def test_values_survive_an_unchanged_up(ups):
    (_, first, _), (changes, second, _) = ups[0], ups[1]
    assert changes == {"same": 3}, changes
    assert second == first


def test_changing_an_input_replaces_only_that_resource(ups):
    (_, before, _), (changes, after, _) = ups[1], ups[2]
    assert changes == {"same": 2, "replace": 1}, changes
    assert after["password"] != before["password"] and after["string"] == before["string"]

    (_, before, _), (changes, after, _) = ups[2], ups[3]
    assert changes == {"same": 1, "replace": 2}, changes
    assert after["password"] != before["password"] and len(after["password"]) == 30
    assert after["string"] != before["string"] and len(after["string"]) == 30


def test_served_schema_is_the_sdks(engine, tmp_path):
    """What the registered plugin serves (GetSchema), checked against the installed pulumi_random."""
    env = {"PULUMI_HOME": str(engine_mod.PULUMI_HOME), "PULUMI_SKIP_UPDATE_CHECK": "1",
           "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true", "PULUMI_IGNORE_AMBIENT_PLUGINS": "true",
           "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([str(engine_mod.ENGINE_ROOT / "bin" / "pulumi"), "package", "get-schema",
                           f"random@{engine['RANDOM_VERSION']}"], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    schema = json.loads(proc.stdout)
    assert schema["name"] == "random" and schema["version"] == engine["RANDOM_VERSION"]
    path = tmp_path / "schema.json"
    path.write_text(proc.stdout)
    check = subprocess.run([sys.executable, str(CHECK_SCHEMA), str(path)], capture_output=True, text=True, timeout=300)
    assert check.returncode == 0, check.stderr
