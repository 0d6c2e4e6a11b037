"""The layers of docs/ARCHITECTURE.md, checked from the source: no import cycle among lt_data's
modules (imports inside functions included), and the artifact layer imports nothing above it."""

from __future__ import annotations

import ast
import re

import pytest
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
    assert "lt_data.jobs.artifacts" in graph and "lt_data.data.stats" in graph["lt_data.data.buckets"] | graph["lt_data.data.stats"] | {"lt_data.data.stats"}
    assert cycles(graph) == []


def test_the_artifact_layer_imports_nothing_above_it():
    graph = import_graph()
    assert graph["lt_data.jobs.artifacts"] <= {"lt_data.core.errors", "lt_data.core.fs"}
    assert graph["lt_data.core.fs"] <= {"lt_data.core.errors", "lt_data.core.names"} and graph["lt_data.core.rng"] == set()
    assert graph["lt_data.stores.provenance"].isdisjoint({"lt_data.stores.zarr_store", "lt_data.stores.bank", "lt_data.stores.cutmix",
                                                   "lt_data.training.train", "lt_data.views.report", "lt_data.entry.cli"})


def test_only_the_entry_points_import_the_commands():
    """Lower layers never import the CLI, the pipeline runner, the stage table, the trainer or the report
    (STYLE.md)."""
    graph = import_graph()
    assert {"lt_data.training.train", "lt_data.views.report", "lt_data.views.preview"} <= graph["lt_data.entry.stages"]  # its import strings
    cli = {m for m in graph if m == "lt_data.entry.cli" or m.startswith("lt_data.entry.cli.")}  # the package's modules
    assert {"lt_data.entry.cli", "lt_data.entry.cli.exits"} <= cli
    entry = cli | {"lt_data.entry.pipeline", "lt_data.entry.stages", "lt_data.__main__"}
    assert {"lt_data.views.report.stage", "lt_data.views.compare.stage"} <= set(graph)  # report and compare are packages
    for top in ("lt_data.entry.cli", "lt_data.entry.pipeline", "lt_data.entry.stages", "lt_data.training.train", "lt_data.views.report",
                "lt_data.views.compare", "lt_data.views.preview"):
        def inside(m: str) -> bool:  # the module itself, or one of its package's modules
            return m == top or m.startswith(top + ".")

        # a package's modules import each other; no module outside it but an entry point imports any of them
        users = {m for m, deps in graph.items() if not inside(m) and any(inside(d) for d in deps)}
        assert users <= entry, (top, sorted(users - entry))


# ---- the layer table of docs/ARCHITECTURE.md ----------------------------------------------------------
# One folder of lt_data per layer (1 = foundations ... 7 = entry points). A module imports only from its own
# layer or below; the document's table lists each folder and what it holds, and must say what is on disk.
LAYERS = {1: "core", 2: "jobs", 3: "data", 4: "stores", 5: "training", 6: "views", 7: "entry"}
LAYER_OF = {folder: n for n, folder in LAYERS.items()}


def _layer(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1:  # lt_data/__init__: the version and the flat names' aliases, no lt_data import
        return 1
    if parts[1] == "__main__":  # python -m lt_data
        return 7
    return LAYER_OF[parts[1]]


def _on_disk(folder: str) -> set[str]:
    """The modules (``name``) and packages (``name/``) a layer folder holds."""
    out = set()
    for p in (PACKAGE / folder).iterdir():
        if p.suffix == ".py" and p.name != "__init__.py":
            out.add(p.stem)
        elif p.is_dir() and (p / "__init__.py").is_file():
            out.add(p.name + "/")
    return out


def test_the_layer_table_is_the_documents_and_the_folders():
    text = (REPO / "docs" / "ARCHITECTURE.md").read_text()
    rows = re.findall(r"^\| (\d)\. [^|(]+\(`lt_data/(\w+)/`\) \| ([^|]+) \|", text, flags=re.M)
    documented = {int(n): folder for n, folder, _ in rows}
    assert documented == LAYERS
    for n, folder, cell in rows:
        listed = set(re.findall(r"`([\w]+/?)`", cell))
        assert listed == _on_disk(folder), (folder, sorted(listed ^ _on_disk(folder)))


def test_every_module_is_in_a_layer_folder():
    outside = sorted(m for m in import_graph() if m.count(".") >= 1 and m.split(".")[1] not in LAYER_OF
                     and m != "lt_data.__main__")
    assert outside == []
    assert sorted(p.name for p in PACKAGE.iterdir() if p.suffix == ".py") == ["__init__.py", "__main__.py"]


def test_no_module_imports_from_a_layer_above_it():
    upward = sorted((m, d, _layer(m), _layer(d)) for m, deps in import_graph().items() for d in deps
                    if _layer(d) > _layer(m))
    assert upward == [], upward


def test_the_layer_check_finds_an_upward_import(monkeypatch):
    graph = {"lt_data.data.stats": {"lt_data.training.train"}, "lt_data.training.train": {"lt_data.data.stats"}}
    monkeypatch.setitem(globals(), "import_graph", lambda: graph)
    with pytest.raises(AssertionError, match="lt_data.data.stats"):
        test_no_module_imports_from_a_layer_above_it()


def test_the_flat_names_are_the_layered_modules():
    """Code written against the flat names (lt_data.dataset, lt_data.bank.reader) gets the same module
    objects, not second copies."""
    import subprocess
    import sys

    code = ("import lt_data.bank.reader as a, lt_data.stores.bank.reader as b, lt_data.dataset as c, "
            "lt_data.training.dataset as d; from lt_data.paste import work_planner as w; "
            "from lt_data.training.paste.planners import work_planner as v; "
            "print(a is b, c is d, w is v, a.__spec__.name, a.TailBank.__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.split() == ["True", "True", "True", "lt_data.stores.bank.reader", "lt_data.stores.bank.reader"]


def test_the_light_callers_import_no_torch():
    """The CLI's help, the training options (and the paste options they check), the store opening and
    the report read no torch: importing it costs seconds."""
    import subprocess
    import sys

    code = ("import sys, lt_data.entry.cli, lt_data.training.config, lt_data.training.paste.args, lt_data.stores, lt_data.views.report.data; "
            "print(sorted(m for m in ('torch', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_every_package_ships():
    """A package folder missing from pyproject's list installs from a checkout (editable) but not from the wheel."""
    import tomllib

    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = {".".join(p.parent.relative_to(REPO).parts) for p in PACKAGE.rglob("__init__.py")}
    assert folders <= listed, sorted(folders - listed)
