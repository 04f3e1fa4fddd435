"""The gate with the real OpenAI client, real HAProxy and real vLLM on loopback (see conftest)."""

from __future__ import annotations

import json
import secrets
import threading
import time

import openai
import pytest

from components.gate.haproxy import FAIRNESS_HEADER, key_hash
from tests.gate.conftest import RATE_WINDOW, SERVED, GateEnv
from tests.support.real_servers import http, json_body, runtime_api

CHAT = [{"role": "user", "content": "Say something about SQL."}]


def client(env: GateEnv, key: str, base: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(base_url=(base or env.gate.url) + "/v1", api_key=key, max_retries=0, timeout=120)


def chat(env: GateEnv, key: str, model: str):
    return client(env, key).chat.completions.create(model=model, messages=CHAT, max_tokens=8, temperature=0)


def test_tenant_reaches_each_of_its_adapters_and_they_differ(gate_env):
    key = gate_env.keys["team-a"]
    outputs = {}
    for model in ("tiny:a1", "tiny:a2"):
        answer = chat(gate_env, key, model)
        assert answer.model == model
        assert answer.choices[0].message.content
        outputs[model] = answer.choices[0].message.content
    completion = client(gate_env, key).completions.create(model="tiny:a1", prompt="SELECT", max_tokens=4, temperature=0)
    assert completion.choices[0].text
    # Two adapters, two different greedy answers: each request really ran its own adapter.
    assert outputs["tiny:a1"] != outputs["tiny:a2"]


def test_other_tenants_adapter_and_ungranted_base_are_403(gate_env):
    with pytest.raises(openai.PermissionDeniedError) as denied:
        chat(gate_env, gate_env.keys["team-a"], "tiny:b1")
    assert denied.value.status_code == 403
    with pytest.raises(openai.PermissionDeniedError):
        chat(gate_env, gate_env.keys["team-a"], SERVED)  # team-a has adapters only, not the base
    with pytest.raises(openai.PermissionDeniedError):
        chat(gate_env, gate_env.keys["team-b"], "tiny:a1")
    assert chat(gate_env, gate_env.keys["team-b"], "tiny:b1").model == "tiny:b1"
    assert chat(gate_env, gate_env.keys["team-b"], SERVED).model == SERVED


def test_missing_or_wrong_key_is_401(gate_env):
    with pytest.raises(openai.AuthenticationError) as wrong:
        chat(gate_env, "sk-" + secrets.token_urlsafe(32), "tiny:a1")
    assert wrong.value.status_code == 401
    body = json_body({"model": "tiny:a1", "messages": CHAT, "max_tokens": 2})
    status, headers, _ = http("POST", gate_env.gate.url + "/v1/chat/completions", body, {"content-type": "application/json"})
    assert status == 401 and headers.get("www-authenticate") == "Bearer"
    # A key's hash is not a key.
    hashed = key_hash(gate_env.keys["team-a"])
    status, _, _ = http("POST", gate_env.gate.url + "/v1/chat/completions", body, {"authorization": f"Bearer {hashed}"})
    assert status == 401
    # The same request with the key is answered by vLLM (the 401s above are the gate's).
    status, _, _ = http("POST", gate_env.gate.url + "/v1/chat/completions", body,
                        {"authorization": f"Bearer {gate_env.keys['team-a']}", "content-type": "application/json"})
    assert status == 200


MANAGEMENT = [
    ("POST", "/v1/load_lora_adapter", {"lora_name": "evil", "lora_path": "/tmp"}),
    ("POST", "/v1/unload_lora_adapter", {"lora_name": "tiny:a1"}),
    ("POST", "/adapters", {"name": "evil", "path": "/tmp"}),
    ("POST", "/invocations", {"model": "tiny:b1", "messages": CHAT}),
    ("POST", "/reset_prefix_cache", None),
    ("POST", "/reset_mm_cache", None),
    ("POST", "/sleep", None),
    ("POST", "/wake_up", None),
    ("GET", "/is_sleeping", None),
    ("POST", "/collective_rpc", {"method": "get_model"}),
    ("POST", "/scale_elastic_ep", {}),
    ("POST", "/start_profile", None),
    ("POST", "/tokenize", {"model": "tiny:a1", "prompt": "x"}),
    ("POST", "/v1/responses", {"model": "tiny:a1", "input": "x"}),
    ("POST", "/v1/embeddings", {"model": "tiny:a1", "input": "x"}),
    ("GET", "/metrics", None),
    ("GET", "/server_info", None),
    ("GET", "/load", None),
    ("GET", "/version", None),
    ("GET", "/docs", None),
    ("GET", "/openapi.json", None),
    # the offered paths with another method, or spelled so that only a lax matcher would pass them
    ("GET", "/v1/chat/completions", None),
    ("POST", "/v1/models", None),
    ("POST", "//v1/chat/completions", {"model": "tiny:a1", "messages": CHAT}),
    ("POST", "/v1/chat/completions/", {"model": "tiny:a1", "messages": CHAT}),
    ("POST", "/v1/chat/completions/../../v1/load_lora_adapter", {"lora_name": "evil", "lora_path": "/tmp"}),
    ("POST", "/v1/%6Coad_lora_adapter", {"lora_name": "evil", "lora_path": "/tmp"}),
]


@pytest.mark.parametrize("who", ["team-a", "team-b", "wrong", "none"])
def test_every_management_path_is_refused_for_every_key(gate_env, who):
    headers = {"content-type": "application/json"}
    if who == "wrong":
        headers["authorization"] = "Bearer sk-" + secrets.token_urlsafe(32)
    elif who != "none":
        headers["authorization"] = f"Bearer {gate_env.keys[who]}"
    for method, path, payload in MANAGEMENT:
        status, _, body = http(method, gate_env.gate.url + path, json_body(payload) if payload is not None else None, headers)
        assert status == 403, f"{method} {path} as {who}: {status} {body[:200]!r}"
    # vLLM itself would have served the first one: the adapter was never loaded through the gate.
    listed = json.loads(http("GET", gate_env.vllm.url + "/v1/models")[2])
    assert "evil" not in {m["id"] for m in listed["data"]}


def test_management_route_is_live_on_vllm_itself(gate_env):
    """The refused paths are real: vLLM (reached directly, as only the pod's own containers can)
    answers them. Without this the 403s above could be refusing nothing."""
    status, _, _ = http("POST", gate_env.vllm.url + "/v1/load_lora_adapter",
                        json_body({"lora_name": "direct", "lora_path": str(gate_env.vllm.cache_dir / "tiny:a1")}),
                        {"content-type": "application/json"})
    assert status == 200
    status, _, _ = http("POST", gate_env.vllm.url + "/v1/unload_lora_adapter", json_body({"lora_name": "direct"}),
                        {"content-type": "application/json"})
    assert status == 200


def test_models_lists_only_the_tenants_own(gate_env):
    a = sorted(m.id for m in client(gate_env, gate_env.keys["team-a"]).models.list())
    b = sorted(m.id for m in client(gate_env, gate_env.keys["team-b"]).models.list())
    assert a == ["tiny:a1", "tiny:a2"]
    assert b == [SERVED, "tiny:b1"]
    with pytest.raises(openai.AuthenticationError):
        client(gate_env, "sk-nope").models.list()


def test_health_passes_without_a_key_for_probes(gate_env):
    assert http("GET", gate_env.gate.url + "/health")[0] == 200


def test_body_tricks_are_refused(gate_env):
    key = {"authorization": f"Bearer {gate_env.keys['team-a']}", "content-type": "application/json"}
    url = gate_env.gate.url + "/v1/chat/completions"
    # HAProxy's json_query reads the first "model", Python's json keeps the last.
    two = b'{"model": "tiny:a1", "messages": [{"role": "user", "content": "x"}], "model": "tiny:b1"}'
    assert http("POST", url, two, key)[0] == 400
    assert http("POST", url, b'{"messages": []}', key)[0] == 400
    assert http("POST", url, b"not json", key)[0] == 400
    # "model" inside a message or as a string value is not a second top-level key.
    nested = json_body({"messages": [{"role": "user", "content": '"model": "tiny:b1"'}], "model": "tiny:a1",
                        "max_tokens": 2, "metadata": {"model": "tiny:b1"}})
    assert http("POST", url, nested, key)[0] == 200
    big = json_body({"model": "tiny:a1", "messages": [{"role": "user", "content": "x" * (600 * 1024)}]})
    assert http("POST", url, big, key)[0] == 413


def test_fairness_id_comes_from_the_tenant_never_the_client(gate_env):
    c = client(gate_env, gate_env.keys["team-b"], base=gate_env.echo_gate.url)
    raw = c.chat.completions.with_raw_response.create(
        model="tiny:b1", messages=CHAT, extra_headers={FAIRNESS_HEADER: "team-a", "x-test-hold": "0"})
    seen = json.loads(raw.http_response.text)["headers"]
    assert seen[FAIRNESS_HEADER] == "team-b"
    assert "authorization" not in seen  # the tenant's key never reaches the model server


def test_rate_limit_trips_and_recovers(gate_env):
    key = gate_env.keys["limited"]
    statuses = [http("GET", gate_env.gate.url + "/v1/models", headers={"authorization": f"Bearer {key}"})[0]
                for _ in range(6)]
    assert statuses[:3] == [200, 200, 200] and 429 in statuses[3:]
    with pytest.raises(openai.RateLimitError):
        chat(gate_env, key, "tiny:a1")
    # Other tenants are not limited by it.
    assert chat(gate_env, gate_env.keys["team-a"], "tiny:a1").model == "tiny:a1"
    deadline = time.monotonic() + 4 * RATE_WINDOW + 5
    while True:
        try:
            assert chat(gate_env, key, "tiny:a1").model == "tiny:a1"
            break
        except openai.RateLimitError:
            assert time.monotonic() < deadline, "rate limit did not recover"
            time.sleep(1)  # refused attempts count too: probe below the limit's rate


def test_concurrency_limit_trips_and_recovers(gate_env):
    key = gate_env.keys["single"]
    c = client(gate_env, key, base=gate_env.echo_gate.url)
    held: dict = {}

    def slow():
        held["answer"] = c.chat.completions.with_raw_response.create(
            model="tiny:a2", messages=CHAT, extra_headers={"x-test-hold": "3"})

    worker = threading.Thread(target=slow)
    worker.start()
    time.sleep(1)  # the first request is in flight at the model server
    with pytest.raises(openai.RateLimitError):
        c.chat.completions.create(model="tiny:a2", messages=CHAT)
    worker.join(30)
    assert held["answer"].http_response.status_code == 200
    assert c.chat.completions.with_raw_response.create(model="tiny:a2", messages=CHAT).http_response.status_code == 200


def test_key_rotation_without_restart_or_dropped_request(gate_env):
    old = gate_env.keys["rotating"]
    new = "sk-" + secrets.token_urlsafe(32)
    pids = (gate_env.gate.process.pid, gate_env.echo_gate.process.pid, gate_env.vllm.process.pid)
    assert chat(gate_env, old, "tiny:b1").model == "tiny:b1"
    with pytest.raises(openai.AuthenticationError):
        chat(gate_env, new, "tiny:b1")

    # A request in flight across the rotation (held 4 s by the model server behind the echo gate).
    in_flight: dict = {}

    def slow():
        in_flight["answer"] = client(gate_env, old, base=gate_env.echo_gate.url).chat.completions.with_raw_response.create(
            model="tiny:b1", messages=CHAT, extra_headers={"x-test-hold": "4"})

    worker = threading.Thread(target=slow)
    worker.start()
    time.sleep(0.5)
    gate_env.keys["rotating"] = new
    gate_env.write_files()  # what the kubelet does when the Secret's key hashes change

    deadline = time.monotonic() + 15
    while True:
        try:
            assert chat(gate_env, new, "tiny:b1").model == "tiny:b1"
            break
        except openai.AuthenticationError:
            assert time.monotonic() < deadline, "the rotated key was not picked up"
            time.sleep(0.3)
    with pytest.raises(openai.AuthenticationError):
        chat(gate_env, old, "tiny:b1")
    worker.join(30)
    assert in_flight["answer"].http_response.status_code == 200
    # Same processes, still running: the maps changed in place (runtime API), nothing restarted.
    assert (gate_env.gate.process.pid, gate_env.echo_gate.process.pid, gate_env.vllm.process.pid) == pids
    assert gate_env.gate.process.alive() and gate_env.vllm.process.alive()
    loaded = runtime_api(gate_env.gate.paths.runtime_socket, f"show map {gate_env.gate.paths.map('keys.map')}")
    assert key_hash(new) in loaded and key_hash(old) not in loaded
    # Other tenants' keys kept working throughout.
    assert chat(gate_env, gate_env.keys["team-a"], "tiny:a2").model == "tiny:a2"


def test_metrics_port_serves_vllm_and_gate_metrics_only(gate_env):
    status, _, body = http("GET", gate_env.gate.metrics_url + "/metrics")
    assert status == 200 and b"vllm:num_requests_running" in body
    status, _, body = http("GET", gate_env.gate.metrics_url + "/metrics/gate")
    assert status == 200 and b"haproxy_frontend_http_requests_total" in body
    assert http("POST", gate_env.gate.metrics_url + "/v1/load_lora_adapter", b"{}")[0] == 403
    assert http("GET", gate_env.gate.metrics_url + "/v1/models")[0] == 403
