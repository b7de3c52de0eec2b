"""The package's architecture, checked: the import contracts of pyproject.toml
(import-linter) and no import circle between files or between packages.

Imports under ``if TYPE_CHECKING:`` are left out (they never run); imports inside
functions count, so a circle cannot hide in a deferred import.
"""

from __future__ import annotations

from pathlib import Path

import grimp
import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("tilelang", exclude_type_checking_imports=True, cache_dir=None)


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def _module_edges(graph: grimp.ImportGraph) -> dict[str, set[str]]:
    return {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}


def test_the_import_contracts_hold() -> None:
    status = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True,
                          no_logo=True)
    assert status == 0, "lint-imports found an import against the contracts (see above)"


def test_no_import_circle_between_files(graph: grimp.ImportGraph) -> None:
    edges = _module_edges(graph)
    # a package's __init__ importing its own submodules is how packages re-export
    for m, targets in edges.items():
        edges[m] = {t for t in targets if not t.startswith(m + ".")}
    assert _cycles(edges) == []


def test_no_import_circle_between_packages(graph: grimp.ImportGraph) -> None:
    def package(m: str) -> str:
        parts = m.split(".")
        return ".".join(parts[:2])     # tilelang.<stage>

    edges: dict[str, set[str]] = {}
    for m, targets in _module_edges(graph).items():
        if m == "tilelang":   # the root re-exports the public API from every stage
            continue
        for t in targets:
            if package(t) != package(m) and t != "tilelang":
                edges.setdefault(package(m), set()).add(package(t))
    assert _cycles(edges) == []


def test_the_cycle_check_finds_a_circle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
