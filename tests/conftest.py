"""Shared fixtures: offline synthesis of any stack (optionally with edited config) under
Pulumi's mock runtime, strict schema validation of what it emits, and the real Pulumi engine.

The engine (tools/engine/build.sh: a no-op when built, a restore from the machine cache on a
fresh clone, a cold build of tens of minutes otherwise, with progress) is built once per session
at collection time when an ``engine`` test is selected, so the build is not charged to any test's
timeout. A test that needs it fails, never skips, when it cannot be built."""

from __future__ import annotations

import copy
import time
from typing import Any, Callable

import pytest

from infra.config_loading import list_stacks, read_stack_file
from infra.synth import Synthesis, synthesize

STACKS = list_stacks()


def stack_sections(stack: str) -> dict[str, Any]:
    """A deep copy of a stack file's project config, safe to edit in a test."""
    sections, _ = read_stack_file(stack)
    return copy.deepcopy(sections)


@pytest.fixture(scope="session")
def synthesized() -> Callable[[str], Synthesis]:
    """Synthesis of an unmodified stack, computed once per session."""
    cache: dict[str, Synthesis] = {}

    def get(stack: str) -> Synthesis:
        if stack not in cache:
            cache[stack] = synthesize(stack)
        return cache[stack]

    return get


@pytest.fixture
def synth() -> Callable[..., Synthesis]:
    """Synthesize ``stack`` with its config edited by ``edit(sections)`` (in place)."""

    def run(stack: str, edit: Callable[[dict[str, Any]], Any] | None = None, program=None) -> Synthesis:
        sections = stack_sections(stack)
        if edit is not None:
            edit(sections)
        return synthesize(stack, sections, program=program)

    return run


_engine_build: dict[str, Any] = {}


def pytest_collection_finish(session: pytest.Session) -> None:
    if not any(item.get_closest_marker("engine") for item in session.items):
        return
    from infra import engine as engine_mod

    config = session.config
    say = _terminal_writer(config)
    start = time.monotonic()
    say("engine: tools/engine/build.sh (a no-op or a cache restore after the first build) ...")
    try:
        engine_mod.build_engine(on_line=lambda line: say(f"  {line}"))
        _engine_build["versions"] = engine_mod.engine_versions()
    except engine_mod.EngineError as exc:
        _engine_build["error"] = str(exc)
    say(f"engine: {'ready' if 'versions' in _engine_build else 'FAILED'} ({time.monotonic() - start:.1f}s)")


def _terminal_writer(config: pytest.Config) -> Callable[[str], None]:
    """Print past pytest's output capture."""
    tr = config.pluginmanager.get_plugin("terminalreporter")
    cap = config.pluginmanager.get_plugin("capturemanager")

    def say(line: str) -> None:
        if tr is None:
            return
        if cap is None:
            tr.write_line(line)
            return
        with cap.global_and_fixture_disabled():
            tr.write_line(line)

    return say


@pytest.fixture(scope="session")
def engine() -> dict[str, str]:
    """The built engine's versions and cache keys (.tools/engine/engine.env)."""
    from infra import engine as engine_mod

    if "versions" not in _engine_build and "error" not in _engine_build:  # hook not run
        try:
            engine_mod.build_engine()
            _engine_build["versions"] = engine_mod.engine_versions()
        except engine_mod.EngineError as exc:
            _engine_build["error"] = str(exc)
    if "error" in _engine_build:
        pytest.fail(f"the Pulumi engine cannot be built: {_engine_build['error']}", pytrace=False)
    return _engine_build["versions"]
