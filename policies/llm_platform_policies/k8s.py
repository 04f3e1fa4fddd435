"""Reading Kubernetes objects as policies receive them (wire names, camelCase)."""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Iterator
from urllib.parse import urlparse

from components.airgap.images import parse_image
from components.airgap.workloads import PodLocation, containers, group_kind_of_type, is_map, is_model_server, is_seq, pod_specs

from .facts import INTERNAL_HOST_SUFFIXES, PlatformFacts

HELM_TYPES = ("kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart")
GPU_RESOURCE = re.compile(r"^(nvidia\.com/(gpu(\.shared)?|mig-.+)|amd\.com/gpu|habana\.ai/gaudi)$")
GPU_TAINT_KEY = "nvidia.com/gpu"


def meta(props: dict) -> dict:
    m = props.get("metadata")
    return m if is_map(m) else {}


def object_name(props: dict, fallback: str) -> str:
    m = meta(props)
    ns = m.get("namespace")
    name = m.get("name") or fallback
    return f"{ns}/{name}" if isinstance(ns, str) else str(name)


def workload_containers(type_token: str, props: dict) -> Iterator[tuple[str, PodLocation, dict, str, dict]]:
    """(pod path, location, pod, container path, container) for every container of an object."""
    for path, loc, pod in pod_specs(type_token, props):
        for cpath, c in containers(pod, loc):
            yield path, loc, pod, cpath, c


def model_server_containers(type_token: str, props: dict) -> Iterator[tuple[str, dict]]:
    for path, _loc, _pod, cpath, c in workload_containers(type_token, props):
        if is_model_server(type_token, c):
            yield f"{path}.{cpath}", c


def images(type_token: str, props: dict) -> Iterator[tuple[str, str]]:
    """(path, image) of every container that names an image."""
    for path, _loc, _pod, cpath, c in workload_containers(type_token, props):
        image = c.get("image")
        if isinstance(image, str) and image:
            yield f"{path}.{cpath}.image", image


def image_allowed(image: str, facts: PlatformFacts) -> bool:
    parsed = parse_image(image)
    full = f"{parsed.registry}/{parsed.repository}"
    return any(full.startswith(p.rstrip("/") + "/") for p in facts.allowed_registries)


def is_internal_host(host: str, facts: PlatformFacts) -> bool:
    host = (host or "").lower().split(":")[0]
    if not host or host == "localhost" or "." not in host:
        return True  # bare service names resolve inside the cluster
    try:
        ip = ipaddress.ip_address(host)
        return ip.is_private or ip.is_loopback or ip.is_link_local
    except ValueError:
        pass
    if any(host == h.split(":")[0] or host.endswith("." + h.split(":")[0]) for h in facts.internal_hosts):
        return True
    return host.endswith(INTERNAL_HOST_SUFFIXES)


_URL = re.compile(r"\b(hf://[^\s\"',]+|https?://[^\s\"',]+)")
# Identifiers that look like URLs but are never fetched (XML namespaces of S3 and W3C documents).
_NOT_FETCHED = ("http://s3.amazonaws.com/doc/", "https://s3.amazonaws.com/doc/", "http://www.w3.org/", "https://www.w3.org/")


def external_sources(value: Any, facts: PlatformFacts, path: str = "") -> Iterator[tuple[str, str]]:
    """(path, source) of every ``hf://`` URI and http(s) URL to a public host in ``value``."""
    if is_map(value):
        for k, v in value.items():
            yield from external_sources(v, facts, f"{path}.{k}" if path else str(k))
    elif is_seq(value):
        for i, v in enumerate(value):
            yield from external_sources(v, facts, f"{path}[{i}]")
    elif isinstance(value, str):
        for match in _URL.findall(value):
            if match.startswith("hf://"):
                yield path, match
            elif match.startswith(_NOT_FETCHED):
                continue
            elif not is_internal_host(urlparse(match).hostname or "", facts):
                yield path, match


def gpu_resources(container: dict) -> dict[str, dict[str, Any]]:
    """GPU-like resource names in a container's requests/limits: name -> {"requests": v, "limits": v}."""
    res = container.get("resources") or {}
    found: dict[str, dict[str, Any]] = {}
    for kind in ("requests", "limits"):
        for name, value in (res.get(kind) or {}).items():
            if GPU_RESOURCE.match(name):
                found.setdefault(name, {})[kind] = value
    return found


def tolerates_gpu_taint(pod: dict) -> bool:
    for t in pod.get("tolerations") or []:
        if not is_map(t):
            continue
        if t.get("operator") == "Exists" and not t.get("key"):
            return True
        if t.get("key") == GPU_TAINT_KEY and t.get("effect") in (None, "", "NoSchedule"):
            return True
    return False


def flag_value(args: list, flag: str) -> str | None:
    """Value of ``--flag=v`` or ``--flag v`` in an argument list."""
    args = [str(a) for a in args or []]
    for i, a in enumerate(args):
        if a.startswith(flag + "="):
            return a.split("=", 1)[1]
        if a == flag and i + 1 < len(args):
            return args[i + 1]
    return None


def group_kind(type_token: str):
    return group_kind_of_type(type_token)
