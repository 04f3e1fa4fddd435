"""A seeded generator of stack-file variants built from the real stack files.

Every variant is either *invalid* with the one field a user must edit (``expect`` is that
dotted path, ``(file)`` for the file as a whole) or *valid* (``expect`` is None: it must
render). Categories follow issue #16: file-level problems, names, numbers, engine values,
files named by the config, and valid look-alikes of each trap.
"""

from __future__ import annotations

import json
import random
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import yaml

from infra.config import PROJECT
from infra.stack_file import parse_stack_yaml

REPO = Path(__file__).resolve().parents[2]
STACKS = ("local", "dev", "staging", "prod", "airgap")
PLACEHOLDER = "__FUZZ_PLACEHOLDER__"


@dataclass(frozen=True)
class Variant:
    category: str
    name: str
    data: bytes
    expect: str | None
    """Dotted field path the refusal must name, or None for a variant that must render."""
    what: str


def load(stack: str) -> dict[str, Any]:
    return parse_stack_yaml((REPO / "stacks" / f"Pulumi.{stack}.yaml").read_bytes())


def dump(doc: dict[str, Any], raw: str | None = None) -> bytes:
    """YAML of ``doc``; the placeholder string (value or key) is replaced by ``raw`` verbatim."""
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=4096)
    if raw is not None:
        assert PLACEHOLDER in text, "placeholder lost in the dump"
        text = text.replace(PLACEHOLDER, raw)
    return text.encode()


def section(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return doc["config"].setdefault(f"{PROJECT}:{name}", {})


def set_path(doc: dict[str, Any], dotted: list[str | int], value: Any) -> None:
    """Set ``section.a.b`` (first element is the section) creating mappings on the way."""
    node: Any = section(doc, str(dotted[0]))
    for part in dotted[1:-1]:
        node = node[part] if isinstance(part, int) else node.setdefault(part, {})
    node[dotted[-1]] = value


def dotted(path: list[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def mappings(value: Any, path: list[str | int]) -> Iterator[tuple[list[str | int], dict]]:
    if isinstance(value, dict):
        yield path, value
        for k, v in value.items():
            yield from mappings(v, path + [k])
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from mappings(v, path + [i])


def scalars(value: Any, path: list[str | int]) -> Iterator[list[str | int]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from scalars(v, path + [k])
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from scalars(v, path + [i])
    else:
        yield path


def project_paths(doc: dict[str, Any], pick: Callable[[Any, list], Iterator]) -> list[list[str | int]]:
    out = []
    for key, value in doc["config"].items():
        if key.startswith(f"{PROJECT}:"):
            out.extend(pick(value, [key[len(PROJECT) + 1:]]))
    return out


def typo(word: str, rng: random.Random) -> str:
    while True:
        i = rng.randrange(len(word))
        op = rng.choice(["swap", "drop", "replace", "dup"])
        if op == "swap" and i < len(word) - 1:
            out = word[:i] + word[i + 1] + word[i] + word[i + 2:]
        elif op == "drop":
            out = word[:i] + word[i + 1:]
        elif op == "replace":
            out = word[:i] + rng.choice("abcdefghijklmnopqrstuvwxyz_") + word[i + 1:]
        else:
            out = word[:i] + word[i] + word[i:]
        if out != word and ":" not in out:
            return out


# ----------------------------------------------------------------------------------- values

BAD_LABEL = ["Bad", "a_b", "-abc", "abc-", "a" * 64, "", "a.b", "ünï", "a b", "a/b"]
BAD_SUBDOMAIN = ["Bad", "a_b", "-abc", "abc.", "a" * 254, "", "a..b", "a b", "x/y"]
BAD_BUCKET = ["ab", "A-bucket", "a" * 64, "192.168.0.1", "a..b", "xn--abc", "bucket_", "-abc", "a b"]
BAD_QUANTITY = ["0", "-1", "1.5.5", "abc", "10Q", "", "1 Gi", "0m", "1e"]
BAD_URL = ["ftp://prom:9090", "prom:9090", "http://", "http://user:pass@prom:9090", "http://prom:99999", "http://pr om", ""]
BAD_REGISTRY = ["https://r.io", "r.io/", "R_IO", "", "r.io:0", "r.io:70000", "r.io/x"]
BAD_REPOSITORY = ["Vllm/Openai", "vllm//openai", "/vllm", "vllm/", "vllm openai", ""]
BAD_TAG = ["", ".v1", "-v1", "v1 2", "a" * 129, "v1/2"]
BAD_LABEL_KEY = ["a b", "-a", "a" * 64, "Bad_/x", "/x", "a/b/c", ""]
BAD_LABEL_VALUE = ["a b", "-a", "a" * 64, "x/y", "ä"]
BAD_PROM_LABEL = ["1a", "__x", "a-b", "a.b", ""]
BAD_SERVED = ["a/b", "a b", "..", "-x", "x" * 129, "", "a..b"]
BAD_PATH_SEGMENT = ["Llama/8b", "a b", "UPPER", "..", "-x", "x" * 64]
BAD_DURATION = ["10", "1d", "forever", "-5m", "5 m"]
BAD_AMI = ["al2023", "ubuntu@latest", "al2023@", "@latest"]
IMAGES = {"vllmImage": {"registry": "docker.io", "repository": "vllm/vllm-openai", "tag": "v0.33.0"},
          "image": {"registry": "quay.io", "repository": "minio/minio", "tag": "RELEASE.2025-09-07T16-13-09Z"}}
NON_FINITE = [float("nan"), float("inf"), float("-inf")]
BIG_INTS = [2**63, 2**64, -(2**63) - 1, 10**30]


def _services(doc) -> list[str]:
    return list(section(doc, "serving").get("services", {}))


def _pools(doc) -> list[str]:
    return list(section(doc, "gpu").get("pools", {}))


def name_targets(doc) -> list[tuple[list, list]]:
    """(path, bad values) of every name-like field that applies to ``doc``."""
    t: list[tuple[list, list]] = [
        (["serving", "namespace"], BAD_LABEL), (["storage", "minio", "namespace"], BAD_LABEL),
        (["gpu", "operator", "namespace"], BAD_LABEL), (["observability", "namespace"], BAD_LABEL),
        (["serving", "kserve", "namespace"], BAD_LABEL), (["serving", "keda", "namespace"], BAD_LABEL),
        (["storage", "adaptersBucket"], BAD_BUCKET), (["storage", "modelsBucket"], BAD_BUCKET),
        (["storage", "minio", "storageClass"], BAD_SUBDOMAIN), (["storage", "minio", "cpu"], BAD_QUANTITY),
        (["storage", "minio", "publishEndpoint"], BAD_URL), (["observability", "prometheusUrl"], BAD_URL),
        (["observability", "releaseLabel"], BAD_LABEL_VALUE),
        (["models", "vllmImage", "registry"], BAD_REGISTRY), (["models", "vllmImage", "repository"], BAD_REPOSITORY),
        (["models", "vllmImage", "tag"], BAD_TAG), (["storage", "minio", "image", "registry"], BAD_REGISTRY),
        (["serving", "kserve", "knative", "domain"], BAD_SUBDOMAIN),
    ]
    for svc in _services(doc):
        t += [(["serving", "services", svc, "cpu"], BAD_QUANTITY), (["serving", "services", svc, "servedName"], BAD_SERVED)]
    for pool in _pools(doc):
        base = ["gpu", "pools", pool]
        t += [(base + ["expireAfter"], BAD_DURATION), (base + ["amiAlias"], BAD_AMI),
              (base + ["terminationGracePeriod"], BAD_DURATION[:-1])]
    for key, model in section(doc, "models").get("baseModels", {}).items():
        t.append((["models", "baseModels", key, "servedName"], BAD_SERVED))
        if model["source"]["kind"] == "pvc":
            t.append((["models", "baseModels", key, "source", "claimName"], BAD_SUBDOMAIN))
    airgap = section(doc, "airgap")
    if airgap.get("caBundle"):
        t += [(["airgap", "caBundle", "configMap"], BAD_SUBDOMAIN), (["airgap", "registry"], BAD_REGISTRY[:3] + ["r.io/UP"])]
    return t


def map_key_targets(doc) -> list[tuple[list, list, str]]:
    """(mapping path, bad keys, kind) for mappings whose keys are names."""
    t: list[tuple[list, list, str]] = [(["observability", "extraAlertLabels"], BAD_PROM_LABEL, "prometheus label")]
    for pool in _pools(doc):
        t.append((["gpu", "pools", pool, "labels"], BAD_LABEL_KEY, "label key"))
    return t


# ------------------------------------------------------------------------------- generators

def gen_file_level(rng: random.Random, n: int) -> Iterator[Variant]:
    kinds = ["not-mapping", "not-utf8", "not-yaml", "multi-doc", "tag", "duplicate", "no-namespace", "near-miss", "top-level",
             "alias-bomb", "section-scalar"]
    for i in range(n):
        stack = rng.choice(STACKS)
        doc = load(stack)
        text = (REPO / "stacks" / f"Pulumi.{stack}.yaml").read_text()
        kind = kinds[i % len(kinds)]
        name = f"file-{kind}-{i}"
        if kind == "not-mapping":
            data = rng.choice([b"- a\n- b\n", b"just a string\n", b"42\n", yaml.safe_dump([doc]).encode()])
            yield Variant("file", name, data, "(file)", "top level is not a mapping")
        elif kind == "not-utf8":
            raw = text.encode()
            choice = rng.randrange(3)
            if choice == 0:
                data = text.encode("utf-16")
            elif choice == 1:
                at = rng.randrange(len(raw))
                data = raw[:at] + b"\xff\xfe" + raw[at:]
            else:
                data = raw.replace(b"#", "# caf\u00e9".encode("latin-1"), 1) if b"#" in raw else b"\xe9" + raw
            yield Variant("file", name, data, "(file)", "not UTF-8")
        elif kind == "not-yaml":
            lines = text.splitlines(keepends=True)
            at = rng.randrange(1, len(lines))
            junk = rng.choice(["  broken: [unclosed\n", "\tindented: with-a-tab\n", "  quote: \"unterminated\n", "  : nokey: x\n  - y\n"])
            data = "".join(lines[:at] + [junk] + lines[at:]).encode()
            yield Variant("file", name, data, "(file)", f"not YAML: {junk.strip()}")
        elif kind == "multi-doc":
            data = (text + "---\n" + rng.choice([text, "config: {}\n", "foo: 1\n"])).encode()
            yield Variant("file", name, data, "(file)", "two documents")
        elif kind == "tag":
            path = rng.choice(project_paths(doc, scalars))
            set_path(doc, path, PLACEHOLDER)
            tag = rng.choice(["!Ref x", "!!python/object:os.system x", "!!binary aGVsbG8=", "!!set {a: null}",
                              "!!timestamp 2020-01-01", "!!omap [a: 1]", "!Secret x"])
            yield Variant("file", name, dump(doc, tag), dotted(path), f"tag {tag}")
        elif kind == "duplicate":
            path, mapping = rng.choice([(p, m) for p, m in project_paths(doc, mappings) if m])
            key = rng.choice(list(mapping))
            if not isinstance(key, str) or any(c in key for c in ":{}[],&*#?|<>=!%@`'\"") or key.strip() != key:
                key = next(iter(mapping))
            mapping[PLACEHOLDER] = mapping[key]
            yield Variant("file", name, dump(doc, key), dotted(path + [key]), f"duplicate key {key}")
        elif kind == "no-namespace":
            key = rng.choice([k for k in doc["config"] if k.startswith(PROJECT)])
            bare = key[len(PROJECT) + 1:]
            doc["config"] = {(bare if k == key else k): v for k, v in doc["config"].items()}
            yield Variant("file", name, dump(doc), f"config.{bare}", "key without namespace")
        elif kind == "near-miss":
            key = rng.choice([k for k in doc["config"] if k.startswith(PROJECT)])
            wrong = f"{typo(PROJECT, rng)}:{key[len(PROJECT) + 1:]}"
            doc["config"] = {(wrong if k == key else k): v for k, v in doc["config"].items()}
            yield Variant("file", name, dump(doc), f"config.{wrong}", "namespace typo")
        elif kind == "alias-bomb":
            key = rng.choice([k for k in doc["config"] if k.startswith(PROJECT)])
            levels = ["a0: &a0 [" + ", ".join(["x"] * 10) + "]"]
            levels += [f"a{n}: &a{n} [" + ", ".join([f"*a{n - 1}"] * 10) + "]" for n in range(1, 8)]
            doc["config"][key] = PLACEHOLDER
            raw = "\n" + "\n".join("    " + line for line in levels)
            yield Variant("file", name, dump(doc, raw).replace(f"{key}: {raw}".encode(), f"{key}:{raw}".encode()),
                          key[len(PROJECT) + 1:], "alias expansion bomb")
        elif kind == "section-scalar":
            key = rng.choice([k for k in doc["config"] if k.startswith(PROJECT)])
            doc["config"][key] = rng.choice(["render", 1, True, ["a"]])
            yield Variant("file", name, dump(doc), key[len(PROJECT) + 1:], "section is not a mapping")
        else:
            extra = rng.choice(["configs", "Config", "stack", "environments"])
            doc[extra] = {}
            yield Variant("file", name, dump(doc), extra, "unknown top-level key")


def gen_names(rng: random.Random, n: int) -> Iterator[Variant]:
    for i in range(n):
        stack = rng.choice(STACKS)
        doc = load(stack)
        choice = i % 4
        if choice == 3:
            # a mapping whose keys are names
            path, bad, kind = rng.choice(map_key_targets(doc))
            key = rng.choice(bad)
            set_path(doc, path + [key], "x")
            yield Variant("names", f"names-key-{i}", dump(doc), dotted(path + [key]), f"{kind} {key!r}")
            continue
        if choice == 2:
            # a base-model or pool key that cannot be a path segment / name; references follow it
            kind = rng.choice(["baseModels", "pools"])
            if kind == "baseModels":
                models = section(doc, "models")["baseModels"]
                old = rng.choice(list(models))
                new = rng.choice(BAD_PATH_SEGMENT)
                models[new] = models.pop(old)
                for svc in section(doc, "serving").get("services", {}).values():
                    if svc["baseModel"] == old:
                        svc["baseModel"] = new
                for adapter in section(doc, "models").get("adapters", []):
                    if adapter["baseModel"] == old:
                        adapter["baseModel"] = new
                yield Variant("names", f"names-base-{i}", dump(doc), f"models.baseModels.{new}", f"base model key {new!r}")
            else:
                pools = section(doc, "gpu")["pools"]
                old = rng.choice(list(pools))
                new = rng.choice(BAD_LABEL)
                if new == "":
                    new = "Bad"
                pools[new] = pools.pop(old)
                for svc in section(doc, "serving").get("services", {}).values():
                    if svc["pool"] == old:
                        svc["pool"] = new
                yield Variant("names", f"names-pool-{i}", dump(doc), f"gpu.pools.{new}", f"pool key {new!r}")
            continue
        path, bad = rng.choice(name_targets(doc))
        value = rng.choice(bad)
        if path[-2] in IMAGES:  # structured config replaces the default image whole: give every part
            set_path(doc, path[:-1], dict(IMAGES[path[-2]]))
        set_path(doc, path, value)
        yield Variant("names", f"names-{i}", dump(doc), dotted(path), f"{dotted(path)} = {value!r}")


def gen_numbers(rng: random.Random, n: int) -> Iterator[Variant]:
    for i in range(n):
        stack = rng.choice(STACKS)
        doc = load(stack)
        svc = rng.choice(_services(doc))
        if i % 2 == 0:
            path = rng.choice([["serving", "services", svc, "engine", "gpuMemoryUtilization"],
                               ["serving", "services", svc, "autoscaling", "target"],
                               ["observability", "thresholds", "kvCacheUsage"],
                               ["observability", "thresholds", "requestsWaiting"]])
            value = rng.choice(NON_FINITE)
        else:
            pool = rng.choice(_pools(doc))
            path = rng.choice([["serving", "services", svc, "engine", "maxModelLen"], ["gpu", "pools", pool, "gpusPerNode"],
                               ["storage", "minio", "storageGib"], ["serving", "services", svc, "replicas", "max"],
                               ["serving", "services", svc, "memoryGib"]])
            value = rng.choice(BIG_INTS)
        set_path(doc, path, value)
        yield Variant("numbers", f"numbers-{i}", dump(doc), dotted(path), f"{dotted(path)} = {value!r}")


def gen_engine(rng: random.Random, n: int) -> Iterator[Variant]:
    from components.models.capacity import CATALOG
    from policies.llm_platform_policies import POLICY_NAMES

    for i in range(n):
        choice = i % 6
        if choice == 0:  # maxModelLen above the context
            stack = rng.choice(STACKS)
            doc = load(stack)
            svc = rng.choice(_services(doc))
            base = section(doc, "models")["baseModels"][section(doc, "serving")["services"][svc]["baseModel"]]
            value = CATALOG[base["architecture"]].max_context + rng.choice([1, 1024, 10**6])
            path = ["serving", "services", svc, "engine", "maxModelLen"]
        elif choice == 1:  # an image tag the argument spec does not describe
            stack = rng.choice(STACKS)
            doc = load(stack)
            value = rng.choice(["v0.32.0", "v0.34.1", "0.33.1", "nightly", "v0.33.0-cu128", "latest"])
            set_path(doc, ["models", "vllmImage"], dict(IMAGES["vllmImage"]))
            path = ["models", "vllmImage", "tag"]
        elif choice == 2:  # MIG slices a node cannot hold
            stack = rng.choice(["staging", "prod", "airgap"])
            doc = load(stack)
            pools = section(doc, "gpu")["pools"]
            svcs = [(s, v) for s, v in section(doc, "serving")["services"].items() if v.get("gpu", {}).get("migProfile")]
            svc, spec = rng.choice(svcs)
            pool = pools[spec["pool"]]
            per_node = pool["sharing"]["layout"][spec["gpu"]["migProfile"]] * pool.get("gpusPerNode", 8)
            value = per_node * spec.get("engine", {}).get("pipelineParallel", 1) + rng.randint(1, 8)
            path = ["serving", "services", svc, "gpu", "count"]
        elif choice == 3:  # CA bundle mounted over a platform or system directory
            stack = "airgap"
            doc = load(stack)
            value = rng.choice(["/mnt/models", "/mnt/models/ca", "/tmp/ca", "/mnt", "/etc", "/dev/shm/ca", "/mnt/lora-cache",
                                "relative/ca", "/etc/llm/../ssl", "/data", "/opt/lora-sync/x", "/"])
            path = ["airgap", "caBundle", "mountPath"]
        elif choice == 4:  # unknown policy names
            stack = rng.choice(STACKS)
            doc = load(stack)
            value = "mandatory"
            wrong = typo(rng.choice(POLICY_NAMES), rng)
            if wrong in POLICY_NAMES:
                wrong += "-x"
            path = ["policy", "overrides", wrong]
        else:  # a service name whose derived objects exceed the limits
            stack = rng.choice(STACKS)
            doc = load(stack)
            services = section(doc, "serving")["services"]
            old = rng.choice(list(services))
            knative = section(doc, "serving").get("kserve", {}).get("mode") == "Knative"
            limit = 48 if services[old].get("frontend") == "llm-d" else (47 if knative else 53)
            new = ("svc-" + "a" * 70)[:rng.randint(limit + 1, 63)]
            services[new] = services.pop(old)
            yield Variant("engine", f"engine-name-{i}", dump(doc), f"serving.services.{new}", f"service name of {len(new)}")
            continue
        set_path(doc, path, value)
        yield Variant("engine", f"engine-{i}", dump(doc), dotted(path), f"{dotted(path)} = {value!r}")


def _corrupt_adapters(root: Path) -> list[tuple[str, str]]:
    """Broken copies of a real adapter under ``root`` (inside the project): (dir, what is broken)."""
    source = REPO / "adapters" / "llama-3.1-8b" / "sql" / "v2026-11-01"
    weights = (source / "adapter_model.safetensors").read_bytes()
    config = json.loads((source / "adapter_config.json").read_text())
    (header_len,) = struct.unpack("<Q", weights[:8])
    header = json.loads(weights[8:8 + header_len])
    first = next(k for k in header if k != "__metadata__")

    def with_header(h: dict) -> bytes:
        raw = json.dumps(h).encode()
        return struct.pack("<Q", len(raw)) + raw + weights[8 + header_len:]

    broken: dict[str, tuple[str, dict[str, bytes]]] = {
        "truncated": ("safetensors cut short", {"adapter_model.safetensors": weights[: len(weights) // 2]}),
        "header-len": ("header length beyond the file", {"adapter_model.safetensors": struct.pack("<Q", 10**12) + weights[8:]}),
        "header-json": ("header not JSON", {"adapter_model.safetensors": struct.pack("<Q", 8) + b"notjson!" + weights[16:]}),
        "dtype": ("unknown dtype", {"adapter_model.safetensors": with_header({**header, first: {**header[first], "dtype": "F17"}})}),
        "offsets": ("offsets outside", {"adapter_model.safetensors": with_header(
            {**header, first: {**header[first], "data_offsets": [0, 10**9]}})}),
        "shape": ("shape mismatch", {"adapter_model.safetensors": with_header(
            {**header, first: {**header[first], "shape": [1, 1]}})}),
        "pickle": ("a pickle named .safetensors", {"adapter_model.safetensors": b"\x80\x04\x95" + b"\x00" * 64}),
        "empty": ("empty weights", {"adapter_model.safetensors": b""}),
        "config-json": ("config not JSON", {"adapter_config.json": b"{not json"}),
        "peft": ("not LoRA", {"adapter_config.json": json.dumps({**config, "peft_type": "IA3"}).encode()}),
        "dora": ("DoRA", {"adapter_config.json": json.dumps({**config, "use_dora": True}).encode()}),
        "rank": ("rank differs", {"adapter_config.json": json.dumps({**config, "r": config["r"] * 2}).encode()}),
        "no-weights": ("no weights", {"adapter_model.safetensors": None}),  # type: ignore[dict-item]
    }
    out = []
    for key, (what, files) in broken.items():
        target = root / key
        shutil.copytree(source, target)
        for name, data in files.items():
            if data is None:
                (target / name).unlink()
            else:
                (target / name).write_bytes(data)
        out.append((str(target.relative_to(REPO)), what))
    (root / "link").symlink_to(source, target_is_directory=True)
    out.append((str((root / "link").relative_to(REPO)), "a symlink"))
    (root / "file-link").mkdir()
    for f in source.iterdir():
        (root / "file-link" / f.name).symlink_to(f)
    out.append((str((root / "file-link").relative_to(REPO)), "files are symlinks"))
    out += [("adapters/does-not-exist", "missing"), ("adapters/llama-3.1-8b/sql/v2026-11-01/adapter_config.json", "a file"),
            ("../outside-the-project", "outside the project"), ("/etc", "absolute, outside the project")]
    return out


def _bad_ca_files(root: Path) -> list[tuple[str, str]]:
    real = (REPO / "stacks" / "airgap-ca.pem").read_text()
    key = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"
    files = {
        "key.pem": ("a private key", key),
        "cert-and-key.pem": ("certificate plus key", real + key),
        "ec-key.pem": ("an EC key", key.replace("PRIVATE KEY", "EC PRIVATE KEY")),
        "garbage.pem": ("not PEM", "hello\n"),
        "empty.pem": ("empty", ""),
        "bad-base64.pem": ("a certificate that does not parse", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
        "csr.pem": ("a CSR", real.replace("CERTIFICATE", "CERTIFICATE REQUEST")),
    }
    out = []
    for name, (what, text) in files.items():
        (root / name).write_text(text)
        out.append((str((root / name).relative_to(REPO)), what))
    (root / "binary.pem").write_bytes(b"\x00\xff" * 20)
    out.append((str((root / "binary.pem").relative_to(REPO)), "binary"))
    out += [("stacks/missing-ca.pem", "missing"), ("stacks", "a directory"), ("../outside.pem", "outside the project")]
    return out


def gen_files(rng: random.Random, n: int, root: Path) -> Iterator[Variant]:
    adapters = _corrupt_adapters(root / "adapters")
    cas = _bad_ca_files(root)
    for i in range(n):
        if i % 3 == 2:
            doc = load("airgap")
            file, what = cas[(i // 3) % len(cas)]
            set_path(doc, ["airgap", "caBundle", "file"], file)
            yield Variant("files", f"files-ca-{i}", dump(doc), "airgap.caBundle.file", f"CA bundle: {what}")
            continue
        stack = rng.choice([s for s in STACKS if section(load(s), "models").get("adapters")])
        doc = load(stack)
        listed = section(doc, "models")["adapters"]
        index = rng.randrange(len(listed))
        source, what = adapters[(i - i // 3) % len(adapters)]
        # The fixture's rank is 16; keep the declared rank consistent so only the folder is wrong.
        listed[index] = {**listed[index], "sourceDir": source, "rank": 16, "baseModel": listed[index]["baseModel"]}
        for svc in section(doc, "serving")["services"].values():
            if svc["baseModel"] == listed[index]["baseModel"]:
                svc.setdefault("engine", {})["maxLoraRank"] = max(16, svc.get("engine", {}).get("maxLoraRank", 16))
        yield Variant("files", f"files-adapter-{i}", dump(doc), f"models.adapters[{index}].sourceDir", f"adapter: {what}")


ANY_FIELD = "*"
"""``expect`` of a blind mutation: it may render or be refused naming any field (a cross-field rule
may name the other end), but it must never crash."""
WEIRD = [None, [], {}, -1, 0, 1, 2**40, 1.5, float("nan"), "", "x", "\u03a9", "a" * 300, True, False, "../x", "-1",
         "0", "latest", "/", "a b", {"a": 1}, [1, 2]]


def gen_leaves(rng: random.Random, n: int) -> Iterator[Variant]:
    """Blind mutations: any leaf of any stack replaced by a value of another type or shape."""
    for i in range(n):
        doc = load(rng.choice(STACKS))
        path = rng.choice(project_paths(doc, scalars))
        value = rng.choice(WEIRD)
        set_path(doc, path, value)
        yield Variant("leaves", f"leaves-{i}", dump(doc), ANY_FIELD, f"{dotted(path)} = {value!r}"[:120])


def _tenant_stacks() -> list[str]:
    return [s for s in STACKS if section(load(s), "tenants")]


def tenant_targets(doc) -> list[tuple[list, Any, str]]:
    """(path, bad value, expected field) of the tenant, gate and network sections of ``doc``."""
    tenants = section(doc, "tenants")
    name = sorted(tenants)[0]
    key = sorted(tenants[name]["keys"])[0]
    t: list[tuple[list, Any, str]] = []
    for bad in (0, -1, 2**31, "1", True, 1.5):
        t.append((["tenants", name, "keys", key], bad, f"tenants.{name}.keys.{key}"))
        t.append((["tenants", name, "maxConcurrent"], bad, f"tenants.{name}.maxConcurrent"))
        t.append((["tenants", name, "maxRequestsPerWindow"], bad, f"tenants.{name}.maxRequestsPerWindow"))
    for bad in ("nope:*", "x y", "base:a\nevil 1", "", ":*", 7):
        t.append((["tenants", name, "grants"], [bad], f"tenants.{name}.grants[0]"))
    t.append((["tenants", name, "grants"], [], f"tenants.{name}.grants"))
    t.append((["tenants", name, "keys"], {}, f"tenants.{name}.keys"))
    t += [(["gate", "vllmPort"], 8080, "gate.vllmPort"), (["gate", "metricsPort"], 9091, "gate.metricsPort"),
          (["gate", "vllmPort"], 80, "gate.vllmPort"), (["gate", "cpu"], "lots", "gate.cpu"),
          (["gate", "maxBodyKib"], 1, "gate.maxBodyKib"), (["gate", "image"], {"registry": "docker.io", "repository": "library/haproxy", "tag": "a b"}, "gate.image.tag"),
          (["network", "clientNamespaces"], ["Istio"], "network.clientNamespaces[0]"),
          (["network", "publishCidrs"], ["10.0.0.1/8"], "network.publishCidrs[0]"),
          (["network", "publishCidrs"], ["any"], "network.publishCidrs[0]"),
          (["network", "monitoringNamespace"], "", "network.monitoringNamespace")]
    return t


BAD_TENANT_NAMES = ["Team", "team_a", "-team", "t" * 64, "team.a"]
BAD_KEY_NAMES = ["Main", "k" * 33, "a_b", "-k"]


def gen_tenants(rng: random.Random, n: int) -> Iterator[Variant]:
    """The tenant gate's config: tenant and key names, generations, grants, limits, gate ports, networks."""
    stacks = _tenant_stacks()
    for i in range(n):
        stack = rng.choice(stacks)
        doc = load(stack)
        tenants = section(doc, "tenants")
        roll = rng.random()
        if roll < 0.15:
            new = rng.choice(BAD_TENANT_NAMES)
            old = rng.choice(sorted(tenants))
            tenants[new] = tenants.pop(old)
            yield Variant("tenants", f"tenants-name-{i}", dump(doc), f"tenants.{new}", f"tenant name {new!r}")
            continue
        if roll < 0.25:
            tenant = tenants[rng.choice(sorted(tenants))]
            new = rng.choice(BAD_KEY_NAMES)
            tenant["keys"][new] = 1
            owner = next(k for k, v in tenants.items() if v is tenant)
            yield Variant("tenants", f"tenants-key-{i}", dump(doc), f"tenants.{owner}.keys.{new}", f"key name {new!r}")
            continue
        path, value, expect = rng.choice(tenant_targets(doc))
        set_path(doc, path, value)
        yield Variant("tenants", f"tenants-{i}", dump(doc), expect, f"{dotted(path)} = {value!r}"[:120])
    # Valid look-alikes: the edges of every rule.
    doc = load(stacks[0])
    tenants = section(doc, "tenants")
    first = tenants[sorted(tenants)[0]]
    base = first["grants"][0].partition(":")[0]
    tenants["t" * 63] = {"keys": {"k" * 32: 2**31 - 1}, "grants": [f"{base}:*", base],
                         "maxConcurrent": 2**31 - 1, "maxRequestsPerWindow": 1}
    doc["config"][f"{PROJECT}:network"] = {"publishCidrs": ["fd00::/8", "10.0.0.0/16"], "publishNamespaces": ["ingress-nginx"]}
    yield Variant("valid", "valid-tenant-edges", dump(doc), None, "longest names, largest counts, IPv6 CIDR")


def gen_valid(rng: random.Random) -> Iterator[Variant]:
    """Look-alikes of the traps that are fine and must render."""
    for stack in STACKS:
        yield Variant("valid", f"valid-{stack}", (REPO / "stacks" / f"Pulumi.{stack}.yaml").read_bytes(), None, "unchanged")
    doc = load("local")
    adapter = section(doc, "models")["adapters"][0]
    adapter["version"] = PLACEHOLDER
    yield Variant("valid", "valid-unquoted-date", dump(doc, "2026-11-01"), None, "unquoted date as version")
    doc = load("airgap")
    set_path(doc, ["cluster", "name"], PLACEHOLDER)
    yield Variant("valid", "valid-str-tag", dump(doc, "!!str onprem-llm"), None, "explicit !!str")
    doc = load("prod")
    doc["config"] = dict(reversed(list(doc["config"].items())))
    doc["config"]["aws:region"] = "us-east-1"
    yield Variant("valid", "valid-reordered", dump(doc), None, "sections reordered, provider namespace kept")
    doc = load("dev")
    set_path(doc, ["observability", "extraAlertLabels"], {"team": "ml-platform", "severity_override": ""})
    yield Variant("valid", "valid-labels", dump(doc), None, "valid Prometheus labels")


COUNTS = {"file": 135, "names": 160, "numbers": 60, "engine": 72, "files": 75, "leaves": 100, "tenants": 60}


def variants(seed: int, root: Path) -> list[Variant]:
    rng = random.Random(seed)
    out: list[Variant] = []
    out += gen_file_level(rng, COUNTS["file"])
    out += gen_names(rng, COUNTS["names"])
    out += gen_numbers(rng, COUNTS["numbers"])
    out += gen_engine(rng, COUNTS["engine"])
    out += gen_files(rng, COUNTS["files"], root)
    out += gen_leaves(rng, COUNTS["leaves"])
    out += gen_valid(rng)
    out += gen_tenants(rng, COUNTS["tenants"])
    return out
