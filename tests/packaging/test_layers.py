"""The import graph: layers point one way, no cycles, library imports at module top (docs/ARCHITECTURE.md).

``make lint`` checks the same layers with import-linter (pyproject's ``[tool.importlinter]``); this test makes
``make test`` catch a violation too, and also checks what import-linter cannot: cycles inside a layer and
first-party imports hidden inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import pytest

LAYERS = ["simtransfer.envs", "simtransfer.agents", "simtransfer.transfer", "simtransfer.experiments"]
BOTTOM = {"simtransfer.envs.errors", "simtransfer.envs.trust", "simtransfer.envs.yaml_io", "simtransfer.envs.quiet",
          "simtransfer.envs.components"}
ROOT = Path(__file__).resolve().parents[2]
# first-party imports inside functions are allowed only here: the CLI commands import the library in run()
# so that `simtransfer --help` stays fast; the progressive-network files are being moved (issue 20, prog);
# a line marked "# optional dependency" imports a module that needs one (mujoco, ...)
LAZY_OK = ("experiments/commands/", "transfer/progressive", "transfer/methods/progressive.py")
OPTIONAL = "# optional dependency"


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*LAYERS, include_external_packages=False, cache_dir=None)


def layer(module: str) -> int:
    return next(i for i, name in enumerate(LAYERS) if module == name or module.startswith(name + "."))


def upward_imports(graph: grimp.ImportGraph) -> list[tuple[str, str]]:
    return sorted((m, t) for m in graph.modules for t in graph.find_modules_directly_imported_by(m)
                  if t in graph.modules and layer(t) > layer(m))


def cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def function_level_imports() -> list[str]:
    """``path:line`` of every first-party import inside a function, outside :data:`LAZY_OK`."""
    hits = []
    for folder in ("envs", "agents", "transfer", "experiments"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith(LAZY_OK):
                continue
            text = path.read_text()
            lines = text.splitlines()
            tree = ast.parse(text)
            for func in ast.walk(tree):
                if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                for node in ast.walk(func):
                    if not isinstance(node, (ast.Import, ast.ImportFrom)) or OPTIONAL in lines[node.lineno - 1]:
                        continue
                    names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                    if getattr(node, "level", 0) or any(n.startswith("simtransfer") for n in names):
                        hits.append(f"{rel}:{node.lineno}")
    return sorted(set(hits))


def test_no_import_cycles(graph: grimp.ImportGraph) -> None:
    assert cycles(graph) == []


def test_no_upward_imports(graph: grimp.ImportGraph) -> None:
    assert upward_imports(graph) == []


def test_bottom_utilities_import_only_each_other(graph: grimp.ImportGraph) -> None:
    for module in sorted(BOTTOM):
        assert graph.find_modules_directly_imported_by(module) <= BOTTOM, module


def test_library_imports_sit_at_module_top() -> None:
    assert function_level_imports() == []


def test_the_checks_see_a_planted_cycle_and_upward_import() -> None:
    graph = grimp.build_graph(*LAYERS, include_external_packages=False, cache_dir=None)
    assert upward_imports(graph) == [] and cycles(graph) == []
    graph.add_import(importer="simtransfer.envs.errors", imported="simtransfer.experiments.cli")
    assert ("simtransfer.envs.errors", "simtransfer.experiments.cli") in upward_imports(graph)
    assert any("simtransfer.envs.errors" in c and "simtransfer.experiments.cli" in c for c in cycles(graph))
