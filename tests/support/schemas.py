"""Strict validation of emitted objects against upstream schemas.

Custom resources are checked against the CRDs in the shared schema directory
(``LLM_PLATFORM_CRDS_DIR``, default ``../shared/crds`` beside the repository), never copies
in this project. Objects are validated *strictly*: where a CRD lists ``properties`` and does
not preserve unknown fields, any other key fails, as the API server's pruning would silently
drop it. Core kinds use Kubernetes' own OpenAPI schemas shipped in ``kubernetes-validate``.
"""

from __future__ import annotations

import copy
import functools
import json
import os
from pathlib import Path
from typing import Any

import jsonschema
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
KUBERNETES_SCHEMA_VERSION = "1.34.0"  # the minimum cluster version the platform supports (DRA v1)


def crds_dir() -> Path:
    return Path(os.environ.get("LLM_PLATFORM_CRDS_DIR", REPO_ROOT.parent / "shared" / "crds")).resolve()


@functools.cache
def _index() -> dict[str, str]:
    path = crds_dir() / "index.json"
    if not path.exists():
        raise FileNotFoundError(f"no CRD index at {path}; set LLM_PLATFORM_CRDS_DIR to the shared crds directory")
    return json.loads(path.read_text())


def has_crd(api_version: str, kind: str) -> bool:
    return f"{api_version}/{kind}" in _index()


def _strict(schema: dict[str, Any]) -> dict[str, Any]:
    """Turn a structural OpenAPI v3 schema into a strict JSON Schema."""
    schema = dict(schema)
    if schema.pop("x-kubernetes-int-or-string", False):
        schema.pop("type", None)
        schema["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    preserve = schema.pop("x-kubernetes-preserve-unknown-fields", False)
    for key in [k for k in schema if k.startswith("x-kubernetes-")]:
        schema.pop(key)
    if "properties" in schema:
        schema["properties"] = {k: _strict(v) for k, v in schema["properties"].items()}
        if not preserve and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
    if isinstance(schema.get("additionalProperties"), dict):
        schema["additionalProperties"] = _strict(schema["additionalProperties"])
    if isinstance(schema.get("items"), dict):
        schema["items"] = _strict(schema["items"])
    for combinator in ("allOf", "oneOf", "not"):
        if isinstance(schema.get(combinator), list):
            schema[combinator] = [_strict(s) for s in schema[combinator]]
    if schema.get("nullable"):
        schema.pop("nullable")
        if "type" in schema:
            schema["type"] = [schema["type"], "null"] if isinstance(schema["type"], str) else schema["type"] + ["null"]
    return schema


@functools.cache
def crd_schema(api_version: str, kind: str) -> dict[str, Any]:
    """The strict JSON Schema of ``kind`` at ``api_version`` (group/version)."""
    key = f"{api_version}/{kind}"
    rel = _index().get(key)
    if rel is None:
        raise KeyError(f"{key} is not in {crds_dir() / 'index.json'}")
    crd = yaml.safe_load((crds_dir() / rel).read_text())
    version = api_version.split("/")[-1]
    for v in crd["spec"]["versions"]:
        if v["name"] == version:
            schema = copy.deepcopy(v["schema"]["openAPIV3Schema"])
            # metadata is validated by the API server's ObjectMeta rules, not the CRD schema.
            schema.setdefault("properties", {})["metadata"] = {"type": "object"}
            return _strict(schema)
    raise KeyError(f"{rel} does not serve version {version}")


def crd_errors(obj: dict[str, Any]) -> list[str]:
    """Schema violations of a custom resource, as 'path: message' strings (empty when valid)."""
    schema = crd_schema(obj["apiVersion"], obj["kind"])
    validator = jsonschema.Draft7Validator(schema)
    return sorted(
        f"{'.'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}" for e in validator.iter_errors(obj)
    )


def core_errors(obj: dict[str, Any]) -> list[str]:
    """Violations of Kubernetes' own schema for a built-in kind (strict: unknown fields fail)."""
    import kubernetes_validate

    try:
        kubernetes_validate.validate(obj, KUBERNETES_SCHEMA_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(p) for p in exc.path) or "(root)"
        return [f"{path}: {exc.message}"]
    return []


def object_errors(obj: dict[str, Any]) -> list[str]:
    """Validate any object: custom resources against the shared CRDs, the rest against Kubernetes."""
    if has_crd(obj["apiVersion"], obj["kind"]):
        return crd_errors(obj)
    return core_errors(obj)


@functools.cache
def values_schema(relative: str) -> dict[str, Any]:
    """A Helm chart's ``values.schema.json`` from the shared directory (e.g. ``llm/llm-d-infra/values.schema.json``)."""
    return json.loads((crds_dir() / relative).read_text())


def values_errors(values: dict[str, Any], relative: str) -> list[str]:
    validator = jsonschema.Draft7Validator(values_schema(relative))
    return sorted(f"{'.'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}" for e in validator.iter_errors(values))
