"""Components refuse bad args the way Pulumi reports bad inputs: every problem at once, each with
its property path relative to the component's args, in one ``pulumi.InputPropertiesError``."""

from __future__ import annotations

from typing import Annotated, Any

import pulumi
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError


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


def value_issues(model: type[BaseModel], field: str, value: Any, *, path: str) -> list[tuple[str, str]]:
    """``value`` checked by the rule the config applies to ``model.field`` (the field's type, bounds
    and validators: one rule in one place), as ``[(path, reason)]`` in the config loader's words."""
    info = model.model_fields[field]
    annotation = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
    return type_issues(annotation, value, path=path, strict=bool(model.model_config.get("strict", False)))


def type_issues(annotation: Any, value: Any, *, path: str, strict: bool = True) -> list[tuple[str, str]]:
    """``value`` checked by a config field type (``components.common.fields``), as ``[(path, reason)]``."""
    try:
        TypeAdapter(annotation, config=ConfigDict(strict=strict)).validate_python(value)
    except ValidationError as exc:
        issues = []
        for err in exc.errors():
            message = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
            where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"] if p != "[key]")
            issues.append((path + where, f"{message[:1].lower()}{message[1:]} (got {err['input']!r})"))
        return issues
    return []
