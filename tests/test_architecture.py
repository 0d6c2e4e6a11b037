"""The layers of docs/ARCHITECTURE.md, checked from the source: no import cycle among lt_data's
modules (imports inside functions included), and the artifact layer imports nothing above it."""

from __future__ import annotations

import ast
import re

from conftest import REPO

PACKAGE = REPO / "lt_data"
_IMPORT_STRING = re.compile(r"^lt_data(\.\w+)+:\w+$")


def _modules() -> dict[str, object]:
    mods = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(REPO).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        mods[name] = path
    return mods


def import_graph() -> dict[str, set[str]]:
    """module → the lt_data modules it imports anywhere in its source (a package's own submodules
    named in ``from . import x`` count as x)."""
    mods = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _IMPORT_STRING.match(node.value):
                targets = [node.value.partition(":")[0]]  # "lt_data.module:callable", imported on use (stages.py)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    mod = ".".join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in mods else mod for a in node.names]
            for t in targets:
                while t not in mods and "." in t:
                    t = t.rsplit(".", 1)[0]
                if t in mods and t != name and not name.startswith(t + "."):  # a package's __init__ is not a dependency
                    deps.add(t)
        graph[name] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def test_the_checker_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_among_lt_data_modules():
    graph = import_graph()
    assert "lt_data.artifacts" in graph and "lt_data.stats" in graph["lt_data.buckets"] | graph["lt_data.stats"] | {"lt_data.stats"}
    assert cycles(graph) == []


def test_the_artifact_layer_imports_nothing_above_it():
    graph = import_graph()
    assert graph["lt_data.artifacts"] <= {"lt_data.errors", "lt_data.fs"}
    assert graph["lt_data.fs"] <= {"lt_data.errors", "lt_data.names"} and graph["lt_data.rng"] == set()
    assert graph["lt_data.provenance"].isdisjoint({"lt_data.zarr_store", "lt_data.bank", "lt_data.cutmix",
                                                   "lt_data.train", "lt_data.report", "lt_data.cli"})


def test_only_the_entry_points_import_the_commands():
    """Lower layers never import the CLI, the pipeline runner, the stage table, the trainer or the report
    (STYLE.md)."""
    graph = import_graph()
    assert {"lt_data.train", "lt_data.report", "lt_data.preview"} <= graph["lt_data.stages"]  # its import strings
    cli = {m for m in graph if m == "lt_data.cli" or m.startswith("lt_data.cli.")}  # the package's modules
    assert {"lt_data.cli", "lt_data.cli.exits"} <= cli
    entry = cli | {"lt_data.pipeline", "lt_data.stages", "lt_data.__main__"}
    assert {"lt_data.report.stage", "lt_data.compare.stage"} <= set(graph)  # report and compare are packages
    for top in ("lt_data.cli", "lt_data.pipeline", "lt_data.stages", "lt_data.train", "lt_data.report",
                "lt_data.compare", "lt_data.preview"):
        def inside(m: str) -> bool:  # the module itself, or one of its package's modules
            return m == top or m.startswith(top + ".")

        # a package's modules import each other; no module outside it but an entry point imports any of them
        users = {m for m, deps in graph.items() if not inside(m) and any(inside(d) for d in deps)}
        assert users <= entry, (top, sorted(users - entry))
