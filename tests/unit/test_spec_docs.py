"""Every config field is documented (the docstring says what it does and its default behaviour)."""

from __future__ import annotations

import typing

from pydantic import BaseModel

from infra.config import PlatformConfig


def _models(root: type[BaseModel]) -> set[type[BaseModel]]:
    seen: set[type[BaseModel]] = set()
    todo = [root]
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        for field in model.model_fields.values():
            stack = [field.annotation]
            while stack:
                t = stack.pop()
                if isinstance(t, type) and issubclass(t, BaseModel):
                    todo.append(t)
                stack.extend(typing.get_args(t))
    return seen


def test_every_field_has_a_description():
    undocumented = [
        f"{model.__name__}.{name}"
        for model in _models(PlatformConfig)
        for name, field in model.model_fields.items()
        if not (field.description or "").strip()
    ]
    assert undocumented == []


def test_models_are_frozen_and_strict():
    loose = [m.__name__ for m in _models(PlatformConfig) if m.model_config.get("extra") != "forbid" or not m.model_config.get("frozen")]
    assert loose == []
