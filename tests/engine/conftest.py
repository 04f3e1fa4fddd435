"""Fixtures for tests that run the real Pulumi engine (tools/engine/build.sh + infra/engine.py);
the session fixture ``engine`` (tests/conftest.py) builds or restores it once."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra import engine as engine_mod


@pytest.fixture(scope="module")
def local_ups(engine, tmp_path_factory) -> tuple[engine_mod.Result, engine_mod.Result, Path]:
    """Two consecutive `up`s of the local stack into a fresh state and render directory."""
    base = tmp_path_factory.mktemp("engine-local")
    out, state = base / "manifests", base / "state"
    first = engine_mod.run("up", "local", out=out, state_dir=state, build=False)
    snapshot = {p.relative_to(out): p.read_bytes() for p in first.manifests}
    second = engine_mod.run("up", "local", out=out, state_dir=state, build=False)
    second.rendered_before = snapshot  # type: ignore[attr-defined]
    return first, second, out
