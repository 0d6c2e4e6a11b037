"""The numbers of a comparison (``compare.json``): per group, the mean and **sample** standard
deviation over its runs of each measure and each class's IoU (:func:`mean_std`), and the deltas
against the baseline group (:func:`compare_data`).

The standard deviation is the sample standard deviation (n − 1 in the denominator,
``statistics.stdev``): the seeds are a sample of the recipe's possible runs. A group of one run has
none. Means and deviations skip runs where a class is absent (IoU null); each number says how many
runs it is over. Deltas are a group's mean minus the baseline group's mean, in IoU points."""

from __future__ import annotations

import json

import statistics

from ... import __version__
from ...core.errors import LtDataError
from ...training.metrics import MEASURES  # overall, then per bucket: miou, miou_head, miou_middle, miou_tail
from ...core.names import BUCKET_NAMES
from .runs import Run, group_runs

COMPARE_SCHEMA = "lt-data/compare"
MEASURE_LABELS = {"miou": "overall", **{f"miou_{b}": b for b in BUCKET_NAMES}}


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
    rank = {b: i for i, b in enumerate(BUCKET_NAMES)}
    return sorted(range(len(per_class)), key=lambda c: (rank.get(per_class[c].get("bucket"), 3),
                                                        -(per_class[c].get("gt_pixels") or 0), c))


# what a recipe's name already says (the method); any other option that differs is named in a note
METHOD_KEYS = ("model", "model_args", "loss", "paste", "paste_args", "paste_dose", "sampler", "sampler_args")


def setup_notes(runs: list[Run], groups) -> list[str]:
    """Notes on what else differs: recipes that differ beyond the method (schedule, crop, data),
    recipes measured once (no spread to judge a difference by), and runs from other environments."""
    notes = []
    recipes = [g.recipe for g in groups if g.recipe is not None]
    other = sorted({k for rec in recipes for k in rec if k not in METHOD_KEYS
                    and len({json.dumps(x.get(k), sort_keys=True, default=str) for x in recipes}) > 1})
    if other:
        shown = "; ".join(f"{k}: " + " vs ".join(dict.fromkeys(json.dumps(x.get(k), default=str) for x in recipes))
                          for k in other[:6])
        notes.append(f"The recipes differ in more than the method ({shown}): each delta mixes these with the method.")
    single = [g.name for g in groups if len(g.runs) == 1]
    if len(groups) > 1 and single:
        notes.append(f"{', '.join(single)}: n = 1, no spread; a difference from another recipe may be seed to seed "
                     f"noise (run more seeds: --set seed=N).")
    envs = {json.dumps(r.record.get("environment"), sort_keys=True) for r in runs
            if r.record and r.record.get("environment")}
    if len(envs) > 1:
        notes.append("The runs come from different environments (torch, device or thread count: config.json's "
                     "\"environment\"): the same recipe and seed give other numbers there, so their differences "
                     "include that noise.")
    return notes


def compare_data(runs: list[Run], baseline: str | None = None) -> dict:
    """Every number of the comparison (the content of ``compare.json``)."""
    groups = group_runs(runs)
    if baseline is None:
        base = groups[0]
    else:
        base = next((g for g in groups if g.name == baseline), None) or next(
            (g for g in groups for i in g.runs if runs[i].name == baseline), None)
        if base is None:
            raise LtDataError(f"--baseline {baseline}: no such run or recipe; runs: "
                              f"{', '.join(r.name for r in runs)}; recipes: {', '.join(g.name for g in groups)}")
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
    notes += setup_notes(runs, groups)
    if all(c.get("bucket") is None for c in ref):
        notes.append("The metrics carry no buckets (evaluated without buckets.json): head, middle and tail "
                     "mIoU are not available.")

    def iou(r: Run, c: int):
        return r.metrics["per_class"][c]["iou"]

    out_groups = []
    for g in groups:
        members = [runs[i] for i in g.runs]
        measures = {m: mean_std([r.metrics.get(m) for r in members]) for m in MEASURES}
        per_class = [mean_std([iou(r, c) for r in members]) for c in range(k)]
        out_groups.append({"name": g.name, "runs": [r.name for r in members], "seeds": [r.seed for r in members],
                           "n": len(members), "recipe": g.recipe, "baseline": g is base,
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
        "runs": [{"name": r.name, "path": r.path, "group": next(g.name for g in groups if i in g.runs),
                  "seed": r.seed, "config": r.config,
                  **{m: r.metrics.get(m) for m in MEASURES},
                  "iou": [iou(r, c) for c in range(k)]} for i, r in enumerate(runs)],
        "groups": out_groups,
        "std": "sample standard deviation (n - 1), statistics.stdev",
        "notes": notes,
        "source": {"tool": "lt-data", "version": __version__},
    }


__all__ = ["COMPARE_SCHEMA", "MEASURES", "MEASURE_LABELS", "class_order", "compare_data", "mean_std"]
