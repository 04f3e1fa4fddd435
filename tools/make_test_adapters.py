#!/usr/bin/env python3
"""Write the small LoRA *fixture* adapters the stacks declare (not trained weights).

    python tools/make_test_adapters.py            # (re)write adapters/<base>/<adapter>/<version>/
    python tools/make_test_adapters.py --check    # exit 1 if a fixture is missing or differs

Each fixture is a structurally valid PEFT LoRA adapter: an ``adapter_config.json`` (LORA,
declared rank, q/k/v/o targets, no DoRA, no modules_to_save) and an
``adapter_model.safetensors`` with PEFT's tensor names
(``base_model.model.model.layers.<i>.self_attn.<m>.lora_{A,B}.weight``) and LoRA shapes
(``A: [r, in]``, ``B: [out, r]``) in float16 at the base model's real module dimensions
(the publish-time tensor checks compare them) -- but for **one decoder layer** only, so every
file stays below 2 MB. They exercise publishing, the checks and
the sync path end to end; a real deployment replaces them with trained adapters (same layout).

The safetensors writer is plain Python (torch and numpy are not needed): 8-byte little-endian
header length, a JSON header ``{name: {dtype, shape, data_offsets}}``, then the raw data.
Values are deterministic (a seeded generator), so re-running produces identical bytes.
"""

from __future__ import annotations

import argparse
import json
import random
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (base model, adapter, version, rank, base model id recorded by "training", layers, targets)
FIXTURES = [
    ("qwen2.5-7b", "sql", "v2026-11-01", 8, "Qwen/Qwen2.5-7B-Instruct"),
    ("qwen2.5-7b", "support-ja", "v2026-11-10", 16, "Qwen/Qwen2.5-7B-Instruct"),
    ("llama-3.1-8b", "sql", "v2026-11-01", 16, "meta-llama/Llama-3.1-8B-Instruct"),
    ("llama-3.1-8b", "support-ja", "v2026-11-10", 64, "meta-llama/Llama-3.1-8B-Instruct"),
    ("llama-3.1-70b", "contracts", "v2026-10-20", 32, "meta-llama/Llama-3.1-70B-Instruct"),
]
# The base models' real module dimensions (capacity catalog: hidden size, heads x head_dim),
# so the publish-time tensor checks pass; one decoder layer keeps the files small.
DIMENSIONS = {  # base -> module -> (in, out)
    "qwen2.5-7b": {"q_proj": (3584, 3584), "v_proj": (3584, 512)},
    "llama-3.1-8b": {"q_proj": (4096, 4096), "v_proj": (4096, 1024)},
    "llama-3.1-70b": {"q_proj": (8192, 8192), "v_proj": (8192, 1024)},
}
LAYERS = 1
TARGETS = ("q_proj", "v_proj")
MAX_FILE_BYTES = 2_000_000


def safetensors_bytes(tensors: dict[str, tuple[list[int], list[float]]], metadata: dict[str, str]) -> bytes:
    """Serialise float16 tensors (name -> (shape, flat values)) in the safetensors format."""
    header: dict[str, object] = {"__metadata__": metadata}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        shape, values = tensors[name]
        count = 1
        for dim in shape:
            count *= dim
        if len(values) != count:
            raise ValueError(f"{name}: {len(values)} values for shape {shape}")
        blob = struct.pack(f"<{count}e", *values)
        header[name] = {"dtype": "F16", "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    head = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    head += b" " * (-len(head) % 8)  # align the data section to 8 bytes, as the reference writer does
    return struct.pack("<Q", len(head)) + head + b"".join(blobs)


def fixture_files(base: str, adapter: str, rank: int, base_id: str) -> dict[str, bytes]:
    rng = random.Random(f"{base}/{adapter}/{rank}")
    tensors = {}
    for layer in range(LAYERS):
        for module in TARGETS:
            fan_in, fan_out = DIMENSIONS[base][module]
            prefix = f"base_model.model.model.layers.{layer}.self_attn.{module}"
            tensors[f"{prefix}.lora_A.weight"] = ([rank, fan_in], [round(rng.gauss(0, 0.02), 4) for _ in range(rank * fan_in)])
            tensors[f"{prefix}.lora_B.weight"] = ([fan_out, rank], [round(rng.gauss(0, 0.01), 4) for _ in range(fan_out * rank)])
    weights = safetensors_bytes(tensors, {"format": "pt", "fixture": "one-layer test adapter at the base's real dimensions, not trained weights"})
    config = {
        "alpha_pattern": {},
        "auto_mapping": None,
        "base_model_name_or_path": base_id,
        "bias": "none",
        "fan_in_fan_out": False,
        "inference_mode": True,
        "init_lora_weights": True,
        "lora_alpha": 2 * rank,
        "lora_dropout": 0.05,
        "modules_to_save": None,
        "peft_type": "LORA",
        "r": rank,
        "rank_pattern": {},
        "revision": None,
        "target_modules": list(TARGETS),
        "task_type": "CAUSAL_LM",
        "use_dora": False,
        "use_rslora": False,
    }
    return {
        "adapter_config.json": (json.dumps(config, indent=2, sort_keys=True) + "\n").encode(),
        "adapter_model.safetensors": weights,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="verify instead of writing")
    args = parser.parse_args(argv)
    stale = []
    for base, adapter, version, rank, base_id in FIXTURES:
        folder = ROOT / "adapters" / base / adapter / version
        for name, data in fixture_files(base, adapter, rank, base_id).items():
            assert len(data) < MAX_FILE_BYTES, f"{folder / name} would be {len(data)} bytes"
            path = folder / name
            if args.check:
                if not path.is_file() or path.read_bytes() != data:
                    stale.append(str(path.relative_to(ROOT)))
            else:
                folder.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
                print(f"wrote {path.relative_to(ROOT)} ({len(data)} bytes)")
    if stale:
        print("stale fixtures (run tools/make_test_adapters.py):\n  " + "\n  ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
