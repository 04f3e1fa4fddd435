"""Shared fixtures: offline synthesis of any stack (optionally with edited config) under
Pulumi's mock runtime, and strict schema validation of what it emits."""

from __future__ import annotations

import copy
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
