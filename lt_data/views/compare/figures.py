"""The comparison's figures (matplotlib ``Figure`` objects, drawn by :mod:`lt_data.core.plots`): mIoU
overall and per bucket, and per-class IoU; one bar per recipe, told apart by shade and hatch, the
sample standard deviation over seeds as error bars."""

from __future__ import annotations

import numpy as np

from .stats import MEASURE_LABELS, MEASURES

FIGURES = ("bucket_miou", "per_class_iou")


def _legend(fig, groups: list[dict]) -> None:
    """One legend above the plot, left-aligned (a wide figure scrolls; its start is what is seen):
    one entry per recipe, its shade and hatch (the bars' colours are the buckets')."""
    from matplotlib.patches import Patch

    from ...core.plots import hatch, shade

    n = len(groups)
    handles = [Patch(facecolor=shade("#555555", i, n), edgecolor="#222222", hatch=hatch(i), linewidth=0.4,
                     label=f"{g['name']} (n={g['n']})") for i, g in enumerate(groups)]
    entry = max(len(h.get_label()) for h in handles) * 0.075 + 0.7  # inches at font size 8
    ncol = int(max(1, min(len(handles), min(fig.get_figwidth(), 12.0) // entry)))
    fig.legend(handles=handles, loc="outside upper left", ncol=ncol, fontsize=8, frameon=False,
               handlelength=1.6, columnspacing=1.2)


def plot_bucket_miou(data: dict):
    """Overall / head / middle / tail mIoU per recipe: grouped bars, sample std as error bars."""
    from ...core.plots import bucket_color, figure, hatch, shade

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
    from ...core.plots import bucket_color, class_axis_width, figure, hatch, shade

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


__all__ = ["FIGURES", "plot_bucket_miou", "plot_per_class"]
