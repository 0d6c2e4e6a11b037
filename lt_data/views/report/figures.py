"""The report's figures (matplotlib ``Figure`` objects, drawn by :mod:`lt_data.core.plots`, no pyplot):
pixels per class, cumulative share, image frequency, train vs eval, object sizes in the bank, the
bank's contact sheet, the views' figures (:mod:`~lt_data.views.report.views`) and every figure's caption.

Class bars are drawn in frequency order, coloured by bucket (the same three colours everywhere, each
figure with a legend for them), with a strip of each class's palette colour under the axis. No text
in a figure is smaller than 9 pt (12.5 px at the saved size)."""

from __future__ import annotations

import io

import numpy as np

from ...data.buckets import BUCKET_NAMES
from ...core.plots import BUCKET_COLORS, class_axis_width, figure, hatch, shade
from .views import CAPTIONS as VIEW_CAPTIONS
from .views import SMALL_PT
from .views import figures as view_figures

# in page order; tail_cooccurrence needs two tail classes, spatial_prior readable label files;
# train_vs_eval comes with an evaluation split, object_sizes with a bank
PLOTS = ("pixel_histogram", "cumulative_share", "image_frequency", "tail_cooccurrence", "classes_per_image",
         "spatial_prior")
CONTACT_SHEET = "bank_objects.png"

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


def contact_sheet_png(bank) -> bytes:
    from PIL import Image

    from ...stores.bank.display import contact_sheet

    buf = io.BytesIO()
    Image.fromarray(contact_sheet(bank, per_class=8, cell=80, seed=0)).save(buf, format="PNG")
    return buf.getvalue()


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


__all__ = ["CAPTIONS", "CONTACT_SHEET", "PLOTS", "build_figures", "contact_sheet_png", "plot_cumulative_share",
           "plot_image_frequency", "plot_object_sizes", "plot_pixel_histogram", "plot_train_vs_eval"]
