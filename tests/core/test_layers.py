"""The import graph of ``profiler/`` and ``models/`` (issue #23): no cycle between modules, and each package imports
only the layers below it (docs/architecture.md, "Layers").

Every ``import`` and ``from ... import`` counts wherever it sits: at the top, inside a function (a deferred import
is still a dependency, only a later one), under ``if TYPE_CHECKING`` or in a ``try``. ``from pkg import name`` is
an edge to the submodule ``pkg.name`` when there is one, else to ``pkg`` (its ``__init__``, re-exports included).
Python's implicit import of a parent package (``import a.b.c`` runs ``a/__init__`` and ``a/b/__init__``) is not an
edge: counting it would make every package that re-exports a submodule a cycle of one package with itself. Imports
by a string (``importlib.import_module``, ``python -m MODULE``) are not seen.
"""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("profiler", "models")

LOW = {"core", "timing", "counting", "hardware"}  # the measuring layers and the bottom one
# Which profiler packages each package may import (its own always; ``models`` is a library to every profiler
# package). Read top down: commands > report, baseline, imports > analysis, sweep, trace > results > timing,
# counting, hardware > core.
MAY_IMPORT: dict[str, set[str]] = {
    "core": set(),
    "timing": {"core"},
    "counting": {"core"},
    "hardware": {"core", "timing"},  # measuring peaks synchronises and reads the device through timing.device
    "results": LOW,
    "trace": LOW,
    "analysis": LOW | {"results"},
    "sweep": LOW | {"results"},
    "report": LOW | {"results", "analysis", "trace"},
    "baseline": LOW | {"results", "analysis"},
    "imports": LOW | {"results"},
    "commands": LOW | {"results", "analysis", "sweep", "trace", "report", "baseline", "imports"},
    "cli": {"core", "commands"},
    "__main__": {"cli"},
    "profiler": set(),  # profiler/__init__.py: the version only
    "models": set(),  # the model zoo never imports profiler
}

# Edges that cross the rule above on purpose: (importer, imported) module prefixes, with the reason. Keep it short.
ALLOWED: dict[tuple[str, str], str] = {
    ("profiler.baseline.ab", "profiler.sweep"): (
        "the A/B check (check --against REV) plans each side with its own checkout's code and measures both "
        "through the sweep's executor: a baseline is made of sweep rows"
    ),
    ("profiler.imports.timm_import", "profiler.sweep.tasks"): (
        "an imported public table's rows get the task_key and base columns of a sweep's rows (Task.base_row), so "
        "merge, compare and resume treat them like measured ones"
    ),
}

# Inside a package: prefixes that may import only some of their own package (reason in the message).
INNER: list[tuple[str, tuple[str, ...], str]] = [
    (
        "profiler.sweep.exec",
        ("profiler.sweep.exec", "profiler.sweep.tasks"),
        "executors and workers run tasks; a worker process must not load the planner, the budget or the estimate",
    ),
]


def module_files(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> dict[str, tuple[Path, bool]]:
    """Module name -> (file, is a package ``__init__``) for every ``.py`` file under ``packages``."""
    out = {}
    for pkg in packages:
        for path in sorted((root / pkg).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            is_pkg = parts[-1] == "__init__"
            out[".".join(parts[:-1] if is_pkg else parts)] = (path, is_pkg)
    return out


def _known(name: str, modules: dict) -> str | None:
    """``name`` or its longest prefix that is one of ``modules`` (``profiler.timing.measure`` -> the package)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_edges(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> dict[str, dict[str, int]]:
    """importer -> {imported module: first line} over every import statement of every module (see module doc)."""
    modules = module_files(root, packages)
    edges: dict[str, dict[str, int]] = {}
    for name, (path, is_pkg) in modules.items():
        here = name if is_pkg else name.rpartition(".")[0]
        out = edges.setdefault(name, {})
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = here.split(".")[: len(here.split(".")) - node.level + 1]
                    base = ".".join(up + ([node.module] if node.module else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            else:
                continue
            for target in targets:
                found = _known(target, modules)
                if found and found != name:
                    out.setdefault(found, node.lineno)
    return edges


def find_cycle(edges: dict[str, dict[str, int]]) -> list[str] | None:
    """One cycle ``[a, b, ..., a]`` of the graph, or None: a strongly connected component of more than one module
    (Tarjan, iterative), walked back to its start."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, {}))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(edges.get(w, {})))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    component = set()
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        component.add(w)
                        if w == v:
                            break
                    if len(component) > 1:
                        return _walk(v, component, edges)
    return None


def _walk(start: str, component: set[str], edges: dict[str, dict[str, int]]) -> list[str]:
    """The shortest path from ``start`` back to itself inside ``component`` (breadth first)."""
    parent: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(edges.get(v, {})):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(parent[path[-1]])
                    return [*reversed(path), start]
                if w in component and w not in parent:
                    parent[w] = v
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"{start} is in a component but on no cycle")  # pragma: no cover


def layer_of(module: str) -> str:
    """``models`` for the zoo, ``profiler`` for its ``__init__``, else the package below ``profiler``."""
    parts = module.split(".")
    if parts[0] != "profiler":
        return parts[0]
    return parts[1] if len(parts) > 1 else "profiler"


def _allowed(importer: str, imported: str) -> bool:
    return any(_under(importer, a) and _under(imported, b) for a, b in ALLOWED)


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def violations(edges: dict[str, dict[str, int]], used: set | None = None) -> list[str]:
    """Edges against ``MAY_IMPORT`` or ``INNER`` and not in ``ALLOWED``, as ``importer:line -> imported (why)``;
    ``used`` collects the ``ALLOWED`` keys that excused an edge."""
    out = []
    for importer, targets in sorted(edges.items()):
        src = layer_of(importer)
        for imported, line in sorted(targets.items()):
            dst = layer_of(imported)
            if src == dst:
                for prefix, may, why in INNER:
                    if _under(importer, prefix) and not any(_under(imported, m) for m in may):
                        out.append(f"{importer}:{line} -> {imported} ({prefix} imports only {', '.join(may)}: {why})")
                continue
            if dst == "models" and src != "models":
                continue
            if dst in MAY_IMPORT.get(src, set()):
                continue
            keys = [k for k in ALLOWED if _under(importer, k[0]) and _under(imported, k[1])]
            if keys:
                if used is not None:
                    used.update(keys)
                continue
            may = ", ".join(sorted(MAY_IMPORT.get(src, ())))
            out.append(
                f"{importer}:{line} -> {imported} ({src} may import "
                + (f"only {may}" if may else "no other profiler package")
                + f", not {dst})"
            )
    return out


@pytest.fixture(scope="module")
def edges() -> dict[str, dict[str, int]]:
    return import_edges()


def describe(cycle: list[str], edges: dict[str, dict[str, int]]) -> str:
    """``a:12 -> b:40 -> a``: each module with the line of its import of the next."""
    return " -> ".join(f"{a}:{edges[a][b]}" for a, b in itertools.pairwise(cycle)) + f" -> {cycle[-1]}"


def test_no_import_cycle(edges) -> None:
    cycle = find_cycle(edges)
    assert cycle is None, f"import cycle: {describe(cycle, edges)}"


def test_each_package_imports_only_the_layers_below_it(edges) -> None:
    used: set = set()
    bad = violations(edges, used)
    assert not bad, "imports against the layer rule:\n" + "\n".join(bad)
    assert used == set(ALLOWED), f"allow-list entries no edge needs any more (remove them): {set(ALLOWED) - used}"


def test_the_graph_sees_every_package_and_deferred_imports(edges) -> None:
    assert {layer_of(m) for m in edges} == set(MAY_IMPORT)  # a new package needs its row in MAY_IMPORT
    # profiler.sweep.planning imports the estimate inside make_estimate only: a function-level import is an edge too
    assert "profiler.sweep.estimate" in edges["profiler.sweep.planning"]


# The checker itself, on synthetic graphs: it must be able to fail.


def test_find_cycle_reports_the_path() -> None:
    g = {
        "profiler.sweep.a": {"profiler.sweep.b": 3},
        "profiler.sweep.b": {"profiler.sweep.c": 5},
        "profiler.sweep.c": {"profiler.sweep.a": 7, "profiler.core.x": 1},
        "profiler.core.x": {},
    }
    assert find_cycle(g) == ["profiler.sweep.a", "profiler.sweep.b", "profiler.sweep.c", "profiler.sweep.a"]
    assert describe(find_cycle(g), g) == (
        "profiler.sweep.a:3 -> profiler.sweep.b:5 -> profiler.sweep.c:7 -> profiler.sweep.a"
    )
    del g["profiler.sweep.c"]["profiler.sweep.a"]
    assert find_cycle(g) is None


def test_violations_flag_an_upward_edge_and_honour_the_allow_list() -> None:
    g = {
        "profiler.timing.eager": {"profiler.results.store": 12, "profiler.core.errors": 3, "models": 4},
        "profiler.analysis.data": {"profiler.report.render": 9},
        "profiler.results.runs": {"profiler.commands.common": 2},
        "profiler.baseline.ab": {"profiler.sweep.tasks": 24},  # allow-listed
        "profiler.sweep.exec.worker": {"profiler.sweep.estimate": 116, "profiler.sweep.tasks": 36},
        "models.resnet": {"profiler.core.errors": 1},
    }
    used: set = set()
    bad = violations(g, used)
    assert [b.split(" (")[0] for b in bad] == [
        "models.resnet:1 -> profiler.core.errors",
        "profiler.analysis.data:9 -> profiler.report.render",
        "profiler.results.runs:2 -> profiler.commands.common",
        "profiler.sweep.exec.worker:116 -> profiler.sweep.estimate",
        "profiler.timing.eager:12 -> profiler.results.store",
    ]
    assert used == {("profiler.baseline.ab", "profiler.sweep")}


def test_import_edges_reads_deferred_relative_and_package_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "profiler"
    (pkg / "core").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "core" / "__init__.py").write_text("from profiler.core.a import f\n")
    (pkg / "core" / "a.py").write_text("def f():\n    from . import b\n    return b\n")
    (pkg / "core" / "b.py").write_text("import profiler.core.a.f as nope\nfrom profiler.core import f\n")
    g = import_edges(tmp_path, ("profiler",))
    assert g["profiler.core.a"] == {"profiler.core.b": 2}  # inside a function, relative
    assert g["profiler.core.b"] == {"profiler.core.a": 1, "profiler.core": 2}  # longest known prefix; the package
    assert find_cycle(g) == ["profiler.core", "profiler.core.a", "profiler.core.b", "profiler.core"]
