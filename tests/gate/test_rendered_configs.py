"""The haproxy.cfg of every gate of every stack, exactly as synthesized into its ConfigMap, is
accepted by the real HAProxy 2.6 (``haproxy -c``), with its files placed where the pod mounts
them (the paths rewritten to a temp dir, nothing else changed)."""

from __future__ import annotations

import subprocess

import pytest

from components.gate.gate import PATHS
from components.gate.haproxy import KEYS_MAP
from tests.conftest import STACKS
from tests.support.real_servers import haproxy_binary


@pytest.mark.parametrize("stack", STACKS)
def test_every_rendered_gate_config_is_valid_haproxy(stack, synthesized, tmp_path):
    binary = haproxy_binary()
    s = synthesized(stack)
    gates = [m for m in s.objects("ConfigMap") if m["metadata"]["name"].endswith("-gate")]
    assert gates
    for cm in gates:
        root = tmp_path / cm["metadata"]["name"]
        conf, keys, run = root / "conf", root / "keys", root / "run"
        for d in (conf, keys, run):
            d.mkdir(parents=True)
        for name, content in cm["data"].items():
            text = content.replace(PATHS.conf_dir, str(conf)).replace(PATHS.keys_dir, str(keys))
            (conf / name).write_text(text.replace(PATHS.runtime_socket, str(run / "admin.sock")))
        (keys / KEYS_MAP).write_text(f"{'ab' * 32} some-tenant\n")
        check = subprocess.run([str(binary), "-c", "-f", str(conf / "haproxy.cfg")], capture_output=True, text=True,
                               env={"VLLM_API_KEY": "test-token", "PATH": "/usr/bin:/bin"}, timeout=60)
        assert check.returncode == 0, f"{stack}/{cm['metadata']['name']}: {check.stdout}{check.stderr}"
