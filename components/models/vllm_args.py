"""vLLM server arguments: the pinned argument spec, a checker, and a typed builder.

The spec (``vllm_argspec/vllm-<version>.json``) is dumped from vLLM's real
parser by ``tools/vllm-argspec/dump.py``; nothing here imports vLLM. The
checker mirrors what vLLM's ``FlexibleArgumentParser`` (argparse underneath)
would accept, so a bad flag fails at ``pulumi preview`` instead of in a
crash-looping pod.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, get_args

PINNED_VLLM_VERSION = "0.33.0"
SPEC_DIR = Path(__file__).resolve().parent / "vllm_argspec"

# argparse treats these as values, not options (vLLM has no option that looks
# like a negative number, so argparse's _negative_number_matcher applies).
_NEGATIVE_NUMBER = re.compile(r"^-\d+$|^-\d*\.\d+$")
_HUMAN_INT = re.compile(r"(\d+(?:\.\d+)?)([kKmMgGtT])")


class VllmArgsError(ValueError):
    """Invalid vLLM options; the message lists every problem found."""


# --------------------------------------------------------------------------
# the spec


@dataclass(frozen=True)
class FlagSpec:
    """One option of ``vllm serve`` as the pinned version's parser defines it."""

    name: str
    type: str  # int | float | str | bool | json | json_or_str
    action: str  # store | store_true | boolean_optional | append | custom:<Action>
    bool_flag: bool
    nargs: int | str | None
    choices: tuple | None
    known_values: tuple | None  # documented values argparse does not enforce
    default: Any
    optional_value: bool  # "" and "None" parse to None
    aliases: tuple[str, ...] = ()
    negations: tuple[str, ...] = ()
    constraints: Mapping[str, Any] = field(default_factory=dict)
    human_readable: str | None = None
    transform: str | None = None
    json_fields: Mapping[str, Any] | None = None
    item_format: Mapping[str, Any] | None = None
    deprecated: bool = False
    const: Any = None
    dest: str = ""

    @property
    def values(self) -> tuple | None:
        """Enforced choices, else the documented values."""
        return self.choices if self.choices is not None else self.known_values


@dataclass(frozen=True)
class ArgSpec:
    vllm_version: str
    runtime_image: str
    source: Mapping[str, Any]
    flags: Mapping[str, FlagSpec]  # primary option string -> spec
    positionals: Mapping[str, Any]
    # every accepted option string -> (spec, "primary" | "alias" | "negation")
    lookup: Mapping[str, tuple[FlagSpec, str]]

    def flag(self, name: str) -> FlagSpec:
        try:
            return self.lookup[name][0]
        except KeyError:
            raise KeyError(f"vLLM {self.vllm_version} has no flag {name}{_suggest(name, self.lookup)}") from None

    def default(self, name: str) -> Any:
        return self.flag(name).default


def available_versions() -> list[str]:
    return sorted(p.stem.removeprefix("vllm-") for p in SPEC_DIR.glob("vllm-*.json"))


@lru_cache(maxsize=None)
def load_argspec(version: str = PINNED_VLLM_VERSION) -> ArgSpec:
    """The committed spec of ``vllm serve`` for ``version``."""
    path = SPEC_DIR / f"vllm-{version}.json"
    if not path.exists():
        raise FileNotFoundError(
            f"no vLLM argument spec for {version} (have: {', '.join(available_versions()) or 'none'}); "
            "dump it with tools/vllm-argspec/install.sh dump"
        )
    raw = json.loads(path.read_text())
    flags: dict[str, FlagSpec] = {}
    lookup: dict[str, tuple[FlagSpec, str]] = {}
    for name, e in raw["args"].items():
        spec = FlagSpec(
            name=name,
            type=e["type"],
            action=e["action"],
            bool_flag=e["bool_flag"],
            nargs=e["nargs"],
            choices=tuple(e["choices"]) if e["choices"] is not None else None,
            known_values=tuple(e["known_values"]) if e.get("known_values") else None,
            default=e["default"],
            optional_value=e["optional_value"],
            aliases=tuple(e["aliases"]),
            negations=tuple(e["negations"]),
            constraints=MappingProxyType(dict(e.get("constraints") or {})),
            human_readable=e.get("human_readable"),
            transform=e.get("transform"),
            json_fields=e.get("json_fields"),
            item_format=e.get("item_format"),
            deprecated=e.get("deprecated", False),
            const=e.get("const"),
            dest=e.get("dest", ""),
        )
        flags[name] = spec
        lookup[name] = (spec, "primary")
        for a in spec.aliases:
            lookup[a] = (spec, "alias")
        for n in spec.negations:
            lookup[n] = (spec, "negation")
    return ArgSpec(
        vllm_version=raw["vllm_version"],
        runtime_image=raw["runtime_image"],
        source=MappingProxyType(raw["source"]),
        flags=MappingProxyType(flags),
        positionals=MappingProxyType(raw.get("positionals", {})),
        lookup=MappingProxyType(lookup),
    )


# --------------------------------------------------------------------------
# the checker


def _suggest(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.6)
    return f" (did you mean {' or '.join(close)}?)" if close else ""


def _is_option(token: str, spec: ArgSpec | None = None) -> bool:
    """argparse's _parse_optional: does this token start an option?"""
    if not token.startswith("-") or token == "-" or _NEGATIVE_NUMBER.match(token):
        return False
    if spec is not None and (token in spec.lookup or token.partition("=")[0] in spec.lookup):
        return True
    return " " not in token  # argparse reads "-x y" style tokens with spaces as values


def _normalise(token: str) -> str:
    """FlexibleArgumentParser: '_' -> '-' in the flag name up to the first '.'."""
    if not token.startswith("--"):
        return token
    name, eq, value = token.partition("=")
    head, dot, tail = name[2:].partition(".")
    return "--" + head.replace("_", "-") + dot + tail + eq + value


def _human_int(value: str, or_auto: bool) -> int:
    v = value.strip()
    if or_auto and (v == "-1" or v.lower() == "auto"):
        return -1
    m = _HUMAN_INT.fullmatch(v)
    if m:
        number, suffix = m.groups()
        if suffix in "KMGT" and "." in number:
            raise ValueError(f"decimals are not allowed with binary suffix {suffix}")
        mult = {"k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12,
                "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}[suffix]
        return int(float(number) * mult)
    return int(v)


def _convert(spec: FlagSpec, value: str) -> Any:
    """What the flag's argparse ``type=`` would produce; raises ValueError."""
    if spec.optional_value and value in ("", "None"):
        return None
    if spec.type == "int":
        if spec.human_readable:
            return _human_int(value, spec.human_readable.endswith("or_auto"))
        return int(value)
    if spec.type == "float":
        return float(value)
    if spec.type == "json":
        return json.loads(value)
    if spec.type == "json_or_str":
        return json.loads(value) if re.match(r"(?s)^\s*{.*}\s*$", value) else value
    if spec.transform == "lower_dash_to_underscore":
        return value.lower().replace("-", "_")
    return value


def _check_constraints(flag: str, spec: FlagSpec, v: Any) -> list[str]:
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return []
    c = spec.constraints
    bad = (("gt" in c and not v > c["gt"]) or ("ge" in c and not v >= c["ge"])
           or ("lt" in c and not v < c["lt"]) or ("le" in c and not v <= c["le"]))
    if not bad and not (isinstance(v, float) and math.isnan(v)):
        return []
    bounds = ", ".join(f"{k} {c[k]}" for k in ("gt", "ge", "lt", "le") if k in c)
    return [f"{flag}: {v!r} is out of range ({bounds}); vLLM's config validation rejects it"]


def _check_json_fields(flag: str, spec: FlagSpec, obj: Any) -> list[str]:
    fields = spec.json_fields
    if fields is None:
        return []
    if not isinstance(obj, dict):
        return [f"{flag}: expected a JSON object, got {type(obj).__name__}"]
    out = []
    for key, val in obj.items():
        if key not in fields:
            out.append(f"{flag}: unknown key {key!r}{_suggest(key, fields)}")
            continue
        choices = fields[key].get("choices")
        if choices and val not in choices:
            out.append(f"{flag}: {key}={val!r} is not one of {list(choices)}")
    return out


def _check_lora_item(flag: str, spec: FlagSpec, item: str) -> list[str]:
    if item in ("", "None"):
        return []
    if "=" in item and "," not in item:  # LoRAParserAction's "name=path" form
        name, _, path = item.partition("=")
        return [] if name and path else [f"{flag}: {item!r} needs both name and path (name=path)"]
    try:
        obj = json.loads(item)
    except json.JSONDecodeError:
        return [f"{flag}: {item!r} is neither name=path nor a JSON object"]
    if not isinstance(obj, dict):
        return [f"{flag}: {item!r} must be a JSON object"]
    fmt = spec.item_format or {}
    allowed = fmt.get("json_keys", ())
    out = [f"{flag}: unknown key {k!r} in {item!r}{_suggest(k, allowed)}" for k in obj if allowed and k not in allowed]
    out += [f"{flag}: {item!r} lacks required key {k!r}" for k in fmt.get("required_json_keys", ()) if k not in obj]
    return out


def _check_value(flag: str, spec: FlagSpec, value: str, strict: bool, version: str) -> list[str]:
    if spec.item_format is not None:
        return _check_lora_item(flag, spec, value)
    try:
        v = _convert(spec, value)
    except ValueError as e:
        want = {"int": "an integer", "float": "a number", "json": "JSON", "json_or_str": "JSON"}.get(spec.type, spec.type)
        detail = f" ({e})" if spec.type in ("json", "json_or_str") or "suffix" in str(e) else ""
        return [f"{flag}: expected {want}, got {value!r}{detail}"]
    if v is None:
        return []
    if spec.choices is not None and v not in spec.choices:
        return [f"{flag}: {value!r} is not one of {list(spec.choices)}{_suggest(str(v), map(str, spec.choices))}"]
    if strict and spec.choices is None and spec.known_values and v not in spec.known_values:
        # argparse lets any string through ("Literal | str"); vLLM's config
        # validation rejects it unless a plugin registered the name.
        return [f"{flag}: {value!r} is not a value vLLM {version} knows "
                f"{_suggest(str(v), map(str, spec.known_values)).strip() or '(known: ' + ', '.join(map(str, spec.known_values)) + ')'}"]
    return _check_constraints(flag, spec, v) + _check_json_fields(flag, spec, v)


def check_args(
    args: Sequence[str], spec: ArgSpec | None = None, *, allow_duplicates: bool = True, strict: bool = True
) -> list[str]:
    """Problems vLLM's parser (or its config validation) would raise for ``args``.

    Accepts ``--flag=value`` and ``--flag value``, ``--no-x``/``--disable-x``
    negations, underscores in flag names, ``--json-flag.key value`` and
    ``-O3``. Returns [] when the list is valid. Duplicates are allowed by
    default because KServe appends InferenceService args to the runtime's
    (the last one wins); pass ``allow_duplicates=False`` to report them.
    ``strict`` also rejects values outside a flag's documented set where
    argparse itself accepts any string (``--kv-cache-dtype``,
    ``--quantization``...): turn it off only for plugin-registered names.
    """
    spec = spec or load_argspec()
    problems: list[str] = []
    seen: dict[str, list[str]] = {}
    positional_slots = sum(1 for p in spec.positionals.values() if p.get("nargs") in ("?", None))
    tokens = list(args)
    i = 0
    only_positionals = False

    def take_values(start: int, nargs: int | str | None) -> tuple[list[str], int]:
        """Values following an option, argparse-style (greedy for '+')."""
        vals: list[str] = []
        j = start
        if isinstance(nargs, int):
            limit: int | None = nargs
        elif nargs in (None, "?"):
            limit = 1
        else:  # "+" / "*": argparse is greedy
            limit = None
        while j < len(tokens) and not _is_option(tokens[j], spec) and tokens[j] != "--" and (limit is None or len(vals) < limit):
            vals.append(tokens[j])
            j += 1
        return vals, j

    while i < len(tokens):
        raw = tokens[i]
        if not isinstance(raw, str):
            problems.append(f"argument {i}: {raw!r} is not a string")
            i += 1
            continue
        if only_positionals or not _is_option(raw, spec):
            if raw == "--" and not only_positionals:
                only_positionals = True
            elif positional_slots > 0:
                positional_slots -= 1
            else:
                problems.append(f"unexpected positional argument {raw!r}")
            i += 1
            continue
        tok = _normalise(raw)
        # -O3 / -O 3: shorthand for --optimization-level
        if tok.startswith("-O") and not tok.startswith("--"):
            level = tok[3:] if tok[2:3] == "=" else tok[2:]
            i += 1
            if not level:
                if i < len(tokens) and tokens[i] in {"0", "1", "2", "3"}:
                    level = tokens[i]
                    i += 1
                else:
                    problems.append("-O: expects an optimization level")
                    continue
            seen.setdefault("--optimization-level", []).append(raw)
            continue
        name, eq, inline = tok.partition("=")
        has_inline = bool(eq)
        if "." in name:  # --json-flag.key[+] value, merged into --json-flag '{...}'
            base, _, path = name.partition(".")
            entry = spec.lookup.get(base)
            i += 1
            if not has_inline:
                if i < len(tokens):
                    i += 1
                else:
                    problems.append(f"{raw}: expects a value")
                    continue
            if entry is None:
                problems.append(f"unknown flag {base}{_suggest(base, spec.lookup)}")
                continue
            fspec = entry[0]
            if fspec.type not in ("json", "json_or_str"):
                problems.append(f"{raw}: dotted keys only work on JSON flags; {fspec.name} takes {fspec.type}")
                continue
            key = path.rstrip("+").split(".")[0]
            if fspec.json_fields is not None and key not in fspec.json_fields:
                problems.append(f"{fspec.name}: unknown key {key!r}{_suggest(key, fspec.json_fields)}")
            seen.setdefault(fspec.name + "." + path, []).append(raw)
            continue
        entry = spec.lookup.get(name)
        if entry is None:
            prefixed = [o for o in spec.lookup if o.startswith(name) and o.startswith("--")] if name.startswith("--") else []
            if len(prefixed) == 1:
                problems.append(f"{name}: abbreviation of {prefixed[0]}; spell the flag out (a new flag can make it ambiguous)")
            else:
                problems.append(f"unknown flag {name}{_suggest(name, spec.lookup)}")
            i += 1
            if not has_inline:  # skip what were probably its values
                _, i = take_values(i, "*")
            continue
        fspec, role = entry
        seen.setdefault(fspec.dest or fspec.name, []).append(raw)
        i += 1
        if fspec.bool_flag:
            if has_inline:
                problems.append(f"{name}: is a switch and takes no value (use {fspec.name} or {fspec.negations[0] if fspec.negations else 'omit it'})")
            continue
        if has_inline:
            values = [inline]
        else:
            values, i = take_values(i, fspec.nargs)
        if fspec.nargs in (None, "+") or isinstance(fspec.nargs, int):
            need = fspec.nargs if isinstance(fspec.nargs, int) else 1
            if len(values) < need:
                what = "a value" if need == 1 else f"{need} values"
                problems.append(f"{name}: expects {what}" + (f" ({fspec.type})" if fspec.type != "str" else ""))
                continue
        for v in values:
            problems.extend(_check_value(name, fspec, v, strict, spec.vllm_version))
    if not allow_duplicates:
        for dest, uses in seen.items():
            if len(uses) > 1:
                problems.append(f"{dest} given {len(uses)} times ({', '.join(uses)}); the last one wins")
    return problems


# --------------------------------------------------------------------------
# typed builder

# Literal types mirror the pinned spec (a unit test asserts they are equal), so
# type checkers see them and a vLLM bump that changes the values fails a test.
KvCacheDtype = Literal[
    "auto", "bfloat16", "float16", "fp8", "fp8_ds_mla", "fp8_e4m3", "fp8_e5m2", "fp8_inc",
    "fp8_per_token_head", "int4_per_token_head", "int8_per_token_head", "nvfp4", "nvfp4_4over6",
    "nvfp4_ds_mla", "octave_k3v3", "octave_k3v3_compact", "octave_k3v4", "turboquant_3bit_nc",
    "turboquant_4bit_nc", "turboquant_k3v4_nc", "turboquant_k8v4", "ultraquant_4bit",
]
Quantization = Literal[
    "auto_awq", "auto_gptq", "awq", "awq_marlin", "compressed-tensors", "deepseek_v4_fp8",
    "experts_int8", "fbgemm_fp8", "fp8", "fp8_per_block", "fp8_per_channel", "fp8_per_tensor",
    "fp_quant", "gpt_oss_mxfp4", "gptq", "gptq_marlin", "humming", "inc",
    "int8_per_channel_weight_only", "modelopt", "modelopt_fp4", "modelopt_mixed", "modelopt_mxfp8",
    "moe_wna16", "mxfp4", "mxfp8", "nvfp4_per_token", "online", "quark", "torchao",
]
ModelDtype = Literal["auto", "bfloat16", "float", "float16", "float32", "half"]
# vLLM 0.33 has no standalone backend flag: it is a key of --structured-outputs-config.
StructuredOutputsBackend = Literal["auto", "guidance", "lm-format-enforcer", "outlines", "xgrammar"]
MaxLoraRank = Literal[1, 8, 16, 32, 64, 128, 256, 320, 512]

_LITERAL_SOURCES: dict[str, tuple[Any, str, str | None]] = {
    # field -> (Literal, flag, json key)
    "kv_cache_dtype": (KvCacheDtype, "--kv-cache-dtype", None),
    "quantization": (Quantization, "--quantization", None),
    "dtype": (ModelDtype, "--dtype", None),
    "structured_outputs_backend": (StructuredOutputsBackend, "--structured-outputs-config", "backend"),
    "max_lora_rank": (MaxLoraRank, "--max-lora-rank", None),
}


def spec_values(spec: ArgSpec, flag: str, json_key: str | None = None) -> tuple:
    """Values a flag (or a key of a JSON flag) accepts per the spec."""
    f = spec.flag(flag)
    if json_key is None:
        return f.values or ()
    jf = (f.json_fields or {}).get(json_key) or {}
    return tuple(jf.get("choices") or jf.get("known_values") or ())


@dataclass(frozen=True)
class LoraModule:
    """A statically registered adapter (``--lora-modules`` JSON form)."""

    name: str
    path: str
    base_model_name: str | None = None

    def to_arg(self) -> str:
        # JSON rather than name=path: unambiguous for paths with ',' or '='.
        obj: dict[str, str] = {"name": self.name, "path": self.path}
        if self.base_model_name is not None:
            obj["base_model_name"] = self.base_model_name
        return json.dumps(obj, separators=(",", ":"))


@dataclass(frozen=True)
class VllmEngineOptions:
    """Typed options for one vLLM server; ``to_args()`` renders the flags.

    Defaults equal vLLM's (from the pinned spec) so an untouched field emits
    nothing. Tri-state fields (``None``) leave the choice to vLLM.
    """

    model: str
    served_model_name: tuple[str, ...] = ()
    host: str | None = None
    port: int | None = None
    dtype: ModelDtype = "auto"
    quantization: Quantization | None = None
    max_model_len: int | None = None
    gpu_memory_utilization: float | None = None
    kv_cache_dtype: KvCacheDtype = "auto"
    enable_prefix_caching: bool | None = None
    tensor_parallel_size: int = 1
    pipeline_parallel_size: int = 1
    structured_outputs_backend: StructuredOutputsBackend | None = None
    enable_lora: bool = False
    max_loras: int | None = None
    max_lora_rank: MaxLoraRank | None = None
    max_cpu_loras: int | None = None
    lora_modules: tuple[LoraModule, ...] = ()
    vllm_version: str = PINNED_VLLM_VERSION

    def __post_init__(self) -> None:
        # Accept lists/str for convenience; store tuples so the value stays hashable.
        if isinstance(self.served_model_name, str):
            object.__setattr__(self, "served_model_name", (self.served_model_name,))
        else:
            object.__setattr__(self, "served_model_name", tuple(self.served_model_name))
        object.__setattr__(self, "lora_modules", tuple(self.lora_modules))
        problems = self.problems()
        if problems:
            raise VllmArgsError("invalid vLLM options:\n  - " + "\n  - ".join(problems))

    # The effective values vLLM would use, for invariants that span fields.
    @property
    def spec(self) -> ArgSpec:
        return load_argspec(self.vllm_version)

    def effective(self, field_name: str) -> Any:
        value = getattr(self, field_name)
        if value is not None:
            return value
        return self.spec.default(_FLAG[field_name])

    def problems(self) -> list[str]:
        spec = self.spec
        out: list[str] = []
        if not self.model.strip():
            out.append("model: must name a model path or id")
        for name in self.served_model_name:
            if not name.strip():
                out.append("served_model_name: names must be non-empty")
        if len(set(self.served_model_name)) != len(self.served_model_name):
            out.append(f"served_model_name: duplicate names in {list(self.served_model_name)}")
        for fname, (_, flag, key) in _LITERAL_SOURCES.items():
            value = getattr(self, fname)
            allowed = spec_values(spec, flag, key)
            if value is not None and allowed and value not in allowed:
                out.append(f"{fname}: {value!r} is not accepted by vLLM {spec.vllm_version} "
                           f"({flag}{'.' + key if key else ''}: {list(allowed)}){_suggest(str(value), map(str, allowed))}")
        gmu = self.effective("gpu_memory_utilization")
        if not (isinstance(gmu, (int, float)) and 0 < gmu <= 1):
            out.append(f"gpu_memory_utilization: {gmu!r} must be in (0, 1]")
        if self.max_model_len is not None and self.max_model_len < 1:
            out.append(f"max_model_len: {self.max_model_len} must be a positive number of tokens")
        for fname in ("tensor_parallel_size", "pipeline_parallel_size"):
            if getattr(self, fname) < 1:
                out.append(f"{fname}: {getattr(self, fname)} must be >= 1")
        if self.port is not None and not 1 <= self.port <= 65535:
            out.append(f"port: {self.port} must be in 1..65535")
        out += self._lora_problems()
        return out

    def _lora_problems(self) -> list[str]:
        out: list[str] = []
        lora_set = [f for f in ("max_loras", "max_lora_rank", "max_cpu_loras") if getattr(self, f) is not None]
        if not self.enable_lora:
            if lora_set or self.lora_modules:
                out.append(f"enable_lora is False but LoRA settings are given ({', '.join(lora_set + (['lora_modules'] if self.lora_modules else []))}); "
                           "vLLM would ignore them")
            return out
        max_loras = self.effective("max_loras")
        if max_loras < 1:
            out.append(f"max_loras: {max_loras} must be >= 1")
        if self.max_cpu_loras is not None and self.max_cpu_loras < max_loras:
            out.append(f"max_cpu_loras: {self.max_cpu_loras} must be >= max_loras ({max_loras}); vLLM refuses a smaller host cache")
        names = [m.name for m in self.lora_modules]
        if len(set(names)) != len(names):
            out.append(f"lora_modules: duplicate adapter names {sorted({n for n in names if names.count(n) > 1})}")
        clash = set(names) & set(self.served_model_name)
        if clash:
            out.append(f"lora_modules: names {sorted(clash)} clash with served_model_name")
        for m in self.lora_modules:
            if not m.name.strip():
                out.append("lora_modules: adapter names must be non-empty")
            if not m.path.startswith("/"):
                # vLLM treats a path it cannot resolve locally as a Hugging Face repo id.
                out.append(f"lora_modules: {m.name}: path {m.path!r} must be absolute (a relative path is fetched from the HF hub)")
        return out

    def to_args(self) -> list[str]:
        """Ordered flags that differ from vLLM's defaults (``--model`` always)."""
        spec = self.spec
        args: list[str] = [f"--model={self.model}"]

        def valued(fname: str) -> None:
            value = getattr(self, fname)
            flag = _FLAG[fname]
            if value is None or value == spec.default(flag):
                return
            args.append(f"{flag}={_render(value)}")

        if self.served_model_name:
            args += ["--served-model-name", *self.served_model_name]
        for fname in ("host", "port", "dtype", "quantization", "max_model_len", "gpu_memory_utilization",
                      "kv_cache_dtype", "tensor_parallel_size", "pipeline_parallel_size"):
            valued(fname)
        if self.enable_prefix_caching is not None:
            args.append("--enable-prefix-caching" if self.enable_prefix_caching else "--no-enable-prefix-caching")
        if self.structured_outputs_backend is not None:
            default = (spec.flag("--structured-outputs-config").json_fields or {}).get("backend", {}).get("default")
            if self.structured_outputs_backend != default:
                args.append("--structured-outputs-config=" + json.dumps({"backend": self.structured_outputs_backend}, separators=(",", ":")))
        if self.enable_lora:
            args.append("--enable-lora")
            for fname in ("max_loras", "max_lora_rank", "max_cpu_loras"):
                valued(fname)
            if self.lora_modules:
                args += ["--lora-modules", *(m.to_arg() for m in self.lora_modules)]
        problems = check_args(args, spec, allow_duplicates=False)
        if problems:  # a builder bug, not a user error
            raise AssertionError(f"to_args produced invalid arguments: {problems}")
        return args


_FLAG = {
    "host": "--host",
    "port": "--port",
    "dtype": "--dtype",
    "quantization": "--quantization",
    "max_model_len": "--max-model-len",
    "gpu_memory_utilization": "--gpu-memory-utilization",
    "kv_cache_dtype": "--kv-cache-dtype",
    "tensor_parallel_size": "--tensor-parallel-size",
    "pipeline_parallel_size": "--pipeline-parallel-size",
    "max_loras": "--max-loras",
    "max_lora_rank": "--max-lora-rank",
    "max_cpu_loras": "--max-cpu-loras",
}


def _render(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def literal_values(tp: Any) -> tuple:
    return get_args(tp)
