"""The bucket report (``WORK/report/``): a self-contained HTML page, figures, Markdown and JSON.

``write_report(work, eval_work=None, out=None)`` reads the statistics and ``buckets.json`` (or, when
there is none, computes the default ``share`` buckets in memory and says so) and writes into ``out``
(default ``WORK/report``; a folder holding files lt-data did not write is refused)::

    index.html                 open in a browser; every figure embedded as a base64 PNG
    report.md                  the same tables, figures linked as files
    report.json                every number shown, for machines (:func:`load_report`)
    NAME.png, NAME.svg, NAME.pdf   each plot, as PNG and as vector files for a paper:
        pixel_histogram, cumulative_share, image_frequency, tail_cooccurrence (two tail classes or more),
        classes_per_image, spatial_prior (when the label files can be read), object_sizes (with a bank),
        train_vs_eval (with an evaluation split)
    bank_objects.png           example objects of the bank (a contact sheet), when there is a bank

The views of how classes share images and frames (tail × tail co-occurrence, classes per image, the
spatial prior) live in :mod:`lt_data.report_views`; the page and ``report.md`` end with the references
of the methods and datasets lt-data names (:mod:`lt_data.references`).

When the work directory holds a tail bank (``bank.zarr``), the report shows example objects and the
distribution of object sizes per class; a bank built from other statistics is not read, and the page
says why in one line. With ``eval_work`` (the statistics of an evaluation split, e.g. from
``lt-data stats ... --split val``), it shows the class pixel shares of both splits side by side.

Plots are drawn by :mod:`lt_data.plots` (no pyplot). Class bars are drawn in frequency order, coloured
by bucket (the same three colours everywhere, each figure with a legend for them), with a strip of
each class's palette colour under the axis; wide plots (many classes) scroll sideways in the page. No
text in a figure is smaller than 9 pt (12.5 px at the saved size). Class tables sort in the browser.
"""

from __future__ import annotations

import html
import io
import os
from pathlib import Path

import numpy as np

from . import __version__
from .artifacts import check_replaceable, replace_dir
from .buckets import BUCKET_NAMES, BUCKETS_FILE, bucket_index, compute_buckets, frequency_order, load_buckets
from .errors import ArtifactError, LtDataError
from .io import atomic_write_json, atomic_write_text, read_json
from .markdown import escape as md_escape
from .markdown import table as md_table
from .page import badge as _page_badge
from .page import document, embedded_figure, table
from .plots import BUCKET_COLORS, class_axis_width, figure, hatch, render, shade, write_figures
from .references import render_html as render_references_html
from .references import render_markdown as render_references_md
from .report_views import CAPTIONS as VIEW_CAPTIONS
from .report_views import SMALL_PT, classes_per_image, html_sections, markdown_sections, spatial_data, tail_cooccurrence
from .report_views import figures as view_figures
from .report_views import pct as _pct

REPORT_DIR = "report"
REPORT_SCHEMA = "lt-data/report"
EXPOSURE_NOTE = ("Share of the pixels of one training epoch that falls in each bucket, under each sampler "
                 "(lt-data train --sampler; defaults shown), and with pasting at the dose lt-data train derives "
                 "when no paste_args are given (whole images; docs/DOSE.md), estimated from the statistics and the "
                 "stores: the dose's expected objects per image and share of the labelled pixels pasted, added to "
                 "the tail of a uniform epoch.")
# in page order; tail_cooccurrence needs two tail classes, spatial_prior readable label files;
# train_vs_eval comes with an evaluation split, object_sizes with a bank
PLOTS = ("pixel_histogram", "cumulative_share", "image_frequency", "tail_cooccurrence", "classes_per_image",
         "spatial_prior")
CONTACT_SHEET = "bank_objects.png"


# ---- numbers ------------------------------------------------------------------------------------

def report_data(stats, buckets: dict, *, top: int = 10, buckets_from_file: bool = True) -> dict:
    """Every number the report shows (the content of ``report.json``)."""
    k = stats.table.num_classes
    pixels, images = stats.pixels, stats.images
    pshare, ishare = stats.pixel_share, stats.image_share
    order = frequency_order(pixels)
    rank = np.empty(k, dtype=np.int64)
    rank[order] = np.arange(1, k + 1)
    cum = np.cumsum(pshare[order])
    cum_at = np.empty(k)
    cum_at[order] = cum
    labels = bucket_index(buckets)
    present = stats.counts > 0  # (N, K)
    n = stats.num_images
    colors = stats.table.colors

    classes = [{"id": c, "name": stats.table.names[c], "color": "#%02x%02x%02x" % tuple(int(x) for x in colors[c]),
                "bucket": BUCKET_NAMES[labels[c]], "rank": int(rank[c]), "pixels": int(pixels[c]),
                "pixel_share": float(pshare[c]), "cumulative_share": float(cum_at[c]), "images": int(images[c]),
                "image_share": float(ishare[c])} for c in range(k)]

    def imbalance(ids) -> float | None:
        p = pixels[ids]
        p = p[p > 0]
        return float(p.max() / p.min()) if len(p) else None

    per_bucket = {}
    for b, name in enumerate(BUCKET_NAMES):
        ids = np.flatnonzero(labels == b)
        ids_sorted = ids[np.argsort(rank[ids])]
        any_img = int(present[:, ids].any(axis=1).sum()) if len(ids) else 0
        per_bucket[name] = {
            "classes": len(ids), "ids": ids_sorted.tolist(),
            "pixels": int(pixels[ids].sum()), "pixel_share": float(pshare[ids].sum()),
            "images_with_any": any_img, "image_share": any_img / n if n else 0.0,
            "mean_class_image_share": float(ishare[ids].mean()) if len(ids) else None,
            "imbalance_ratio": imbalance(ids), "empty_classes": int((pixels[ids] == 0).sum()),
            "most_frequent": stats.table.names[ids_sorted[0]] if len(ids) else None,
            "least_frequent": stats.table.names[ids_sorted[-1]] if len(ids) else None,
        }

    tail = np.flatnonzero(labels == 2)
    tail = tail[np.argsort(rank[tail])]
    ds = stats.dataset
    refine = buckets.get("refine") or {}
    top = max(1, min(top, k))
    return {
        "dataset": {"name": stats.table.dataset, "layout": ds.get("layout"), "root": ds.get("root"),
                    "split": ds.get("split"), "num_images": n, "num_classes": k,
                    "total_pixels": int(stats.counts.sum() + stats.ignored.sum()),
                    "labelled_pixels": stats.labelled_pixels, "ignored_pixels": int(stats.ignored.sum()),
                    "ignore_index": stats.table.ignore_index, "skipped": len(stats.skipped)},
        "buckets": {"rule": buckets["rule"], "notes": buckets.get("notes", []),
                    "moves": refine.get("moves", []), "refine": {key: refine[key] for key in ("low", "high")
                                                                  if key in refine} or None,
                    "from_file": buckets_from_file, "ids": {name: buckets[name] for name in BUCKET_NAMES}},
        "per_bucket": per_bucket,
        "imbalance_ratio": imbalance(np.arange(k)),
        "classes": classes,
        "frequency_order": order.tolist(),
        "most_frequent": order[:top].tolist(),
        "least_frequent": order[::-1][:top].tolist(),
        "tail_cooccurrence": tail_cooccurrence(present, tail.tolist()),
        "classes_per_image": classes_per_image(present, {name: buckets[name] for name in BUCKET_NAMES}),
        "source": {"stats": buckets.get("source", {}).get("stats"), "tool": "lt-data", "version": __version__},
    }


def add_eval(data: dict, stats, eval_stats, eval_work: Path) -> None:
    """Add the evaluation split's class pixel shares to ``data`` (``classes[c]["eval_*"]`` and
    ``data["eval"]``); refuse an evaluation split of another class table."""
    names, got = stats.table.names, eval_stats.table.names
    if list(got) != list(names):
        diff = next((i for i, (a, b) in enumerate(zip(got, names)) if a != b), min(len(got), len(names)))
        raise ArtifactError(f"{eval_work}: statistics of another class table ({len(got)} classes, "
                            f"{eval_stats.table.dataset}) than the training split's ({len(names)} classes, "
                            f"{stats.table.dataset})" + (f"; class {diff} is {got[diff]!r} there, {names[diff]!r} here"
                                                         if diff < min(len(got), len(names)) else ""))
    pixels, images = eval_stats.pixels, eval_stats.images
    pshare, ishare = eval_stats.pixel_share, eval_stats.image_share
    for c, entry in enumerate(data["classes"]):
        entry.update({"eval_pixels": int(pixels[c]), "eval_pixel_share": float(pshare[c]),
                      "eval_images": int(images[c]), "eval_image_share": float(ishare[c])})
    ids = data["buckets"]["ids"]
    d = eval_stats.dataset
    data["eval"] = {"work": str(eval_work), "layout": d.get("layout"), "split": d.get("split"),
                    "num_images": eval_stats.num_images, "labelled_pixels": eval_stats.labelled_pixels,
                    "per_bucket": {b: float(pshare[ids[b]].sum()) if ids[b] else 0.0 for b in BUCKET_NAMES},
                    "absent": [c for c in data["frequency_order"] if pixels[c] == 0]}


def bank_data(work: Path) -> tuple[dict | None, object | None]:
    """(what the report says about ``WORK/bank.zarr``, the opened TailBank or None). None, None when
    there is no bank; ``{"status": "refused", "message"}`` when it cannot be read for this work
    directory (built from other statistics, incomplete, ...)."""
    from .bank.reader import BANK_DIR, TailBank

    path = work / BANK_DIR
    if not path.exists():
        return None, None
    try:
        bank = TailBank.open(path, work=work)
        summary = bank.summary()
    except LtDataError as err:
        return {"status": "refused", "path": str(path), "message": str(err)}, None
    return {"status": "ok", "path": str(path), "objects": summary["objects"], "params": summary["params"],
            "disk_bytes": summary["disk_bytes"], "classes": summary["classes"]}, bank


# ---- plots --------------------------------------------------------------------------------------

def _contiguous_boundaries(buckets_in_order: list[str]) -> list[tuple[int, str, str]] | None:
    """Positions where the bucket changes along frequency order, if every bucket is one run in
    head → middle → tail order; None when buckets interleave (refined or listed buckets)."""
    runs = [buckets_in_order[0]]
    cuts = []
    for i in range(1, len(buckets_in_order)):
        if buckets_in_order[i] != buckets_in_order[i - 1]:
            runs.append(buckets_in_order[i])
            cuts.append((i, buckets_in_order[i - 1], buckets_in_order[i]))
    ranks = [BUCKET_NAMES.index(r) for r in runs]
    return cuts if ranks == sorted(set(ranks)) else None


def _bars_with_palette(data: dict, values: np.ndarray, *, log: bool, ylabel: str, title: str,
                       secondary=None, second: tuple[np.ndarray, str, str] | None = None):
    """Bars in frequency order coloured by bucket, a palette strip under them, names as ticks.
    ``second``: (values, label of the first series, label of the second): two bars per class, the
    second lighter and hatched."""
    cls = data["classes"]
    order = data["frequency_order"]
    k = len(order)
    fig = figure(class_axis_width(k), 5.2 if k > 40 else 4.6)
    gs = fig.add_gridspec(2, 1, height_ratios=[14, 0.7])
    ax = fig.add_subplot(gs[0])
    strip = fig.add_subplot(gs[1])  # same x range as ax, set below; sharex would double the tick layout work
    x = np.arange(k)
    bks = [cls[c]["bucket"] for c in order]
    if second is None:
        series = [(x, values)]
        ax.bar(x, values, width=0.8, color=[BUCKET_COLORS[b] for b in bks], edgecolor="none")
    else:
        series = [(x - 0.2, values), (x + 0.2, second[0])]
        ax.bar(x - 0.2, values, width=0.4, color=[BUCKET_COLORS[b] for b in bks], edgecolor="none")
        ax.bar(x + 0.2, second[0], width=0.4, color=[shade(BUCKET_COLORS[b], 1, 2) for b in bks], hatch=hatch(1),
               edgecolor="#333333", linewidth=0)
    if log:
        ax.set_yscale("log")
        every = np.concatenate([v for _, v in series])
        pos = every[every > 0]
        if len(pos):
            ax.set_ylim(pos.min() / 3, pos.max() * 3)
        for xs, vs in series:
            for i in np.flatnonzero(vs == 0):
                ax.annotate("0", (xs[i], 0), xycoords=("data", "axes fraction"), xytext=(0, 3),
                            textcoords="offset points", ha="center", fontsize=SMALL_PT, color=BUCKET_COLORS[bks[i]])
    ax.set_ylabel(ylabel)
    ax.set_title(title, loc="left", fontsize=11)
    ax.grid(axis="y", which="major", alpha=0.3)
    ax.set_xlim(-0.6, k - 0.4)
    ax.tick_params(axis="x", which="both", bottom=False, labelbottom=False)
    if secondary is not None:
        from matplotlib.ticker import FuncFormatter

        sec = ax.secondary_yaxis("right", functions=secondary[0])
        sec.set_ylabel(secondary[1])
        sec.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}%"))
    cuts = _contiguous_boundaries(bks)
    if cuts:
        for i, left, right in cuts:
            ax.axvline(i - 0.5, color="#444444", linestyle="--", linewidth=1)
            ax.annotate(f"{left} | {right}", (i - 0.5, 1), xycoords=("data", "axes fraction"),
                        xytext=(0, -4), textcoords="offset points", ha="center", va="top", fontsize=SMALL_PT,
                        bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none", "alpha": 0.85})
    from matplotlib.patches import Patch

    handles = [Patch(color=BUCKET_COLORS[b], label=f"{b} ({data['per_bucket'][b]['classes']})")
               for b in BUCKET_NAMES]
    # above the axes, right of the short title and within the first screen width of a wide plot
    ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(min(0.45, 5.5 / fig.get_figwidth()), 1.0), ncol=3,
              fontsize=SMALL_PT, frameon=False, borderaxespad=0.2, handlelength=1.2, columnspacing=1.0)
    if second is not None:  # which bar is which: inside the axes, below the boundary labels
        from matplotlib.legend import Legend

        ax.add_artist(Legend(ax, [Patch(facecolor="#555555", label=second[1]),
                                  Patch(facecolor=shade("#555555", 1, 2), hatch=hatch(1), edgecolor="#333333",
                                        linewidth=0, label=second[2])], [second[1], second[2]],
                             loc="upper right", bbox_to_anchor=(1.0, 0.92), fontsize=SMALL_PT, framealpha=0.9))
    colors = np.array([[int(cls[c]["color"][j:j + 2], 16) for j in (1, 3, 5)] for c in order], dtype=np.uint8)
    strip.imshow(colors[None], aspect="auto", extent=(-0.5, k - 0.5, 0, 1), interpolation="nearest")
    strip.set_yticks([])
    strip.set_xlim(ax.get_xlim())
    strip.set_xticks(x)
    strip.set_xticklabels([cls[c]["name"] for c in order], rotation=90, fontsize=SMALL_PT)
    for lab, b in zip(strip.get_xticklabels(), bks):
        lab.set_color(BUCKET_COLORS[b])
    strip.tick_params(axis="x", length=0)
    for s in strip.spines.values():
        s.set_visible(False)
    return fig


def plot_pixel_histogram(data: dict):
    order = data["frequency_order"]
    total = max(data["dataset"]["labelled_pixels"], 1)
    values = np.array([data["classes"][c]["pixels"] for c in order], dtype=np.float64)
    fig = _bars_with_palette(
        data, values, log=True, ylabel="pixels (log scale)",
        title="Pixels per class (log scale)",
        secondary=((lambda p: p / total * 100, lambda s: s * total / 100), "share of labelled pixels (%)"))
    return fig


def plot_image_frequency(data: dict):
    order = data["frequency_order"]
    values = np.array([data["classes"][c]["image_share"] * 100 for c in order])
    fig = _bars_with_palette(data, values, log=False, ylabel="images with the class (%)",
                             title="Images containing each class")
    fig.axes[0].set_ylim(0, 112)  # room for the boundary labels above 100%
    return fig


def plot_cumulative_share(data: dict):
    cls, order = data["classes"], data["frequency_order"]
    k = len(order)
    fig = figure(9.5, 4.6)
    ax = fig.add_subplot()
    x = np.arange(1, k + 1)
    y = np.array([cls[c]["cumulative_share"] * 100 for c in order])
    bks = [cls[c]["bucket"] for c in order]
    ax.plot(np.concatenate([[0], x]), np.concatenate([[0], y]), color="#555555", linewidth=1.2, zorder=1)
    ax.scatter(x, y, c=[BUCKET_COLORS[b] for b in bks], s=28 if k <= 40 else 10, zorder=2)
    rule = data["buckets"]["rule"]
    if rule.get("on") == "pixels" and "head_share" in rule:
        ax.axhline(rule["head_share"] * 100, color=BUCKET_COLORS["head"], linestyle=":", linewidth=1)
        ax.annotate(f"head: first {rule['head_share']:.0%} of pixels", (1, rule["head_share"] * 100),
                    xycoords=("axes fraction", "data"), xytext=(-4, -12), textcoords="offset points",
                    ha="right", fontsize=SMALL_PT, color=BUCKET_COLORS["head"])
    if rule.get("on") == "pixels" and "tail_share" in rule:
        level = (1 - rule["tail_share"]) * 100
        ax.axhline(level, color=BUCKET_COLORS["tail"], linestyle=":", linewidth=1)
        ax.annotate(f"tail: last {rule['tail_share']:.0%} of pixels", (1, level),
                    xycoords=("axes fraction", "data"), xytext=(-4, -12), textcoords="offset points",
                    ha="right", fontsize=SMALL_PT, color=BUCKET_COLORS["tail"])
    cuts = _contiguous_boundaries(bks)
    if cuts is not None:
        edges = [0] + [i for i, _, _ in cuts] + [k]
        names = [bks[0]] + [r for _, _, r in cuts]
        for a, b, name in zip(edges[:-1], edges[1:], names):
            ax.axvspan(a + 0.5, b + 0.5, color=BUCKET_COLORS[name], alpha=0.08, linewidth=0)
    ax.set_xlim(0, k + 0.5)
    ax.set_ylim(0, 101)
    ax.set_ylabel("cumulative share of labelled pixels (%)")
    ax.grid(alpha=0.3)
    if k <= 40:
        ax.set_xticks(x)
        ax.set_xticklabels([cls[c]["name"] for c in order], rotation=60, ha="right", fontsize=SMALL_PT)
        for lab, b in zip(ax.get_xticklabels(), bks):
            lab.set_color(BUCKET_COLORS[b])
    else:
        ax.set_xlabel("classes, most frequent first (rank)")
    ax.set_title("Cumulative pixel share", loc="left", fontsize=11)
    from matplotlib.lines import Line2D

    ax.legend(handles=[Line2D([], [], marker="o", linestyle="none", color=BUCKET_COLORS[b],
                              label=f"{b} ({data['per_bucket'][b]['classes']})") for b in BUCKET_NAMES],
              loc="lower right", fontsize=SMALL_PT)
    return fig


def plot_train_vs_eval(data: dict):
    """Class pixel shares of the training and the evaluation split, side by side, log scale."""
    order = data["frequency_order"]
    cls = data["classes"]
    train = np.array([cls[c]["pixel_share"] * 100 for c in order])
    ev = np.array([cls[c]["eval_pixel_share"] * 100 for c in order])
    d, e = data["dataset"], data["eval"]
    from matplotlib.ticker import FuncFormatter

    fig = _bars_with_palette(data, train, log=True, ylabel="share of labelled pixels (log scale)",
                             title="Pixel share: train vs eval",
                             second=(ev, f"training: {d['split']} ({d['num_images']:,} images)",
                                     f"evaluation: {e['split']} ({e['num_images']:,} images)"))
    fig.axes[0].yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}%"))
    return fig


def plot_object_sizes(data: dict, areas: dict[int, np.ndarray], min_area: int | None = None):
    """Object areas of each bank class: horizontal box plots on a log scale (box: quartiles, line:
    median, whiskers: 5th to 95th percentile, dots: the objects beyond), classes in frequency order."""
    import inspect

    cls = data["classes"]
    ids = [c for c in data["frequency_order"] if c in areas]
    n = len(ids)
    fig = figure(9.5, float(np.clip(0.34 * n + 1.7, 2.8, 40.0)))
    ax = fig.add_subplot()
    y = np.arange(n)[::-1]  # the most frequent class on top
    full = [i for i, c in enumerate(ids) if len(areas[c])]
    if full:
        orient = ({"orientation": "horizontal"} if "orientation" in inspect.signature(ax.boxplot).parameters
                  else {"vert": False})
        box = ax.boxplot([areas[ids[i]] for i in full], positions=y[full], whis=(5, 95), widths=0.6,
                         patch_artist=True, manage_ticks=False,
                         flierprops={"marker": ".", "markersize": 2.5, "alpha": 0.45, "markeredgecolor": "none"},
                         medianprops={"color": "#111111", "linewidth": 1.4}, **orient)
        for patch, flier, i in zip(box["boxes"], box["fliers"], full):
            color = BUCKET_COLORS[cls[ids[i]]["bucket"]]
            patch.set_facecolor(shade(color, 1, 3))
            patch.set_edgecolor(color)
            flier.set_markerfacecolor(color)
    for i, c in enumerate(ids):
        if not len(areas[c]):
            ax.annotate("no objects", (0, y[i]), xycoords=("axes fraction", "data"), xytext=(4, 0),
                        textcoords="offset points", va="center", fontsize=SMALL_PT, color="#777777")
    ax.set_xscale("log")
    from matplotlib.ticker import FuncFormatter, NullFormatter

    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    if min_area:
        ax.axvline(min_area, color="#777777", linestyle=":", linewidth=1)
        ax.annotate(f"min area {min_area} px", (min_area, 1), xycoords=("data", "axes fraction"), xytext=(3, -3),
                    textcoords="offset points", va="top", fontsize=SMALL_PT, color="#555555")
    ax.set_yticks(y)
    ax.set_yticklabels([f"{cls[c]['name']} ({len(areas[c]):,})" for c in ids], fontsize=SMALL_PT if n > 25 else 10)
    for lab, c in zip(ax.get_yticklabels(), ids):
        lab.set_color(BUCKET_COLORS[cls[c]["bucket"]])
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_xlabel("object area (pixels, log scale)")
    ax.set_ylabel("class (objects in the bank)")
    ax.grid(axis="x", which="major", alpha=0.3)
    ax.set_title("Object sizes in the bank per class\n(box: quartiles; whiskers: 5th to 95th percentile; dots: "
                 "beyond)", loc="left", fontsize=10)
    from matplotlib.patches import Patch

    shown = [b for b in BUCKET_NAMES if any(cls[c]["bucket"] == b for c in ids)]
    ax.legend(handles=[Patch(color=BUCKET_COLORS[b], label=b) for b in shown], loc="lower right",
              bbox_to_anchor=(1.0, 1.0), ncol=len(shown) or 1, frameon=False, fontsize=SMALL_PT, borderaxespad=0.2)
    return fig


def _contact_sheet_png(bank) -> bytes:
    from PIL import Image

    from .bank.display import contact_sheet

    buf = io.BytesIO()
    Image.fromarray(contact_sheet(bank, per_class=8, cell=80, seed=0)).save(buf, format="PNG")
    return buf.getvalue()


# ---- text formats -------------------------------------------------------------------------------

def _ratio(x: float | None) -> str:
    return "–" if x is None else f"{x:,.1f}"


def _bucket_rows(data: dict) -> list[list[str]]:
    rows = []
    for b in BUCKET_NAMES:
        s = data["per_bucket"][b]
        rows.append([b, str(s["classes"]), _pct(s["pixel_share"]), _pct(s["image_share"]),
                     _pct(s["mean_class_image_share"]), _ratio(s["imbalance_ratio"]) +
                     (f" ({s['empty_classes']} empty)" if s["empty_classes"] else ""),
                     s["most_frequent"] or "–", s["least_frequent"] or "–"])
    return rows


BUCKET_HEADER = ["bucket", "classes", "pixel share", "images with any of its classes", "mean class image share",
                 "imbalance ratio (max/min pixels)", "most frequent", "least frequent"]
CLASS_HEADER = ["rank", "id", "class", "bucket", "pixels", "pixel share", "cumulative", "images", "image share"]


EVAL_HEADER = ["eval pixel share", "eval image share"]


def _class_header(data: dict) -> list[str]:
    return CLASS_HEADER + (EVAL_HEADER if "eval" in data else [])


def _class_row(c: dict) -> list[str]:
    row = [str(c["rank"]), str(c["id"]), c["name"], c["bucket"], f"{c['pixels']:,}", _pct(c["pixel_share"]),
           _pct(c["cumulative_share"]), f"{c['images']:,}", _pct(c["image_share"])]
    if "eval_pixel_share" in c:
        row += [_pct(c["eval_pixel_share"]), _pct(c["eval_image_share"])]
    return row


def _class_sort_values(c: dict) -> list:
    """What each column of a class row sorts by (None: its text)."""
    values = [c["rank"], c["id"], None, BUCKET_NAMES.index(c["bucket"]), c["pixels"], c["pixel_share"],
              c["cumulative_share"], c["images"], c["image_share"]]
    if "eval_pixel_share" in c:
        values += [c["eval_pixel_share"], c["eval_image_share"]]
    return values


def _bank_rows(data: dict) -> list[list[str]]:
    cls = data["classes"]
    rows = []
    by_id = {c["id"]: c for c in data["bank"]["classes"]}
    for c in (c for c in data["frequency_order"] if c in by_id):
        b = by_id[c]
        rows.append([cls[c]["name"], cls[c]["bucket"], f"{b['objects']:,}", f"{b['images']:,}", f"{b['area_min']:,}",
                     f"{b['area_p10']:,}", f"{b['area_median']:,}", f"{b['area_p90']:,}", f"{b['area_max']:,}",
                     f"{b['box_median_hw'][0]}×{b['box_median_hw'][1]}"])
    return rows


BANK_HEADER = ["class", "bucket", "objects", "images", "area min", "p10", "median", "p90", "max", "median box h×w"]
BANK_NOTE = ("Areas in pixels of the object masks (connected components of the class); objects smaller than "
             "the build's min area are not in the bank.")


def _rule_text(rule: dict) -> str:
    name = rule.get("name")
    if name == "share":
        return (f"share: head = most frequent classes holding the first {rule['head_share']:.0%} of pixels; "
                f"tail = rarest classes holding at most {rule['tail_share']:.0%}")
    if name == "images" and rule.get("by") == "share":
        return (f"images: share rule on image counts (head first {rule['head_share']:.0%}, "
                f"tail at most {rule['tail_share']:.0%})")
    if name in ("rank", "images"):
        return f"{name}: top {rule['head']} head, bottom {rule['tail']} tail by {rule.get('on', 'pixels')}"
    if name == "preset":
        return f"preset {rule['preset']} (published tail); head = share rule head at {rule['head_share']:.0%}"
    if name == "list":
        return f"list: head {rule['head_classes']}, tail {rule['tail_classes']}"
    return str(rule)


def _overview(data: dict) -> list[tuple[str, str]]:
    d = data["dataset"]
    ign = d["ignored_pixels"] / d["total_pixels"] if d["total_pixels"] else 0.0
    items = [("dataset", f"{d['name']} ({d['layout']} layout)"), ("split", str(d["split"])),
             ("root", str(d["root"])), ("images", f"{d['num_images']:,}"
                                         + (f" ({d['skipped']} bad samples skipped)" if d["skipped"] else "")),
             ("classes", str(d["num_classes"])), ("labelled pixels", f"{d['labelled_pixels']:,}"),
             ("ignored pixels", f"{d['ignored_pixels']:,} ({_pct(ign)} of all, ignore index {d['ignore_index']})"),
             ("imbalance ratio", f"{_ratio(data['imbalance_ratio'])} (most / least frequent class with pixels)"),
             ("bucket rule", _rule_text(data["buckets"]["rule"])
              + ("" if data["buckets"]["from_file"] else f" — computed for this report: no {BUCKETS_FILE}"))]
    if data["buckets"]["refine"]:
        r = data["buckets"]["refine"]
        items.append(("refined", f"from a baseline's IoU: low {r['low']}, high {r['high']}, "
                                 f"{len(data['buckets']['moves'])} move(s)"))
    items.append(("statistics", f"{data['source']['stats']} (lt-data {data['source']['version']})"))
    return items


CAPTIONS = {
    "pixel_histogram": "Pixels per class on a log scale, most frequent first, bars coloured by bucket, dashed lines "
                       "at the bucket boundaries, palette colour strip below",
    "cumulative_share": "Cumulative share of labelled pixels along frequency order, with the rule's thresholds",
    "image_frequency": "Share of images that contain each class, in the same order as the pixel histogram",
    "train_vs_eval": "Share of labelled pixels per class in the training split (solid) and the evaluation split "
                     "(light, hatched), training frequency order, log scale",
    "object_sizes": "Object areas per class in the bank, log scale: boxes span the quartiles, whiskers the 5th to "
                    "95th percentile",
    "bank_objects": "Example objects from the bank, a row per class (drawn uniformly, seed 0), masks over a "
                    "checkerboard",
    **VIEW_CAPTIONS,
}


def _eval_rows(data: dict) -> list[list[str]]:
    per = data["eval"]["per_bucket"]
    return [[b, _pct(data["per_bucket"][b]["pixel_share"]), _pct(per[b]),
             _ratio(per[b] / data["per_bucket"][b]["pixel_share"]) if data["per_bucket"][b]["pixel_share"] else "–"]
            for b in BUCKET_NAMES]


EVAL_BUCKET_HEADER = ["bucket", "training pixel share", "evaluation pixel share", "evaluation / training"]


def _eval_summary(data: dict) -> str:
    ev, cls = data["eval"], data["classes"]
    text = (f"Evaluation split: {ev['split']} ({ev['num_images']:,} images, {ev['labelled_pixels']:,} labelled "
            f"pixels) from {ev['work']}.")
    if ev["absent"]:
        text += (" Classes with no pixels there (their IoU cannot be measured on it): "
                 + ", ".join(cls[c]["name"] for c in ev["absent"]) + ".")
    return text


def render_markdown(data: dict, plots: dict[str, bytes]) -> str:
    table = md_table  # every class name, header and cell escaped (lt_data.markdown)
    d = data["dataset"]
    cls = data["classes"]
    header = _class_header(data)
    out = [f"# Class frequencies and buckets: {d['name']} / {d['split']}", ""]
    out += [f"- **{k}**: {v}" for k, v in _overview(data)] + [""]
    out += ["## Buckets", "", table(BUCKET_HEADER, _bucket_rows(data)), ""]
    for n in data["buckets"]["notes"]:
        out.append(f"> note: {md_escape(n)}")
    for m in data["buckets"]["moves"]:
        out.append(f"- moved **{md_escape(m['name'])}** ({m['id']}) {m['from']} → {m['to']}: {m['reason']}")
    out.append("")
    out += ["## What training sees", "", table(["method", "images per epoch"] + list(BUCKET_NAMES)
                                                + ["pasted objects / image", "pasted share"],
                                                [[r["method"], str(r["draws"])] + [_pct(r[b]) for b in BUCKET_NAMES]
                                                 + _paste_cells(r) for r in data.get("exposure", [])]),
            "", EXPOSURE_NOTE, ""]
    if "eval" in data:
        out += ["## Training vs evaluation split", "", md_escape(_eval_summary(data)), "",
                table(EVAL_BUCKET_HEADER, _eval_rows(data)), ""]
    bank = data.get("bank")
    if bank and bank["status"] == "ok":
        out += [f"## Tail bank: {bank['objects']:,} objects", "", table(BANK_HEADER, _bank_rows(data)), "",
                BANK_NOTE, "", f"![{CAPTIONS['bank_objects']}]({CONTACT_SHEET})", ""]
    elif bank:
        out += ["## Tail bank", "", f"Not shown: {bank['message']}", ""]
    out += ["## Plots", "", "Each plot is also a vector file for a paper: the same name with .svg and .pdf.", ""]
    for p in plots:
        if p not in VIEW_CAPTIONS:  # those come with their sections
            out += [f"![{CAPTIONS[p]}]({p}.png)", ""]
    if len(cls) <= len(data["most_frequent"]) + len(data["least_frequent"]):
        out += [f"## All {len(cls)} classes, most frequent first", "",
                table(header, [_class_row(cls[c]) for c in data["frequency_order"]]), ""]
    else:
        out += ["## Most frequent classes", "",
                table(header, [_class_row(cls[c]) for c in data["most_frequent"]]), ""]
        out += ["## Least frequent classes", "",
                table(header, [_class_row(cls[c]) for c in data["least_frequent"]]), ""]
    for b in BUCKET_NAMES:
        ids = data["per_bucket"][b]["ids"]
        out += [f"## {b.capitalize()} classes ({len(ids)})", ""]
        out += [table(header, [_class_row(cls[c]) for c in ids]) if ids else "(none)", ""]
    out += markdown_sections(data, plots)
    out += [render_references_md()]
    return "\n".join(out)


def render_html(data: dict, plots: dict[str, bytes], images: dict[str, bytes] | None = None) -> str:
    """The page; ``plots``: figure name → PNG (also written as SVG and PDF); ``images``: raster-only
    pictures (the bank's contact sheet) by file name."""
    e = html.escape
    d = data["dataset"]
    cls = data["classes"]
    images = images or {}
    header = _class_header(data)

    def badge(b: str) -> str:
        return _page_badge(b)

    def cls_cell(c: dict) -> str:
        return f'<span class="sw" style="background:{c["color"]}"></span>{e(c["name"])}'

    def class_table(ids) -> str:
        rows = []
        for c in (cls[i] for i in ids):
            r, v = _class_row(c), _class_sort_values(c)
            cells = [(e(x), v[j]) for j, x in enumerate(r)]
            cells[2] = (cls_cell(c), None)
            cells[3] = (badge(c["bucket"]), v[3])
            rows.append(cells)
        return table([e(h) for h in header], rows, sortable=True, left=(2, 3))

    def img(name: str) -> str:
        return embedded_figure(name, plots[name], CAPTIONS[name]) if name in plots else ""

    parts = [f"<h1>Class frequencies and buckets: {e(d['name'])} / {e(str(d['split']))}</h1>",
             "<table class=overview>" + "".join(f"<tr><td>{e(k)}</td><td>{e(v)}</td></tr>"
                                                for k, v in _overview(data)) + "</table>",
             "<p>Click a column header of a class table to sort it. Every plot is also an SVG and a PDF file "
             "beside this page, for a paper.</p>"]

    parts.append("<h2>Buckets</h2>")
    hdr = "".join(f"<th{' class=l' if i in (0, 6, 7) else ''}>{h}</th>" for i, h in enumerate(BUCKET_HEADER))
    rows = "".join("<tr>" + "".join(f"<td{' class=l' if i in (0, 6, 7) else ''}>{badge(x) if i == 0 else e(x)}</td>"
                                    for i, x in enumerate(r)) + "</tr>" for r in _bucket_rows(data))
    parts.append(f'<div class="tablewrap"><table><tr>{hdr}</tr>{rows}</table></div>')
    parts.append("<p>Image share: images that contain at least one class of the bucket. Imbalance ratio: pixels "
                 "of the bucket's most frequent class over its least frequent class with pixels.</p>")
    for n in data["buckets"]["notes"]:
        parts.append(f'<p class="note">Note: {e(n)}</p>')
    if data["buckets"]["moves"]:
        parts.append("<h3>Refinement moves</h3><ul>" + "".join(
            f"<li><b>{e(m['name'])}</b> ({m['id']}): {badge(m['from'])} → {badge(m['to'])} — {e(m['reason'])}</li>"
            for m in data["buckets"]["moves"]) + "</ul>")

    if data.get("exposure"):
        parts.append("<h2>What training sees</h2>")
        head = "".join(f"<th{' class=l' if i == 0 else ''}>{h}</th>"
                       for i, h in enumerate(["method", "images per epoch", *map(badge, BUCKET_NAMES),
                                              "pasted objects / image", "pasted share"]))
        body = "".join(f"<tr><td class=l>{e(r['method'])}</td><td>{r['draws']}</td>"
                       + "".join(f"<td>{_pct(r[b])}</td>" for b in BUCKET_NAMES)
                       + "".join(f"<td>{c}</td>" for c in _paste_cells(r)) + "</tr>" for r in data["exposure"])
        parts.append(f'<div class="tablewrap"><table><tr>{head}</tr>{body}</table></div><p>{e(EXPOSURE_NOTE)}</p>')

    parts.append("<h2>Pixels per class</h2>")
    parts.append(img("pixel_histogram"))
    parts.append("<h2>Cumulative pixel share</h2>")
    parts.append(img("cumulative_share"))
    parts.append("<h2>Image frequency</h2>")
    parts.append(img("image_frequency"))

    if "eval" in data:
        parts.append("<h2>Training vs evaluation split</h2>")
        parts.append(f"<p>{e(_eval_summary(data))}</p>")
        parts.append(table([e(h) for h in EVAL_BUCKET_HEADER],
                           [[badge(r[0])] + [e(x) for x in r[1:]] for r in _eval_rows(data)], left=(0,)))
        parts.append(img("train_vs_eval"))
        parts.append("<p>The class tables below have the evaluation split's shares as their last columns.</p>")

    if len(cls) <= len(data["most_frequent"]) + len(data["least_frequent"]):  # the two lists would overlap
        parts.append(f"<h2>All {len(cls)} classes, most frequent first</h2>{class_table(data['frequency_order'])}")
    else:
        parts.append("<h2>Most and least frequent classes</h2><div class=cols>")
        parts.append(f"<div><h3>Most frequent {len(data['most_frequent'])}</h3>"
                     f"{class_table(data['most_frequent'])}</div>")
        parts.append(f"<div><h3>Least frequent {len(data['least_frequent'])}</h3>"
                     f"{class_table(data['least_frequent'])}</div></div>")

    for b in BUCKET_NAMES:
        ids = data["per_bucket"][b]["ids"]
        body = class_table(ids) if ids else "<p>(none)</p>"
        open_attr = " open" if len(ids) <= 40 else ""
        parts.append(f"<h2>{badge(b)} {b.capitalize()} classes ({len(ids)})</h2>"
                     f"<details{open_attr}><summary>{len(ids)} classes, "
                     f"{_pct(data['per_bucket'][b]['pixel_share'])} of pixels</summary>{body}</details>")

    parts += html_sections(data, img, cls_cell, badge)

    bank = data.get("bank")
    if bank and bank["status"] == "ok":
        p = bank["params"]
        parts.append(f"<h2>Tail bank: {bank['objects']:,} objects</h2>")
        parts.append(f"<p><code>{e(bank['path'])}</code>: every connected component of at least {p['min_area']} "
                     f"pixels ({p['connectivity']}-connectivity) of the bank's classes"
                     + (f", at most {p['max_per_class']} per class" if p.get("max_per_class") is not None else "")
                     + f"; {bank['disk_bytes'] / (1 << 20):.1f} MiB on disk. {e(BANK_NOTE)}</p>")
        parts.append(table([e(h) for h in BANK_HEADER],
                           [[(e(r[0]), None), (badge(r[1]), BUCKET_NAMES.index(r[1]))] + [e(x) for x in r[2:]]
                            for r in _bank_rows(data)], sortable=True, left=(0, 1)))
        parts.append(img("object_sizes"))
        if CONTACT_SHEET in images:
            sheet = embedded_figure(CONTACT_SHEET[:-4], images[CONTACT_SHEET], CAPTIONS["bank_objects"], vector=False)
            many = len(bank["classes"]) > 12
            parts.append(f"<details{'' if many else ' open'}><summary>example objects ({len(bank['classes'])} "
                         f"classes)</summary>{sheet}</details>")
    elif bank:
        parts.append("<h2>Tail bank</h2>")
        parts.append(f'<p class="note">Not shown: {e(bank["message"])}</p>')

    files = ["report.md", "report.json"] + [f"{p}.{x}" for p in plots for x in ("png", "svg", "pdf")] + list(images)
    parts.append("<h2>Files</h2><p>" + ", ".join(f'<a href="{n}">{n}</a>' for n in files)
                 + (f" · buckets: <code>{e(data['source']['buckets'])}</code>" if data["source"].get("buckets")
                    else "") + "</p>")
    parts.append(render_references_html())
    parts.append(f"<p style='color:#777;font-size:.8em'>lt-data {e(__version__)} · statistics "
                 f"{e(str(data['source']['stats']))}</p>")
    return document(f"lt-data report: {d['name']} / {d['split']}", parts)


EXPOSURE_METHODS = (("uniform (each image once)", "uniform", {}),
                    ("repeat factors (LVIS, t = 0.001 on images)", "rfs", {}),
                    ("rare class sampling (DAFormer, T = 0.01)", "rcs", {}))


def _paste_cells(r: dict) -> list[str]:
    if not r.get("pasted_objects"):
        return ["–", "–"]
    return [f"{r['pasted_objects']:.2f}", _pct(r["pasted_share"])]


def exposure_rows(work: Path, buckets: dict) -> list[dict]:
    """Each bucket's share of the pixels one training epoch shows under each sampler (the samplers'
    defaults; :func:`lt_data.sampling.epoch_exposure`, no image decoded)."""
    from .sampling import epoch_exposure

    rows = []
    for name, sampler, args in EXPOSURE_METHODS:
        e = epoch_exposure(work, sampler=sampler, sampler_args=args)
        total = e["pixels"].sum() or 1.0
        rows.append({"method": name, "draws": e["draws"],
                     **{b: float(e["pixels"][buckets[b]].sum() / total) for b in BUCKET_NAMES}})
    rows += paste_exposure_rows(work, rows[0])
    return rows


def paste_exposure_rows(work: Path, base: dict) -> list[dict]:
    """Rows for bank paste and tail cutmix at the dose the trainer derives (whole images; a store that
    is missing or built from other statistics gives no row): the dose's expected objects per image
    and pasted share (:mod:`lt_data.dose`), the pasted pixels added to the tail on top of the uniform
    epoch ``base`` (what they cover below is not subtracted). No torch, no image decoded."""
    from .dose import open_store, resolve_dose
    from .errors import ArtifactError

    rows = []
    for mode, title in (("bank", "memory-bank paste"), ("cutmix", "tail cutmix")):
        try:
            dose = resolve_dose(mode, work, store=open_store(mode, work))
        except (ArtifactError, LtDataError, OSError):
            continue
        share = float(dose.figures["pasted_share"])
        args = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {str(v).lower()}"
                         for k, v in dose.args.items())
        shares = {b: base[b] / (1 + share) for b in BUCKET_NAMES}
        shares["tail"] += share / (1 + share)
        rows.append({"method": f"{title}, derived dose ({args})", "draws": base["draws"],
                     "pasted_objects": float(dose.figures["objects_per_image"]), "pasted_share": share, **shares})
    return rows


def _old_report(path: Path) -> bool:
    """A report written before reports carried the store marker (lt-data 0.1 wrote report.json)."""
    try:
        return read_json(path / "report.json")["source"]["tool"] == "lt-data"
    except (OSError, ValueError, KeyError, TypeError):
        return False


# ---- the stage ----------------------------------------------------------------------------------

def build_figures(data: dict, bank=None) -> dict:
    """The report's figures (matplotlib ``Figure``) for ``data`` (:func:`report_data` with the
    extras write_report adds), by plot name in page order; ``bank``: the opened TailBank, for
    ``object_sizes``."""
    figures = {"pixel_histogram": plot_pixel_histogram(data), "cumulative_share": plot_cumulative_share(data),
               "image_frequency": plot_image_frequency(data), **view_figures(data)}
    if "eval" in data:
        figures["train_vs_eval"] = plot_train_vs_eval(data)
    if bank is not None:
        ids, areas = bank.column("class_id"), bank.column("area")
        figures["object_sizes"] = plot_object_sizes(data, {c: areas[ids == c] for c in bank.classes},
                                                    data["bank"]["params"].get("min_area"))
    return figures


def load_report(path: str | Path) -> dict:
    """The numbers of a written report (its ``report.json``); ``path``: the report directory or its
    ``index.html`` (what :func:`write_report` returns)."""
    path = Path(path)
    directory = path.parent if path.suffix == ".html" else path
    try:
        return read_json(directory / "report.json")
    except (OSError, ValueError) as err:
        raise ArtifactError(f"{directory / 'report.json'}: cannot read the report's numbers ({err})") from None


def write_report(work: str | Path, *, top: int = 10, eval_work: str | Path | None = None,
                 out: str | Path | None = None, progress: bool = False) -> Path:
    """The ``report`` stage: write the report into ``out`` (default ``WORK/report``) and return the
    path of its ``index.html``; :func:`load_report` on that path gives ``report.json``'s numbers.

    ``eval_work``: the statistics work directory of an evaluation split (same class table), whose
    class pixel shares are shown beside the training split's. ``out`` is replaced as a whole; a
    directory there that lt-data did not write (or another lt-data artifact) is refused
    (ArtifactError), and so is a file. ``progress``: a progress bar while the spatial prior reads
    label files."""
    from .stats import load_stats, stats_fingerprint

    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise LtDataError(f"top must be a whole number of classes, at least 1; got {top!r}")
    work = Path(work)
    target = Path(out) if out is not None else work / REPORT_DIR
    check_replaceable(target, REPORT_SCHEMA, "report", _old_report)  # refuse before the work; again under the lock
    stats = load_stats(work)
    fingerprint = stats_fingerprint(work)
    from_file = (work / BUCKETS_FILE).is_file()
    if from_file:
        buckets = load_buckets(work)  # refuses buckets of other statistics
    else:
        buckets = compute_buckets(stats)
        buckets["source"] = {"stats": fingerprint}
    data = report_data(stats, buckets, top=top, buckets_from_file=from_file)
    data["exposure"] = exposure_rows(work, buckets)
    if eval_work is not None:
        add_eval(data, stats, load_stats(Path(eval_work)), Path(eval_work))
    data["spatial_prior"] = spatial_data(work, stats.samples, progress=progress)
    images = {}
    bank_info, bank = bank_data(work)
    if bank_info is not None:
        data["bank"] = bank_info
    if bank is not None:
        images[CONTACT_SHEET] = _contact_sheet_png(bank)
    rendered = {name: render(fig) for name, fig in build_figures(data, bank).items()}
    pngs = {name: r["png"] for name, r in rendered.items()}
    data["plots"] = [f"{name}.png" for name in rendered]
    data["source"]["buckets"] = (os.path.relpath(work.resolve() / BUCKETS_FILE, target.resolve())
                                 if from_file else None)
    with replace_dir(target, REPORT_SCHEMA, "report", legacy=_old_report) as tmp:
        data["files"] = write_figures(tmp, rendered)
        for name, png in images.items():
            (tmp / name).write_bytes(png)
            data["files"].append(name)
        atomic_write_json(tmp / "report.json", data)
        atomic_write_text(tmp / "report.md", render_markdown(data, pngs))
        atomic_write_text(tmp / "index.html", render_html(data, pngs, images))
    return target / "index.html"
