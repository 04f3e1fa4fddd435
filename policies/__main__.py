"""Assembles the llm-platform policy pack. Constructing a PolicyPack starts the analyzer's gRPC
server and blocks, so nothing imports this module: the policies live in
``policies/llm_platform_policies`` and are tested there."""

# The pack runs from policies/ in the project's .venv, where `make venv` installed this project
# (pyproject.toml): `policies` and the `components` it shares code with import from there.
from pulumi_policy import EnforcementLevel, PolicyPack

from policies.llm_platform_policies import ALL_POLICIES, PACK_NAME

PolicyPack(name=PACK_NAME, policies=ALL_POLICIES, enforcement_level=EnforcementLevel.ADVISORY)
