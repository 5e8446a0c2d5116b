"""The package's structure: no import cycle between its modules, and modules of at most 400 lines.

The import graph is read from every ``import`` and ``from ... import`` statement of ``src/isac_iov`` (at module
level, in functions and under ``TYPE_CHECKING`` alike).  Importing ``a.b.c`` also runs the packages ``a.b`` and
``a`` first, so a module depends on those too, unless it is inside them (then they are already running).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
MAX_LINES = 400
# The modules split so far; every module of the package once the remaining splits have landed.


def import_graph(src: Path) -> dict[str, set[str]]:
    """``{module: the package's modules it imports}`` for the packages under ``src``."""
    modules: dict[str, tuple[Path, bool]] = {}
    for path in sorted(src.rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        modules[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, (path, is_package) in modules.items():
        package = name if is_package else name.rpartition(".")[0]
        inside = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1 + is_package)}
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: package.count(".") + 2 - node.level]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            for target in targets:
                while target and target not in modules:  # a name inside a module: the module
                    target = target.rpartition(".")[0]
                if not target or target == name:
                    continue
                graph[name].add(target)
                for i in range(1, target.count(".") + 1):  # the packages Python initialises first
                    parent = ".".join(target.split(".")[:i])
                    if parent in modules and parent not in inside and parent != name:
                        graph[name].add(parent)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import one another in a circle (strongly connected components of two or
    more modules), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = stack[stack.index(v) :]
            del stack[stack.index(v) :]
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def test_no_module_imports_itself_through_others():
    graph = import_graph(SRC)
    assert graph["isac_iov.config.checks"] >= {"isac_iov.mobility.trace", "isac_iov.errors"}  # it read the imports
    assert "isac_iov.learners.linknet" in graph["isac_iov.learners.networks"]  # function-level ones too
    assert cycles(graph) == []


def test_the_cycle_finder_sees_lazy_imports_and_the_packages_an_import_runs(tmp_path):
    files = {
        "p/__init__.py": "from .q import x\n",
        "p/q/__init__.py": "from .x import f\n",
        "p/q/x.py": "def f():\n    from ..r import g\n",
        "p/r.py": "import p.q.y\n",
        "p/q/y.py": "",
        "p/s.py": "from . import t\n",
        "p/t.py": "from .s import nothing\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    graph = import_graph(tmp_path)
    assert graph["p.r"] == {"p.q.y", "p.q"}  # p.q runs before p.q.y; p is r's own package
    assert cycles(graph) == [["p.q", "p.q.x", "p.r"], ["p.s", "p.t"]]


def test_every_module_is_at_most_400_lines():
    modules = list((SRC / "isac_iov").rglob("*.py"))
    assert len(modules) > 60
    assert (
        sorted(
            (p.relative_to(SRC).as_posix(), n) for p in modules if (n := len(p.read_text().splitlines())) > MAX_LINES
        )
        == []
    )
