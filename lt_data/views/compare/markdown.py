"""``compare.md``: the comparison's tables in Markdown (every cell escaped by :mod:`lt_data.core.markdown`),
the figures linked as files beside it."""

from __future__ import annotations

from ...core.markdown import escape as md_escape
from ...core.markdown import table as md_table
from .stats import MEASURE_LABELS, MEASURES
from .tables import STD_NOTE, SUMMARY_HEADER, mean_std_cell, pts, signed, summary_rows


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
            row.append(mean_std_cell(g["per_class"][c]))
            if not g["baseline"]:
                row.append(signed(g["delta_per_class"][c], "-"))
        rows.append(row)
    out += ["## Per-class IoU", "", md_table(header, rows), ""]
    out += ["## Runs", "", md_table(["run", "recipe", "seed"] + [f"{MEASURE_LABELS[m]} mIoU" for m in MEASURES]
                                     + ["file"],
                                     [[r["name"], r["group"], "–" if r["seed"] is None else str(r["seed"])]
                                      + [pts(r[m]) for m in MEASURES] + [r["path"]] for r in data["runs"]]), ""]
    return "\n".join(out) + "\n"


__all__ = ["render_markdown"]
