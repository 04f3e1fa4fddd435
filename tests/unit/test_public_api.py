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


def _dataclass_fields_without_docstring(cls) -> list[str]:
    import ast
    import textwrap

    body = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0].body
    missing = []
    for i, statement in enumerate(body):
        if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
            following = body[i + 1] if i + 1 < len(body) else None
            if not (isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
                    and isinstance(following.value.value, str) and following.value.value.strip()):
                missing.append(f"{cls.__module__}.{cls.__name__}.{statement.target.id}")
    return missing


@pytest.mark.parametrize("layer", LAYERS)
def test_every_field_of_the_public_args_is_documented(layer):
    """Like the config's specs (test_spec_docs): each field of an exported Args or reference type
    carries a docstring saying what it does."""
    import dataclasses

    package = importlib.import_module(f"components.{layer}")
    classes = [getattr(package, n) for n in package.__all__]
    missing = [f for cls in classes if inspect.isclass(cls) and dataclasses.is_dataclass(cls)
               for f in _dataclass_fields_without_docstring(cls)]
    assert missing == []


def test_every_layer_and_rules_module_imports_first():
    """A user's program may import any layer (or a layer's rules) before anything else: one fresh
    interpreter imports each in turn first, so an import cycle through a package ``__init__`` shows."""
    import subprocess
    import sys

    modules = [f"components.{layer}" for layer in LAYERS] + [
        "components.serving.rules", "components.serving.names", "components.models.rules", "components.gpu.requests",
        "components.gpu.rules", "components.gate.rules", "components.storage.rules"]
    script = ("import importlib, sys\nfailed = []\nfor name in sys.argv[1:]:\n"
              "    for loaded in [m for m in sys.modules if m.startswith('components')]:\n        del sys.modules[loaded]\n"
              "    try:\n        importlib.import_module(name)\n    except ImportError as exc:\n"
              "        failed.append(f'{name}: {exc}')\nprint('\\n'.join(failed))\n")
    result = subprocess.run([sys.executable, "-c", script, *modules], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == ""
