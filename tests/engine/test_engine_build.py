"""The engine that tools/engine/build.sh produces is the pinned one, and a rebuild is a no-op."""

from __future__ import annotations

import json
import os
import subprocess
import time
from importlib import metadata
from importlib.resources import files
from pathlib import Path

import pytest

from infra import engine as engine_mod

# The session fixture may build the engine from source on first use (about 40 min on a
# busy 2-core machine), inside whichever test needs it first.
pytestmark = [pytest.mark.engine, pytest.mark.timeout(5400)]
BIN = engine_mod.ENGINE_ROOT / "bin"


def _plugin_version(package: str) -> str:
    return json.loads(files(package).joinpath("pulumi-plugin.json").read_text())["version"]


def test_cli_version_equals_python_sdk(engine):
    out = subprocess.run([str(BIN / "pulumi"), "version"], capture_output=True, text=True, check=True).stdout.strip()
    assert out == f"v{metadata.version('pulumi')}"


def test_registered_providers_are_the_versions_the_sdks_request(engine):
    """The engine must find exactly these in PULUMI_HOME, or it would try to download them."""
    env = {"PULUMI_HOME": str(engine_mod.PULUMI_HOME), "PULUMI_SKIP_UPDATE_CHECK": "1", "PATH": "/usr/bin:/bin"}
    listing = subprocess.run([str(BIN / "pulumi"), "plugin", "ls", "--json"], capture_output=True, text=True,
                             check=True, env=env).stdout
    installed = {(p["kind"], p["name"], p["version"]) for p in json.loads(listing)}
    assert ("resource", "kubernetes", _plugin_version("pulumi_kubernetes")) in installed
    assert ("resource", "random", _plugin_version("pulumi_random")) in installed


def test_python_language_host_is_next_to_the_cli(engine):
    for name in ("pulumi-language-python", "pulumi-language-python-exec", "pulumi-resource-pulumi-python"):
        path = BIN / name
        assert path.exists() and path.stat().st_mode & 0o111, f"{name} missing or not executable"


def test_second_build_is_a_no_op(engine):
    start = time.monotonic()
    log = engine_mod.build_engine()
    assert "up to date" in log, log
    assert time.monotonic() - start < 10


def test_build_is_cached_by_pin_key(engine):
    """The machine-level cache holds this engine under the key build.sh reports, so a fresh clone restores it."""
    root = Path(os.environ.get("LLM_PLATFORM_CACHE")
                or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "llm-platform")
    entry = root / f"engine-{engine['ENGINE_KEY']}"
    assert (entry / "complete").exists()
    assert (entry / "bin" / "pulumi").read_bytes() == (BIN / "pulumi").read_bytes()
