"""Components refuse bad args the way Pulumi reports bad inputs: every problem at once, each with
its property path relative to the component's args, in one ``pulumi.InputPropertiesError``."""

from __future__ import annotations

import pulumi


def refuse_inputs(component: str, name: str, issues: list[tuple[str, str]]) -> None:
    """Raise ``InputPropertiesError`` listing ``issues`` (``[(path, reason)]``); no-op when empty.

    Called before the component registers itself or any child, so a refused component leaves
    nothing behind in the stack."""
    if not issues:
        return
    lines = "\n".join(f"  - {path}: {reason}" for path, reason in issues)
    raise pulumi.InputPropertiesError(
        f"{component} {name!r}: {len(issues)} invalid input{'s' if len(issues) > 1 else ''}\n{lines}",
        [{"property_path": path, "reason": reason} for path, reason in issues],
    )
