"""Loading the runs to compare and grouping them by recipe.

Inputs are ``metrics.json`` files (what ``lt-data evaluate`` and the trainer write, see
:func:`lt_data.training.metrics.evaluate_confusion`) or run directories holding one; each is read and checked
(:func:`load_run`, :func:`load_runs`: one line naming the file for what is missing or malformed). A
run's *recipe* is its ``config.json`` record without what does not define the experiment: the seed,
the run directory and the options that only change how a run is carried out
(:data:`lt_data.training.runs.OPERATIONAL`); the training and evaluation data count by their statistics
fingerprints, not their paths. Runs of one recipe form one group (:func:`group_runs`, a
:class:`RunGroup` each); a metrics file without a ``config.json`` beside it is a group of its own."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path

from ...core.errors import ArtifactError, LtDataError, show_path
from ...core.io import read_json
from ...training.metrics import MEASURES
from ...core.names import BUCKET_NAMES
from ...training.runs import CONFIG_FILE, METRICS_FILE, OPERATIONAL

NOT_RECIPE = OPERATIONAL | {"seed", "work", "val_work"}  # work dirs count by their statistics (inputs)


@dataclass
class Run:
    """One evaluated run: its display name, where it was read from, its metrics and record."""

    name: str
    path: str              # the metrics.json read
    metrics: dict
    record: dict | None    # config.json's record ({"config": ..., "inputs": ..., "world_size": ...}) or None
    given: str = ""        # the input as given (a run directory or the metrics file)

    @property
    def config(self) -> dict | None:
        return self.record["config"] if self.record else None

    @property
    def seed(self):
        return self.config.get("seed") if self.config else None

    def recipe(self) -> dict | None:
        """What defines the experiment (None without a record)."""
        if not self.record:
            return None
        out = {k: v for k, v in self.config.items() if k not in NOT_RECIPE}
        inputs = self.record.get("inputs") or {}
        out["work_statistics"] = inputs.get("work_statistics")
        out["val_work_statistics"] = inputs.get("val_work_statistics")
        out["world_size"] = self.record.get("world_size", 1)
        paste = self.record.get("paste")
        if paste:  # the dose as resolved: two runs with no paste_args but other derived doses differ
            out["paste_dose"] = paste.get("args")
        return out


def _check_metrics(path: Path, m) -> None:
    """Refuse, naming the file and the field, what is not a metrics.json."""
    bad = f"{path}: not a metrics file (lt-data evaluate's metrics.json):"
    if not isinstance(m, dict):
        raise ArtifactError(f"{bad} a JSON {type(m).__name__}, expected an object")
    pc = m.get("per_class")
    if not isinstance(pc, list) or not pc:
        raise ArtifactError(f"{bad} no per_class list")
    for i, c in enumerate(pc):
        if not isinstance(c, dict) or not isinstance(c.get("name"), str) or "iou" not in c:
            raise ArtifactError(f"{bad} per_class[{i}] must be an object with name and iou")
        if c.get("id", i) != i:
            raise ArtifactError(f"{bad} per_class[{i}] has id {c.get('id')!r}, expected {i} (classes in id order)")
        iou = c["iou"]
        if iou is not None and (isinstance(iou, bool) or not isinstance(iou, (int, float))
                                or not math.isfinite(iou) or not 0.0 <= iou <= 1.0):
            raise ArtifactError(f"{bad} per_class[{i}] ({c['name']}) iou must be a number in [0, 1] or null, "
                                f"got {iou!r}")
        if c.get("bucket") not in (None, *BUCKET_NAMES):
            raise ArtifactError(f"{bad} per_class[{i}] ({c['name']}) bucket {c['bucket']!r} is not head, middle "
                                f"or tail")
    if "miou" not in m:
        raise ArtifactError(f"{bad} no miou")
    for key in MEASURES:
        v = m.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0):
            raise ArtifactError(f"{bad} {key} must be a number in [0, 1] or null, got {v!r}")


def load_run(path: str | Path, name: str | None = None) -> Run:
    """A run directory (holding metrics.json, and config.json) or a metrics.json file (config.json
    beside it is read when present)."""
    given = Path(path)
    if given.is_dir():
        metrics_path = given / METRICS_FILE
        if not metrics_path.is_file():
            raise LtDataError(f"{show_path(given)}: a directory without {METRICS_FILE}; give a run directory that was "
                              f"evaluated (lt-data evaluate RUN/checkpoint.pt ...) or a metrics file")
    else:
        if not given.exists():
            raise LtDataError(f"{show_path(given)}: no such file or directory")
        metrics_path = given
    metrics = read_json(metrics_path, "a metrics file (lt-data evaluate's metrics.json)")
    _check_metrics(metrics_path, metrics)
    record = None
    config_path = metrics_path.parent / CONFIG_FILE
    if config_path.is_file() and (given.is_dir() or metrics_path.name == METRICS_FILE):
        record = read_json(config_path, "a run record (lt-data train's config.json)")
        if not isinstance(record, dict) or not isinstance(record.get("config"), dict):
            raise ArtifactError(f"{config_path}: not a run record: expected {{\"config\": {{...}}, ...}} as "
                                f"lt-data train writes it")
    if name is None:
        name = given.name if given.is_dir() else (
            metrics_path.parent.name if metrics_path.name == METRICS_FILE else metrics_path.stem)
        name = name or str(given)
    return Run(name=name, path=str(metrics_path), metrics=metrics, record=record, given=str(given))


def load_runs(paths: list[str | Path], names: list[str] | None = None) -> list[Run]:
    """Read every input, refusing (one line naming the file) a missing or malformed file, a second
    reading of one file and a metrics file of another class table than the first's."""
    if not paths:
        raise LtDataError("compare needs at least one metrics file or run directory")
    if names is not None:
        if len(names) != len(paths):
            raise LtDataError(f"--names gives {len(names)} name(s) for {len(paths)} input(s)")
        if len(set(names)) != len(names) or any(not n for n in names):
            raise LtDataError(f"--names must be distinct and non-empty, got {','.join(names)}")
    runs = [load_run(p, names[i] if names else None) for i, p in enumerate(paths)]
    seen: dict[str, str] = {}
    for r in runs:
        key = str(Path(r.path).resolve())
        if key in seen:
            raise LtDataError(f"{show_path(r.path)}: given twice (as {seen[key]} and as {r.given})")
        seen[key] = r.given
    if names is None:  # names taken from the paths: make them unique with more of the path
        counts: dict[str, int] = {}
        for r in runs:
            counts[r.name] = counts.get(r.name, 0) + 1
        for r in runs:
            if counts[r.name] > 1:
                p = Path(r.path)
                r.name = str(p.parent if p.name == METRICS_FILE else p)
    ref = runs[0]
    ref_names = [c["name"] for c in ref.metrics["per_class"]]
    for r in runs[1:]:
        got = [c["name"] for c in r.metrics["per_class"]]
        if len(got) != len(ref_names):
            raise ArtifactError(f"{r.path}: another class table: {len(got)} classes, {ref.path} has "
                                f"{len(ref_names)}; runs are compared on one dataset's classes")
        diff = next((i for i, (a, b) in enumerate(zip(got, ref_names)) if a != b), None)
        if diff is not None:
            raise ArtifactError(f"{r.path}: another class table: class {diff} is {got[diff]!r} here, "
                                f"{ref_names[diff]!r} in {ref.path}")
    return runs


# ---- recipes -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunGroup:
    """Runs of one recipe: its display name, the runs' indices in the list grouped, and the recipe
    (None for a metrics file without a run record, a group of its own)."""

    name: str
    runs: list[int]
    recipe: dict | None


def group_runs(runs: list[Run]) -> list[RunGroup]:
    """Runs of one recipe together, in the order of first appearance. A group of one run is named
    after the run; a group of several after its recipe: the model, loss, paste and sampler values
    that differ between the groups (the loss when none differ), with any other option that tells two
    groups of one such name apart appended."""
    members: dict[str, list[int]] = {}  # recipe key → run indices, keys in the order of first appearance
    recipes: dict[str, dict | None] = {}
    for i, r in enumerate(runs):
        recipe = r.recipe()
        key = json.dumps(recipe, sort_keys=True, default=str) if recipe is not None else f"run:{i}"
        recipes.setdefault(key, recipe)
        members.setdefault(key, []).append(i)
    multi = [recipes[key] for key, idx in members.items() if len(idx) > 1]
    varying = [k for k in LABEL_KEYS if len({json.dumps(rec.get(k), sort_keys=True) for rec in multi}) > 1]
    groups = [RunGroup(name=runs[idx[0]].name if len(idx) == 1 else _recipe_label(recipes[key], varying),
                       runs=idx, recipe=recipes[key]) for key, idx in members.items()]
    names: dict[str, list[int]] = {}
    for j, g in enumerate(groups):
        names.setdefault(g.name, []).append(j)
    for clash in (v for v in names.values() if len(v) > 1):
        clashing = [groups[j].recipe or {} for j in clash]
        keys = sorted({k for rec in clashing for k in rec if len({json.dumps(x.get(k), sort_keys=True)
                                                                    for x in clashing}) > 1})
        for j in clash:
            g = groups[j]
            if g.recipe and len(g.runs) > 1:
                groups[j] = replace(g, name=g.name + " (" + ", ".join(f"{k}={json.dumps(g.recipe.get(k))}"
                                                                      for k in keys) + ")")
    seen: dict[str, int] = {}
    for j, g in enumerate(groups):  # still equal (runs named like a recipe): number them
        if g.name in seen:
            seen[g.name] += 1
            groups[j] = replace(g, name=f"{g.name} #{seen[g.name]}")
        else:
            seen[g.name] = 1
    return groups


LABEL_KEYS = ("model", "loss", "paste", "sampler")


def _recipe_label(recipe: dict, keys: list[str]) -> str:
    """A short name for a recipe: the values of ``keys`` (the label keys that differ between the
    recipes compared), or, when none differ, the loss and any paste or sampler."""
    if not keys:
        keys = ["loss"] + [k for k, plain in (("paste", "none"), ("sampler", "uniform"))
                           if recipe.get(k, plain) != plain]
    parts = []
    for k in keys:
        v = recipe.get(k)
        v = v if isinstance(v, str) else json.dumps(v, sort_keys=True)
        parts.append(v if k in ("model", "loss") else f"{k} {v}")
    return " · ".join(parts)


__all__ = ["LABEL_KEYS", "NOT_RECIPE", "Run", "RunGroup", "group_runs", "load_run", "load_runs"]
