"""Seeded fuzzing of ``python -m infra.synth`` with variants of the real stack files.

Each invalid variant must end with exit status 2 and a message naming the stack and the one
field the user must edit, write nothing, and raise no exception; each valid look-alike must
render. The CLI's ``main`` runs in-process (the same code path as ``python -m infra.synth``,
minus the interpreter start) so hundreds of variants take seconds.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections import Counter

import pytest

from infra import synth as synth_mod
from tests.fuzz.mutations import ANY_FIELD, REPO, Variant, variants

SEED = int(os.environ.get("LLM_PLATFORM_FUZZ_SEED", "16"))
_HEADER = re.compile(r"^stack '(?P<stack>[^']+)' \((?P<source>[^)]+)\): (?P<rest>.*)$")


def reported_fields(stderr: str, stack: str) -> list[str]:
    """The field paths a refusal names (one line for one error, else one line per error)."""
    lines = stderr.strip().splitlines()
    assert lines, "no message on stderr"
    head = _HEADER.match(lines[0])
    assert head and head["stack"] == stack, f"message does not name stack {stack!r}: {lines[0]!r}"
    many = re.fullmatch(r"(\d+) configuration errors", head["rest"])
    if many is None:
        assert len(lines) == 1, f"one error must be one line: {stderr!r}"
        field, sep, message = head["rest"].partition(": ")
        assert sep and message, f"no field/message in {lines[0]!r}"
        return [field]
    assert len(lines) == 1 + int(many[1]), stderr
    fields = []
    for line in lines[1:]:
        assert line.startswith("  - "), line
        field, sep, message = line[4:].partition(": ")
        assert sep and message, line
        fields.append(field)
    return fields


@pytest.fixture(scope="module")
def corpus():
    root = REPO / "out" / f"fuzz-fixtures-{os.getpid()}"
    shutil.rmtree(root, ignore_errors=True)
    (root / "adapters").mkdir(parents=True)
    try:
        yield variants(SEED, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run_variant(variant: Variant, stacks, out_root, capsys) -> tuple[int, str]:
    (stacks / f"Pulumi.{variant.name}.yaml").write_bytes(variant.data)
    out = out_root / variant.name
    capsys.readouterr()
    code = synth_mod.main(["--stack", variant.name, "--out", str(out)])
    captured = capsys.readouterr()
    if variant.expect is not None and code != 0:
        assert not out.exists(), f"{variant.name}: a refused stack wrote {out}"
    return code, captured.err


def test_fuzzed_stack_files_are_refused_with_the_field_or_render(corpus, tmp_path, monkeypatch, capsys):
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    monkeypatch.setattr("infra.config_loading.STACKS_DIR", stacks)
    started = time.monotonic()
    failures: list[str] = []
    per_category: Counter = Counter()
    for variant in corpus:
        per_category[variant.category] += 1
        code, err = run_variant(variant, stacks, tmp_path / "out", capsys)
        if variant.expect == ANY_FIELD:
            if code == 2:
                reported_fields(err, variant.name)  # well-formed, names the stack
            elif code != 0:
                failures.append(f"{variant.name} ({variant.what}): exit {code}: {err.strip()[:300]}")
            per_category[f"leaves-{'rendered' if code == 0 else 'refused'}"] += 1
            continue
        if variant.expect is None:
            if code != 0:
                failures.append(f"{variant.name} ({variant.what}): valid variant refused with {code}: {err.strip()}")
            continue
        if code != 2:
            failures.append(f"{variant.name} ({variant.what}): exit {code}, expected 2 naming {variant.expect}")
            continue
        fields = reported_fields(err, variant.name)
        if variant.expect not in fields:
            failures.append(f"{variant.name} ({variant.what}): expected {variant.expect}, got {fields}: {err.strip()[:300]}")
    elapsed = time.monotonic() - started
    summary = ", ".join(f"{c}: {n}" for c, n in sorted(per_category.items()))
    print(f"\nfuzz seed {SEED}: {len(corpus)} variants ({summary}) in {elapsed:.1f} s")
    assert len(corpus) >= 400
    assert not failures, f"{len(failures)} of {len(corpus)} variants failed:\n" + "\n".join(failures)
