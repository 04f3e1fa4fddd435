#!/usr/bin/env python3
"""Cross-check the derived spec against vLLM's real parser (needs vLLM installed).

derive.py never imports vLLM; this script does, in a throwaway environment
where the pinned vLLM imports (CPU is enough: only the parser is built), and
compares every option of ``make_arg_parser`` with the committed spec, then
runs ``check_args`` and the real ``parse_args`` on the same argument lists.

    python -m venv /tmp/v && /tmp/v/bin/pip install vllm==0.33.0
    PYTHONPATH=. /tmp/v/bin/python tools/vllm-argspec/crosscheck.py

Exit status 1 lists every disagreement. Known, expected ones: choices that
depend on the platform (the spec assumes CUDA).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from components.models.vllm_args import LoraModule, VllmEngineOptions, check_args, load_argspec  # noqa: E402

# What the typed builder renders must parse too.
BUILT: list[list[str]] = [
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
CASES: list[list[str]] = [
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
]


def action_kind(action: argparse.Action) -> str:
    name = type(action).__name__
    if name in ("BooleanOptionalAction", "EnableDisableAction"):
        return "boolean_optional"
    return {"_StoreAction": "store", "_StoreTrueAction": "store_true", "_AppendAction": "append"}.get(
        name, f"custom:{name}")


def compare_options(parser, spec) -> list[str]:
    out = []
    seen = set()
    for action in parser._actions:
        if not action.option_strings or action.dest == "help":
            continue
        longs = [o for o in action.option_strings if o.startswith("--")]
        primary = next((o for o in longs if o in spec.flags), None)
        if primary is None:
            out.append(f"{action.option_strings}: in vLLM's parser, not in the spec")
            continue
        seen.add(primary)
        f = spec.flags[primary]
        accepted = set(parser._option_string_actions)  # includes hidden --no-enable-x
        mine = {primary, *f.aliases, *f.negations}
        theirs = {o for o, a in parser._option_string_actions.items() if a is action}
        if mine != theirs:
            out.append(f"{primary}: option strings spec {sorted(mine)} vs vLLM {sorted(theirs)}")
        if action_kind(action) != f.action:
            out.append(f"{primary}: action spec {f.action} vs vLLM {action_kind(action)}")
        real_choices = list(action.choices) if action.choices is not None else None
        if real_choices is not None and None in real_choices:
            real_choices.remove(None)
        if (list(f.choices) if f.choices is not None else None) != real_choices:
            out.append(f"{primary}: choices spec {f.choices} vs vLLM {real_choices}")
        if f.action not in ("boolean_optional", "store_true") and action.nargs != f.nargs:
            out.append(f"{primary}: nargs spec {f.nargs!r} vs vLLM {action.nargs!r}")
        default = action.default
        try:
            json.dumps(default)
            comparable = True
        except TypeError:
            comparable = False
        if comparable and default is not argparse.SUPPRESS and default != f.default:
            out.append(f"{primary}: default spec {f.default!r} vs vLLM {default!r}")
        del accepted
    for name in spec.flags:
        if name not in seen:
            out.append(f"{name}: in the spec, not in vLLM's parser")
    return out


def random_cases(spec, n: int, seed: int = 0) -> list[list[str]]:
    """Random argument lists: good and bad values, typos, missing values, both forms."""
    rng = random.Random(seed)
    # JSON config dataclasses validate their content inside argparse (required
    # keys, cross-field rules) beyond what the spec models; --config reads a file.
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
    """check_args problems argparse itself would raise (not config validation)."""
    return [p for p in problems if "out of range" not in p and "abbreviation of" not in p]


def compare_verdicts(parser, spec, cases) -> tuple[list[str], int]:
    out = []
    rejected = 0
    for case in cases:
        mine = argparse_level(check_args(case, spec, strict=False))
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err):
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


def main() -> int:
    import vllm  # noqa: F401  (fails here if vLLM is not installed)
    import vllm.platforms as platforms

    # The spec assumes the CUDA image. Without a GPU vLLM cannot infer a platform
    # (and its CUDA platform module needs libcuda), so use the CPU platform
    # reporting device_type "cuda": building the parser touches no device.
    try:
        from vllm.platforms.cuda import CudaPlatform as Platform
    except ImportError:
        from vllm.platforms.cpu import CpuPlatform

        class Platform(CpuPlatform):
            device_type = "cuda"

    platforms._current_platform = Platform()
    from vllm.entrypoints.common.cli_args import make_arg_parser
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    spec = load_argspec(vllm.__version__)
    parser = make_arg_parser(FlexibleArgumentParser(prog="crosscheck"))
    problems = compare_options(parser, spec)
    fixed = CASES + BUILT
    cases = fixed + random_cases(spec, 3000)
    verdicts, rejected = compare_verdicts(parser, spec, cases)
    for p in problems + verdicts[:40]:
        print(p)
    print(f"{len(spec.flags)} flags compared: {len(problems)} option differences; "
          f"{len(cases)} argument lists ({len(fixed)} fixed, {len(cases) - len(fixed)} random): "
          f"{rejected} rejected by vLLM; {len(verdicts)} verdict differences")
    return 1 if problems or verdicts else 0


if __name__ == "__main__":
    sys.exit(main())
