"""Comparing evaluated runs (``lt-data compare``): per class and per bucket, against a baseline,
mean ± standard deviation over the seeds of a recipe.

Inputs are ``metrics.json`` files (what ``lt-data evaluate`` and the trainer write, see
:func:`lt_data.metrics.evaluate_confusion`) or run directories holding one. A run's *recipe* is its
``config.json`` record without what does not define the experiment: the seed, the run directory
and the options that only change how a run is carried out (:data:`lt_data.runs.OPERATIONAL`); the
training and evaluation data count by their statistics fingerprints, not their paths. Runs of one
recipe (e.g. CE with seeds 0, 1, 2) form one *group*, shown as mean ± standard deviation with the
number of seeds. A metrics file without a ``config.json`` beside it is a group of its own.

The standard deviation is the **sample** standard deviation (n − 1 in the denominator,
``statistics.stdev``): the seeds are a sample of the recipe's possible runs. A group of one run has
none. Means and deviations skip runs where a class is absent (IoU null); each number says how many
runs it is over. Deltas are a group's mean minus the baseline group's mean, in IoU points.

Pure functions: :func:`load_runs` (read and check), :func:`group_runs`, :func:`compare_data` (every
number, the content of ``compare.json``), :func:`render_markdown`, :func:`render_latex`,
:func:`render_html`, the figures; :func:`write_comparison` is the stage. No torch.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import __version__
from .errors import ArtifactError, LtDataError, show_path
from .markdown import escape as md_escape
from .markdown import table as md_table
from .runs import CONFIG_FILE, METRICS_FILE, OPERATIONAL

COMPARE_SCHEMA = "lt-data/compare"
BUCKETS = ("head", "middle", "tail")
MEASURES = ("miou", "miou_head", "miou_middle", "miou_tail")
MEASURE_LABELS = {"miou": "overall", "miou_head": "head", "miou_middle": "middle", "miou_tail": "tail"}
NOT_RECIPE = OPERATIONAL | {"seed", "work", "val_work"}  # work dirs count by their statistics (inputs)
STD_NOTE = ("± is the sample standard deviation over the runs of a recipe (n − 1 in the denominator); "
            "n is the number of runs (seeds)")
TEX_STD_NOTE = "+/- is the sample standard deviation over the seeds of a recipe (n - 1 in the denominator)"
FIGURES = ("bucket_miou", "per_class_iou")
TABLES = ("miou_table.tex", "per_class_table.tex")


# ---- loading --------------------------------------------------------------------------------------

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


def _read_json(path: Path, what: str):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LtDataError(f"{show_path(path)}: no such file") from None
    except IsADirectoryError:
        raise LtDataError(f"{show_path(path)}: a directory, expected {what}") from None
    except UnicodeDecodeError:
        raise ArtifactError(f"{path}: not UTF-8 text; expected {what}") from None
    except json.JSONDecodeError as err:
        raise ArtifactError(f"{path}: invalid JSON at line {err.lineno} column {err.colno} ({err.msg}); "
                            f"expected {what}") from None
    except OSError as err:
        raise LtDataError(f"{show_path(path)}: cannot be read ({err.strerror or err})") from None


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
        if c.get("bucket") not in (None, *BUCKETS):
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
    metrics = _read_json(metrics_path, "a metrics file (lt-data evaluate's metrics.json)")
    _check_metrics(metrics_path, metrics)
    record = None
    config_path = metrics_path.parent / CONFIG_FILE
    if config_path.is_file() and (given.is_dir() or metrics_path.name == METRICS_FILE):
        record = _read_json(config_path, "a run record (lt-data train's config.json)")
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


# ---- grouping and numbers -------------------------------------------------------------------------

def group_runs(runs: list[Run]) -> list[dict]:
    """Runs of one recipe together, in the order of first appearance:
    ``[{"name", "runs": [indices], "recipe": dict | None}]``. A group of one run is named after the
    run; a group of several after its recipe: the model, loss, paste and sampler values that differ
    between the groups (the loss when none differ), with any other option that tells two groups of
    one such name apart appended."""
    groups: list[dict] = []
    by_key: dict[str, dict] = {}
    for i, r in enumerate(runs):
        recipe = r.recipe()
        key = json.dumps(recipe, sort_keys=True, default=str) if recipe is not None else f"run:{i}"
        if key not in by_key:
            by_key[key] = {"runs": [], "recipe": recipe}
            groups.append(by_key[key])
        by_key[key]["runs"].append(i)
    multi = [g for g in groups if len(g["runs"]) > 1]
    varying = [k for k in LABEL_KEYS if len({json.dumps(g["recipe"].get(k), sort_keys=True) for g in multi}) > 1]
    for g in groups:
        g["name"] = runs[g["runs"][0]].name if len(g["runs"]) == 1 else _recipe_label(g["recipe"], varying)
    names: dict[str, list[dict]] = {}
    for g in groups:
        names.setdefault(g["name"], []).append(g)
    for clash in (v for v in names.values() if len(v) > 1):
        recipes = [g["recipe"] or {} for g in clash]
        keys = sorted({k for rec in recipes for k in rec if len({json.dumps(x.get(k), sort_keys=True)
                                                                   for x in recipes}) > 1})
        for g in clash:
            if g["recipe"] and len(g["runs"]) > 1:
                g["name"] += " (" + ", ".join(f"{k}={json.dumps(g['recipe'].get(k))}" for k in keys) + ")"
    seen: dict[str, int] = {}
    for g in groups:  # still equal (runs named like a recipe): number them
        if g["name"] in seen:
            seen[g["name"]] += 1
            g["name"] += f" #{seen[g['name']]}"
        else:
            seen[g["name"]] = 1
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


def mean_std(values: list[float | None]) -> dict:
    """``{"mean", "std", "n"}`` over the values that are not None; std is the sample standard
    deviation (n − 1), None for fewer than two values."""
    v = [float(x) for x in values if x is not None]
    return {"mean": statistics.fmean(v) if v else None, "std": statistics.stdev(v) if len(v) > 1 else None,
            "n": len(v)}


def _delta(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def class_order(per_class: list[dict]) -> list[int]:
    """Classes in bucket order (head, middle, tail, then classes without a bucket), each bucket by
    ground-truth pixels of the evaluation, most first (ties by id)."""
    rank = {b: i for i, b in enumerate(BUCKETS)}
    return sorted(range(len(per_class)), key=lambda c: (rank.get(per_class[c].get("bucket"), 3),
                                                        -(per_class[c].get("gt_pixels") or 0), c))


def compare_data(runs: list[Run], baseline: str | None = None) -> dict:
    """Every number of the comparison (the content of ``compare.json``)."""
    groups = group_runs(runs)
    if baseline is None:
        base = groups[0]
    else:
        base = next((g for g in groups if g["name"] == baseline), None) or next(
            (g for g in groups for i in g["runs"] if runs[i].name == baseline), None)
        if base is None:
            raise LtDataError(f"--baseline {baseline}: no such run or recipe; runs: "
                              f"{', '.join(r.name for r in runs)}; recipes: {', '.join(g['name'] for g in groups)}")
    ref = runs[0].metrics["per_class"]
    k = len(ref)
    notes = []
    for r in runs[1:]:
        moved = [f"{c['name']} ({c.get('bucket')} here, {ref[i].get('bucket')} in {runs[0].name})"
                 for i, c in enumerate(r.metrics["per_class"]) if c.get("bucket") != ref[i].get("bucket")]
        if moved:
            notes.append(f"{r.name} was evaluated with other buckets: {'; '.join(moved[:5])}"
                         + (f" and {len(moved) - 5} more" if len(moved) > 5 else "")
                         + ". Classes are placed by the first input's buckets; each run's bucket mIoU is as "
                           "it recorded it.")
        gt_ref = [c.get("gt_pixels") for c in ref]
        gt = [c.get("gt_pixels") for c in r.metrics["per_class"]]
        if None not in gt_ref and None not in gt and gt != gt_ref:
            notes.append(f"{r.name} was evaluated on other ground truth than {runs[0].name} (different "
                         f"ground-truth pixel counts: {sum(gt):,} vs {sum(gt_ref):,} pixels): another split, "
                         f"subset or resolution; its numbers are not directly comparable.")
    if all(c.get("bucket") is None for c in ref):
        notes.append("The metrics carry no buckets (evaluated without buckets.json): head, middle and tail "
                     "mIoU are not available.")

    def iou(r: Run, c: int):
        return r.metrics["per_class"][c]["iou"]

    out_groups = []
    for g in groups:
        members = [runs[i] for i in g["runs"]]
        measures = {m: mean_std([r.metrics.get(m) for r in members]) for m in MEASURES}
        per_class = [mean_std([iou(r, c) for r in members]) for c in range(k)]
        out_groups.append({"name": g["name"], "runs": [r.name for r in members], "seeds": [r.seed for r in members],
                           "n": len(members), "recipe": g["recipe"], "baseline": g is base,
                           "measures": measures, "per_class": per_class})
    b = out_groups[groups.index(base)]
    for g in out_groups:
        g["delta"] = {m: _delta(g["measures"][m]["mean"], b["measures"][m]["mean"]) for m in MEASURES}
        g["delta_per_class"] = [_delta(g["per_class"][c]["mean"], b["per_class"][c]["mean"]) for c in range(k)]
    return {
        "schema": COMPARE_SCHEMA,
        "classes": [{"id": c, "name": ref[c]["name"], "bucket": ref[c].get("bucket"),
                     "gt_pixels": ref[c].get("gt_pixels")} for c in range(k)],
        "class_order": class_order(ref),
        "baseline": b["name"],
        "runs": [{"name": r.name, "path": r.path, "group": next(g["name"] for g, src in zip(out_groups, groups)
                                                                 if i in src["runs"]),
                  "seed": r.seed, "config": r.config,
                  **{m: r.metrics.get(m) for m in MEASURES},
                  "iou": [iou(r, c) for c in range(k)]} for i, r in enumerate(runs)],
        "groups": out_groups,
        "std": "sample standard deviation (n - 1), statistics.stdev",
        "notes": notes,
        "source": {"tool": "lt-data", "version": __version__},
    }


# ---- text formats ---------------------------------------------------------------------------------

def _pts(x: float | None, digits: int = 2) -> str:
    """An IoU in percent points."""
    return "–" if x is None else f"{100 * x:.{digits}f}"


def _signed(x: float | None, minus: str = "−") -> str:
    if x is None:
        return "–"
    v = round(100 * x, 2)
    return f"{'+' if v > 0 else minus if v < 0 else ''}{abs(v):.2f}"  # no sign on 0: ± means a std here


def _mean_std(s: dict, pm: str = " ± ") -> str:
    if s["mean"] is None:
        return "–"
    return _pts(s["mean"]) + (f"{pm}{_pts(s['std'])}" if s["std"] is not None else "")


def summary_rows(data: dict) -> list[list[str]]:
    """Per group: name, n, overall/head/middle/tail mean ± std, then their deltas (plain text)."""
    rows = []
    for g in data["groups"]:
        rows.append([g["name"] + (" (baseline)" if g["baseline"] else ""), str(g["n"])]
                    + [_mean_std(g["measures"][m]) for m in MEASURES]
                    + [("–" if g["baseline"] else _signed(g["delta"][m], "-")) for m in MEASURES])
    return rows


SUMMARY_HEADER = (["method", "n"] + [f"{MEASURE_LABELS[m]} mIoU" for m in MEASURES]
                  + [f"Δ {MEASURE_LABELS[m]}" for m in MEASURES])


def format_summary(data: dict) -> str:
    """A plain-text table for the terminal."""
    rows = [SUMMARY_HEADER] + summary_rows(data)
    widths = [max(len(r[i]) for r in rows) for i in range(len(SUMMARY_HEADER))]
    lines = ["  ".join(x.ljust(w) if i == 0 else x.rjust(w) for i, (x, w) in enumerate(zip(r, widths))) for r in rows]
    return "\n".join(lines + ["", STD_NOTE + f"; Δ against {data['baseline']}, in IoU points."])


def render_markdown(data: dict) -> str:
    cls, groups = data["classes"], data["groups"]
    out = [f"# Run comparison: {len(data['runs'])} runs, {len(groups)} recipes, {len(cls)} classes", "",
           f"IoU in %. Δ: mean minus the baseline's mean ({data['baseline']}), in IoU points. {STD_NOTE}.", ""]
    out += [f"> note: {md_escape(n)}" for n in data["notes"]] + ([""] if data["notes"] else [])
    out += ["## mIoU per bucket", "", md_table(SUMMARY_HEADER, summary_rows(data)), ""]
    out += ["![mIoU per bucket](bucket_miou.png)", "", "![Per-class IoU](per_class_iou.png)", ""]
    header = ["id", "class", "bucket"] + [x for g in groups for x in
                                          ([g["name"]] if g["baseline"] else [g["name"], f"Δ {g['name']}"])]
    rows = []
    for c in data["class_order"]:
        row = [str(c), cls[c]["name"], cls[c]["bucket"] or "–"]
        for g in groups:
            row.append(_mean_std(g["per_class"][c]))
            if not g["baseline"]:
                row.append(_signed(g["delta_per_class"][c], "-"))
        rows.append(row)
    out += ["## Per-class IoU", "", md_table(header, rows), ""]
    out += ["## Runs", "", md_table(["run", "recipe", "seed"] + [f"{MEASURE_LABELS[m]} mIoU" for m in MEASURES]
                                     + ["file"],
                                     [[r["name"], r["group"], "–" if r["seed"] is None else str(r["seed"])]
                                      + [_pts(r[m]) for m in MEASURES] + [r["path"]] for r in data["runs"]]), ""]
    return "\n".join(out) + "\n"


_TEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                "·": r"$\cdot$", "−": "-", "×": r"$\times$", "±": r"$\pm$"}


def tex_escape(text: str) -> str:
    return "".join(_TEX_ESCAPES.get(ch, ch) for ch in str(text))


def _tex_cell(s: dict, best: bool, delta: float | None = None) -> str:
    if s["mean"] is None:
        return "--"
    v = _pts(s["mean"])
    cell = rf"\textbf{{{v}}}" if best else v
    if s["std"] is not None:
        cell += rf" $\pm$ {_pts(s['std'])}"
    if delta is not None:
        cell += rf" {{\scriptsize(${_signed(delta, '-')}$)}}"
    return cell


def _best(values: list[float | None]) -> float | None:
    got = [round(v, 4) for v in values if v is not None]  # equal when equal as printed (2 decimals of %)
    return max(got) if got else None


def render_latex(data: dict) -> dict[str, str]:
    """Two booktabs tables (``\\usepackage{booktabs}``): ``miou_table.tex`` (one row per recipe:
    n, overall / head / middle / tail mIoU, mean ± std, Δ against the baseline in small type, best
    in bold) and ``per_class_table.tex`` (one row per class in bucket order, one column per recipe)."""
    groups = data["groups"]
    cols = MEASURES
    lines = [f"% lt-data {__version__} compare: mIoU (%) per bucket. {TEX_STD_NOTE}.",
             "% Small numbers in parentheses: mean minus the baseline's mean, in IoU points. "
             "Needs \\usepackage{booktabs}.",
             r"\begin{table}[t]", r"\centering",
             r"\caption{mIoU (\%) overall and per bucket; mean $\pm$ sample standard deviation over $n$ seeds; "
             rf"in parentheses, the difference to {tex_escape(data['baseline'])}.}}",
             r"\label{tab:lt-miou}",
             r"\begin{tabular}{lc" + "r" * len(cols) + "}", r"\toprule",
             "Method & $n$ & " + " & ".join(MEASURE_LABELS[m].capitalize() for m in cols) + r" \\", r"\midrule"]
    best = {m: _best([g["measures"][m]["mean"] for g in groups]) for m in cols}
    for g in groups:
        cells = [_tex_cell(g["measures"][m], len(groups) > 1 and g["measures"][m]["mean"] is not None
                           and round(g["measures"][m]["mean"], 4) == best[m],
                           None if g["baseline"] else g["delta"][m]) for m in cols]
        lines.append(f"{tex_escape(g['name'])} & {g['n']} & " + " & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    summary = "\n".join(lines)

    cls = data["classes"]
    lines = [f"% lt-data {__version__} compare: per-class IoU (%), classes in bucket order. {TEX_STD_NOTE}.",
             r"% Needs \usepackage{booktabs}.",
             r"\begin{table}[t]", r"\centering",
             r"\caption{Per-class IoU (\%); mean $\pm$ sample standard deviation over seeds.}",
             r"\label{tab:lt-per-class}",
             r"\begin{tabular}{ll" + "r" * len(groups) + "}", r"\toprule",
             "Class & Bucket & " + " & ".join(f"{tex_escape(g['name'])} ($n={g['n']}$)" for g in groups) + r" \\"]
    previous = object()
    for c in data["class_order"]:
        if cls[c]["bucket"] != previous:
            lines.append(r"\midrule")
            previous = cls[c]["bucket"]
        best_c = _best([g["per_class"][c]["mean"] for g in groups])
        cells = [_tex_cell(g["per_class"][c], len(groups) > 1 and g["per_class"][c]["mean"] is not None
                           and round(g["per_class"][c]["mean"], 4) == best_c) for g in groups]
        lines.append(f"{tex_escape(cls[c]['name'])} & {cls[c]['bucket'] or '--'} & " + " & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return {"miou_table.tex": summary, "per_class_table.tex": "\n".join(lines)}


# ---- figures --------------------------------------------------------------------------------------

def _legend(fig, groups: list[dict]) -> None:
    """One legend above the plot, left-aligned (a wide figure scrolls; its start is what is seen):
    one entry per recipe, its shade and hatch (the bars' colours are the buckets')."""
    from matplotlib.patches import Patch

    from .plots import hatch, shade

    n = len(groups)
    handles = [Patch(facecolor=shade("#555555", i, n), edgecolor="#222222", hatch=hatch(i), linewidth=0.4,
                     label=f"{g['name']} (n={g['n']})") for i, g in enumerate(groups)]
    entry = max(len(h.get_label()) for h in handles) * 0.075 + 0.7  # inches at font size 8
    ncol = int(max(1, min(len(handles), min(fig.get_figwidth(), 12.0) // entry)))
    fig.legend(handles=handles, loc="outside upper left", ncol=ncol, fontsize=8, frameon=False,
               handlelength=1.6, columnspacing=1.2)


def plot_bucket_miou(data: dict):
    """Overall / head / middle / tail mIoU per recipe: grouped bars, sample std as error bars."""
    from .plots import bucket_color, figure, hatch, shade

    groups = data["groups"]
    n = len(groups)
    fig = figure(float(np.clip(2.2 + 1.2 * len(MEASURES) * max(n, 2) * 0.45, 6.5, 14.0)), 4.4)
    ax = fig.add_subplot()
    width = 0.8 / n
    x = np.arange(len(MEASURES))
    top = 0.0
    for i, g in enumerate(groups):
        means = np.array([np.nan if g["measures"][m]["mean"] is None else 100 * g["measures"][m]["mean"]
                          for m in MEASURES])
        stds = np.array([0.0 if g["measures"][m]["std"] is None else 100 * g["measures"][m]["std"] for m in MEASURES])
        colors = [shade(bucket_color(None if m == "miou" else m[5:]) if m != "miou" else "#444444", i, n)
                  for m in MEASURES]
        pos = x - 0.4 + width * (i + 0.5)
        ax.bar(pos, np.nan_to_num(means), width * 0.92, color=colors, hatch=hatch(i), edgecolor="#222222",
               linewidth=0.4, yerr=np.where(stds > 0, stds, np.nan), capsize=3,
               error_kw={"elinewidth": 0.9, "ecolor": "#222222"})
        for px, mv, sv in zip(pos, means, stds):
            if not np.isnan(mv):
                ax.annotate(f"{mv:.1f}", (px, mv + sv), xytext=(0, 2), textcoords="offset points", ha="center",
                            va="bottom", fontsize=7 if n > 3 else 8)
                top = max(top, mv + sv)
            else:
                ax.annotate("n/a", (px, 0), xytext=(0, 2), textcoords="offset points", ha="center", fontsize=7)
    ax.set_xticks(x)
    ax.set_xticklabels([MEASURE_LABELS[m] for m in MEASURES])
    for lab, m in zip(ax.get_xticklabels(), MEASURES):
        lab.set_color("#222222" if m == "miou" else bucket_color(m[5:]))
    ax.set_ylim(0, min(100.0, max(10.0, top * 1.15 + 3)))
    ax.set_ylabel("mIoU (%)")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    ax.set_title("mIoU overall and per bucket" + (" (mean ± sample std over seeds)" if any(g["n"] > 1 for g in groups)
                                                  else ""), loc="left", fontsize=11)
    _legend(fig, groups)
    return fig


def plot_per_class(data: dict):
    """Per-class IoU: one group of bars per class (one bar per recipe, sample std as error bars),
    classes in bucket order, bars in their bucket's colour, recipes told apart by shade and hatch."""
    from .plots import bucket_color, class_axis_width, figure, hatch, shade

    groups, cls, order = data["groups"], data["classes"], data["class_order"]
    n, k = len(groups), len(order)
    fig = figure(class_axis_width(k, per_class=0.12 * (n + 0.8), hi=45.0), 5.4 if k > 40 else 4.8)
    ax = fig.add_subplot()
    x = np.arange(k)
    width = 0.84 / n
    bks = [cls[c]["bucket"] for c in order]
    for i, g in enumerate(groups):
        means = np.array([np.nan if g["per_class"][c]["mean"] is None else 100 * g["per_class"][c]["mean"]
                          for c in order])
        stds = np.array([np.nan if g["per_class"][c]["std"] is None else 100 * g["per_class"][c]["std"]
                         for c in order])
        ax.bar(x - 0.42 + width * (i + 0.5), np.nan_to_num(means), width, color=[shade(bucket_color(b), i, n)
                                                                                  for b in bks],
               hatch=hatch(i), edgecolor="#222222", linewidth=0.3 if k <= 60 else 0.0,
               yerr=stds, capsize=1.5 if k <= 40 else 0, error_kw={"elinewidth": 0.7, "ecolor": "#222222"})
    ax.set_xlim(-0.6, k - 0.4)
    ax.set_ylim(0, 100)
    ax.set_ylabel("IoU (%)")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    ax.set_xticks(x)
    absent = {c for c in order if all(g["per_class"][c]["mean"] is None for g in groups)}
    ax.set_xticklabels([cls[c]["name"] + (" (absent)" if c in absent else "") for c in order],
                       rotation=90 if k > 12 else 45, ha="center" if k > 12 else "right",
                       fontsize=7 if k > 40 else 9)
    for lab, b in zip(ax.get_xticklabels(), bks):
        lab.set_color(bucket_color(b))
    ax.tick_params(axis="x", length=0)
    for i in range(1, k):  # bucket boundaries
        if bks[i] != bks[i - 1]:
            ax.axvline(i - 0.5, color="#444444", linestyle="--", linewidth=1)
    start = 0
    for i in range(1, k + 1):
        if i == k or bks[i] != bks[start]:
            ax.annotate(bks[start] or "no bucket", ((start + i - 1) / 2, 1), xycoords=("data", "axes fraction"),
                        xytext=(0, -4), textcoords="offset points", ha="center", va="top", fontsize=9,
                        color=bucket_color(bks[start]), fontweight="bold",
                        bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none", "alpha": 0.85})
            start = i
    ax.set_title("Per-class IoU, classes in bucket order" + (" (error bars: sample std over seeds)"
                                                             if any(g["n"] > 1 for g in groups) else ""),
                 loc="left", fontsize=11)
    _legend(fig, groups)
    return fig


# ---- HTML -----------------------------------------------------------------------------------------

def render_html(data: dict, figures: dict[str, bytes]) -> str:
    """The self-contained page; ``figures`` maps figure names to PNG bytes."""
    from .page import badge, document, e, embedded_figure, table

    cls, groups, runs = data["classes"], data["groups"], data["runs"]

    def v(x):  # sort value
        return None if x is None else round(100 * x, 6)

    def delta_cell(x):
        if x is None:
            return ("–", None)
        cls_ = "pos" if round(100 * x, 2) > 0 else "neg" if round(100 * x, 2) < 0 else ""
        return (f'<span class="{cls_}">{_signed(x)}</span>', v(x))

    title = f"Run comparison: {len(runs)} runs, {len(groups)} recipes, {len(cls)} classes"
    parts = [f"<h1>{e(title)}</h1>",
             f"<p>IoU in %. Δ: a recipe's mean minus the baseline's mean (<b>{e(data['baseline'])}</b>), in IoU "
             f"points. {e(STD_NOTE)}. Click a column header to sort a table.</p>"]
    parts += [f'<p class="note">Note: {e(n)}</p>' for n in data["notes"]]

    parts.append("<h2>mIoU overall and per bucket</h2>")
    header = ["method", "n"] + [(badge(MEASURE_LABELS[m]) if m != "miou" else "overall") + " mIoU" for m in MEASURES] \
        + [f"Δ {badge(MEASURE_LABELS[m]) if m != 'miou' else 'overall'}" for m in MEASURES]
    rows = []
    for g in groups:
        name = e(g["name"]) + (' <span class="base">(baseline)</span>' if g["baseline"] else "")
        seeds = ", ".join("–" if s is None else str(s) for s in g["seeds"])
        rows.append([(name, g["name"]), (f'<span title="runs: {e(", ".join(g["runs"]))}; seeds: {e(seeds)}">'
                                         f'{g["n"]}</span>', g["n"])]
                    + [(_mean_std(g["measures"][m]), v(g["measures"][m]["mean"])) for m in MEASURES]
                    + [("–", None) if g["baseline"] else delta_cell(g["delta"][m]) for m in MEASURES])
    parts.append(table(header, rows, sortable=True, left=(0,)))
    parts.append(embedded_figure("bucket_miou", figures["bucket_miou"],
                                 "mIoU overall and per bucket, one bar per recipe, sample standard deviation "
                                 "over seeds as error bars"))

    parts.append("<h2>Per-class IoU</h2>")
    parts.append(embedded_figure("per_class_iou", figures["per_class_iou"],
                                 "Per-class IoU, one group of bars per class in bucket order (most ground-truth "
                                 "pixels first within a bucket), one bar per recipe in the order of the legend"))
    header = ["id", "class", "bucket", "GT pixels"] + [x for g in groups for x in
                                                       ([e(g["name"])] if g["baseline"] else
                                                        [e(g["name"]), f"Δ {e(g['name'])}"])]
    rows = []
    rank = {b: i for i, b in enumerate(BUCKETS)}
    for c in data["class_order"]:
        gt = cls[c]["gt_pixels"]
        row = [(str(c), c), (e(cls[c]["name"]), None), (badge(cls[c]["bucket"]), rank.get(cls[c]["bucket"], 3)),
               ("–" if gt is None else f"{gt:,}", gt)]
        for g in groups:
            s = g["per_class"][c]
            row.append((_mean_std(s) + ("" if s["n"] == g["n"] or s["mean"] is None else f" (n={s['n']})"),
                        v(s["mean"])))
            if not g["baseline"]:
                row.append(delta_cell(g["delta_per_class"][c]))
        rows.append(row)
    parts.append(table(header, rows, sortable=True, left=(1, 2), cls="perclass"))

    parts.append("<h2>Runs</h2>")
    header = ["run", "recipe", "seed"] + [f"{MEASURE_LABELS[m]} mIoU" for m in MEASURES] + ["metrics file"]
    rows = [[(e(r["name"]), None), (e(r["group"]), None), ("–" if r["seed"] is None else str(r["seed"]), r["seed"])]
            + [(_pts(r[m]), v(r[m])) for m in MEASURES] + [(f"<code>{e(r['path'])}</code>", None)] for r in runs]
    parts.append(table(header, rows, sortable=True, left=(0, 1, 7)))
    recipes = [g for g in groups if g["recipe"]]
    if recipes:
        parts.append("<details><summary>recipes (run configuration without seed and run directory)</summary>"
                     + "".join(f"<p><b>{e(g['name'])}</b>: <code>{e(json.dumps(g['recipe'], sort_keys=True))}</code>"
                               f"</p>" for g in recipes) + "</details>")
    files = ["compare.md", "compare.json", *TABLES] + [f"{f}.{x}" for f in FIGURES for x in ("png", "svg", "pdf")]
    parts.append("<h2>Files</h2><p>" + ", ".join(f'<a href="{f}">{f}</a>' for f in files)
                 + ". The LaTeX tables use booktabs.</p>")
    parts.append(f"<p style='color:#777;font-size:.8em'>lt-data {e(__version__)}</p>")
    return document(f"lt-data compare: {', '.join(g['name'] for g in groups)}", parts)


# ---- the stage ------------------------------------------------------------------------------------

def write_comparison(inputs: list[str | Path], out: str | Path, *, names: list[str] | None = None,
                     baseline: str | None = None) -> dict:
    """The ``compare`` stage: write ``OUT/`` whole (index.html, compare.md, compare.json, the LaTeX
    tables, each figure as PNG, SVG and PDF) and return compare.json's content."""
    from .io import atomic_write_json, atomic_write_text
    from .plots import render, write_figures
    from .artifacts import replace_dir

    runs = load_runs(list(inputs), names)
    data = compare_data(runs, baseline)
    figures = {"bucket_miou": render(plot_bucket_miou(data)), "per_class_iou": render(plot_per_class(data))}
    tex = render_latex(data)
    out = Path(out)
    with replace_dir(out, COMPARE_SCHEMA, "comparison") as tmp:
        data["files"] = ["index.html", "compare.md", "compare.json", *tex] + write_figures(tmp, figures)
        for name, text in tex.items():
            atomic_write_text(tmp / name, text)
        atomic_write_text(tmp / "compare.md", render_markdown(data))
        atomic_write_json(tmp / "compare.json", data)
        atomic_write_text(tmp / "index.html", render_html(data, {k: v["png"] for k, v in figures.items()}))
    return data


__all__ = ["COMPARE_SCHEMA", "MEASURES", "Run", "class_order", "compare_data", "format_summary", "group_runs",
           "load_run", "load_runs", "mean_std", "plot_bucket_miou", "plot_per_class", "render_html", "render_latex",
           "render_markdown", "tex_escape", "write_comparison"]
