"""`up` of the local stack through the real engine renders the manifests that offline synthesis
predicts, and a second `up` changes nothing."""

from __future__ import annotations

import base64
import copy
import subprocess
import sys
from typing import Any

import pytest
import yaml

from infra import engine as engine_mod

# The session fixture may build the engine from source on first use (about 40 min on a
# busy 2-core machine), inside whichever test needs it first.
pytestmark = [pytest.mark.engine, pytest.mark.timeout(5400)]

Key = tuple[str, str, str, str]  # apiVersion, kind, namespace, name


def _key(obj: dict[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return obj["apiVersion"], obj["kind"], meta.get("namespace") or "", meta["name"]


def _load_rendered(result: engine_mod.Result) -> dict[Key, dict[str, Any]]:
    objects: dict[Key, dict[str, Any]] = {}
    for path in result.manifests:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                assert _key(doc) not in objects, f"{_key(doc)} rendered twice"
                objects[_key(doc)] = doc
    return objects


def _b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def _split_secret_payload(obj: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """A Secret without its payload, and the payload as base64 ``data``.

    The only differences between what the provider renders and what synthesis records are in
    Secret payloads: the provider writes ``stringData`` base64-encoded into ``data``, and
    synthesis shows secret inputs as "[secret]" (infra.mocks). Anything else must be equal.
    """
    obj = copy.deepcopy(obj)
    if obj.get("kind") != "Secret" or obj.get("apiVersion") != "v1":
        return obj, None
    data, string_data = obj.pop("data", None), obj.pop("stringData", None)
    if SECRET in (data, string_data):
        return obj, SECRET
    payload = dict(data or {})
    payload.update({k: _b64(v) for k, v in (string_data or {}).items()})
    return obj, payload


SECRET = "[secret]"


def test_up_renders_manifests(local_ups):
    first, _, out = local_ups
    assert first.summary.get("create", 0) > 0, first.summary
    assert first.render_dir == out
    assert first.manifests, f"nothing rendered to {out}"
    objects = _load_rendered(first)
    assert len(objects) == len(first.manifests)  # one object per file
    for key, obj in objects.items():
        assert all(key[i] for i in (0, 1, 3)), f"incomplete object {key}"


def test_second_up_changes_nothing(local_ups):
    first, second, out = local_ups
    assert second.changes == 0, second.summary
    assert second.summary.get("same", 0) == sum(first.summary.values())
    after = {p.relative_to(out): p.read_bytes() for p in second.manifests}
    assert after == second.rendered_before  # type: ignore[attr-defined]


def test_rendered_manifests_equal_offline_synthesis(local_ups, tmp_path):
    first, _, _ = local_ups
    proc = subprocess.run([sys.executable, "-m", "infra.synth", "--stack", "local", "--out", str(tmp_path)],
                          cwd=engine_mod.ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    synthesized = {_key(d): d for d in yaml.safe_load_all((tmp_path / "manifests.yaml").read_text()) if d}
    rendered = _load_rendered(first)

    assert sorted(rendered) == sorted(synthesized), "object sets differ (rendered vs synthesized)"
    for key in synthesized:
        got, got_payload = _split_secret_payload(rendered[key])
        want, want_payload = _split_secret_payload(synthesized[key])
        assert got == want, f"{key} differs between engine and synthesis"
        if want_payload == SECRET:  # synthesis hides the values: the engine must have rendered some
            assert got_payload, f"{key}: secret payload missing from the rendered manifest"
        else:
            assert got_payload == want_payload, f"{key}: payload differs"


def test_make_up_prints_the_engine_summary_and_manifest_count(engine, tmp_path, capsys):
    """What `make up` prints (python -m infra.engine up): the engine's own update summary, then
    the change count and how many manifests were rendered; the second run reports 0 changes."""
    args = ["up", "--stack", "local", "--out", str(tmp_path / "out"), "--state-dir", str(tmp_path / "state"),
            "--no-build"]
    assert engine_mod.main(args) == 0
    first = capsys.readouterr().out
    assert "Resources:" in first and " created" in first, first[-2000:]
    count = len(list((tmp_path / "out").rglob("*.yaml")))
    assert count > 0 and f"rendered {count} manifests to {tmp_path / 'out'}" in first, first[-2000:]

    assert engine_mod.main(args) == 0
    second = capsys.readouterr().out
    assert "Resources:" in second and " unchanged" in second, second[-2000:]
    assert "(0 changes)" in second and f"rendered {count} manifests" in second, second[-2000:]
