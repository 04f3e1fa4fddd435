"""Air-gap readiness applied in one place to every workload of a stack with ``airgap.enabled``."""

from __future__ import annotations

from infra.context import BuildContext


def apply(ctx: BuildContext) -> None:
    """Register the stack-wide transforms before any resource exists."""
    return None
