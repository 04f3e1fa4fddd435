"""Run a plain Pulumi program (a callable, or an example's ``__main__.py``) under Pulumi's mock
runtime and return what it registered: the harness for component tests built from plain args."""

from __future__ import annotations

import contextvars
import json
import runpy
from pathlib import Path
from typing import Any, Callable

from infra.mocks import PlatformMocks, RecordingMonitor, Registration


def run_program(program: Callable[[], Any], *, project: str = "example", stack: str = "test",
                config: dict[str, Any] | None = None) -> list[Registration]:
    """Registrations of ``program``; an exception it raises propagates unchanged. ``config``:
    ``{"<project>:<key>": value}`` as the stack's config."""
    return contextvars.Context().run(_run, program, project, stack, config or {})


def run_example(main: Path, **kw) -> list[Registration]:
    """An example program's ``__main__.py`` run as Pulumi runs it (``__name__ == "__main__"``)."""
    return run_program(lambda: runpy.run_path(str(main), run_name="__main__"), **kw)


def _run(program, project, stack, config) -> list[Registration]:
    import pulumi
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    mocks = PlatformMocks()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)
    pulumi.runtime.set_all_config({k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()})
    _sync_await(run_pulumi_func(program))
    return monitor.registrations
