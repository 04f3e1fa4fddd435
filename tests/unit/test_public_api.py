"""Each layer's ``__init__`` is its public API: every component and its args, importable from
the layer (``from components.gpu import GpuNodePool``), so a user's own program needs no
knowledge of the module layout."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pulumi
import pytest

import components

LAYERS = sorted(m.name for m in pkgutil.iter_modules(components.__path__) if m.ispkg and m.name != "common")


@pytest.mark.parametrize("layer", LAYERS)
def test_layer_exports_every_component_and_its_args(layer):
    package = importlib.import_module(f"components.{layer}")
    exported = set(package.__all__)
    assert list(package.__all__) == sorted(exported), "keep __all__ sorted and without duplicates"
    assert all(hasattr(package, name) for name in exported), sorted(n for n in exported if not hasattr(package, n))
    missing = []
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"components.{layer}.{info.name}")
        for name, obj in vars(module).items():
            if not (inspect.isclass(obj) and obj.__module__ == module.__name__):
                continue
            is_component = issubclass(obj, pulumi.ComponentResource)
            if (is_component or (name.endswith("Args") and name[:-4] in vars(module))) and name not in exported:
                missing.append(f"{module.__name__}.{name}")
    assert missing == [], f"not in components.{layer}.__all__: {missing}"


def test_the_project_is_installed_as_a_package(tmp_path):
    """`make venv` installs the project (pyproject.toml, editable): a program anywhere imports the
    layers with no sys.path edit and no PYTHONPATH (``-I``: isolated mode ignores both)."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    code = "import components.models, infra.config, policies.llm_platform_policies as p; print(p.__file__)"
    proc = subprocess.run([sys.executable, "-I", "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert Path(proc.stdout.strip()).resolve().is_relative_to(repo)
