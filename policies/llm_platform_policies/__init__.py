"""The llm-platform CrossGuard policies, importable without starting a policy pack server
(``policies/__main__.py`` assembles the pack)."""

from __future__ import annotations

from . import airgap, data, gate, gpu, lora, security, serving

ALL_POLICIES = [*airgap.POLICIES, *security.POLICIES, *gpu.POLICIES, *lora.POLICIES, *data.POLICIES, *serving.POLICIES, *gate.POLICIES]
POLICY_NAMES = [p.name for p in ALL_POLICIES]
assert len(set(POLICY_NAMES)) == len(POLICY_NAMES), "policy names must be unique"

PACK_NAME = "llm-platform"
