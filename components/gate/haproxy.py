"""The gate's HAProxy configuration and map files, rendered from the tenants and the served
models. Pure functions (no Pulumi): the component mounts exactly what these return, and the
real-server tests run HAProxy on exactly these bytes.

Per request on the client port, in order:

1. ``GET /health`` goes to vLLM without a key (kubelet probes).
2. Anything but ``POST /v1/chat/completions``, ``POST /v1/completions`` and ``GET /v1/models``
   is refused with 403: adapter loading/unloading, ``/invocations``, ``/adapters``, cache
   resets, sleep/wake, RPC, tokenizer and every other vLLM route never reach vLLM.
3. ``Authorization: Bearer <key>``: the key's SHA-256 is looked up in ``keys.map`` (the cluster
   holds hashes only); no or an unknown key is 401.
4. Per-tenant rate and concurrency limits (stick tables keyed by tenant): 429.
5. ``GET /v1/models`` is answered by the gate from ``models.map``: the tenant's own models only.
6. The body's top-level ``model`` (``json_query('$.model')``; a body with two is refused) must
   be granted: ``grants.map`` holds ``<tenant>|<model>``; otherwise 403.
7. The client's ``Authorization`` and fairness headers are dropped; the gate sets
   ``x-llm-d-inference-fairness-id`` to the tenant (llm-d's flow control) and, when the service
   has its own vLLM key, vLLM's bearer token from the environment.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from components.gate.spec import GateSpec, TenantSpec

LUA_SOURCE = Path(__file__).resolve().parent / "gate.lua"
FAIRNESS_HEADER = "x-llm-d-inference-fairness-id"
"""llm-d's flow-control fairness identity (llm-d-router ``pkg/epp/metadata/consts.go``)."""
INFERENCE_PATHS = ("/v1/chat/completions", "/v1/completions")
"""POST paths the gate passes to vLLM (with a granted ``model``)."""
MODELS_PATH = "/v1/models"
HEALTH_PATH = "/health"
GATE_METRICS_PATH = "/metrics/gate"
KEYS_MAP = "keys.map"
"""The only secret map (key hashes -> tenant); in the gate's Secret."""
PLAIN_MAPS = ("grants.map", "models.map", "rate.map", "concurrency.map")
"""Maps in the gate's ConfigMap, next to haproxy.cfg and gate.lua."""
MAP_FILES = (KEYS_MAP, *PLAIN_MAPS)
VLLM_KEY_ENV = "VLLM_API_KEY"
"""Environment variable holding vLLM's own bearer token, when the service has one."""


@dataclass(frozen=True)
class GatePaths:
    """Where the gate container finds its files (the pod mounts them; tests use a temp dir)."""

    conf_dir: str = "/etc/gate/conf"
    """haproxy.cfg, gate.lua and the grant, model-list and limit maps (the gate's ConfigMap)."""
    keys_dir: str = "/etc/gate/keys"
    """keys.map (the gate's Secret)."""
    runtime_socket: str = "/tmp/gate/admin.sock"
    """HAProxy's runtime API socket (an emptyDir, reachable only inside the container)."""

    def map(self, name: str) -> str:
        return f"{self.keys_dir if name == KEYS_MAP else self.conf_dir}/{name}"


def key_hash(key: str) -> str:
    """What ``keys.map`` stores for an API key: lowercase hex SHA-256 (HAProxy's ``sha2(256),hex,lower``)."""
    return hashlib.sha256(key.encode()).hexdigest()


# ------------------------------------------------------------------ grants


def grant_problems(pattern: str, served: Mapping[str, Sequence[str]]) -> str | None:
    """Why ``pattern`` names nothing that exists (None when it names at least one model).

    ``served``: base served name -> its adapters' served names (``<base>:<adapter>``)."""
    base, sep, adapter = pattern.partition(":")
    if base not in served:
        known = ", ".join(sorted(served)) or "(no served base models)"
        return f"unknown base model {base!r} in {pattern!r}; served base models: {known}"
    if not sep:
        return None
    if not adapter:
        return f"{pattern!r} has an empty adapter; use '{base}:<adapter>', '{base}:*' or '{base}'"
    names = [a.partition(":")[2] for a in served[base]]
    if adapter == "*":
        return None  # every adapter of the base, present and future
    if not fnmatch.filter(names, adapter):
        known = ", ".join(sorted(names)) or "(none declared)"
        return f"no adapter of {base!r} matches {adapter!r}; its adapters: {known}"
    return None


def expand_grants(grants: Sequence[str], served: Mapping[str, Sequence[str]]) -> list[str]:
    """Concrete served names a tenant may call (patterns that name nothing contribute nothing)."""
    out: set[str] = set()
    for pattern in grants:
        base, sep, adapter = pattern.partition(":")
        if base not in served:
            continue
        if not sep:
            out.add(base)
            continue
        out.update(a for a in served[base] if fnmatch.fnmatchcase(a.partition(":")[2], adapter))
    return sorted(out)


# ------------------------------------------------------------------ maps


def render_maps(tenants: Mapping[str, TenantSpec], key_hashes: Mapping[str, Sequence[str]],
                served: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """Map files of one service's gate, by file name.

    ``key_hashes``: tenant -> hashes of its keys; ``served``: this service's base served name ->
    its adapters. Lines are sorted: equal inputs, equal bytes (no spurious Secret updates)."""
    keys, grants, models, rate, concurrency = [], [], [], [], []
    for tenant in sorted(tenants):
        spec = tenants[tenant]
        keys += [f"{h} {tenant}" for h in sorted(key_hashes.get(tenant, ()))]
        allowed = expand_grants(spec.grants, served)
        grants += [f"{tenant}|{m} 1" for m in allowed]
        models.append(f"{tenant} " + models_body(allowed, served))
        if spec.max_requests_per_window is not None:
            rate.append(f"{tenant} {spec.max_requests_per_window}")
        if spec.max_concurrent is not None:
            concurrency.append(f"{tenant} {spec.max_concurrent}")
    files = {"keys.map": keys, "grants.map": sorted(grants), "models.map": models, "rate.map": rate,
             "concurrency.map": concurrency}
    return {name: "".join(line + "\n" for line in lines) for name, lines in files.items()}


def models_body(allowed: Sequence[str], served: Mapping[str, Sequence[str]]) -> str:
    """The ``/v1/models`` answer for a tenant (OpenAI list shape, one line)."""
    parent = {a: base for base, adapters in served.items() for a in adapters}
    data = []
    for name in allowed:
        entry = {"id": name, "object": "model", "owned_by": "llm-platform"}
        if name in parent:
            entry["parent"] = parent[name]
        data.append(entry)
    return json.dumps({"object": "list", "data": data}, separators=(",", ":"), sort_keys=True)


# ------------------------------------------------------------------ haproxy.cfg


def render_config(spec: GateSpec, *, listen_port: int, vllm_key: bool, paths: GatePaths = GatePaths(),
                  bind: str = "0.0.0.0", metrics_on_client_port: bool = False) -> str:
    """haproxy.cfg of a gate. ``listen_port``: the port the frontend routes to; ``vllm_key``: vLLM itself wants a bearer token (read from the
    ``VLLM_API_KEY`` environment variable by HAProxy when it parses the file, so it is in no
    ConfigMap); ``bind``: listen address (tests bind 127.0.0.1); ``metrics_on_client_port``: also
    pass ``GET /metrics`` on the client port without a key (llm-d's endpoint picker scrapes there)."""
    m = paths.map
    bufsize = spec.max_body_kib * 1024 + 16384  # the whole body plus headers
    window = spec.rate_window_seconds
    inference = " ".join(INFERENCE_PATHS)
    metrics_rule = "    http-request allow if { path /metrics } METH_GET\n" if metrics_on_client_port else ""
    backend_auth = (f'    http-request set-header authorization "Bearer ${{{VLLM_KEY_ENV}}}"\n' if vllm_key
                    else "    http-request del-header authorization\n")
    return f"""\
# Rendered by components/gate/haproxy.py; do not edit. See that module for the rules.
global
    log stdout format raw local0 info
    maxconn 512
    tune.bufsize {bufsize}
    tune.maxrewrite 16384
    stats socket {paths.runtime_socket} mode 600 level admin
    setenv GATE_MAP_FILES {",".join(m(f) for f in MAP_FILES)}
    setenv GATE_MAP_RELOAD_SECONDS {spec.map_reload_seconds}
    lua-load {paths.conf_dir}/gate.lua

defaults
    mode http
    log global
    # The default HTTP log line has no request headers: keys never reach the logs.
    option httplog
    option dontlognull
    timeout connect 5s
    timeout http-request 30s
    timeout client {spec.timeout_seconds}s
    timeout server {spec.timeout_seconds}s
    timeout tunnel {spec.timeout_seconds}s

frontend gate
    bind {bind}:{listen_port}
    option http-buffer-request
    acl health path {HEALTH_PATH}
    acl inference path {inference}
    acl listing path {MODELS_PATH}
    # 1. probes: vLLM's own health, no key ("allow" ends the rules; the request goes to vLLM)
    http-request allow if health METH_GET
{metrics_rule}    # 2. everything else vLLM serves stays out of reach
    http-request return status 403 content-type application/json string '{{"error":"path not offered by the gate"}}' unless inference METH_POST || listing METH_GET
    # 3. authentication: the SHA-256 of the bearer token names the tenant
    http-request set-var(txn.tenant) req.hdr(authorization),regsub("^Bearer +",""),sha2(256),hex,lower,map({m("keys.map")})
    http-request return status 401 content-type application/json string '{{"error":"missing or unknown API key"}}' hdr www-authenticate Bearer unless {{ var(txn.tenant) -m found }}
    # 4. limits per tenant (0: none)
    http-request set-var(txn.rate_limit) var(txn.tenant),map({m("rate.map")},0)
    http-request set-var(txn.concurrency_limit) var(txn.tenant),map({m("concurrency.map")},0)
    http-request track-sc0 var(txn.tenant) table rate_by_tenant
    http-request track-sc1 var(txn.tenant) table concurrency_by_tenant
    acl rate_limited var(txn.rate_limit) -m int gt 0
    acl over_rate sc_http_req_rate(0),sub(txn.rate_limit) -m int gt 0
    acl concurrency_limited var(txn.concurrency_limit) -m int gt 0
    acl over_concurrency sc_conn_cur(1),sub(txn.concurrency_limit) -m int gt 0
    http-request return status 429 content-type application/json string '{{"error":"request rate limit of the tenant reached"}}' hdr retry-after {window} if rate_limited over_rate
    http-request return status 429 content-type application/json string '{{"error":"concurrency limit of the tenant reached"}}' hdr retry-after 1 if concurrency_limited over_concurrency
    # 5. the tenant's own models
    http-request return status 200 content-type application/json lf-string "%[var(txn.tenant),map({m("models.map")})]" if listing
    # 6. the body's model must be granted (the whole body must be buffered to read it)
    http-request return status 413 content-type application/json string '{{"error":"request body too large for the gate"}}' if {{ req.hdr_val(content-length) gt {spec.max_body_kib * 1024} }}
    http-request return status 411 content-type application/json string '{{"error":"Content-Length required"}}' unless {{ req.hdr(content-length) -m found }}
    http-request return status 400 content-type application/json string '{{"error":"the body must be a JSON object with one top-level model"}}' unless {{ lua.gate_model_keys -m int eq 1 }}
    http-request set-var(txn.model) req.body,json_query('$.model')
    http-request set-var(txn.grant) var(txn.tenant),concat(|,txn.model,)
    http-request return status 403 content-type application/json string '{{"error":"model not granted to this key"}}' unless {{ var(txn.grant),map({m("grants.map")}) -m found }}
    # 7. identity comes from the gate, never from the client
    http-request del-header {FAIRNESS_HEADER}
    http-request set-header {FAIRNESS_HEADER} %[var(txn.tenant)]
{backend_auth}    default_backend vllm

frontend metrics
    bind {bind}:{spec.metrics_port}
    http-request use-service prometheus-exporter if {{ path {GATE_METRICS_PATH} }}
    http-request return status 403 unless {{ path /metrics }} METH_GET
    default_backend vllm

backend vllm
    server vllm 127.0.0.1:{spec.vllm_port}

backend rate_by_tenant
    stick-table type string len 64 size 10k expire {2 * window}s store http_req_rate({window}s)

backend concurrency_by_tenant
    stick-table type string len 64 size 10k expire 1h store conn_cur
"""


@dataclass(frozen=True)
class GateFiles:
    """Everything a gate container mounts."""

    config_map: dict[str, str]
    """haproxy.cfg, gate.lua, the plain maps and tenants.json (the grant patterns as configured,
    for operators and the policy pack)."""
    secret: dict[str, str]
    """keys.map."""


def gate_files(spec: GateSpec, tenants: Mapping[str, TenantSpec], key_hashes: Mapping[str, Sequence[str]],
               served: Mapping[str, Sequence[str]], *, listen_port: int, vllm_key: bool,
               paths: GatePaths = GatePaths(), bind: str = "0.0.0.0", metrics_on_client_port: bool = False) -> GateFiles:
    """The gate's files for one service (the component mounts them; the tests run them)."""
    maps = render_maps(tenants, key_hashes, served)
    grants = {t: {"grants": list(tenants[t].grants), "maxRequestsPerWindow": tenants[t].max_requests_per_window,
                  "maxConcurrent": tenants[t].max_concurrent} for t in sorted(tenants)}
    config_map = {
        "haproxy.cfg": render_config(spec, listen_port=listen_port, vllm_key=vllm_key, paths=paths, bind=bind,
                                     metrics_on_client_port=metrics_on_client_port),
        "gate.lua": LUA_SOURCE.read_text(),
        "tenants.json": json.dumps(grants, indent=2, sort_keys=True) + "\n",
        **{name: maps[name] for name in PLAIN_MAPS},
    }
    return GateFiles(config_map=config_map, secret={KEYS_MAP: maps[KEYS_MAP]})
