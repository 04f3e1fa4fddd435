"""The examples are programs a user could write: each uses one component from plain args and
nothing of ``infra/``. Run here under Pulumi's mocks; ``tests/engine/test_examples_engine.py``
runs them through the real engine."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.support.mock_program import run_example
from tests.support.schemas import crd_errors, has_crd
from tests.unit.test_import_layers import import_graph

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


def _objects(registrations) -> list[dict]:
    return [r.inputs for r in registrations if r.custom and r.type.startswith("kubernetes:") and "providers" not in r.type]


def test_examples_import_only_the_component_library():
    for main in sorted(EXAMPLES.glob("*/__main__.py")):
        graph = import_graph(REPO, packages=("components", "infra", "policies", f"examples/{main.parent.name}"))
        module = f"examples.{main.parent.name}.__main__"
        assert graph[module] and all(dep.startswith("components") for dep in graph[module]), (module, graph[module])


@pytest.mark.parametrize("example", ["lora_service", "gpu_pool"])
def test_every_example_is_a_pulumi_project(example):
    project = yaml.safe_load((EXAMPLES / example / "Pulumi.yaml").read_text())
    assert project["runtime"]["name"] == "python"
    assert (EXAMPLES / example / project["runtime"]["options"]["virtualenv"] / "bin" / "python").exists()


def test_lora_service_example_declares_only_the_multi_lora_service():
    registrations = run_example(EXAMPLES / "lora_service" / "__main__.py", project="lora-service-example")
    components = {r.type for r in registrations if not r.custom}
    assert components == {"llmplatform:models:VllmLoraService", "llmplatform:models:AdapterRegistry"}
    kinds = sorted(o["kind"] for o in _objects(registrations))
    # registry + sidecar script ConfigMaps; the Role and RoleBinding that let the sidecar watch its registry
    assert kinds == ["ConfigMap", "ConfigMap", "InferenceService", "Role", "RoleBinding", "ServingRuntime"]
    for obj in _objects(registrations):
        if has_crd(obj["apiVersion"], obj["kind"]):
            assert crd_errors(obj) == [], obj["kind"]
    registry = next(o for o in _objects(registrations) if o["metadata"]["name"] == "qwen-7b-lora-registry")
    assert "qwen2.5-7b:support-ja" in registry["data"]["registry.json"]


def test_gpu_pool_example_declares_only_a_gpu_pool():
    registrations = run_example(EXAMPLES / "gpu_pool" / "__main__.py", project="gpu-pool-example")
    assert {r.type for r in registrations if not r.custom} == {"llmplatform:gpu:GpuNodePool"}
    objects = _objects(registrations)
    assert sorted(o["kind"] for o in objects) == ["EC2NodeClass", "NodeOverlay", "NodePool"]
    overlay = next(o for o in objects if o["kind"] == "NodeOverlay")
    assert overlay["spec"]["capacity"] == {"nvidia.com/mig-3g.40gb": "16"}
    for obj in objects:
        if has_crd(obj["apiVersion"], obj["kind"]):
            assert crd_errors(obj) == [], obj["kind"]
