"""The layout docs/architecture.md describes, checked on the imports themselves.

Every import statement of the four installed folders counts, also those inside functions
(a late import is still a dependency); only imports under `if TYPE_CHECKING:` do not, as
they never run.  `from pkg import mod` where `mod` is a module is an import of `pkg.mod`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

REPO = Path(__file__).resolve().parent.parent
FOLDERS = ("analyzer", "checkers", "config", "sarif")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["kmeminit", *parts])


MODULES = {_module_name(p): p for folder in FOLDERS for p in (REPO / folder).rglob("*.py")}


def _type_checking_only(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return skip


def _resolve(name: str) -> str | None:
    """The kmeminit module an import names (a package's __init__ for a package)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports(module: str) -> set[str]:
    path = MODULES[module]
    tree = ast.parse(path.read_text(), str(path))
    skip = _type_checking_only(tree)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base
                     for a in node.names]
        else:
            continue
        out |= {m for n in names if n.startswith("kmeminit") and (m := _resolve(n))}
    return out - {module}


@pytest.fixture(scope="module")
def graph() -> nx.DiGraph:
    g = nx.DiGraph()
    for module in MODULES:
        g.add_node(module)
        g.add_edges_from((module, target) for target in imports(module))
    return g


def test_no_import_circles(graph: nx.DiGraph) -> None:
    circles = [sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]
    assert not circles


def _importers(graph: nx.DiGraph, target_prefix: str, under: str) -> list[str]:
    return sorted(f"{m} -> {t}" for m, t in graph.edges
                  if m.startswith(under) and (t == target_prefix
                                              or t.startswith(target_prefix + ".")))


def test_the_engine_and_the_formatters_never_import_rules(graph: nx.DiGraph) -> None:
    """The built-in rules are loaded by name (analyzer.rules.BUILTIN_PACKAGE)."""
    assert not _importers(graph, "kmeminit.checkers", "kmeminit.analyzer")
    assert not _importers(graph, "kmeminit.checkers", "kmeminit.sarif")


def test_formatters_see_results_not_the_engine(graph: nx.DiGraph) -> None:
    allowed = {"kmeminit.analyzer", "kmeminit.analyzer.model", "kmeminit.analyzer.results",
               "kmeminit.analyzer.reports", "kmeminit.analyzer.fsutil",
               "kmeminit.analyzer.paths"}
    bad = sorted(f"{m} -> {t}" for m, t in graph.edges if m.startswith("kmeminit.sarif")
                 and t.startswith("kmeminit.analyzer") and t not in allowed
                 and not t.startswith("kmeminit.analyzer.triage"))
    assert not bad


def test_rules_use_kernel_facts_not_files(graph: nx.DiGraph) -> None:
    """A rule module reads the model, the kernel facts and the generic engines; never
    libclang, files, the store, the CLI or a formatter."""
    forbidden = ("kmeminit.analyzer.frontend", "kmeminit.analyzer.store",
                 "kmeminit.analyzer.index", "kmeminit.analyzer.cli", "kmeminit.analyzer.compdb",
                 "kmeminit.sarif")
    bad = sorted(f"{m} -> {t}" for m, t in graph.edges if m.startswith("kmeminit.checkers")
                 and t.startswith(forbidden))
    assert not bad


def test_only_the_frontend_imports_libclang() -> None:
    users = []
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n == "clang" or n.startswith("clang.") for n in names):
                users.append(module)
    assert users and all(u.startswith("kmeminit.analyzer.frontend") for u in users)


def test_kernel_facts_do_not_reach_up(graph: nx.DiGraph) -> None:
    """Engines never call back into the command line or the formatters."""
    for layer in ("kmeminit.analyzer.kernel", "kmeminit.analyzer.dataflow",
                  "kmeminit.analyzer.program"):
        assert not _importers(graph, "kmeminit.analyzer.cli", layer)
        assert not _importers(graph, "kmeminit.sarif", layer)
