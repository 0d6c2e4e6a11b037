"""``index.html``: the comparison's self-contained page (figures embedded, tables that sort in the
browser), built on :mod:`lt_data.core.page`."""

from __future__ import annotations

import json

from ... import __version__
from ...core.names import BUCKET_NAMES
from .figures import FIGURES
from .latex import TABLES
from .stats import MEASURE_LABELS, MEASURES
from .tables import STD_NOTE, mean_std_cell, pts, signed


def render_html(data: dict, figures: dict[str, bytes]) -> str:
    """The self-contained page; ``figures`` maps figure names to PNG bytes."""
    from ...core.page import badge, document, e, embedded_figure, table

    cls, groups, runs = data["classes"], data["groups"], data["runs"]

    def v(x):  # sort value
        return None if x is None else round(100 * x, 6)

    def delta_cell(x):
        if x is None:
            return ("–", None)
        cls_ = "pos" if round(100 * x, 2) > 0 else "neg" if round(100 * x, 2) < 0 else ""
        return (f'<span class="{cls_}">{signed(x)}</span>', v(x))

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
                    + [(mean_std_cell(g["measures"][m]), v(g["measures"][m]["mean"])) for m in MEASURES]
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
    rank = {b: i for i, b in enumerate(BUCKET_NAMES)}
    for c in data["class_order"]:
        gt = cls[c]["gt_pixels"]
        row = [(str(c), c), (e(cls[c]["name"]), None), (badge(cls[c]["bucket"]), rank.get(cls[c]["bucket"], 3)),
               ("–" if gt is None else f"{gt:,}", gt)]
        for g in groups:
            s = g["per_class"][c]
            row.append((mean_std_cell(s) + ("" if s["n"] == g["n"] or s["mean"] is None else f" (n={s['n']})"),
                        v(s["mean"])))
            if not g["baseline"]:
                row.append(delta_cell(g["delta_per_class"][c]))
        rows.append(row)
    parts.append(table(header, rows, sortable=True, left=(1, 2), cls="perclass"))

    parts.append("<h2>Runs</h2>")
    header = ["run", "recipe", "seed"] + [f"{MEASURE_LABELS[m]} mIoU" for m in MEASURES] + ["metrics file"]
    rows = [[(e(r["name"]), None), (e(r["group"]), None), ("–" if r["seed"] is None else str(r["seed"]), r["seed"])]
            + [(pts(r[m]), v(r[m])) for m in MEASURES] + [(f"<code>{e(r['path'])}</code>", None)] for r in runs]
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


__all__ = ["render_html"]
