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
    if not m and "chart" in props:  # a Helm release: its own name and target namespace
        m = {"name": props.get("name"), "namespace": props.get("namespace")}
    ns = m.get("namespace")
    name = m.get("name") or fallback
    return f"{ns}/{name}" if isinstance(ns, str) else str(name)


def helm_values(type_token: str, props: dict) -> dict | None:
    """The values of a Helm release/chart resource, or None for other types."""
    if type_token not in HELM_TYPES:
        return None
    values = props.get("values")
    return values if is_map(values) else None


def walk_values(value: Any, path: str = "values") -> Iterator[tuple[str, Any]]:
    """(dotted path, node) of every mapping and leaf in Helm values, parents first."""
    yield path, value
    if is_map(value):
        for k, v in value.items():
            yield from walk_values(v, f"{path}.{k}")
    elif is_seq(value):
        for i, v in enumerate(value):
            yield from walk_values(v, f"{path}[{i}]")


_HELM_POD = PodLocation(("values",))
_POD_KEYS = ("hostPID", "hostNetwork", "hostIPC", "tolerations", "nodeSelector", "volumes")


def _helm_pods(values: dict) -> Iterator[tuple[str, PodLocation, dict]]:
    """Pod-like mappings of Helm values: any mapping with a ``containers`` list of containers
    (llm-d-modelservice ``decode``/``prefill``), its ``podSecurityContext`` read as the pod's.
    A mapping with ``create: false`` renders no pod (llm-d-modelservice's switch for a role)."""
    for path, node in walk_values(values):
        if not is_map(node) or not is_seq(node.get("containers")) or node.get("create") is False:
            continue
        if not all(is_map(c) and ("image" in c or "name" in c) for c in node["containers"]):
            continue
        pod = {k: node.get(k) for k in ("containers", "initContainers", *_POD_KEYS) if node.get(k) is not None}
        sc = node.get("podSecurityContext", node.get("securityContext"))
        if sc is not None:
            pod["securityContext"] = sc
        yield path, _HELM_POD, pod


def policy_pod_specs(type_token: str, props: dict) -> Iterator[tuple[str, PodLocation, dict]]:
    """Every pod spec of an object, including the pods a Helm release's values describe."""
    values = helm_values(type_token, props)
    if values is not None:
        yield from _helm_pods(values)
        return
    yield from pod_specs(type_token, props)


def workload_containers(type_token: str, props: dict) -> Iterator[tuple[str, PodLocation, dict, str, dict]]:
    """(pod path, location, pod, container path, container) for every container of an object
    (Helm releases included: their values' pods are rendered into workloads by the chart)."""
    for path, loc, pod in policy_pod_specs(type_token, props):
        for cpath, c in containers(pod, loc):
            yield path, loc, pod, cpath, c


def object_namespace(type_token: str, props: dict) -> str | None:
    """Namespace of an object (a Helm release's target namespace for Helm types)."""
    ns = props.get("namespace") if type_token in HELM_TYPES else meta(props).get("namespace")
    return ns if isinstance(ns, str) else None


# Tags that name a branch or channel, not a release: the image changes under the same reference.
MOVING_TAGS = {None, "", "latest", "main", "master", "nightly", "stable", "edge", "dev", "head", "canary", "develop"}


_CONTAINER_PATH = re.compile(r"\.(containers|initContainers)\[\d+\]$")


def helm_images(values: dict) -> Iterator[tuple[str, str, str | None, str | None]]:
    """(path, image, tag, digest) of every image in Helm values that names its own tag, outside
    the containers of their pods (those are checked as containers): ``image: repo:tag`` strings
    and ``{repository, tag}`` mappings. An image without a tag there takes the chart's own
    (versioned with the pinned chart), so only an explicit tag can move."""
    for path, node in walk_values(values):
        if not is_map(node):
            continue
        image = node.get("image")
        if isinstance(image, str) and image and not _CONTAINER_PATH.search(path):
            parsed = parse_image(image)
            if parsed.tag is not None or parsed.digest is not None:
                yield f"{path}.image", image, parsed.tag, parsed.digest
        repo = node.get("repository")
        if isinstance(repo, str) and repo and "tag" in node:
            tag = node.get("tag")
            tag = str(tag) if tag is not None else ""
            digest = node.get("digest")
            if "@" in tag:
                tag, digest = tag.split("@", 1)
            yield f"{path}.tag", repo, tag, str(digest) if digest else None


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
