#!/usr/bin/env python3
"""Derive the CLI argument spec of vLLM's OpenAI server from vLLM's own source.

vLLM cannot be imported here (it needs torch/CUDA), so this script downloads
the pinned release with pip, never installs it, and *statically* replays what
`vllm serve` / `python -m vllm.entrypoints.openai.api_server` do to build their
argparse parser:

* `make_arg_parser` (vllm/entrypoints/common/cli_args.py) adds a few explicit
  flags, then `FrontendArgs.add_cli_args` and `AsyncEngineArgs.add_cli_args`.
* `EngineArgs.add_cli_args` (vllm/engine/arg_utils.py) adds each flag with
  `**get_kwargs(SomeConfig)["field"]`, sometimes with overrides.
* `get_kwargs` -> `_compute_kwargs` turns a config dataclass field (type hint,
  default) into argparse kwargs: Literal -> choices (metavar if `| str`),
  bool -> BooleanOptionalAction (`--x/--no-x`), list -> nargs "+", dataclass ->
  JSON, `| None` -> optional_type, ...
* FlexibleArgumentParser registers EnableDisableAction, so `--enable-x` also
  gets `--disable-x`.

The replay is a small AST interpreter: it evaluates the bodies of those
functions over plain Python values, and emulates `_compute_kwargs` on field
annotations evaluated from the AST. Anything it does not understand raises, so
an upstream change fails loudly instead of producing a silently wrong spec.

Usage:
    python tools/vllm-argspec/derive.py                  # download + write JSON
    python tools/vllm-argspec/derive.py --wheel X.whl    # reuse a local wheel
    python tools/vllm-argspec/derive.py --check          # exit 1 if JSON is stale

Output: components/models/vllm_argspec/vllm-<version>.json (deterministic:
sorted keys, no timestamps).
"""

from __future__ import annotations

import argparse
import ast
import builtins
import copy
import hashlib
import json
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

VLLM_VERSION = "0.33.0"
# The wheel, not the sdist: building sdist metadata needs torch + CUDA build
# deps. The wheel is pure data to us; the platform tag pins one exact file so
# reruns hash the same artefact.
WHEEL_PLATFORM = "manylinux_2_28_x86_64"
WHEEL_PYTHON = "3.12"
RUNTIME_IMAGE = f"vllm/vllm-openai:v{VLLM_VERSION}"

REPO_ROOT = Path(__file__).resolve().parents[2]
OUT_DIR = REPO_ROOT / "components" / "models" / "vllm_argspec"

ENTRY_MODULE = "vllm.entrypoints.common.cli_args"
ENTRY_FUNCTION = "make_arg_parser"

# Runtime facts the parser construction depends on. The served image is the
# CUDA build and the server is never started with --help.
ASSUMPTIONS = {
    "current_platform.device_type": "cuda",
    "sys.argv": [],
    "environment": "VLLM_* variables unset: vllm.envs names take the defaults declared in envs.py",
    "ssl.CERT_NONE": 0,
    "current_platform.pre_register_and_update": "no-op on CUDA (only ROCm overrides it, and not the parser)",
    "load_general_plugins": "no plugins installed: plugins may add flags or choices",
}

# Calls with side effects we deliberately skip (checked against ASSUMPTIONS).
IGNORED_CALLS = {"load_general_plugins", "current_platform.pre_register_and_update"}
# Calls whose result only feeds help text; they yield Unevaluable.
OPAQUE_CALLS = {"ToolParserManager.list_registered"}


class DeriveError(Exception):
    pass


# --------------------------------------------------------------------------
# download


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def pip_download_cmd(dest: str) -> list[str]:
    return [
        sys.executable, "-m", "pip", "download", "--no-deps",
        "--only-binary", ":all:", "--platform", WHEEL_PLATFORM,
        "--python-version", WHEEL_PYTHON, "--implementation", "cp",
        f"vllm=={VLLM_VERSION}", "-d", dest, "--quiet", "--progress-bar", "off",
    ]


def download_wheel(dest: str) -> Path:
    subprocess.run(pip_download_cmd(dest), check=True)
    wheels = sorted(Path(dest).glob(f"vllm-{VLLM_VERSION}-*.whl"))
    if len(wheels) != 1:
        raise DeriveError(f"expected one vllm wheel in {dest}, got {wheels}")
    return wheels[0]


# --------------------------------------------------------------------------
# value model used by the interpreter


class Unevaluable:
    """An expression whose value depends on the runtime (env vars, torch...)."""

    def __init__(self, src: str):
        self.src = src

    def __repr__(self):
        return f"Unevaluable({self.src})"


class Suppress:
    def __repr__(self):
        return "argparse.SUPPRESS"


SUPPRESS = Suppress()


@dataclass(frozen=True)
class Opaque:
    """A name from outside vllm (torch.dtype, typing.Any, Callable...)."""

    name: str


@dataclass(frozen=True)
class TypingForm:
    name: str  # Literal, Union, Optional, Annotated, ClassVar, InitVar, Any, TypeAlias


@dataclass(frozen=True)
class LiteralT:
    values: tuple


@dataclass(frozen=True)
class UnionT:
    members: tuple


@dataclass(frozen=True)
class GenericT:
    origin: Any  # "list" | "dict" | "tuple" | "set" | "type" | Opaque | ClassRef
    args: tuple


@dataclass(frozen=True)
class ClassRef:
    module: str
    name: str

    def __repr__(self):
        return f"{self.module}.{self.name}"


@dataclass(frozen=True)
class ModuleRef:
    name: str


@dataclass(frozen=True)
class FuncRef:
    module: str
    name: str


@dataclass(frozen=True)
class EnumMember:
    cls: ClassRef
    name: str
    value: Any


@dataclass(frozen=True)
class DataclassInstance:
    cls: ClassRef


@dataclass(frozen=True)
class ActionTag:
    name: str  # BooleanOptionalAction | store_true | append | custom:<Class>


@dataclass(frozen=True)
class TypeTag:
    """What argparse's `type=` callable accepts, in spec terms."""

    kind: str  # int | float | str | json | json_or_str | dataclass
    optional: bool = False  # optional_type(): "" and "None" -> None
    human: str | None = None  # human_readable_int | human_readable_int_or_auto
    transform: str | None = None  # e.g. lower().replace('-', '_') before choices
    dataclass: ClassRef | None = None
    note: str | None = None


@dataclass(frozen=True)
class FieldKey:
    owner: ClassRef
    name: str


@dataclass
class BoundMethod:
    obj: Any
    name: str


@dataclass
class UserFunc:
    module: str
    node: ast.FunctionDef
    owner: ClassRef | None = None  # class the def lives in


@dataclass
class BoundUserFunc:
    func: UserFunc
    cls: ClassRef | None  # bound `cls` for classmethods


@dataclass
class SuperProxy:
    cls: ClassRef  # class whose method calls super()
    bound: ClassRef


@dataclass
class Parser:
    args: list = field(default_factory=list)  # (option_strings, kwargs, group)


@dataclass
class Group:
    parser: Parser
    title: str


@dataclass
class FieldInfo:
    name: str
    annotation: ast.expr
    owner: ClassRef
    default: Any  # python value | Unevaluable | DataclassInstance | MISSING
    constraints: dict
    doc: str


MISSING = Unevaluable("<MISSING>")
BUILTIN_TYPES = {"int", "float", "str", "bool", "dict", "list", "tuple", "set",
                 "frozenset", "type", "bytes", "object", "NoneType"}
TYPING_MODULES = {"typing", "typing_extensions", "collections.abc", "dataclasses", "types"}
TYPING_FORMS = {"Literal", "Union", "Optional", "Annotated", "ClassVar", "InitVar",
                "Any", "TypeAlias", "Self", "Never"}
GENERIC_ALIASES = {"List": "list", "Dict": "dict", "Tuple": "tuple", "Set": "set",
                   "FrozenSet": "frozenset", "Type": "type"}


# --------------------------------------------------------------------------
# module loading from the wheel


class Wheel:
    def __init__(self, path: Path):
        self.zip = zipfile.ZipFile(path)
        self.names = set(self.zip.namelist())
        self.read_files: dict[str, str] = {}  # path -> sha256 of what we parsed
        self._trees: dict[str, ast.Module] = {}

    def module_path(self, mod: str) -> str | None:
        base = mod.replace(".", "/")
        for cand in (base + ".py", base + "/__init__.py"):
            if cand in self.names:
                return cand
        return None

    def tree(self, mod: str) -> ast.Module:
        if mod not in self._trees:
            path = self.module_path(mod)
            if path is None:
                raise DeriveError(f"module {mod} not in wheel")
            data = self.zip.read(path)
            self.read_files[path] = hashlib.sha256(data).hexdigest()
            self._trees[mod] = ast.parse(data.decode("utf-8"), filename=path)
        return self._trees[mod]

    def version(self) -> str:
        meta = self.zip.read(f"vllm-{VLLM_VERSION}.dist-info/METADATA").decode()
        for line in meta.splitlines():
            if line.startswith("Version:"):
                return line.split(":", 1)[1].strip()
        raise DeriveError("no Version in METADATA")


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


@dataclass
class Binding:
    kind: str  # expr | class | func | import_name | import_module
    module: str
    node: Any = None
    target: str | None = None  # for imports: source module / attribute


class Namespaces:
    """Module-level bindings, per view: "runtime" follows `else:` of
    `if TYPE_CHECKING`, "typing" follows the TYPE_CHECKING branch."""

    def __init__(self, wheel: Wheel):
        self.wheel = wheel
        self._ns: dict[tuple[str, str], dict[str, Binding]] = {}

    def get(self, mod: str, view: str) -> dict[str, Binding]:
        key = (mod, view)
        if key not in self._ns:
            out: dict[str, Binding] = {}
            self._collect(mod, self.wheel.tree(mod).body, view, out)
            self._ns[key] = out
        return self._ns[key]

    def _collect(self, mod, stmts, view, out):
        for s in stmts:
            if isinstance(s, ast.If):
                if is_type_checking(s.test):
                    self._collect(mod, s.body if view == "typing" else s.orelse, view, out)
                else:
                    self._collect(mod, s.body, view, out)
                    self._collect(mod, s.orelse, view, out)
            elif isinstance(s, ast.Try):
                self._collect(mod, s.body, view, out)
            elif isinstance(s, ast.Import):
                for a in s.names:
                    if a.asname:
                        out[a.asname] = Binding("import_module", mod, target=a.name)
                    else:
                        top = a.name.split(".")[0]
                        out[top] = Binding("import_module", mod, target=top)
            elif isinstance(s, ast.ImportFrom):
                src = self._resolve_relative(mod, s.module, s.level)
                for a in s.names:
                    if a.name == "*":
                        out.setdefault("*", Binding("star", mod, node=[])).node.append(src)
                    else:
                        out[a.asname or a.name] = Binding("import_name", mod, target=f"{src}:{a.name}")
            elif isinstance(s, ast.ClassDef):
                out[s.name] = Binding("class", mod, node=s)
            elif isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)):
                out[s.name] = Binding("func", mod, node=s)
            elif isinstance(s, ast.Assign):
                for t in s.targets:
                    if isinstance(t, ast.Name):
                        out[t.id] = Binding("expr", mod, node=s.value)
            elif isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name) and s.value is not None:
                out[s.target.id] = Binding("expr", mod, node=s.value)

    def _resolve_relative(self, mod, name, level):
        if not level:
            return name
        pkg_parts = mod.split(".")
        if self.wheel.module_path(mod).endswith("__init__.py"):
            pkg_parts = pkg_parts + ["_"]
        base = pkg_parts[: len(pkg_parts) - level]
        return ".".join(base + ([name] if name else []))


# --------------------------------------------------------------------------
# the interpreter


class ReturnSignal(Exception):
    def __init__(self, value):
        self.value = value


class Interp:
    def __init__(self, wheel: Wheel):
        self.wheel = wheel
        self.ns = Namespaces(wheel)
        self._kwargs_cache: dict[ClassRef, dict] = {}
        self._fields_cache: dict[ClassRef, list[FieldInfo]] = {}

    # ---- name resolution -------------------------------------------------

    def lookup(self, mod: str, name: str, view: str = "runtime") -> Any:
        """Resolve a module-level name to a value (types are values too)."""
        if mod in TYPING_MODULES or self.wheel.module_path(mod) is None:
            return self._external(mod, name)
        ns = self.ns.get(mod, view)
        b = ns.get(name)
        if b is None and mod == "vllm.envs" and view == "runtime":
            # envs resolves names through a module __getattr__; the TYPE_CHECKING
            # block declares each one's value when the variable is unset.
            return self.lookup(mod, name, "typing")
        if b is None and "*" in ns:
            for src in ns["*"].node:
                if name in self.ns.get(src, view):
                    return self.lookup(src, name, view)
        if b is None:
            # `from pkg import submodule`
            sub = f"{mod}.{name}"
            if self.wheel.module_path(sub):
                return ModuleRef(sub)
            if hasattr(builtins, name):
                return self._builtin(name)
            raise DeriveError(f"{mod}: name {name!r} not found")
        if b.kind == "class":
            return ClassRef(mod, name)
        if b.kind == "func":
            return FuncRef(mod, name)
        if b.kind == "expr":
            return self.eval(b.node, Frame(mod, {}, view))
        if b.kind == "import_module":
            return ModuleRef(b.target) if self.wheel.module_path(b.target) else Opaque(b.target)
        if b.kind == "import_name":
            src, attr = b.target.split(":")
            return self.lookup(src, attr, view)
        raise DeriveError(f"bad binding {b}")

    def _external(self, mod: str, name: str) -> Any:
        if mod in TYPING_MODULES:
            if name in TYPING_FORMS:
                return TypingForm(name)
            if name in GENERIC_ALIASES:
                return GENERIC_ALIASES[name]
            if name == "get_args":
                return FuncRef("typing", "get_args")
            if name in ("field", "MISSING"):
                return FuncRef("dataclasses", name)
        if mod == "pydantic" and name == "Field":
            return FuncRef("pydantic", "Field")
        if mod == "pydantic.fields" and name == "Field":
            return FuncRef("pydantic", "Field")
        if mod == "json":
            return FuncRef("json", name)
        return Opaque(f"{mod}.{name}")

    def _builtin(self, name: str) -> Any:
        if name in BUILTIN_TYPES:
            return name
        if name in ("None", "True", "False"):
            return {"None": None, "True": True, "False": False}[name]
        return FuncRef("builtins", name)

    # ---- classes ---------------------------------------------------------

    def class_node(self, ref: ClassRef) -> ast.ClassDef:
        b = self.ns.get(ref.module, "runtime").get(ref.name)
        if b is None or b.kind != "class":
            raise DeriveError(f"class {ref} not found")
        return b.node

    def bases(self, ref: ClassRef) -> list[Any]:
        node = self.class_node(ref)
        return [self.eval(b, Frame(ref.module, {}, "runtime")) for b in node.bases]

    def mro(self, ref: ClassRef) -> list[ClassRef]:
        out = [ref]
        for b in self.bases(ref):
            if isinstance(b, ClassRef):
                for c in self.mro(b):
                    if c not in out:
                        out.append(c)
        return out

    def is_dataclass(self, ref: ClassRef) -> bool:
        node = self.class_node(ref)
        for d in node.decorator_list:
            f = d.func if isinstance(d, ast.Call) else d
            name = f.id if isinstance(f, ast.Name) else getattr(f, "attr", None)
            if name in ("config", "dataclass"):
                return True
        return False

    def is_enum(self, ref: ClassRef) -> bool:
        for b in self.bases(ref):
            if isinstance(b, Opaque) and b.name.startswith("enum."):
                return True
            if isinstance(b, ClassRef) and self.is_enum(b):
                return True
        return False

    def is_dict_subclass(self, ref: ClassRef) -> bool:
        for b in self.bases(ref):
            if b == "dict" or (isinstance(b, GenericT) and b.origin == "dict"):
                return True
            if isinstance(b, Opaque) and b.name.endswith(".TypedDict"):
                return False
            if isinstance(b, ClassRef) and self.is_dict_subclass(b):
                return True
        return False

    def fields(self, ref: ClassRef) -> list[FieldInfo]:
        """dataclasses.fields() order: bases first, overrides keep position."""
        if ref in self._fields_cache:
            return self._fields_cache[ref]
        out: dict[str, FieldInfo] = {}
        for b in reversed(self.bases(ref)):
            if isinstance(b, ClassRef) and self.is_dataclass(b):
                for f in self.fields(b):
                    out[f.name] = f
        node = self.class_node(ref)
        body = node.body
        for i, s in enumerate(body):
            if not (isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)):
                continue
            ann = s.annotation
            head = ann.value if isinstance(ann, ast.Subscript) else ann
            head_v = self.eval_safe(head, Frame(ref.module, {}, "runtime"))
            if head_v in (TypingForm("ClassVar"), TypingForm("InitVar")):
                continue
            doc = ""
            if i + 1 < len(body) and isinstance(body[i + 1], ast.Expr) and isinstance(
                    getattr(body[i + 1], "value", None), ast.Constant) and isinstance(body[i + 1].value.value, str):
                doc = body[i + 1].value.value
            default, constraints = self.field_default(s.value, ref.module)
            out[s.target.id] = FieldInfo(s.target.id, ann, ref, default, constraints, doc)
        self._fields_cache[ref] = list(out.values())
        return self._fields_cache[ref]

    def field(self, ref: ClassRef, name: str) -> FieldInfo:
        for f in self.fields(ref):
            if f.name == name:
                return f
        raise DeriveError(f"{ref} has no field {name}")

    def field_default(self, node: ast.expr | None, mod: str) -> tuple[Any, dict]:
        if node is None:
            return MISSING, {}
        frame = Frame(mod, {}, "runtime")
        if isinstance(node, ast.Call):
            fn = self.eval(node.func, frame)
            if fn in (FuncRef("dataclasses", "field"), FuncRef("pydantic", "Field")):
                kw = {k.arg: k.value for k in node.keywords if k.arg}
                constraints = {}
                for c in ("gt", "ge", "lt", "le", "min_length", "max_length"):
                    if c in kw:
                        constraints[c] = self.eval_safe(kw[c], frame)
                if "default_factory" in kw:
                    return self.call_factory(self.eval(kw["default_factory"], frame)), constraints
                if "default" in kw:
                    return self.eval_safe(kw["default"], frame), constraints
                if node.args and fn == FuncRef("pydantic", "Field"):
                    return self.eval_safe(node.args[0], frame), constraints
                return MISSING, constraints
        return self.eval_safe(node, frame), {}

    def call_factory(self, fac: Any) -> Any:
        if fac in ("list", "dict", "set"):
            return {"list": [], "dict": {}, "set": set()}[fac]
        if isinstance(fac, ClassRef) and self.is_dataclass(fac):
            return DataclassInstance(fac)
        if isinstance(fac, ClassRef) and self.is_dict_subclass(fac):
            return {}
        if isinstance(fac, tuple) and fac and fac[0] == "lambda":
            _, node, mod = fac
            return self.eval_safe(node.body, Frame(mod, {}, "runtime"))
        return Unevaluable(f"{fac}()")

    def class_attr(self, ref: ClassRef, name: str) -> Any:
        for c in self.mro(ref):
            node = self.class_node(c)
            for s in node.body:
                if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name) and s.target.id == name:
                    if self.is_dataclass(c):
                        return self.field(c, name).default
                    return self.eval_safe(s.value, Frame(c.module, {}, "runtime"))
                if isinstance(s, ast.Assign) and any(
                        isinstance(t, ast.Name) and t.id == name for t in s.targets):
                    if self.is_enum(c):
                        return EnumMember(c, name, self.eval_safe(s.value, Frame(c.module, {}, "runtime")))
                    return self.eval_safe(s.value, Frame(c.module, {}, "runtime"))
                if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)) and s.name == name:
                    # bound to the class named in the access, as Python does
                    return BoundUserFunc(UserFunc(c.module, s, owner=c), ref)
        if name == "__doc__":
            return None
        if name == "__name__":
            return ref.name
        raise DeriveError(f"{ref} has no attribute {name}")

    # ---- expressions -----------------------------------------------------

    def eval_safe(self, node: ast.expr, frame: "Frame") -> Any:
        try:
            return self.eval(node, frame)
        except (DeriveError, KeyError, TypeError, ValueError, AttributeError, IndexError):
            return Unevaluable(ast.unparse(node))

    def eval(self, node: ast.expr, frame: "Frame") -> Any:
        m = getattr(self, "_e_" + type(node).__name__, None)
        if m is None:
            raise DeriveError(f"unsupported expression {ast.unparse(node)} in {frame.module}")
        return m(node, frame)

    def _e_Constant(self, n, f):
        if isinstance(n.value, str) and f.type_context:
            # forward reference in an annotation
            return self.eval(ast.parse(n.value, mode="eval").body, f)
        return n.value

    def _e_Name(self, n, f):
        if n.id in f.locals:
            return f.locals[n.id]
        return self.lookup(f.module, n.id, f.view)

    def _e_Slice(self, n, f):
        part = lambda x: None if x is None else self.eval(x, f)  # noqa: E731
        return slice(part(n.lower), part(n.upper), part(n.step))

    def _e_Attribute(self, n, f):
        dotted = ast.unparse(n)
        if dotted in ASSUMPTIONS and not dotted.endswith("pre_register_and_update"):
            return ASSUMPTIONS[dotted]
        base = self.eval(n.value, f)
        if isinstance(base, ModuleRef):
            return self.lookup(base.name, n.attr, f.view)
        if isinstance(base, ClassRef):
            return self.class_attr(base, n.attr)
        if isinstance(base, Opaque):
            if base.name == "argparse" and n.attr == "BooleanOptionalAction":
                return ActionTag("BooleanOptionalAction")
            if base.name == "argparse" and n.attr == "SUPPRESS":
                return SUPPRESS
            if base.name in TYPING_MODULES:
                return self._external(base.name, n.attr)
            if base.name == "json":
                return FuncRef("json", n.attr)
            return Opaque(f"{base.name}.{n.attr}")
        if isinstance(base, (dict, list, str)):
            return BoundMethod(base, n.attr)
        if isinstance(base, SuperProxy):
            for c in self.mro(base.cls)[1:]:
                try:
                    v = self.class_attr(c, n.attr)
                except DeriveError:
                    continue
                if isinstance(v, BoundUserFunc):
                    return BoundUserFunc(v.func, base.bound)
                return v
            raise DeriveError(f"super() has no {n.attr}")
        raise DeriveError(f"attribute {dotted} on {base!r}")

    def _e_Subscript(self, n, f):
        base = self.eval(n.value, f)
        if isinstance(base, (dict, list, tuple)) and not f.type_context:
            return base[self.eval(n.slice, f)]
        # type subscription
        tf = f.as_type()
        sl = n.slice
        items = list(sl.elts) if isinstance(sl, ast.Tuple) else [sl]
        if base == TypingForm("Literal"):
            vals: list = []
            for it in items:
                v = self.eval(it, Frame(f.module, f.locals, f.view))
                if isinstance(v, LiteralT):
                    vals.extend(v.values)
                elif isinstance(v, EnumMember):
                    vals.append(v.value)
                else:
                    vals.append(v)
            return LiteralT(tuple(vals))
        if base == TypingForm("Annotated"):
            return self.eval(items[0], tf)
        if base == TypingForm("Optional"):
            return UnionT((self.eval(items[0], tf), "NoneType"))
        if base == TypingForm("Union"):
            return UnionT(tuple(self.eval(i, tf) for i in items))
        if base in (TypingForm("ClassVar"), TypingForm("InitVar")):
            return base
        if isinstance(sl, ast.List):  # Callable[[A], B] argument list
            items = [sl]
        args = []
        for it in items:
            if isinstance(it, ast.List):
                args.append(tuple(self.eval(e, tf) for e in it.elts))
            elif isinstance(it, ast.Constant) and it.value is Ellipsis:
                args.append(Ellipsis)
            else:
                args.append(self.eval(it, tf))
        return GenericT(base, tuple(args))

    def _e_BinOp(self, n, f):
        if isinstance(n.op, ast.BitOr):
            left, right = self.eval(n.left, f.as_type()), self.eval(n.right, f.as_type())
            return UnionT((left, right))
        left, right = self.eval(n.left, f), self.eval(n.right, f)
        if isinstance(n.op, ast.Add):
            return left + right
        if isinstance(n.op, ast.Mult):
            return left * right
        if isinstance(n.op, ast.Pow):
            return left ** right
        raise DeriveError(f"binop {ast.unparse(n)}")

    def _e_UnaryOp(self, n, f):
        v = self.eval(n.operand, f)
        if isinstance(n.op, ast.USub):
            return -v
        if isinstance(n.op, ast.Not):
            return not v
        raise DeriveError(f"unaryop {ast.unparse(n)}")

    def _e_BoolOp(self, n, f):
        vals = [self.eval(v, f) for v in n.values]
        return all(vals) if isinstance(n.op, ast.And) else any(vals)

    def _e_Compare(self, n, f):
        left = self.eval(n.left, f)
        for op, comp in zip(n.ops, n.comparators):
            right = self.eval(comp, f)
            ok = {ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
                  ast.Eq: lambda a, b: a == b, ast.NotEq: lambda a, b: a != b,
                  ast.Is: lambda a, b: a is b, ast.IsNot: lambda a, b: a is not b}[type(op)](left, right)
            if not ok:
                return False
            left = right
        return True

    def _e_IfExp(self, n, f):
        return self.eval(n.body, f) if self.eval(n.test, f) else self.eval(n.orelse, f)

    def _e_List(self, n, f):
        return [self.eval(e, f) for e in n.elts]

    def _e_Tuple(self, n, f):
        return tuple(self.eval(e, f) for e in n.elts)

    def _e_Set(self, n, f):
        return {self.eval(e, f) for e in n.elts}

    def _e_Dict(self, n, f):
        out: dict = {}
        for k, v in zip(n.keys, n.values):
            if k is None:
                out.update(copy.copy(self.eval(v, f)))
            else:
                out[self.eval(k, f)] = self.eval(v, f)
        return out

    def _e_JoinedStr(self, n, f):
        parts = []
        for v in n.values:
            if isinstance(v, ast.Constant):
                parts.append(v.value)
            else:
                val = self.eval(v.value, f)
                if isinstance(val, Unevaluable):
                    return val
                parts.append(str(val))
        return "".join(parts)

    def _e_Lambda(self, n, f):
        return ("lambda", n, f.module)

    def _e_Starred(self, n, f):
        return self.eval(n.value, f)

    def _e_Call(self, n, f):
        src = ast.unparse(n.func)
        if src in IGNORED_CALLS:
            return None
        if src in OPAQUE_CALLS:
            return Unevaluable(ast.unparse(n))
        fn = self.eval(n.func, f)
        args: list = []
        for a in n.args:
            if isinstance(a, ast.Starred):
                args.extend(self.eval(a.value, f))
            else:
                args.append(self.eval(a, f))
        kwargs: dict = {}
        for k in n.keywords:
            if k.arg is None:
                kwargs.update(self.eval(k.value, f))
            else:
                kwargs[k.arg] = self.eval(k.value, f)
        return self.call(fn, args, kwargs, n, f)

    def call(self, fn, args, kwargs, node, frame):
        src = ast.unparse(node.func)
        if any(isinstance(a, Unevaluable) for a in [*args, *kwargs.values()]):
            return Unevaluable(ast.unparse(node))  # poison propagates
        if isinstance(fn, BoundMethod):
            return self.call_method(fn, args, kwargs, node)
        if isinstance(fn, FuncRef):
            return self.call_func(fn, args, kwargs, node, frame)
        if isinstance(fn, UserFunc):
            return self.run_function(fn, None, args, kwargs)
        if isinstance(fn, BoundUserFunc):
            return self.run_function(fn.func, fn.cls, args, kwargs)
        if fn in ("list", "tuple", "set", "sorted"):
            return {"list": list, "tuple": tuple, "set": set, "sorted": sorted}[fn](*args)
        if fn in ("int", "float", "str") and args and not isinstance(args[0], (Opaque, Unevaluable)):
            return {"int": int, "float": float, "str": str}[fn](args[0])
        if isinstance(fn, ClassRef) and self.is_dataclass(fn) and not args and not kwargs:
            return DataclassInstance(fn)
        if isinstance(fn, ClassRef) and self.is_dict_subclass(fn) and not args and not kwargs:
            return {}
        if isinstance(fn, Parser) or isinstance(fn, Group):
            raise DeriveError("parser is not callable")
        raise DeriveError(f"cannot call {src} ({fn!r}) in {frame.module}")

    def call_method(self, bm: BoundMethod, args, kwargs, node):
        obj, name = bm.obj, bm.name
        if isinstance(obj, (dict, list, str)) and name in {
                "pop", "items", "get", "remove", "append", "replace", "lower", "keys",
                "values", "update", "copy", "split", "strip", "join"}:
            return getattr(obj, name)(*args, **kwargs)
        raise DeriveError(f"method {name} on {type(obj).__name__}")

    def call_func(self, fn: FuncRef, args, kwargs, node, frame):
        key = (fn.module, fn.name)
        if fn.name == "get_kwargs" and fn.module == "vllm.engine.arg_utils":
            return copy.deepcopy(self.get_kwargs(args[0]))
        if key == ("typing", "get_args"):
            t = args[0]
            if isinstance(t, LiteralT):
                return t.values
            raise DeriveError(f"get_args on {t!r}")
        if fn.name == "optional_type" and fn.module == "vllm.engine.arg_utils":
            inner = self.as_typetag(args[0])
            return TypeTag(inner.kind, True, inner.human, inner.transform, inner.dataclass, inner.note)
        if fn.name == "parse_type" and fn.module == "vllm.engine.arg_utils":
            return self.as_typetag(args[0])
        if key == ("builtins", "super"):
            cls = frame.locals["__class__"]
            return SuperProxy(cls, frame.locals.get("cls", cls))
        raise DeriveError(f"cannot call {fn.module}.{fn.name}")

    def as_typetag(self, v) -> TypeTag:
        """Map an argparse `type=` callable to what it accepts."""
        if isinstance(v, TypeTag):
            return v
        if v == "int":
            return TypeTag("int")
        if v == "float":
            return TypeTag("float")
        if v == "str":
            return TypeTag("str")
        if isinstance(v, FuncRef):
            if (v.module, v.name) == ("json", "loads"):
                return TypeTag("json")
            if v.name == "union_dict_and_str":
                return TypeTag("json_or_str")
            if v.name == "human_readable_int":
                return TypeTag("int", human="human_readable_int")
            if v.name == "human_readable_int_or_auto":
                return TypeTag("int", human="human_readable_int_or_auto")
            if v.name == "parse_reasoning_parser":
                return TypeTag("str", note="'none' (any case) means unset")
        if isinstance(v, tuple) and v and v[0] == "lambda":
            src = ast.unparse(v[1])
            if ".lower().replace('-', '_')" in src:
                return TypeTag("str", transform="lower_dash_to_underscore")
            if "split(',')" in src:
                return TypeTag("str", note="comma-separated list")
            return TypeTag("str", note=src)
        raise DeriveError(f"unknown argparse type {v!r}")

    # ---- statements ------------------------------------------------------

    def run_function(self, func: UserFunc, cls: ClassRef | None, args, kwargs):
        node = func.node
        params = [a.arg for a in node.args.args]
        is_classmethod = any(isinstance(d, ast.Name) and d.id == "classmethod" for d in node.decorator_list)
        local: dict[str, Any] = {}
        if is_classmethod:
            local[params[0]] = cls
            params = params[1:]
        defaults = node.args.defaults
        for p, d in zip(params[len(params) - len(defaults):], defaults):
            local[p] = self.eval(d, Frame(func.module, {}, "runtime"))
        for p, v in zip(params, args):
            local[p] = v
        local.update(kwargs)
        local["__class__"] = func.owner
        try:
            self.run_block(node.body, Frame(func.module, local, "runtime"))
        except ReturnSignal as r:
            return r.value
        return None

    def run_block(self, stmts, frame):
        for s in stmts:
            self.run_stmt(s, frame)

    def run_stmt(self, s, f):
        if isinstance(s, ast.Expr):
            if isinstance(s.value, ast.Constant):
                return  # docstring
            self.eval(s.value, f)
        elif isinstance(s, ast.Assign):
            v = self.eval(s.value, f)
            for t in s.targets:
                self.assign(t, v, f)
        elif isinstance(s, ast.AugAssign):
            # only help-text concatenation happens here; help is informational
            if isinstance(s.target, ast.Subscript) and ast.unparse(s.target).endswith("['help']"):
                return
            raise DeriveError(f"augassign {ast.unparse(s)}")
        elif isinstance(s, ast.Delete):
            for t in s.targets:
                container = self.eval(t.value, f)
                del container[self.eval(t.slice, f)]
        elif isinstance(s, ast.If):
            self.run_block(s.body if self.eval(s.test, f) else s.orelse, f)
        elif isinstance(s, ast.For):
            for item in list(self.eval(s.iter, f)):
                self.assign(s.target, item, f)
                self.run_block(s.body, f)
        elif isinstance(s, ast.Return):
            raise ReturnSignal(self.eval(s.value, f) if s.value else None)
        elif isinstance(s, ast.ImportFrom):
            src = self.ns._resolve_relative(f.module, s.module, s.level)
            for a in s.names:
                f.locals[a.asname or a.name] = self.lookup(src, a.name)
        else:
            raise DeriveError(f"unsupported statement {ast.unparse(s)[:80]}")

    def assign(self, t, v, f):
        if isinstance(t, ast.Name):
            f.locals[t.id] = v
        elif isinstance(t, ast.Tuple):
            for tt, vv in zip(t.elts, v):
                self.assign(tt, vv, f)
        elif isinstance(t, ast.Subscript):
            self.eval(t.value, f)[self.eval(t.slice, f)] = v
        else:
            raise DeriveError(f"assign to {ast.unparse(t)}")

    # ---- _compute_kwargs emulation ----------------------------------------

    def type_hints(self, t) -> list:
        """vllm.engine.arg_utils.get_type_hints: flatten Annotated/Union."""
        if isinstance(t, UnionT):
            out = []
            for m in t.members:
                for h in self.type_hints(m):
                    if h not in out:
                        out.append(h)
            return out
        if t is None:
            return ["NoneType"]
        return [t]

    @staticmethod
    def is_type(h, name) -> bool:
        if name == "Literal":
            return isinstance(h, LiteralT)
        return h == name or (isinstance(h, GenericT) and h.origin == name)

    def is_not_builtin(self, h) -> bool:
        if isinstance(h, str):
            return h not in BUILTIN_TYPES
        if isinstance(h, GenericT):
            return not isinstance(h.origin, str)
        return True  # ClassRef, Opaque, TypingForm(Any)

    def elem_kind(self, h) -> TypeTag | LiteralT:
        """Element type of list/tuple/set per collection_to_kwargs."""
        if isinstance(h, UnionT):
            if "str" not in self.type_hints(h):
                raise DeriveError(f"union element without str: {h}")
            return TypeTag("str")
        if isinstance(h, LiteralT):
            return h
        if h in ("int", "float", "str"):
            return TypeTag(h)
        if h == "bool":
            return TypeTag("str", note="bool element: argparse bool('x') is truthy")
        if isinstance(h, ClassRef) and self.is_dataclass(h):
            return TypeTag("str", note=f"{h.name} element")
        return TypeTag("str", note=f"element type {h!r}")

    def compute_kwargs_for_field(self, f: FieldInfo) -> dict:
        t = self.eval(f.annotation, Frame(f.owner.module, {}, "runtime", type_context=True))
        hints = self.type_hints(t)
        hints = ["dict" if isinstance(h, ClassRef) and self.is_dict_subclass(h) else h for h in hints]
        dc = next((h for h in hints if isinstance(h, ClassRef) and self.is_dataclass(h)), None)
        kw: dict[str, Any] = {"default": f.default, "help": f.doc}
        names = set(h for h in hints if isinstance(h, str))
        has = lambda n: any(self.is_type(h, n) for h in hints)  # noqa: E731
        if dc is not None:
            kw["type"] = TypeTag("dataclass", dataclass=dc)
        elif names == {"bool", "str", "NoneType"} and len(hints) == 3:
            kw["type"] = TypeTag("str")
            kw["nargs"] = "?"
            kw["const"] = True
        elif has("bool"):
            kw["action"] = ActionTag("BooleanOptionalAction")
        elif has("Literal"):
            kw.update(self.literal_to_kwargs(hints))
        elif has("tuple") or has("list") or has("set"):
            coll = "tuple" if has("tuple") else "list" if has("list") else "set"
            g = next(h for h in hints if self.is_type(h, coll))
            targs = g.args if isinstance(g, GenericT) else ()
            if not targs:
                raise DeriveError(f"bare {coll} for {f.name}")
            elem = self.elem_kind(targs[0])
            if isinstance(elem, LiteralT):
                kw.update(self.literal_to_kwargs([elem]))
            else:
                kw["type"] = elem
            kw["nargs"] = "+" if coll != "tuple" or Ellipsis in targs else len(targs)
        elif has("int"):
            if f.name == "max_model_len":
                kw["type"] = TypeTag("int", human="human_readable_int_or_auto")
            elif f.name in {"max_num_batched_tokens", "max_num_scheduled_tokens",
                            "kv_cache_memory_bytes", "safetensors_prefetch_block_size",
                            "max_num_queued_tokens"}:
                kw["type"] = TypeTag("int", human="human_readable_int")
            else:
                kw["type"] = TypeTag("int")
        elif has("float"):
            kw["type"] = TypeTag("float")
        elif has("dict") and (has("str") or any(self.is_not_builtin(h) for h in hints)):
            kw["type"] = TypeTag("json_or_str")
        elif has("dict"):
            kw["type"] = TypeTag("json")
        elif has("str") or any(self.is_not_builtin(h) for h in hints):
            kw["type"] = TypeTag("str")
        else:
            raise DeriveError(f"unsupported type {hints} for {f.name}")
        if "NoneType" in hints and not has("bool"):
            tt = kw["type"]
            kw["type"] = TypeTag(tt.kind, True, tt.human, tt.transform, tt.dataclass, tt.note)
            if kw.get("choices"):
                kw["choices"].append(None)
        kw["_field"] = FieldKey(f.owner, f.name)
        return kw

    def literal_to_kwargs(self, hints) -> dict:
        lits = [h for h in hints if isinstance(h, LiteralT)]
        if len(lits) > 1:
            raise DeriveError(f"several Literals in one union: {lits}")
        options = lits[0].values
        otype = type(options[0])
        if not all(isinstance(o, otype) for o in options):
            raise DeriveError(f"mixed literal types {options}")
        kind = {int: "int", str: "str", float: "float", bool: "str"}[otype]
        key = "metavar" if "str" in hints else "choices"
        return {"type": TypeTag(kind), key: sorted(options)}

    def get_kwargs(self, ref: ClassRef) -> dict:
        if ref not in self._kwargs_cache:
            out = {}
            for f in self.fields(ref):
                try:
                    out[f.name] = self.compute_kwargs_for_field(f)
                except DeriveError as e:
                    # vLLM would fail here too, but only matters if the flag is used
                    out[f.name] = {"_error": str(e), "_field": FieldKey(f.owner, f.name)}
            self._kwargs_cache[ref] = out
        return self._kwargs_cache[ref]

    def known_literals(self, f: FieldInfo) -> list | None:
        """Literal values the annotation documents in the TYPE_CHECKING view."""
        try:
            t = self.eval(f.annotation, Frame(f.owner.module, {}, "typing", type_context=True))
        except DeriveError:
            return None

        def walk(x):
            if isinstance(x, LiteralT):
                yield from x.values
            elif isinstance(x, UnionT):
                for m in x.members:
                    yield from walk(m)
            elif isinstance(x, GenericT):
                for a in x.args:
                    if not isinstance(a, tuple):
                        yield from walk(a)
        vals = list(dict.fromkeys(walk(t)))
        return sorted(vals, key=lambda v: (str(type(v)), v)) if vals else None


@dataclass
class Frame:
    module: str
    locals: dict
    view: str = "runtime"
    type_context: bool = False

    def as_type(self) -> "Frame":
        return Frame(self.module, self.locals, self.view, True)


# --------------------------------------------------------------------------
# parser replay + normalisation


class Recorder(Interp):
    """Interp whose parser/group objects record add_argument calls."""

    def call(self, fn, args, kwargs, node, frame):
        if isinstance(fn, BoundMethod) and isinstance(fn.obj, (Parser, Group)):
            parser = fn.obj if isinstance(fn.obj, Parser) else fn.obj.parser
            group = "" if isinstance(fn.obj, Parser) else fn.obj.title
            if fn.name == "add_argument":
                parser.args.append((list(args), dict(kwargs), group, frame.module))
                return None
            if fn.name == "add_argument_group":
                return Group(parser, kwargs.get("title") or (args[0] if args else ""))
            raise DeriveError(f"parser.{fn.name}")
        return super().call(fn, args, kwargs, node, frame)

    def _e_Attribute(self, n, f):
        if isinstance(n.value, ast.Name) and n.value.id in f.locals and isinstance(
                f.locals[n.value.id], (Parser, Group)):
            return BoundMethod(f.locals[n.value.id], n.attr)
        return super()._e_Attribute(n, f)

    def call_method(self, bm, args, kwargs, node):
        if isinstance(bm.obj, (Parser, Group)):
            raise AssertionError("handled in call")
        return super().call_method(bm, args, kwargs, node)


def jsonable(v: Any) -> tuple[Any, str | None]:
    """(json value, repr note) for a default."""
    if isinstance(v, (bool, int, float, str)) or v is None:
        return v, None
    if isinstance(v, (list, tuple)):
        items = [jsonable(x) for x in v]
        if all(n is None for _, n in items):
            return [x for x, _ in items], None
        return None, repr(v)
    if isinstance(v, set):
        return sorted(v), None
    if isinstance(v, dict):
        items = {k: jsonable(x) for k, x in v.items()}
        if all(n is None for _, n in items.values()):
            return {k: x for k, (x, _) in items.items()}, None
        return None, repr(v)
    if isinstance(v, EnumMember):
        return (v.value if isinstance(v.value, (str, int, float)) else v.name), f"{v.cls.name}.{v.name}"
    if isinstance(v, DataclassInstance):
        return None, f"{v.cls.name}()"
    if isinstance(v, Unevaluable):
        return None, v.src
    if v is SUPPRESS:
        return None, "argparse.SUPPRESS (attribute absent unless given)"
    return None, repr(v)


def first_sentence(text: str) -> str:
    text = " ".join((text or "").split())
    for end in (". ", ".\n"):
        if end in text:
            text = text.split(end, 1)[0] + "."
            break
    return text[:240]


def normalise(record, interp: Interp) -> tuple[str, dict]:
    flags, kw, group, module = record
    kw = dict(kw)
    key = kw.pop("_field", None)
    if "_error" in kw:
        raise DeriveError(f"{flags}: {kw['_error']}")
    fld: FieldInfo | None = interp.field(key.owner, key.name) if key else None
    if not flags[0].startswith("-"):
        return flags[0], {"positional": True, "nargs": kw.get("nargs"), "type": "str",
                          "help": first_sentence(kw.get("help", ""))}
    longs = [x for x in flags if x.startswith("--")]
    primary = longs[0] if longs else flags[0]
    action = kw.get("action")
    if isinstance(action, ActionTag) and action.name == "BooleanOptionalAction":
        kind = "boolean_optional"
    elif action in ("store_true", "store_false", "append", "store"):
        kind = action
    elif isinstance(action, ClassRef):
        kind = f"custom:{action.name}"
    elif action is None:
        kind = "store"
    else:
        raise DeriveError(f"{primary}: unknown action {action!r}")
    entry: dict[str, Any] = {
        "aliases": [x for x in flags if x != primary],
        "action": kind,
        "group": group or None,
        "dest": kw.get("dest") or primary.lstrip("-").replace("-", "_"),
    }
    negations: list[str] = []
    if kind == "boolean_optional":
        # argparse.BooleanOptionalAction adds --no-X; vLLM's EnableDisableAction
        # adds --disable-X for --enable-X and vice versa.
        for opt in flags:
            if opt.startswith("--"):
                negations.append("--no-" + opt[2:])
        for opt in flags:
            for pre, inv in (("--enable-", "--disable-"), ("--disable-", "--enable-")):
                if opt.startswith(pre):
                    negations.append(inv + opt[len(pre):])
    entry["negations"] = negations
    entry["bool_flag"] = kind in ("boolean_optional", "store_true", "store_false")
    tt = kw.get("type")
    if entry["bool_flag"]:
        entry["type"] = "bool"
        entry["nargs"] = 0
        entry["optional_value"] = False
    else:
        tag = interp.as_typetag(tt) if tt is not None else TypeTag("str")
        entry["type"] = "json" if tag.kind == "dataclass" else tag.kind
        entry["optional_value"] = tag.optional
        if tag.human:
            entry["human_readable"] = tag.human
        if tag.transform:
            entry["transform"] = tag.transform
        if tag.note:
            entry["note"] = tag.note
        if tag.kind == "dataclass":
            entry["json_fields"] = json_fields(tag.dataclass, interp)
            entry["json_class"] = f"{tag.dataclass.module}.{tag.dataclass.name}"
        nargs = kw.get("nargs")
        entry["nargs"] = nargs
        if "const" in kw:
            entry["const"] = kw["const"]
    choices = kw.get("choices")
    if choices is not None:
        choices = list(choices)
        if None in choices:
            choices.remove(None)
    entry["choices"] = choices
    metavar = kw.get("metavar")
    known = None
    if isinstance(metavar, list):
        known = metavar
    if fld is not None and choices is None:
        lit = interp.known_literals(fld)
        if lit and not entry["bool_flag"]:
            known = lit
    entry["known_values"] = known
    if "default" in kw:
        dv, note = jsonable(kw["default"])
    elif kind == "store_true":
        dv, note = False, None
    else:
        dv, note = None, None
    entry["default"] = dv
    if note:
        entry["default_repr"] = note
    entry["deprecated"] = bool(kw.get("deprecated")) or " is deprecated" in (kw.get("help") or "")
    if fld is not None:
        if fld.constraints:
            entry["constraints"] = {k: jsonable(v)[0] for k, v in sorted(fld.constraints.items())}
        entry["source"] = f"{fld.owner.module.replace('.', '/')}.py:{fld.owner.name}.{fld.name}"
    else:
        entry["source"] = f"{module.replace('.', '/')}.py (explicit add_argument)"
    entry["help"] = first_sentence(kw.get("help") or (fld.doc if fld else ""))
    return primary, entry


def json_fields(ref: ClassRef, interp: Interp) -> dict:
    """Top-level keys accepted by a dataclass-typed JSON flag (extra=forbid)."""
    out = {}
    for f in interp.fields(ref):
        kw = interp.get_kwargs(ref)[f.name]
        tt = kw.get("type")
        if isinstance(kw.get("action"), ActionTag):
            kind = "bool"
        elif isinstance(tt, TypeTag):
            kind = "json" if tt.kind == "dataclass" else tt.kind
        else:
            kind = "str"
        ch = kw.get("choices")
        out[f.name] = {
            "type": kind,
            "choices": [c for c in ch if c is not None] if ch else None,
            "known_values": kw.get("metavar") if isinstance(kw.get("metavar"), list) else None,
            "default": jsonable(f.default)[0],
        }
    return out


def derive(wheel_path: Path) -> dict:
    wheel = Wheel(wheel_path)
    version = wheel.version()
    if version != VLLM_VERSION:
        raise DeriveError(f"wheel is vllm {version}, expected {VLLM_VERSION}")
    interp = Recorder(wheel)
    node = interp.ns.get(ENTRY_MODULE, "runtime")[ENTRY_FUNCTION].node
    parser = Parser()
    interp.run_function(UserFunc(ENTRY_MODULE, node), None, [parser], {})
    args: dict[str, dict] = {}
    positionals: dict[str, dict] = {}
    for rec in parser.args:
        key, e = normalise(rec, interp)
        if e.get("positional"):
            positionals[key] = e
            continue
        if key in args:
            raise DeriveError(f"duplicate flag {key}")
        args[key] = e
    # Sentinels: facts the interpreter must have reproduced. If upstream
    # restructures its parser these fail rather than yield a wrong spec.
    expect = {
        "--max-lora-rank": lambda e: e["type"] == "int" and e["choices"],
        "--enable-lora": lambda e: e["bool_flag"] and "--no-enable-lora" in e["negations"],
        "--lora-modules": lambda e: e["action"] == "custom:LoRAParserAction",
        "--port": lambda e: e["type"] == "int",
        "--served-model-name": lambda e: e["nargs"] == "+",
        "--gpu-memory-utilization": lambda e: e["type"] == "float",
    }
    for flag, ok in expect.items():
        if flag not in args or not ok(args[flag]):
            raise DeriveError(f"sentinel failed for {flag}: {args.get(flag)}")
    lora_fields = [f.name for f in interp.fields(ClassRef("vllm.entrypoints.openai.models.protocol", "LoRAModulePath"))]
    args["--lora-modules"]["item_format"] = {
        "forms": ["name=path (only if the item has '=' and no ',')", "JSON object"],
        "json_keys": lora_fields,
        "required_json_keys": [f.name for f in interp.fields(
            ClassRef("vllm.entrypoints.openai.models.protocol", "LoRAModulePath")) if f.default is MISSING],
    }
    return {
        "vllm_version": VLLM_VERSION,
        "runtime_image": RUNTIME_IMAGE,
        "entrypoint": f"{ENTRY_MODULE}.{ENTRY_FUNCTION} (vllm serve and python -m vllm.entrypoints.openai.api_server)",
        "derived_by": "tools/vllm-argspec/derive.py",
        "assumptions": ASSUMPTIONS,
        "parser_behaviour": {
            "underscores": "FlexibleArgumentParser turns '_' into '-' in a flag name up to the first '.'",
            "dotted_json": "--json-flag.key value (and key+ for list append) is merged into --json-flag '{...}'",
            "optimization_shorthand": "-O<n> / -O <n> means --optimization-level <n>",
            "abbreviations": "argparse allow_abbrev is on: unique prefixes are accepted",
            "duplicates": "last one wins; vLLM only logs a warning",
            "config_file": "--config FILE.yaml inserts its keys as flags",
        },
        "source": {
            "kind": "wheel",
            "file": wheel_path.name,
            "sha256": sha256_of(wheel_path),
            # Package-index locator, no host name: fetch with source.fetch.
            "pypi_url": f"pypi:vllm/{VLLM_VERSION}/{wheel_path.name}",
            "fetch": " ".join(["pip download --no-deps --only-binary :all:", "--platform", WHEEL_PLATFORM,
                               "--python-version", WHEEL_PYTHON, "--implementation cp",
                               f"vllm=={VLLM_VERSION}"]),
            "files_parsed": dict(sorted(wheel.read_files.items())),
        },
        "positionals": positionals,
        "args": dict(sorted(args.items())),
    }


def render(spec: dict) -> str:
    return json.dumps(spec, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--wheel", type=Path, help="use this local vllm wheel instead of downloading")
    ap.add_argument("--out", type=Path, default=OUT_DIR / f"vllm-{VLLM_VERSION}.json")
    ap.add_argument("--check", action="store_true", help="fail if --out differs from a fresh derivation")
    ns = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="vllm-argspec-") as tmp:
        wheel = ns.wheel or download_wheel(tmp)
        text = render(derive(wheel))
    if ns.check:
        if not ns.out.exists() or ns.out.read_text() != text:
            print(f"{ns.out} is stale; rerun {Path(__file__).name}", file=sys.stderr)
            return 1
        print(f"{ns.out} is up to date")
        return 0
    ns.out.parent.mkdir(parents=True, exist_ok=True)
    ns.out.write_text(text)
    print(f"wrote {ns.out} ({len(json.loads(text)['args'])} flags)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
