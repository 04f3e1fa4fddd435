"""The facts a policy runs with, from its ``platform`` config value.

``infra.policy_check`` derives them from the stack's validated config and writes them into the
``--policy-pack-config`` file for ``pulumi preview`` (and passes the same dict in-process), so both
checks read the same facts. The pack never reads a stack file or imports the program: given a
pack config it checks any project's stacks; without one every policy runs with the facts of a
connected stack (public registries, no air gap) and the MIG catalog.
"""

from __future__ import annotations

import functools

from components.common.platform_facts import (  # noqa: F401 - the pack's names for the shared facts
    INTERNAL_HOST_SUFFIXES,
    PUBLIC_REGISTRIES,
    PlatformFacts,
    mig_resource_names,
)


def stack_of_urn(urn: str) -> str:
    """``urn:pulumi:<stack>::<project>::...`` -> stack."""
    parts = urn.split("::")
    return parts[0].split(":", 2)[-1] if parts and parts[0].startswith("urn:pulumi:") else ""


@functools.lru_cache(maxsize=None)
def _connected_defaults(stack: str) -> PlatformFacts:
    return PlatformFacts(stack=stack, mig_resources=mig_resource_names())


def facts_of(args) -> PlatformFacts:
    """The facts a policy runs with: its ``platform`` config, else a connected stack's defaults."""
    config = args.get_config() or {}
    platform = config.get("platform")
    if platform:
        return PlatformFacts.from_config(platform)
    urn = getattr(args, "urn", None) or next((r.urn for r in getattr(args, "resources", []) or []), "")
    return _connected_defaults(stack_of_urn(urn or ""))
