"""Imports go one way: components <- infra, components <- policies <- infra, and no cycle among
the project's modules.

Every import counts, wherever it is written (module level, inside a function, under
``TYPE_CHECKING``): a lazy import is still a dependency, and a cycle hidden in a function is
still a cycle. Read from the source (AST), nothing is imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("components", "infra", "policies")
FORBIDDEN = {
    # importer package -> packages it must never import
    "components": ("infra", "policies"),
    # the pack takes a stack's facts from its pack config (components/common/platform_facts.py)
    "policies": ("infra",),
}


def project_modules(root: Path, packages=PACKAGES) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` under the given top-level packages."""
    modules = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The project module an imported dotted name lives in (longest known prefix), or None."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Project modules ``module`` imports. ``from pkg import sub`` counts the submodule ``pkg.sub``
    when it is one, else ``pkg`` itself."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for name in names:
            target = _resolve(name, modules)
            if target is not None and target != module:
                found.add(target)
    return found


def import_graph(root: Path, packages=PACKAGES) -> dict[str, set[str]]:
    modules = project_modules(root, packages)
    return {m: imports_of(m, p, modules) for m, p in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def upward_imports(graph: dict[str, set[str]], forbidden=FORBIDDEN) -> list[tuple[str, str]]:
    """(importer, imported) pairs that break the layer direction."""
    bad = []
    for module, deps in sorted(graph.items()):
        banned = forbidden.get(module.split(".")[0], ())
        bad += [(module, dep) for dep in sorted(deps) if dep.split(".")[0] in banned]
    return bad


# ------------------------------------------------------------------ the project


def test_components_never_import_the_program_or_the_pack():
    assert upward_imports(import_graph(REPO)) == []


def test_no_import_cycle_among_project_modules():
    assert cycles(import_graph(REPO)) == []


def test_the_graph_sees_the_project():
    graph = import_graph(REPO)
    # Sanity: the walk found the real modules and their real edges (a broken walk finds nothing).
    assert "components.gpu.node_pool" in graph["infra.layers.gpu"]
    assert "infra.policy_check" in graph["infra.synth"]  # lazy import inside main() counts
    assert len(graph) > 80


# ------------------------------------------------------------------ the checker itself


def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_checker_finds_an_upward_import_even_under_type_checking(tmp_path):
    root = _tree(tmp_path, {
        "components/__init__.py": "",
        "components/gpu/__init__.py": "",
        "components/gpu/rules.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from infra.config import X\n",
        "infra/__init__.py": "",
        "infra/config.py": "X = 1\n",
        "policies/__init__.py": "",
    })
    assert upward_imports(import_graph(root)) == [("components.gpu.rules", "infra.config")]


def test_checker_finds_a_cycle_through_a_lazy_and_a_relative_import(tmp_path):
    root = _tree(tmp_path, {
        "components/__init__.py": "",
        "infra/__init__.py": "",
        "infra/synth.py": "def main():\n    from infra.policy_check import report\n",
        "infra/policy_check.py": "from . import synth\n",
        "infra/plan.py": "from infra import synth\n",
        "policies/__init__.py": "",
    })
    assert cycles(import_graph(root)) == [["infra.policy_check", "infra.synth"]]
