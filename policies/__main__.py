"""Assembles the llm-platform policy pack. Constructing a PolicyPack starts the analyzer's gRPC
server and blocks, so nothing imports this module: the policies live in
``policies/llm_platform_policies`` and are tested there."""

import sys
from pathlib import Path

# The pack runs from policies/; its policies share code with the program (components/, infra/).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

from policies.llm_platform_policies import ALL_POLICIES, PACK_NAME  # noqa: E402

PolicyPack(name=PACK_NAME, policies=ALL_POLICIES, enforcement_level=EnforcementLevel.ADVISORY)
