"""Pure checks and preparation of a LoRA adapter before it is published (no Pulumi, no network).

vLLM refuses some PEFT adapters only when a request first asks for them (``peft_helper.py``:
DoRA, ``modules_to_save``, ``r > --max-lora-rank``), and its filesystem resolver silently
ignores an adapter whose ``base_model_name_or_path`` differs from the server's ``--model``
value (a 404 to the client). Both failures would surface in production, long after
``pulumi up`` succeeded. So every adapter is checked here, at publish time, and its config is
rewritten so the resolver accepts it:

* ``peft_type`` must be ``LORA``; ``r`` must equal the rank declared in the stack;
  ``lora_alpha`` and a non-empty ``target_modules`` must be present;
  ``use_dora`` must be false or absent; ``modules_to_save`` must be null or absent;
* exactly one weights file (``adapter_model.safetensors``, ``.bin`` or ``.pt``); a safetensors
  file must follow the format (header, dtypes, shapes and offsets tiling the data exactly), the
  same checks the ``safetensors`` loader makes before vLLM reads a tensor;
* with the base model's architecture: every tensor in the safetensors header is a LoRA A/B
  pair of a module that exists in the base architecture and is listed in ``target_modules``,
  with shapes ``A: [r, in]``, ``B: [out, r]`` for the declared rank and the base dimensions
  (what vLLM would otherwise refuse, or crash on, at the first request);
* ``base_model_name_or_path`` is rewritten to the serving ``--model`` value (``/mnt/models``
  under KServe), whatever the training run recorded.

The result is a :class:`PreparedAdapter`: the exact bytes to upload with their SHA-256, so
the publisher can tell an unchanged adapter (no-op) from a changed one (update).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

CONFIG_FILE = "adapter_config.json"
WEIGHT_FILES = ("adapter_model.safetensors", "adapter_model.bin", "adapter_model.pt")
# vLLM's --model under KServe: the storage initializer (or the PVC) puts the weights here.
KSERVE_MODEL_PATH = "/mnt/models"
# Files next to the adapter that are worth shipping (tokenizer extensions); anything else is ignored.
OPTIONAL_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "README.md")
# Per-file upload limit of a single PUT (S3 and MinIO: 5 GiB); larger adapters are not LoRA-sized.
MAX_FILE_BYTES = 5 * 1024**3


class AdapterCheckError(ValueError):
    """An adapter vLLM would refuse or never resolve; the message lists every problem."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        super().__init__(f"adapter {source}: " + "; ".join(problems))


@dataclass(frozen=True)
class PreparedAdapter:
    """What gets uploaded for one adapter version."""

    files: dict[str, bytes]
    """File name -> exact bytes to upload (``adapter_config.json`` already rewritten)."""

    @property
    def digests(self) -> dict[str, str]:
        """File name -> SHA-256 hex of the bytes to upload."""
        return {name: hashlib.sha256(data).hexdigest() for name, data in sorted(self.files.items())}

    @property
    def fingerprint(self) -> str:
        """One digest over every file name and content: equal fingerprints, identical upload."""
        h = hashlib.sha256()
        for name, digest in self.digests.items():
            h.update(f"{name}\0{digest}\n".encode())
        return h.hexdigest()


def adapter_prefix(base_model: str, adapter: str, version: str) -> str:
    """Object key prefix of one adapter version: ``adapters/<base>/<adapter>/<version>/``."""
    for label, part in (("base model", base_model), ("adapter", adapter), ("version", version)):
        if not part or "/" in part or part in (".", ".."):
            raise ValueError(f"{label} {part!r} cannot be an object path segment")
    return f"adapters/{base_model}/{adapter}/{version}/"


SAFETENSORS_FILE = "adapter_model.safetensors"
# Bytes per element of every safetensors dtype (huggingface/safetensors, safetensors/src/tensor.rs).
_SAFETENSORS_DTYPES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1, "I16": 2, "U16": 2,
                       "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}
MAX_HEADER_BYTES = 100_000_000  # the loader's own limit


def safetensors_header(data: bytes) -> dict:
    """The JSON header of a valid safetensors file; ValueError saying why ``data`` is not one.

    Checks what the ``safetensors`` loader checks before vLLM reads a tensor: header length,
    JSON object, known dtypes, shapes, offsets inside the buffer and tiling it exactly."""
    if len(data) < 8:
        raise ValueError("shorter than its 8-byte header length")
    (header_len,) = struct.unpack("<Q", data[:8])
    if header_len > min(MAX_HEADER_BYTES, len(data) - 8):
        raise ValueError(f"header length {header_len} exceeds the file")
    try:
        header = json.loads(data[8:8 + header_len].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError("its header is not JSON") from None
    if not isinstance(header, dict):
        raise ValueError("its header is not a JSON object")
    buffer = len(data) - 8 - header_len
    spans: list[tuple[int, int]] = []
    for tensor, info in header.items():
        if tensor == "__metadata__":
            continue
        if not isinstance(info, dict) or info.get("dtype") not in _SAFETENSORS_DTYPES:
            raise ValueError(f"tensor {tensor!r} has no known dtype")
        shape, offsets = info.get("shape"), info.get("data_offsets")
        if not (isinstance(shape, list) and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)):
            raise ValueError(f"tensor {tensor!r} has an invalid shape {shape!r}")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)
                and 0 <= offsets[0] <= offsets[1] <= buffer):
            raise ValueError(f"tensor {tensor!r} has data offsets {offsets!r} outside the {buffer}-byte data buffer")
        if offsets[1] - offsets[0] != math.prod(shape) * _SAFETENSORS_DTYPES[info["dtype"]]:
            raise ValueError(f"tensor {tensor!r} holds {offsets[1] - offsets[0]} bytes, not what shape {shape} of "
                             f"{info['dtype']} needs")
        spans.append((offsets[0], offsets[1]))
    if not spans:
        raise ValueError("it holds no tensors")
    end = 0
    for begin, stop in sorted(spans):
        if begin != end:
            raise ValueError(f"tensor data overlaps or leaves a gap at byte {end}")
        end = stop
    if end != buffer:
        raise ValueError(f"{buffer - end} bytes after the last tensor")
    return header


def config_problems(config: object, declared_rank: int) -> list[str]:
    """Why vLLM would refuse this ``adapter_config.json`` (empty when it is acceptable)."""
    if not isinstance(config, dict):
        return [f"{CONFIG_FILE} must be a JSON object, not {type(config).__name__}"]
    problems = []
    peft_type = config.get("peft_type")
    if peft_type != "LORA":
        problems.append(f"peft_type is {peft_type!r}; only 'LORA' adapters can be served by vLLM")
    rank = config.get("r")
    if not isinstance(rank, int) or isinstance(rank, bool):
        problems.append(f"r is {rank!r}; it must be the integer LoRA rank")
    elif rank != declared_rank:
        problems.append(f"r is {rank} but the stack declares rank {declared_rank}; fix models.adapters[].rank or the adapter")
    if not isinstance(config.get("lora_alpha"), (int, float)) or isinstance(config.get("lora_alpha"), bool):
        problems.append(f"lora_alpha is {config.get('lora_alpha')!r}; vLLM needs a number")
    targets = config.get("target_modules")
    if not targets or not isinstance(targets, (list, str)):
        problems.append(f"target_modules is {targets!r}; list the adapted modules, e.g. ['q_proj', 'v_proj']")
    if config.get("use_dora"):
        problems.append("use_dora is true; vLLM does not serve DoRA adapters (merge or retrain as plain LoRA)")
    if config.get("modules_to_save") is not None:
        problems.append(f"modules_to_save is {config.get('modules_to_save')!r}; vLLM refuses adapters that replace "
                        "whole modules (set it to null)")
    return problems


def rewrite_config(config: dict, model_path: str = KSERVE_MODEL_PATH) -> bytes:
    """``adapter_config.json`` bytes with ``base_model_name_or_path`` set to ``model_path``.

    vLLM's filesystem resolver compares this field to the server's ``--model`` value, never to
    the served name; a mismatch makes the adapter invisible. Output is deterministic (sorted
    keys) so an unchanged adapter hashes the same on every run.
    """
    rewritten = dict(config)
    rewritten["base_model_name_or_path"] = model_path
    return (json.dumps(rewritten, indent=2, sort_keys=True) + "\n").encode()


# PEFT's tensor names for a Llama/Qwen-style causal LM: base_model.model.model.layers.<i>.<block>.<module>.lora_<A|B>.weight
LORA_TENSOR = re.compile(r"^base_model\.model\.model\.layers\.(\d+)\.(self_attn|mlp)\.([A-Za-z0-9_]+)\.lora_([AB])\.weight$")


class BaseDimensions(Protocol):
    """What the tensor checks need of the base model (``capacity.ModelArch`` has it)."""

    name: str
    layers: int

    def lora_modules(self) -> dict[str, tuple[int, int, str]]: ...


def tensor_problems(header: dict, config: dict, base: BaseDimensions) -> list[str]:
    """Why vLLM would fail to load these LoRA tensors onto ``base`` (empty when they fit).

    Each ``lora_A`` must be ``[r, in]`` and each ``lora_B`` ``[out, r]`` with ``r`` the declared
    rank (or its ``rank_pattern`` override) and ``in``/``out`` the base module's dimensions;
    every module must exist in the base architecture and be listed in ``target_modules``;
    layer indices must exist; A and B come in pairs."""
    modules = base.lora_modules()
    targets = config.get("target_modules")
    targets = set(targets) if isinstance(targets, list) else None  # a regex string: checked per tensor below
    rank_pattern = config.get("rank_pattern") or {}
    problems: list[str] = []
    pairs: dict[tuple[int, str], set[str]] = {}
    for name, info in sorted(header.items()):
        if name == "__metadata__":
            continue
        m = LORA_TENSOR.match(name)
        if not m:
            problems.append(f"tensor {name!r} is not a PEFT LoRA A/B weight of a decoder layer")
            continue
        layer, module, ab = int(m.group(1)), m.group(3), m.group(4)
        pairs.setdefault((layer, module), set()).add(ab)
        if module not in modules:
            problems.append(f"tensor {name!r}: {base.name} has no module {module!r} (it has {', '.join(sorted(modules))})")
            continue
        if targets is not None and module not in targets:
            problems.append(f"tensor {name!r}: module {module!r} is not in target_modules {sorted(targets)}")
        if layer >= base.layers:
            problems.append(f"tensor {name!r}: layer {layer} does not exist ({base.name} has {base.layers} layers)")
        rank = next((int(r) for pat, r in rank_pattern.items() if re.search(pat, name)), config.get("r"))
        fan_in, fan_out, _ = modules[module]
        want = [rank, fan_in] if ab == "A" else [fan_out, rank]
        shape = info.get("shape") if isinstance(info, dict) else None
        if shape != want:
            problems.append(f"tensor {name!r} has shape {shape}; rank {rank} on {base.name}'s {module} "
                            f"({fan_in} -> {fan_out}) needs {want}")
    for (layer, module), found in sorted(pairs.items()):
        if found != {"A", "B"}:
            problems.append(f"layer {layer} {module}: lora_{'B' if 'A' in found else 'A'} is missing")
    if isinstance(config.get("target_modules"), list):
        for module in sorted(set(config["target_modules"]) - set(modules)):
            problems.append(f"target module {module!r} does not exist in {base.name} (it has {', '.join(sorted(modules))})")
    if not pairs:
        problems.append("no LoRA tensors in the weights file")
    return problems


def prepare_adapter(source_dir: Path | str, declared_rank: int, model_path: str = KSERVE_MODEL_PATH,
                    base: BaseDimensions | None = None) -> PreparedAdapter:
    """Check the adapter in ``source_dir`` and return the files to upload; raise AdapterCheckError.

    ``base``: the base model's architecture; the safetensors header's shapes and module names
    are then checked against it (``tensor_problems``)."""
    source = Path(source_dir)
    if not source.is_dir():
        raise AdapterCheckError(str(source), ["directory does not exist"])
    problems: list[str] = []
    config_path = source / CONFIG_FILE
    config: object = None
    if not config_path.is_file():
        problems.append(f"{CONFIG_FILE} is missing")
    else:
        try:
            config = json.loads(config_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            problems.append(f"{CONFIG_FILE} is not valid JSON ({exc})")
        else:
            problems.extend(config_problems(config, declared_rank))
    weights = [name for name in WEIGHT_FILES if (source / name).is_file()]
    if not weights:
        problems.append(f"no weights file; expected one of {', '.join(WEIGHT_FILES)}")
    elif len(weights) > 1:
        problems.append(f"several weights files ({', '.join(weights)}); keep exactly one")
    for name in weights:
        size = (source / name).stat().st_size
        if size == 0:
            problems.append(f"{name} is empty")
        elif size > MAX_FILE_BYTES:
            problems.append(f"{name} is {size} bytes, above the {MAX_FILE_BYTES}-byte single-upload limit")
        elif name == SAFETENSORS_FILE:
            try:
                header = safetensors_header((source / name).read_bytes())
            except ValueError as exc:
                problems.append(f"{name} is not a valid safetensors file ({exc})")
            else:
                # Shapes against the base only once the config is sound (tensor_problems reads r, target_modules).
                if base is not None and not problems:
                    problems.extend(tensor_problems(header, config, base))
    if problems:
        raise AdapterCheckError(str(source), problems)
    assert isinstance(config, dict)
    files = {CONFIG_FILE: rewrite_config(config, model_path)}
    for name in weights + [n for n in OPTIONAL_FILES if (source / n).is_file()]:
        files[name] = (source / name).read_bytes()
    return PreparedAdapter(files=files)


@dataclass(frozen=True)
class PublishPlan:
    """What one publish of an adapter version must do against the store's current content."""

    upload: tuple[str, ...]
    """Files whose object is missing or holds other content."""
    unchanged: tuple[str, ...]
    """Files already stored with the same SHA-256."""


class ImmutableVersionError(ValueError):
    """A published version already holds other content: versions are immutable."""


def plan_publish(wanted: dict[str, str], stored: dict[str, str | None], prefix: str = "") -> PublishPlan:
    """Compare wanted file digests with what the store holds (name -> stored SHA-256 or None).

    A file already stored with a *different* digest is refused: registries pin a version's
    content, so new content must be published under a new version."""
    clashes = sorted(n for n, d in wanted.items() if stored.get(n) not in (None, d))
    if clashes:
        raise ImmutableVersionError(
            f"published version {prefix or '(this prefix)'} is immutable: "
            + "; ".join(f"{n} is stored with sha256 {stored[n]}, the source has {wanted[n]}" for n in clashes)
            + "; publish the new content under a new version")
    upload = tuple(sorted(n for n, d in wanted.items() if stored.get(n) != d))
    unchanged = tuple(sorted(n for n, d in wanted.items() if stored.get(n) == d))
    return PublishPlan(upload=upload, unchanged=unchanged)


def republish_refusal(old: dict, new: dict) -> str | None:
    """Why an update must be refused before it runs, or None.

    A version already uploaded (the state's ``digests``, mode ``upload``) at the same location is
    immutable: servers may have cached it by name and clients may pin it, so new content under
    it would serve different weights under an old name. Checked from the state alone, so
    ``preview`` refuses it too; ``plan_publish`` refuses the same against the store itself when
    the state is gone."""
    if not old or old.get("mode") != "upload" or new.get("mode") != "upload":
        return None
    if any(old.get(k) != new.get(k) for k in REPLACE_KEYS) or old.get("digests") == new.get("digests"):
        return None
    before, after = dict(old.get("digests") or {}), dict(new.get("digests") or {})
    changed = sorted(n for n in set(before) | set(after) if before.get(n) != after.get(n))
    return (f"version {new.get('prefix')} is already published and versions are immutable; "
            f"the source changed ({', '.join(changed)}): publish the new content under a new "
            f"version (a new `version` for this adapter in the stack's adapters list)")


# Inputs whose change means a different object location: the old version stays, a new one is created.
REPLACE_KEYS = ("endpoint", "bucket", "prefix")


def diff_inputs(old: dict, new: dict) -> tuple[bool, list[str], list[str]]:
    """(changes, replaces, changed keys) of a publisher resource between two input sets.

    Credentials rotate without re-uploading anything; the location (endpoint, bucket, prefix)
    decides replacement; the digests decide whether content must be uploaded again.
    """
    keys = ("endpoint", "bucket", "prefix", "digests", "mode")
    changed = [k for k in keys if old.get(k) != new.get(k)]
    replaces = [k for k in changed if k in REPLACE_KEYS]
    return bool(changed), replaces, changed
