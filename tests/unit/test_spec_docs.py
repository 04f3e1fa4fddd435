"""Every config field and every field of a public component's Args is documented (the docstring says
what it does and its default behaviour)."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import textwrap
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


# ---------------------------------------------------------------- component args

LAYERS = ("airgap", "gate", "gpu", "models", "observability", "openshift", "platform", "serving", "storage")


def _public_args() -> list[type]:
    """Every Args class a layer exports (``components.<layer>.__all__``)."""
    found = []
    for layer in LAYERS:
        module = importlib.import_module(f"components.{layer}")
        found += [getattr(module, name) for name in module.__all__ if name.endswith("Args")]
    return found


def _field_docs(cls: type) -> dict[str, tuple[bool, str]]:
    """Field name -> (has a default, its docstring): the string right after the field in the class body
    (dataclasses keep no field docstrings at runtime, so they are read from the source)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs = {}
    for i, node in enumerate(body):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and not node.target.id.startswith("_"):
            after = body[i + 1] if i + 1 < len(body) else None
            doc = after.value.value if (isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                                        and isinstance(after.value.value, str)) else ""
            docs[node.target.id] = (node.value is not None, doc)
    return docs


def test_public_args_are_found():
    names = {cls.__name__ for cls in _public_args()}
    assert {"GpuNodePoolArgs", "VllmLoraServiceArgs", "MultiNodeArgs", "LlmdModelServiceArgs", "ObjectStoreArgs",
            "ServiceGateArgs", "ObservabilityArgs"} <= names


def test_every_component_arg_documents_its_default():
    """Like the config: each field says what it does, and ``Default: ...`` (or ``Required.``)."""
    undocumented = []
    for cls in _public_args():
        for name, (has_default, doc) in _field_docs(cls).items():
            want = "Default:" if has_default else "Required."
            if want not in doc or len(doc.replace(want, "").strip(" .")) < 10:
                undocumented.append(f"{cls.__name__}.{name} (needs {want!r})")
    assert undocumented == []


def test_args_docs_are_read_from_the_right_fields():
    # A dataclass and a Spec: the reader sees every field, with the default flag right.
    from components.gpu import GpuNodePoolArgs
    from components.platform import NamespacesArgs

    assert set(_field_docs(GpuNodePoolArgs)) == {f.name for f in dataclasses.fields(GpuNodePoolArgs)}
    assert _field_docs(GpuNodePoolArgs)["node_overlay"][0] and not _field_docs(GpuNodePoolArgs)["pool"][0]
    assert set(_field_docs(NamespacesArgs)) == set(NamespacesArgs.model_fields)
