"""Base class of every user-facing spec (stack config sections and component args).

Specs are frozen (a component cannot mutate what the user asked for), refuse unknown keys
(a typo must fail loudly, not be ignored), and read camelCase keys in stack YAML while the
Python attributes stay snake_case. Field docstrings are the documentation: pydantic turns
them into field descriptions, and a test fails any field without one.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class Spec(BaseModel):
    """Frozen, strict, camelCase-keyed configuration model."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        use_attribute_docstrings=True,
        validate_default=True,
        allow_inf_nan=False,  # NaN/Infinity pass every bound check and no engine accepts them
        strict=True,  # no silent coercion: true is not 1, 0 is not false, "8" is not 8
    )


class RuleViolations(ValueError):
    """Cross-field rule failures found by a model validator, each with its own field path.

    Raised from ``@model_validator(mode="after")`` so several problems are reported at once;
    the config loader expands them into one message per dotted path.
    """

    def __init__(self, issues: list[tuple[str, str]]):
        self.issues = issues
        super().__init__("; ".join(f"{path}: {msg}" for path, msg in issues))


class SensitiveValueError(ValueError):
    """A refusal whose input may hold a secret (a URL with credentials): messages never echo it."""


def check_rules(*issues: tuple[str, str] | None) -> None:
    """Raise RuleViolations for every non-None (path, message) pair."""
    found = [issue for issue in issues if issue is not None]
    if found:
        raise RuleViolations(found)
