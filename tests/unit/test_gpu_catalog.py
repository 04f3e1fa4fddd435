"""The GPU hardware catalog (components/gpu/catalog.yaml): it loads, every reader's GPU is in it,
its figures are the sourced ones, and a bad edit is refused with every problem and its path.

Expected figures are typed in from the sources the catalog cites (Karpenter's instance-type
reference, vLLM's H100 memory log), not read back from the catalog.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

from components.gpu import catalog, mig
from components.gpu.catalog import HARDWARE, GIB, MIB, HardwareCatalogError, load_catalog, parse_catalog
from components.models import capacity, planning

REPO = Path(__file__).resolve().parents[2]
CATALOG_TEXT = (REPO / "components" / "gpu" / "catalog.yaml").read_text()

# aws/karpenter-provider-aws v1.14 reference/instance-types.md: family -> (gpu-name, gpu-memory MiB)
KARPENTER = {"p4d": ("a100", 40960), "p4de": ("a100", 81920), "p5": ("h100", 81920), "p5e": ("h200", 144384),
             "p5en": ("h200", 144384), "p6-b200": ("b200", 183359), "g5": ("a10g", 22888), "g6": ("l4", 22888),
             "g6e": ("l40s", 45776)}


def test_the_shipped_file_loads_once_and_is_declared_package_data():
    assert load_catalog() == HARDWARE
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "catalog.yaml" in pyproject["tool"]["setuptools"]["package-data"]["components.gpu"]


def test_every_gpu_the_readers_name_is_in_the_catalog():
    models = {g.model for g in HARDWARE.gpus}
    assert {m.value for m in mig.GpuModel} == {g.model for g in HARDWARE.mig_gpus}
    assert {s.model.value for s in mig.catalog()} <= models
    assert {f.gpu for f in mig.INSTANCE_FAMILIES.values()} <= models
    assert {f.gpu_model.value for f in mig.INSTANCE_FAMILIES.values() if f.gpu_model} <= models
    assert set(capacity.DEVICES) <= models
    # every pool of every stack names a catalog GPU the planner can size
    for stack in sorted((REPO / "stacks").glob("Pulumi.*.yaml")):
        pools = yaml.safe_load(stack.read_text())["config"].get("llm-platform:gpu", {}).get("pools", {})
        for name, pool in pools.items():
            hw = HARDWARE.gpu(pool["gpu"])
            assert hw is not None and hw.memory.bytes is not None, (stack.name, name, pool["gpu"])


def test_every_fact_block_cites_a_known_source():
    blocks = [HARDWARE.mig_geometry.sources]
    for g in HARDWARE.gpus:
        blocks += [g.karpenter.sources] if g.karpenter else []
        blocks += [g.mig.sources] if g.mig else []
        if g.memory.bytes is not None:
            blocks.append(g.memory.sources)
    assert all(blocks) and {s for b in blocks for s in b} <= set(HARDWARE.sources)


@pytest.mark.parametrize("family", sorted(KARPENTER))
def test_instance_families_carry_karpenters_labels(family):
    f = mig.INSTANCE_FAMILIES[family]
    assert (f.gpu_name, f.gpu_memory_mib) == KARPENTER[family]


def test_planner_memory_keeps_its_figures_and_bases():
    assert capacity.DEVICES["H100-80GB"].memory_bytes == int(79.11 * GIB)  # vLLM's cudaMemGetInfo log
    assert "CUDA-visible" in capacity.DEVICES["H100-80GB"].basis
    assert capacity.DEVICES["A100-80GB"].memory_bytes == 80 * GIB and "nominal" in capacity.DEVICES["A100-80GB"].basis
    for gpu, family in (("L4", "g6"), ("L40S", "g6e"), ("A10G", "g5"), ("A100-40GB", "p4d"), ("H200-141GB", "p5e"),
                        ("B200-180GB", "p6-b200")):
        mib = KARPENTER[family][1]
        assert capacity.DEVICES[gpu].memory_bytes == mib * MIB
        assert f"instance-gpu-memory {mib} MiB" in capacity.DEVICES[gpu].basis


def test_gpus_without_a_sourced_figure_are_refused_by_the_planner_with_the_reason():
    for gpu in ("H100-NVL-94GB", "H100-96GB", "T4"):
        with pytest.raises(KeyError, match=f"no memory figure for GPU '{gpu}': the sources give none"):
            planning.whole_gpu(gpu)
    # aliases and case resolve to the catalog model
    assert planning.whole_gpu("h200") == capacity.DEVICES["H200-141GB"]


def test_mig_slice_memory_is_per_gpu():
    # The same name is a different profile: 1 memory slice on A100-80GB, 2 on A100-40GB.
    assert capacity.mig_memory_slices("A100-80GB")["1g.10gb"] == 1
    assert capacity.mig_memory_slices("A100-40GB")["1g.10gb"] == 2
    assert capacity.get_device("A100-40GB/1g.10gb").memory_bytes == 40960 * MIB * 2 // 8
    for spec in mig.catalog():
        assert dict(capacity.mig_memory_slices(spec.model.value)) == {p.name: p.memory_slices for p in spec.profiles}
    with pytest.raises(KeyError, match="no MIG profile '1g.10gb' on L4 \\(known: none, it has no MIG\\)"):
        capacity.get_device("L4/1g.10gb")


def test_no_other_module_holds_a_copy_of_the_figures():
    figures = {str(m) for _, m in KARPENTER.values()} | {"79.11"}
    pattern = re.compile(r"(?<![\d.])(" + "|".join(map(re.escape, sorted(figures))) + r")(?![\d])")
    copies = []
    for package in ("components", "infra", "policies"):
        for path in sorted((REPO / package).rglob("*.py")):
            if path == Path(catalog.__file__):
                continue
            copies += [f"{path.relative_to(REPO)}:{i}" for i, line in enumerate(path.read_text().splitlines(), 1)
                       if pattern.search(line)]
    assert copies == []


def _edited(old: str, new: str) -> str:
    assert old in CATALOG_TEXT, old
    return CATALOG_TEXT.replace(old, new, 1)


@pytest.mark.parametrize(("old", "new", "problem"), [
    ("memory: {gib: 79.11,", "memory: {gib: x,", "gpus.H100-80GB.memory.gib: must be a positive number, got 'x'"),
    ("    description: NVIDIA L4 (EC2 g6), no MIG\n", "    description: NVIDIA L4 (EC2 g6), no MIG\n    colour: green\n",
     "gpus.L4.colour: unknown key; allowed: aliases, description, karpenter, memory, mig"),
    ("sources: [vllm-memory-profile]", "sources: [vllm-log]", "gpus.H100-80GB.memory.sources[0]: unknown source 'vllm-log'"),
    ("    g6: L4\n", "    g6: L4X\n", "instance_families.families.g6: unknown GPU model 'L4X'"),
    ("    g6: L4\n", "    g6: T4\n", "instance_families.families.g6: T4 has no karpenter labels"),
    ('pci_device_ids: ["0x2901"]', 'pci_device_ids: ["2901"]',
     "gpus.B200-180GB.mig.pci_device_ids[0]: must be a PCI device ID like '0x2330'"),
    ("three: 3g.40gb,\n                 four: 4g.40gb, seven: 7g.80gb}\n      balanced: {1g.10gb: 2, 2g.20gb: 1, 3g.40gb: 1}\n  H100-80GB",
     "three: 2g.40gb,\n                 four: 4g.40gb, seven: 7g.80gb}\n      balanced: {1g.10gb: 2, 2g.20gb: 1, 3g.40gb: 1}\n  H100-80GB",
     "gpus.A100-80GB.mig.profiles.three: '2g.40gb' names 2 compute slices"),
    ("    memory: {karpenter: true}\n  L40S:", "    memory: {karpenter: true, gib: 20}\n  L40S:",
     "gpus.L4.memory: give exactly one of gib"),
    ("    p5e: H200-141GB\n", "    p5e: H200-141GB\n    p5e: H100-80GB\n", "duplicate key 'p5e'"),
    ("    aliases: [B200]\n", "    aliases: [H200]\n", "name 'H200' is already used by H200-141GB"),
])
def test_a_bad_edit_is_refused_naming_the_path(old, new, problem):
    with pytest.raises(HardwareCatalogError) as err:
        parse_catalog(_edited(old, new), "catalog.yaml")
    assert str(err.value).startswith("catalog.yaml: ")
    assert problem in str(err.value)


def test_every_problem_is_reported_at_once():
    text = _edited("memory: {gib: 79.11,", "memory: {gib: -1,")
    text = text.replace("    g6: L4\n", "    g6: L4X\n", 1)
    with pytest.raises(HardwareCatalogError) as err:
        parse_catalog(text)
    lines = str(err.value).splitlines()[1:]
    assert len(lines) == 2 and "gpus.H100-80GB.memory.gib" in lines[0] and "families.g6" in lines[1]
