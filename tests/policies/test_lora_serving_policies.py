"""LoRA and serving policies, each with a compliant and a violating case."""

from __future__ import annotations

import json

from policies.llm_platform_policies import lora, serving
from tests.support.policy_harness import deployment, run_policy, run_stack_policy

CM = "kubernetes:core/v1:ConfigMap"
DEPLOY = "kubernetes:apps/v1:Deployment"
ADAPTER = "pulumi-python:dynamic/models:AdapterVersion"
ISVC = "kubernetes:serving.kserve.io/v1beta1:InferenceService"
LABELS = {"app.kubernetes.io/component": "lora-registry", "app.kubernetes.io/instance": "llama"}


def registry(entries: dict[str, str]) -> dict:
    return {"metadata": {"name": "llama-lora-registry", "namespace": "llm", "labels": LABELS},
            "data": {"registry.json": json.dumps(entries)}}


def server(max_rank: int, max_cpu_loras: int) -> dict:
    d = deployment({"name": "vllm", "image": "r/vllm/vllm-openai:v1", "command": ["vllm", "serve"],
                    "args": ["--model=/mnt/models", f"--max-lora-rank={max_rank}", f"--max-cpu-loras={max_cpu_loras}"]})
    d["metadata"]["labels"] = {"app.kubernetes.io/instance": "llama"}
    return d


PINS = {"adapter_config.json": "a" * 64, "adapter_model.safetensors": "b" * 64}


def test_adapter_versions_pinned():
    pinned = {"prefix": "adapters/llama/sql/v2026-11-01/", "files": PINS}
    assert run_policy(lora.adapter_versions_pinned, CM, registry({"llama:sql": pinned})) == []
    assert run_policy(lora.adapter_versions_pinned, CM, registry({"llama:sql": {**pinned, "prefix": "adapters/llama/sql/latest/"}})) == [
        "llm/llama-lora-registry: adapter 'llama:sql' points at 'adapters/llama/sql/latest/', whose last segment "
        "'latest' is not a pinned version"]
    assert run_policy(lora.adapter_versions_pinned, CM, registry({"llama:sql": {**pinned, "files": {"adapter_config.json": "x"}}})) == [
        "llm/llama-lora-registry: adapter 'llama:sql' does not pin its files by sha256 (files: {name: digest}); "
        "the sync sidecar refuses it"]


def test_lora_rank_within_max():
    adapters = [(ADAPTER, {"prefix": "adapters/llama/sql/v1/", "rank": 64})]
    reg = [(CM, registry({"llama:sql": "adapters/llama/sql/v1/"}))]
    assert run_stack_policy(lora.lora_rank, adapters + reg + [(DEPLOY, server(64, 8))]) == []
    assert run_stack_policy(lora.lora_rank, adapters + reg + [(DEPLOY, server(16, 8))]) == [
        "llm/llama-lora-registry: adapter 'llama:sql' has rank 64 but llm/d runs --max-lora-rank=16; vLLM refuses it"]


def test_adapters_within_max_cpu_loras():
    reg = [(CM, registry({f"llama:a{i}": f"adapters/llama/a{i}/v1/" for i in range(3)}))]
    assert run_stack_policy(lora.adapters_within_cpu_loras, reg + [(DEPLOY, server(16, 3))]) == []
    assert run_stack_policy(lora.adapters_within_cpu_loras, reg + [(DEPLOY, server(16, 2))]) == [
        "llm/llama-lora-registry: serves 3 adapters but llm/d caches at most 2 (--max-cpu-loras); raise maxCpuLoras "
        "or split the service"]


def isvc(**predictor) -> dict:
    return {"metadata": {"name": "llama", "namespace": "llm"}, "spec": {"predictor": predictor}}


def test_inference_services_bounded():
    assert run_policy(serving.autoscaling_bounds, ISVC, isvc(minReplicas=1, maxReplicas=4)) == []
    assert run_policy(serving.autoscaling_bounds, ISVC, isvc(minReplicas=1)) == [
        "llm/llama: spec.predictor sets no maxReplicas; unbounded GPU replicas cost money"]
    assert run_policy(serving.autoscaling_bounds, ISVC, isvc(minReplicas=3, maxReplicas=2)) == [
        "llm/llama: spec.predictor maxReplicas 2 is below minReplicas 3 or zero"]


def test_inference_services_monitored():
    pod_monitor = ("kubernetes:monitoring.coreos.com/v1:PodMonitor", {
        "metadata": {"name": "vllm", "namespace": "llm"},
        "spec": {"selector": {"matchLabels": {"serving.kserve.io/inferenceservice": "llama"}}}})
    assert run_stack_policy(serving.monitored, [(ISVC, isvc(minReplicas=1, maxReplicas=1)), pod_monitor]) == []
    other = ("kubernetes:monitoring.coreos.com/v1:PodMonitor", {
        "metadata": {"name": "vllm", "namespace": "monitoring"},
        "spec": {"selector": {"matchLabels": {"serving.kserve.io/inferenceservice": "llama"}}}})
    assert run_stack_policy(serving.monitored, [(ISVC, isvc(minReplicas=1, maxReplicas=1)), other]) == [
        "InferenceService llm/llama has no PodMonitor/ServiceMonitor selecting its predictor pods; its vLLM metrics "
        "(queue, KV cache, adapters) would not be scraped"]
