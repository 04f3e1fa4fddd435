"""The engine that tools/engine/build.sh produces is the pinned one, a rebuild is a no-op and a
fresh checkout restores it from the machine cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.lstrip("v").split("."))


def test_cli_is_the_pinned_version_and_not_older_than_the_sdk(engine):
    """The CLI is newer than the `pulumi` wheel on purpose (tools/engine/versions.env); an older
    CLI than the SDK is what Pulumi does not support."""
    out = subprocess.run([str(BIN / "pulumi"), "version"], capture_output=True, text=True, check=True).stdout.strip()
    assert out == f"v{engine['PULUMI_VERSION']}"
    assert _version(out) >= _version(metadata.version("pulumi"))


def test_registered_providers_are_the_versions_the_sdks_request(engine):
    """The engine must find exactly these in PULUMI_HOME, or it would try to download them."""
    env = {"PULUMI_HOME": str(engine_mod.PULUMI_HOME), "PULUMI_SKIP_UPDATE_CHECK": "1", "PATH": "/usr/bin:/bin"}
    listing = subprocess.run([str(BIN / "pulumi"), "plugin", "ls", "--json"], capture_output=True, text=True,
                             check=True, env=env).stdout
    installed = {(p["kind"], p["name"], p["version"]) for p in json.loads(listing)}
    assert ("resource", "kubernetes", _plugin_version("pulumi_kubernetes")) in installed
    assert ("resource", "random", _plugin_version("pulumi_random")) in installed


def test_dynamic_provider_shim_is_next_to_the_cli(engine):
    """Dynamic providers (the adapter publisher) run with the program's Python through this
    bundled plugin; inline programs need no language host (and its module is not served)."""
    path = BIN / "pulumi-resource-pulumi-python"
    assert path.exists() and path.stat().st_mode & 0o111, f"{path} missing or not executable"


def test_second_build_is_a_no_op(engine):
    start = time.monotonic()
    log = engine_mod.build_engine()
    assert "up to date" in log, log
    assert time.monotonic() - start < 10


@pytest.mark.parametrize("component,binary", [("cli", "pulumi"), ("kubernetes", "pulumi-resource-kubernetes"),
                                               ("random", "pulumi-resource-random")])
def test_each_binary_is_cached_by_its_pin_key(engine, component, binary):
    """The machine-level cache holds each binary under the key build.sh reports, so a fresh clone
    restores it and changing one pin rebuilds only that binary."""
    root = Path(os.environ.get("LLM_PLATFORM_CACHE_DIR")
                or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "llm-platform")
    entry = root / f"engine-{component}-{engine[component.upper() + '_KEY']}"
    assert (entry / "complete").exists()
    assert (entry / binary).read_bytes() == (BIN / binary).read_bytes()


def test_restore_from_the_machine_cache_into_a_fresh_checkout(engine, tmp_path):
    """A fresh clone (no .tools/) gets the engine from the machine cache in seconds, without Go."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(engine_mod.ROOT), str(clone)], check=True, timeout=300)
    # The working tree's build recipe, not only what is committed.
    subprocess.run(["cp", "-r", str(engine_mod.ROOT / "tools" / "engine"), str(clone / "tools")], check=True)
    start = time.monotonic()
    proc = subprocess.run(["bash", "tools/engine/build.sh"], cwd=clone, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PATH": "/usr/bin:/bin", "ENGINE_PYTHON": sys.executable})
    seconds = time.monotonic() - start
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "building from Go modules" not in proc.stdout, proc.stdout
    assert seconds < 120, f"restore took {seconds:.0f}s"
    assert (clone / ".tools" / "engine" / "bin" / "pulumi-resource-random").exists()
