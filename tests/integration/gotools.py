"""Binaries the integration tests run besides the control plane, each built from its own pinned
build module by ``tools/gomod/build.sh <tool>`` (a no-op when up to date, a copy from the
machine cache when another clone built it). Tests declare what they need with
``pytest.mark.gotools("helm", ...)``; conftest builds the union once, at collection time."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO_ROOT / "tools" / "gomod" / "build.sh"
BUILD_TIMEOUT = float(os.environ.get("LLM_PLATFORM_GOTOOLS_BUILD_TIMEOUT", "5400"))


class ToolUnavailable(RuntimeError):
    """The tool could not be built here (reason in str)."""


def binary(tool: str) -> Path:
    out = subprocess.run(["bash", str(BUILD_SCRIPT), tool, "--print-bin"], capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def ensure(tool: str, echo=None) -> Path:
    """Build or restore ``tool``; stream its progress lines to ``echo``; bounded by BUILD_TIMEOUT."""
    path = binary(tool)
    if os.environ.get("LLM_PLATFORM_KUBE_BUILD", "1") == "0":
        if not path.is_file():
            raise ToolUnavailable(f"{path} missing and LLM_PLATFORM_KUBE_BUILD=0; run tools/gomod/build.sh {tool}")
        return path
    proc = subprocess.Popen(["bash", str(BUILD_SCRIPT), tool], cwd=REPO_ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    timer = threading.Timer(BUILD_TIMEOUT, proc.kill)
    timer.start()
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if echo is not None:
                echo(line.rstrip("\n"))
        proc.wait()
    finally:
        timer.cancel()
    if proc.returncode != 0 or not path.is_file():
        raise ToolUnavailable(f"tools/gomod/build.sh {tool} exited {proc.returncode}:\n" + "\n".join(lines[-15:]))
    return path
