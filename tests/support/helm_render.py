"""Render the stacks' Helm releases with Helm 3 itself, from the pinned chart sources.

Each ``kubernetes:helm.sh/v3:Release`` that offline synthesis records carries the chart, the
version and exactly the values the program passes. Here that chart is looked up in the shared
chart tree (``LLM_PLATFORM_CHARTS_DIR``, default ``../shared/charts`` beside the repository,
through its ``index.json``; never copied into the project) and rendered by
``helm template`` built from ``helm.sh/helm/v3`` (``tools/gomod/build.sh helm``) with the
cluster's Kubernetes version and API versions, as the provider's Helm library would when it
installs the release.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO_ROOT / "tools" / "gomod" / "build.sh"
RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"
RENDER_TIMEOUT = float(os.environ.get("LLM_PLATFORM_HELM_TIMEOUT", "120"))


class _GoYamlLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """YAML as Helm's Go parser reads it: a bare ``=`` (YAML 1.1's "value" tag, e.g. in a
    kube-prometheus-stack CRD enum) is the string ``=``."""


_GoYamlLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


class RenderError(RuntimeError):
    """``helm template`` refused the chart with these values (its own message in str)."""


def charts_dir() -> Path:
    env = os.environ.get("LLM_PLATFORM_CHARTS_DIR")
    return Path(env).resolve() if env else (REPO_ROOT.parent / "shared" / "charts").resolve()


@lru_cache(maxsize=1)
def _index() -> dict[str, str]:
    path = charts_dir() / "index.json"
    if not path.is_file():
        raise FileNotFoundError(f"no chart index at {path}; set LLM_PLATFORM_CHARTS_DIR to the shared charts directory")
    return json.loads(path.read_text())


def helm_binary() -> Path:
    return REPO_ROOT / ".tools" / "helm" / "bin" / "helm"


@dataclass(frozen=True)
class Release:
    """One Helm release a stack declares, as the provider receives it."""

    stack: str
    name: str
    namespace: str
    chart_ref: str
    """``<repository>/<name>@<version>`` (or ``<name>@<version>``), the index.json key used."""
    chart_dir: Path
    values: dict[str, Any]
    skip_crds: bool

    @property
    def id(self) -> str:
        return f"{self.stack}/{self.name}"


def chart_ref_keys(inputs: dict[str, Any]) -> list[str]:
    """index.json keys for a Release's inputs, most specific first (SOURCES.md's key format).

    A chart from the air-gap mirror keeps its name and version, so the bare key finds it."""
    chart, version = inputs["chart"], inputs["version"]
    repo = (inputs.get("repositoryOpts") or {}).get("repo")
    full = f"{repo.rstrip('/')}/{chart}" if repo else chart
    return [f"{full}@{version}", f"{full.rstrip('/').rsplit('/', 1)[-1]}@{version}"]


def releases(synthesis) -> list[Release]:
    """Every Helm release of a synthesized stack, with its chart directory resolved."""
    out = []
    index = _index()
    for reg in synthesis.by_type(RELEASE_TYPE):
        keys = chart_ref_keys(reg.inputs)
        key = next((k for k in keys if k in index), None)
        if key is None:
            raise KeyError(f"stack {synthesis.stack}: release {reg.name}: no chart for any of {keys} in {charts_dir()}/index.json")
        out.append(Release(stack=synthesis.stack, name=reg.inputs.get("name") or reg.name,
                           namespace=reg.inputs.get("namespace") or "default", chart_ref=key,
                           chart_dir=charts_dir() / index[key], values=wire_values(reg.inputs.get("values") or {}),
                           skip_crds=bool(reg.inputs.get("skipCrds"))))
    return out


def wire_values(value: Any) -> Any:
    """Mock synthesis carries numbers as floats (protobuf Struct); the provider sends integers
    where the number is whole, which is what templates (``int``, ``printf "%d"``) see."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: wire_values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [wire_values(v) for v in value]
    return value


def kube_version(cluster_version: str) -> str:
    """``--kube-version`` for a stack's ``cluster.kubernetesVersion`` (MAJOR.MINOR)."""
    return f"v{cluster_version}.0" if cluster_version.count(".") == 1 else f"v{cluster_version}"


def render(release: Release, *, kube_version: str, api_versions: list[str],
           values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """``helm template`` of ``release`` (or of its chart with ``values`` instead of its own):
    every object Helm would install, CRDs included unless the release skips them, hooks
    included (the provider runs them), chart tests left out (the provider never runs them)."""
    helm = helm_binary()
    if not helm.is_file():
        raise FileNotFoundError(f"{helm} missing; run tools/gomod/build.sh helm")
    with tempfile.TemporaryDirectory(prefix="llm-platform-helm-") as tmp:
        values_file = Path(tmp) / "values.json"   # JSON is YAML; exact types, no YAML coercions
        values_file.write_text(json.dumps(release.values if values is None else values))
        cmd = [str(helm), "template", release.name, str(release.chart_dir),
               "--namespace", release.namespace, "--values", str(values_file),
               "--kube-version", kube_version, "--skip-tests"]
        if not release.skip_crds:
            cmd.append("--include-crds")
        for api in api_versions:
            cmd += ["--api-versions", api]
        # Helm's own state (repositories, cache) in the temp dir: nothing read from or written to $HOME.
        env = {**os.environ, "HELM_CACHE_HOME": f"{tmp}/cache", "HELM_CONFIG_HOME": f"{tmp}/config",
               "HELM_DATA_HOME": f"{tmp}/data"}
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=RENDER_TIMEOUT)
    if proc.returncode != 0:
        raise RenderError(f"{release.id}: helm template failed: {proc.stderr.strip()}")
    return [d for d in yaml.load_all(proc.stdout, Loader=_GoYamlLoader) if d]


# ---------------------------------------------------------------------------
# Which values a chart reads
# ---------------------------------------------------------------------------

Path_ = tuple[Any, ...]


def leaf_paths(values: Any, prefix: Path_ = ()) -> Iterator[Path_]:
    """Every scalar (and every empty map or list) we set, by path of keys and list indexes."""
    if isinstance(values, dict) and values:
        for k, v in values.items():
            yield from leaf_paths(v, prefix + (k,))
    elif isinstance(values, list) and values:
        for i, v in enumerate(values):
            yield from leaf_paths(v, prefix + (i,))
    else:
        yield prefix


def get_path(values: Any, path: Path_) -> Any:
    for p in path:
        values = values[p]
    return values


def changed(value: Any) -> Any:
    """A different value of the same type, so a chart that reads ``value`` renders differently."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value * 2 + 1
    if isinstance(value, str):
        return value + "-changed"
    if isinstance(value, dict):
        return {"llm-platform-changed": "x"}
    if isinstance(value, list):
        return ["llm-platform-changed"]
    if value is None:
        return "llm-platform-changed"
    raise TypeError(type(value))


def with_change(values: dict[str, Any], path: Path_) -> dict[str, Any]:
    out = copy.deepcopy(values)
    parent = get_path(out, path[:-1])
    parent[path[-1]] = changed(parent[path[-1]])
    return out


def without(values: dict[str, Any], path: Path_) -> dict[str, Any]:
    out = copy.deepcopy(values)
    parent = get_path(out, path[:-1])
    del parent[path[-1]]
    return out


def dotted(path: Path_) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else str(p)) for i, p in enumerate(path))
