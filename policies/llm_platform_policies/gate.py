"""Tenant-isolation policies: a vLLM that can load adapters at runtime is reachable only through
the gate, every namespace serving models denies ingress by default, and every tenant grant names
a model that exists."""

from __future__ import annotations

import json
from typing import Any, Iterator

from components.airgap.workloads import env_value, is_map, is_model_server, is_seq
from components.gate.haproxy import grant_problems

from .base import resource_policy, stack_policy
from .k8s import HELM_TYPES, flag_value, meta, object_name, workload_containers
from .lora import registry_entries

GATE_CONTAINER = "gate"
GATE_COMPONENT = "gate"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
_INSTANCE = "app.kubernetes.io/instance"
_COMPONENT = "app.kubernetes.io/component"


def pods(type_token: str, props: dict) -> Iterator[tuple[str, list[dict]]]:
    """(path, containers) of every pod an object runs, the pods of Helm values included."""
    by_pod: dict[str, list[dict]] = {}
    for path, _loc, _pod, _cpath, c in workload_containers(type_token, props):
        by_pod.setdefault(path, []).append(c)
    yield from by_pod.items()


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in {"1", "true"}


def _serves_api(c: dict) -> bool:
    words = [str(w) for w in [*(c.get("command") or []), *(c.get("args") or [])]]
    return "--headless" not in words  # multi-node workers run no API server


def _host(c: dict) -> str | None:
    words = [str(w) for w in [*(c.get("command") or []), *(c.get("args") or [])]]
    return flag_value(words, "--host")


def _is_gate(c: dict) -> bool:
    words = " ".join(str(w) for w in [c.get("image") or "", *(c.get("command") or []), *(c.get("args") or [])])
    return c.get("name") == GATE_CONTAINER and "haproxy" in words


def _runtime_lora_gated(args, report):
    name = object_name(args.props, args.name)
    for path, containers in pods(args.resource_type, args.props):
        gated = any(_is_gate(c) for c in containers)
        for c in containers:
            if not (is_model_server(args.resource_type, c) or "vllm" in str(c.get("image") or "")):
                continue
            if not _truthy(env_value(c, "VLLM_ALLOW_RUNTIME_LORA_UPDATING")) or not _serves_api(c):
                continue
            where = f"{name}: {path} container {c.get('name')!r}"
            if not gated:
                report(f"{where} allows runtime LoRA loading but its pod has no gate container; anyone reaching the "
                       "pod could load adapters from any path")
            if _host(c) not in LOOPBACK:
                report(f"{where} allows runtime LoRA loading and listens on {_host(c) or 'every address'}; "
                       "bind it to 127.0.0.1 (--host) so only the gate and the sync sidecar reach it")


runtime_lora_behind_gate = resource_policy(
    "runtime-lora-behind-gate",
    "A vLLM with VLLM_ALLOW_RUNTIME_LORA_UPDATING listens on 127.0.0.1 only and has the gate in its pod.",
    _runtime_lora_gated,
)


def _is_default_deny(props: dict) -> bool:
    spec = props.get("spec") if is_map(props.get("spec")) else {}
    selector = spec.get("podSelector")
    types = spec.get("policyTypes") or []
    return (is_map(selector) and not selector.get("matchLabels") and not selector.get("matchExpressions")
            and "Ingress" in list(types) and not spec.get("ingress"))


def _serving_namespaces(resources) -> dict[str, str]:
    """Namespace -> one model-serving object in it."""
    out: dict[str, str] = {}
    for r in resources:
        props = r.props or {}
        ns = meta(props).get("namespace") or (props.get("namespace") if r.resource_type in HELM_TYPES else None)
        if not isinstance(ns, str):
            continue
        for _path, containers in pods(r.resource_type, props):
            if any(is_model_server(r.resource_type, c) for c in containers):
                out.setdefault(ns, object_name(props, r.name))
    return out


def _namespaces_deny(args, report):
    denied = {meta(r.props).get("namespace") for r in args.resources
              if r.resource_type == NETWORK_POLICY and _is_default_deny(r.props or {})}
    for ns, example in sorted(_serving_namespaces(args.resources).items()):
        if ns not in denied:
            report(f"namespace {ns!r} serves models ({example}) but has no default-deny ingress NetworkPolicy "
                   "(podSelector {}, policyTypes [Ingress], no rules)")


serving_namespaces_deny_ingress = stack_policy(
    "serving-namespaces-deny-ingress",
    "Every namespace that runs model servers has a default-deny ingress NetworkPolicy.",
    _namespaces_deny,
)


def _served_names(resources) -> dict[str, list[str]]:
    """Base served name -> adapters, from every vLLM's arguments and every adapter registry."""
    bases: set[str] = set()
    adapters: list[str] = []
    for r in resources:
        props = r.props or {}
        if r.resource_type == "kubernetes:core/v1:ConfigMap":
            adapters += list((registry_entries(props) or {}).keys())
        for _path, containers in pods(r.resource_type, props):
            for c in containers:
                name = flag_value([str(w) for w in [*(c.get("command") or []), *(c.get("args") or [])]],
                                  "--served-model-name")
                if name and is_model_server(r.resource_type, c):
                    bases.add(name)
    served: dict[str, list[str]] = {b: [] for b in bases}
    for a in adapters:
        served.setdefault(a.rsplit(":", 1)[0], []).append(a)
    return served


def _grants_exist(args, report):
    for r in args.resources:
        props = r.props or {}
        labels = meta(props).get("labels") or {}
        if r.resource_type != "kubernetes:core/v1:ConfigMap" or labels.get(_COMPONENT) != GATE_COMPONENT:
            continue
        try:
            tenants = json.loads((props.get("data") or {}).get("tenants.json") or "{}")
        except (TypeError, json.JSONDecodeError):
            report(f"{object_name(props, r.name)}: tenants.json is not JSON")
            continue
        served = _served_names(args.resources)
        for tenant, spec in sorted(tenants.items()):
            grants = spec.get("grants") if is_map(spec) else None
            for pattern in grants if is_seq(grants) else []:
                problem = grant_problems(str(pattern), served)
                if problem:
                    report(f"{object_name(props, r.name)}: tenant {tenant!r} grant {pattern!r}: {problem}", r.urn)


tenant_grants_exist = stack_policy(
    "tenant-grants-exist",
    "Every tenant grant in a gate names a base model or adapter that a vLLM of the stack serves.",
    _grants_exist,
)

POLICIES = [runtime_lora_behind_gate, serving_namespaces_deny_ingress, tenant_grants_exist]
