"""LoRA policies over what the vLLM services emit: the adapter registry ConfigMap (served name ->
pinned object path), the adapter versions published (``AdapterVersion`` resources with their
rank), and the vLLM arguments (``--max-lora-rank``, ``--max-cpu-loras``, ``--max-loras``,
``--lora-modules``)."""

from __future__ import annotations

import json
import re

from components.airgap.workloads import is_map, is_model_server

from .base import resource_policy, stack_policy
from .k8s import flag_value, meta, object_name, workload_containers

REGISTRY_COMPONENT = "lora-registry"
ADAPTER_VERSION_TYPE = "pulumi-python:dynamic/models:AdapterVersion"
MOVING_VERSIONS = {"latest", "current", "stable", "head", "main", "master"}
_INSTANCE = "app.kubernetes.io/instance"
_COMPONENT = "app.kubernetes.io/component"


def registry_entries(props: dict) -> dict[str, str] | None:
    """Served name -> object path of a registry ConfigMap, or None if ``props`` is not one."""
    labels = meta(props).get("labels") or {}
    if labels.get(_COMPONENT) != REGISTRY_COMPONENT:
        return None
    out: dict[str, str] = {}
    for value in (props.get("data") or {}).values():
        try:
            doc = json.loads(value)
        except (TypeError, json.JSONDecodeError):
            continue
        if is_map(doc):
            out.update({str(k): str(v.get("prefix", "")) if is_map(v) else str(v) for k, v in doc.items()})
    return out


def unpinned_entries(props: dict) -> list[str]:
    """Served names of a registry ConfigMap whose content is not pinned by sha256 digests."""
    out = []
    for value in (props.get("data") or {}).values():
        try:
            doc = json.loads(value)
        except (TypeError, json.JSONDecodeError):
            continue
        for served, entry in (doc.items() if is_map(doc) else ()):
            files = entry.get("files") if is_map(entry) else None
            if not is_map(files) or "adapter_config.json" not in files or not all(
                    isinstance(d, str) and re.fullmatch(r"[0-9a-f]{64}", d) for d in files.values()):
                out.append(str(served))
    return out


def _version_of(path: str) -> str:
    return [p for p in path.strip("/").split("/") if p][-1] if path.strip("/") else ""


def _pinned(args, report):
    name = object_name(args.props, args.name)
    entries = registry_entries(args.props) if args.resource_type == "kubernetes:core/v1:ConfigMap" else None
    for served, path in (entries or {}).items():
        version = _version_of(path)
        if version.lower() in MOVING_VERSIONS or not re.search(r"\d", version):
            report(f"{name}: adapter {served!r} points at {path!r}, whose last segment {version!r} is not a pinned version")
    if entries is not None:
        for served in unpinned_entries(args.props):
            report(f"{name}: adapter {served!r} does not pin its files by sha256 (files: {{name: digest}}); "
                   "the sync sidecar refuses it")
    if args.resource_type == ADAPTER_VERSION_TYPE:
        version = _version_of(str(args.props.get("prefix") or ""))
        if version.lower() in MOVING_VERSIONS:
            report(f"adapter version {args.name}: prefix {args.props.get('prefix')!r} is a moving alias")
    for path, _loc, _pod, cpath, c in workload_containers(args.resource_type, args.props):
        modules = flag_value(c.get("args") or [], "--lora-modules")
        for token in (modules or "").split():
            lora_path = token.split("=", 1)[-1]
            if lora_path.startswith("{"):
                try:
                    lora_path = json.loads(lora_path).get("path", "")
                except json.JSONDecodeError:
                    continue
            if _version_of(lora_path).lower() in MOVING_VERSIONS:
                report(f"{name}: {path}.{cpath} loads LoRA module {token!r} from a moving alias")


adapter_versions_pinned = resource_policy(
    "adapter-versions-pinned",
    "Adapter registry entries, published adapter versions and --lora-modules paths name immutable versions, never latest; "
    "registry entries pin every file by sha256.",
    _pinned,
)


def _servers(resources) -> list[tuple[object, dict, dict]]:
    """(resource, container, labels) of every vLLM container in the stack."""
    out = []
    for r in resources:
        for _path, _loc, _pod, _cpath, c in workload_containers(r.resource_type, r.props or {}):
            args = c.get("args") or []
            if is_model_server(r.resource_type, c) and flag_value(args, "--max-lora-rank") is not None:
                out.append((r, c, meta(r.props).get("labels") or {}))
    return out


def _server_for(registry, servers):
    labels = meta(registry.props).get("labels") or {}
    ns = meta(registry.props).get("namespace")
    same_instance = [s for s in servers if labels.get(_INSTANCE) and s[2].get(_INSTANCE) == labels.get(_INSTANCE)]
    if same_instance:
        return same_instance
    return [s for s in servers if meta(s[0].props).get("namespace") == ns] if len(servers) > 1 else servers


def _registries_and_servers(resources):
    """(registry ConfigMap, its served-name -> path entries, vLLM server resource, its container)
    for every adapter registry and each server that mounts it."""
    servers = _servers(resources)
    for r in resources:
        if r.resource_type != "kubernetes:core/v1:ConfigMap":
            continue
        entries = registry_entries(r.props)
        if not entries:
            continue
        for server, container, _labels in _server_for(r, servers):
            yield r, entries, server, container


def _ranks(args, report):
    ranks = {}
    for r in args.resources:
        if r.resource_type == ADAPTER_VERSION_TYPE and isinstance(r.props.get("prefix"), str):
            ranks[r.props["prefix"].strip("/")] = r.props.get("rank")
    for r, entries, server, container in _registries_and_servers(args.resources):
        max_rank = flag_value(container.get("args") or [], "--max-lora-rank")
        for served, path in entries.items():
            rank = ranks.get(path.strip("/"))
            if rank is not None and max_rank is not None and float(rank) > float(max_rank):
                report(f"{object_name(r.props, r.name)}: adapter {served!r} has rank {int(float(rank))} but "
                       f"{object_name(server.props, server.name)} runs --max-lora-rank={max_rank}; vLLM refuses it", r.urn)


lora_rank = stack_policy(
    "lora-rank-within-max",
    "Every adapter in a registry has a rank no larger than the --max-lora-rank of the vLLM server serving it.",
    _ranks,
)


def _cpu_loras(args, report):
    for r, entries, server, container in _registries_and_servers(args.resources):
        cargs = container.get("args") or []
        limit = flag_value(cargs, "--max-cpu-loras") or flag_value(cargs, "--max-loras")
        if limit is not None and len(entries) > int(float(limit)):
            report(f"{object_name(r.props, r.name)}: serves {len(entries)} adapters but "
                   f"{object_name(server.props, server.name)} caches at most {limit} (--max-cpu-loras); "
                   "raise maxCpuLoras or split the service", r.urn)


adapters_within_cpu_loras = stack_policy(
    "adapters-within-max-cpu-loras",
    "A registry never lists more adapters than its vLLM server keeps in host memory (--max-cpu-loras).",
    _cpu_loras,
)

POLICIES = [adapter_versions_pinned, lora_rank, adapters_within_cpu_loras]
