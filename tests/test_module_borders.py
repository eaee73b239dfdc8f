"""Module borders: no import cycle inside the package, and no module reaches for another's private names.

A small AST walk over the three source roots (src/emoscore, kernels/ shipped as emoscore.kernels,
lexicons/ as emoscore.lexicons). Every import counts, also one inside a function (a lazy import that
only dodges a cycle is still a cycle) and one under ``if TYPE_CHECKING:`` (a cycle for the reader and
the type checker all the same: state the needed shape as a Protocol instead).
Importing a private *module* (``from . import _tokenize``) is fine: it is the package's own
implementation; importing a private *name* out of another module is not, and neither is reading one
off an imported module (``kpi_cpu._helper``).
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROOTS = {"emoscore": REPO / "src" / "emoscore", "emoscore.kernels": REPO / "kernels",
         "emoscore.lexicons": REPO / "lexicons"}  # fmt: skip


def discover(roots: dict[str, Path]) -> dict[str, tuple[Path, bool]]:
    """Module name -> (file, is a package), for every ``.py``/``.pyx`` under the roots."""
    modules = {}
    for package, root in roots.items():
        for path in sorted(root.rglob("*.py*")):
            if path.suffix not in (".py", ".pyx") or "__pycache__" in path.parts:
                continue
            parts = [package, *path.relative_to(root).with_suffix("").parts]
            is_package = parts[-1] == "__init__"
            name = ".".join(parts[:-1] if is_package else parts)
            modules[name] = (path, is_package)
    return modules


def _imports(tree: ast.AST):
    """The import statements of ``tree``, wherever they stand."""
    return (node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom)))


def _base(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    parts = module.split(".")
    anchor = parts if is_package else parts[:-1]
    anchor = anchor[: len(anchor) - (node.level - 1)]
    return ".".join(anchor + ([node.module] if node.module else []))


def analyse(modules: dict[str, tuple[Path, bool]]) -> tuple[dict[str, set[str]], list[str]]:
    """The import graph among ``modules`` and the private-name violations (``file:line: what``)."""
    graph: dict[str, set[str]] = {name: set() for name in modules}
    violations = []
    for module, (path, is_package) in modules.items():
        if path.suffix != ".py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        aliases: dict[str, str] = {}  # local name -> imported module of the package
        where = path.relative_to(REPO) if path.is_relative_to(REPO) else path
        for node in _imports(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in modules:
                        graph[module].add(alias.name)
                        if alias.asname:
                            aliases[alias.asname] = alias.name
                continue
            base = _base(module, is_package, node)
            for alias in node.names:
                target = f"{base}.{alias.name}"
                if target in modules:  # a submodule
                    graph[module].add(target)
                    aliases[alias.asname or alias.name] = target
                elif base in modules:
                    graph[module].add(base)
                    if alias.name.startswith("_") and not alias.name.startswith("__") and base != module:
                        violations.append(f"{where}:{node.lineno}: imports private name {alias.name} from {base}")
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                    and node.attr.startswith("_") and not node.attr.startswith("__")):
                violations.append(f"{where}:{node.lineno}: uses private name {node.attr} of {aliases[node.value.id]}")
    for module in graph:
        graph[module].discard(module)
    return graph, violations


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
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

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_package_has_no_import_cycle():
    graph, _ = analyse(discover(ROOTS))
    # A package's __init__ importing its submodules, which import a sibling through the package, is
    # not a cycle of modules: only module-to-module edges are in the graph.
    assert cycles(graph) == []


def test_no_module_imports_another_modules_private_names():
    _, violations = analyse(discover(ROOTS))
    assert violations == []


def test_the_checks_see_a_cycle_and_a_private_import(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .b import public\n\ndef f():\n    from . import c\n")
    (pkg / "b.py").write_text("public = 1\n_hidden = 2\n")
    (pkg / "c.py").write_text("from .b import _hidden\nfrom . import b as bee\nx = bee._hidden\n"
                              "def g():\n    from .a import f\n")  # fmt: skip
    (pkg / "d.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .e import x\n")
    (pkg / "e.py").write_text("from .d import TYPE_CHECKING\n")
    graph, violations = analyse(discover({"pkg": pkg}))
    assert cycles(graph) == [["pkg.a", "pkg.c"], ["pkg.d", "pkg.e"]]  # d -> e only for the type checker: counts
    assert [v.split(": ", 1)[1] for v in violations] == [
        "imports private name _hidden from pkg.b", "uses private name _hidden of pkg.b"]
