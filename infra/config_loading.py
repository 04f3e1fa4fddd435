"""Reading a stack's config (from the Pulumi runtime or straight from its stack file) into
:class:`PlatformConfig`, and turning validation failures into short messages that name the
stack, the dotted field path, the bad value and what is allowed."""

from __future__ import annotations

import difflib
import json
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from components.common.spec import RuleViolations, SensitiveValueError
from infra.config import PROJECT, PlatformConfig
from infra.stack_file import StackFileProblem, parse_stack_yaml, split_config

REPO_ROOT = Path(__file__).resolve().parent.parent
STACKS_DIR = REPO_ROOT / "stacks"
SECRET_PLACEHOLDER = "[secret]"
# Provider namespaces a stack file may also configure (never mistaken for a typo of PROJECT).
OTHER_NAMESPACES = ("pulumi", "aws", "kubernetes", "random")
# Kubernetes and the engine hold integers as int64 (Go); larger values cannot round-trip.
_INT64 = (-(2**63), 2**63 - 1)


@dataclass(frozen=True)
class ConfigIssue:
    path: str
    """Dotted path of the field, e.g. ``serving.services.llama.engine.maxLoraRank``."""
    message: str
    """What is wrong and what is allowed."""


class PlatformConfigError(Exception):
    """A stack's configuration is invalid; raised before any resource is registered."""

    def __init__(self, stack: str, issues: list[ConfigIssue], source: str | None = None):
        self.stack = stack
        self.issues = issues
        self.source = source
        where = f" ({source})" if source else ""
        if len(issues) == 1:
            super().__init__(f"stack {stack!r}{where}: {issues[0].path}: {issues[0].message}")
            return
        lines = [f"stack {stack!r}{where}: {len(issues)} configuration errors"]
        lines += [f"  - {i.path}: {i.message}" for i in issues]
        super().__init__("\n".join(lines))


def stack_file(stack: str) -> Path:
    return STACKS_DIR / f"Pulumi.{stack}.yaml"


def list_stacks() -> list[str]:
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in STACKS_DIR.glob("Pulumi.*.yaml"))


def _mask_secure(value: Any) -> Any:
    """Replace ``{secure: ciphertext}`` leaves with a placeholder (offline synthesis cannot decrypt)."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return SECRET_PLACEHOLDER
        return {k: _mask_secure(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_secure(v) for v in value]
    return value


def display_path(path: Path) -> str:
    """``path`` relative to the project root when it is inside it (messages name what users edit)."""
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def read_stack_file(stack: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The project's section values and the other namespaces' keys (``aws:region`` ...) of a stack file."""
    path = stack_file(stack)
    source = display_path(path)
    if not path.is_file():
        known = ", ".join(list_stacks())
        raise PlatformConfigError(stack, [ConfigIssue("stack", f"no stack file {source}; known stacks: {known}")])
    try:
        doc = parse_stack_yaml(path.read_bytes())
        split = split_config(doc.get("config") or {}, PROJECT, OTHER_NAMESPACES)
    except StackFileProblem as exc:
        # Inside a project section the path is the one every other message uses (``serving.services.x``).
        field = exc.path.removeprefix(f"config.{PROJECT}:") or exc.path
        raise PlatformConfigError(stack, [ConfigIssue(field, exc.message)], source) from None
    except OSError as exc:
        raise PlatformConfigError(stack, [ConfigIssue("(file)", f"cannot be read: {exc.strerror}")], source) from None
    project = {name: _mask_secure(value) for name, value in split.project.items()}
    others = {key: _mask_secure(value) for key, value in split.others.items()}
    return project, others


def read_runtime_config() -> dict[str, Any]:
    """The project's section values as the Pulumi engine passes them (structured values arrive as JSON)."""
    from pulumi.runtime import config as runtime_config

    merged = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    project: dict[str, Any] = {}
    for key, value in merged.items():
        namespace, _, name = key.partition(":")
        if namespace != PROJECT:
            continue
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                pass
        project[name] = value
    return project


def load_platform_config(stack: str, sections: dict[str, Any], source: str | None = None) -> PlatformConfig:
    """Validate ``sections`` (``{"cluster": {...}, "gpu": {...}}``) for ``stack``, then the files
    it names (adapter folders, CA bundle)."""
    too_big = _out_of_int64(sections)
    if too_big:
        raise PlatformConfigError(stack, too_big, source)
    try:
        cfg = PlatformConfig.model_validate(sections)
    except ValidationError as exc:
        raise PlatformConfigError(stack, _issues(exc), source) from None
    from infra.config_files import file_issues

    problems = [ConfigIssue(path, message) for path, message in file_issues(cfg, REPO_ROOT)]
    if problems:
        raise PlatformConfigError(stack, problems, source)
    return cfg


def _out_of_int64(value: Any, path: str = "") -> list[ConfigIssue]:
    if isinstance(value, dict):
        return [i for k, v in value.items() for i in _out_of_int64(v, f"{path}.{k}" if path else str(k))]
    if isinstance(value, list):
        return [i for n, v in enumerate(value) for i in _out_of_int64(v, f"{path}[{n}]")]
    if isinstance(value, int) and not isinstance(value, bool) and not _INT64[0] <= value <= _INT64[1]:
        return [ConfigIssue(path, f"integer {_short(value)} is outside int64, the range Kubernetes and Pulumi hold")]
    return []


def load_stack(stack: str) -> PlatformConfig:
    """Read and validate ``stacks/Pulumi.<stack>.yaml``."""
    sections, _ = read_stack_file(stack)
    return load_platform_config(stack, sections, display_path(stack_file(stack)))


# --- error formatting ---------------------------------------------------------------------

def _issues(exc: ValidationError) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    for err in exc.errors():
        path, model = _clean_path(err["loc"])
        dotted = _dotted(path, top_level=True)
        ctx_error = (err.get("ctx") or {}).get("error")
        if isinstance(ctx_error, RuleViolations):
            for sub_path, msg in ctx_error.issues:
                full = f"{dotted}.{sub_path}" if dotted else sub_path
                issues.append(ConfigIssue(full, msg))
            continue
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            dotted = f"{dotted}.{str(err['ctx']['discriminator']).strip(chr(39))}"
        issues.append(ConfigIssue(dotted or "(stack)", _describe(err, path, model)))
    # One message per path and text, in a stable order.
    unique = {(i.path, i.message): i for i in issues}
    return sorted(unique.values(), key=lambda i: i.path)


def _dotted(path: list[str | int], top_level: bool = False) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _field_by_key(model: type[BaseModel], key: str):
    for name, field in model.model_fields.items():
        if key in (name, field.alias):
            return field
    return None


def _unwrap(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _union_members(annotation: Any) -> list[Any]:
    annotation = _unwrap(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [_unwrap(a) for a in typing.get_args(annotation)]
    return [annotation]


def _clean_path(loc: tuple) -> tuple[list[str | int], type[BaseModel] | None]:
    """Walk the model along ``loc``, dropping union tags pydantic inserts, and return the
    user-visible path with the model that owns the last key (for did-you-mean)."""
    annotation: Any = PlatformConfig
    path: list[str | int] = []
    owner: type[BaseModel] | None = PlatformConfig
    for segment in loc:
        members = _union_members(annotation)
        models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
        # A discriminated-union tag or a type tag ('str', 'function-after[...]') is not a key.
        tagged = [m for m in models if len(models) > 1 and _tag_of(m) == segment]
        if tagged:
            annotation = tagged[0]
            continue
        if isinstance(segment, str) and (segment in {"str", "int", "float", "bool", "list", "dict", "none"} or "[" in segment):
            continue
        path.append(segment)
        if models:
            owner = models[0]
            field = _field_by_key(owner, str(segment))
            annotation = field.annotation if field else None
            continue
        origin = typing.get_origin(_unwrap(annotation)) if annotation is not None else None
        if origin in (dict, list, typing.Union, types.UnionType) or origin is not None:
            args = [a for m in members for a in typing.get_args(m)]
            annotation = args[-1] if args else None
            owner = None
        else:
            annotation, owner = None, None
    final = [m for m in _union_members(annotation) if isinstance(m, type) and issubclass(m, BaseModel)] if annotation else []
    return path, (final[0] if final else owner)


def _tag_of(model: type[BaseModel]) -> str | None:
    for key in ("mode", "kind"):
        field = model.model_fields.get(key)
        if field is not None and typing.get_origin(field.annotation) is typing.Literal:
            return typing.get_args(field.annotation)[0]
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _describe(err: dict, path: list[str | int], parent: type[BaseModel] | None) -> str:
    kind = err["type"]
    value = err.get("input")
    if kind == "extra_forbidden":
        key = str(path[-1]) if path else "?"
        owner = _owner_of(path[:-1])
        allowed = [f.alias or n for n, f in owner.model_fields.items()] if owner else []
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"unknown key{hint} Allowed keys: {', '.join(allowed)}"
    if kind == "missing":
        return "required key is missing"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"must be a mapping of keys to values (got {_short(value)})"
    if kind == "union_tag_invalid":
        expected = err.get("ctx", {}).get("expected_tags", "")
        return f"{_short(err.get('ctx', {}).get('tag'))} is not allowed; allowed: {expected}"
    if kind == "union_tag_not_found":
        return f"missing discriminator {err.get('ctx', {}).get('discriminator')}"
    message = err["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            message = message[len(prefix):]
    message = message[0].lower() + message[1:] if message else message
    if isinstance((err.get("ctx") or {}).get("error"), SensitiveValueError):
        return message
    return f"{message} (got {_short(value)})"


def _owner_of(path: list[str | int]) -> type[BaseModel] | None:
    """The model whose keys live at ``path``."""
    if not path:
        return PlatformConfig
    _, owner = _clean_path(tuple(path))
    return owner
