"""The report's views of how classes share images and frames, beyond the per-class histograms.

- ``tail_cooccurrence``: of the images containing tail class a, the share that also contain tail
  class b (the diagonal holds a's image count). Head classes are left out on purpose: in street
  scenes every image holds road, sky and building, so a tail × head map reads ~100 % everywhere.
  Which tail classes already meet says which ones a paste that adds several per image would put
  together for the first time.
- ``classes_per_image``: how many classes, and how many of each bucket, every image contains
  (histograms, mean, median): how crowded the scenes are and how many images hold no tail class.
- ``spatial_prior``: where each class's pixels lie in the frame (:func:`lt_data.data.spatial.spatial_prior`,
  a grid × grid density per class), drawn as small multiples, one panel per class. It reads label
  files (16 chosen per class); when the dataset cannot be read from here the report says why in one
  line and leaves the view out.

The first two come from the statistics' per-image counts alone (``pixel_counts.npy``). Each view
has its numbers (into ``report.json``), its figure, and its Markdown and HTML sections.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from ...data.buckets import BUCKET_NAMES
from ...core.plots import BUCKET_COLORS, figure

# 9 pt is 12.5 px at the plots' 100 dpi: the smallest text in a figure (lt_data.core.raster.MIN_PX for pictures)
SMALL_PT = 9
SERIES = ("all",) + BUCKET_NAMES
CAPTIONS = {
    "tail_cooccurrence": "Tail × tail co-occurrence: of the images containing each tail class (row), the % that "
                         "also contain each other tail class (column); the diagonal holds the row's image count",
    "classes_per_image": "How many classes, and how many tail classes, each image contains",
    "spatial_prior": "Where each class lies in the frame: per class, the density of its pixels over a grid of the "
                     "frame relative to a uniform spread (1 = uniform, colour on a square-root scale); panel titles "
                     "coloured by bucket",
}


def pct(x: float | None) -> str:
    """A share as a percentage with enough digits for small ones; ``–`` for None."""
    if x is None:
        return "–"
    if x == 0:
        return "0%"
    if x >= 0.01:
        return f"{x:.2%}"
    if x >= 1e-5:
        return f"{x:.3%}"
    return f"{x * 100:.2g}%"


# ---- numbers ------------------------------------------------------------------------------------

def tail_cooccurrence(present: np.ndarray, tail: list[int]) -> dict:
    """``present (N, K) bool``, ``tail``: tail class ids in display order. ``both[i][j]``: images
    holding tail[i] and tail[j] (``both[i][i]`` = ``images[i]``); ``fraction[i][j]`` =
    both[i][j] / images[i], None on the diagonal and for a class in no image."""
    p = present[:, tail].astype(np.float64)  # exact: BLAS on counts far below 2**53
    both = np.rint(p.T @ p).astype(np.int64) if len(tail) else np.zeros((0, 0), np.int64)
    images = np.diag(both).copy()
    frac = [[None if i == j or images[i] == 0 else float(both[i, j] / images[i]) for j in range(len(tail))]
            for i in range(len(tail))]
    return {"tail": list(tail), "images": images.tolist(), "both": both.tolist(), "fraction": frac}


def _distribution(n: np.ndarray) -> dict:
    hist = np.bincount(n, minlength=1)
    return {"histogram": hist.tolist(), "mean": float(n.mean()) if len(n) else None,
            "median": float(np.median(n)) if len(n) else None, "min": int(n.min()) if len(n) else None,
            "max": int(n.max()) if len(n) else None, "images_with_none": int((n == 0).sum())}


def classes_per_image(present: np.ndarray, ids: dict[str, list[int]]) -> dict:
    """Per series (``all`` classes, then each bucket): ``histogram[n]`` = images holding exactly n
    classes of the series, ``mean``, ``median``, ``min``, ``max``, ``images_with_none``."""
    out = {"all": _distribution(present.sum(axis=1))}
    for b in BUCKET_NAMES:
        out[b] = _distribution(present[:, ids[b]].sum(axis=1) if ids[b] else np.zeros(len(present), np.int64))
    return out


def spatial_data(work: Path, samples, *, progress: bool = False) -> dict:
    """``report.json``'s ``spatial_prior``: ``{status: "ok", grid, frame: [h, w] (the median image
    size), images, density (K, G, G) summing to 1 per class with pixels, summary: [{id, centre_y,
    centre_x, lower_half}]}`` (centres in [0, 1] from the top and the left), or ``{status:
    "unavailable", message}`` when the label files cannot be read from here."""
    from ...core.errors import LtDataError, one_line
    from ...data.spatial import spatial_prior

    try:
        prior = spatial_prior(work, progress=progress)
    except (LtDataError, OSError) as err:
        return {"status": "unavailable", "message": one_line(f"not drawn: the label files could not be read ({err})")}
    g = prior.grid
    d = prior.density
    centre = (np.arange(g) + 0.5) / g
    summary = [{"id": k, "centre_y": float(d[k].sum(axis=1) @ centre), "centre_x": float(d[k].sum(axis=0) @ centre),
                "lower_half": float(d[k, (g + 1) // 2:].sum() + (d[k, g // 2].sum() / 2 if g % 2 else 0.0))}
               if d[k].sum() > 0 else {"id": k, "centre_y": None, "centre_x": None, "lower_half": None}
               for k in range(len(d))]
    hs, ws = [s.height for s in samples if s.height], [s.width for s in samples if s.width]
    frame = [int(np.median(hs)), int(np.median(ws))] if hs and ws else [1, 1]
    return {"status": "ok", **prior.to_json(), "frame": frame, "summary": summary}


# ---- figures ------------------------------------------------------------------------------------

def _bucket_handles(data: dict, buckets=BUCKET_NAMES):
    from matplotlib.patches import Patch

    return [Patch(color=BUCKET_COLORS[b], label=f"{b} ({data['per_bucket'][b]['classes']})") for b in buckets]


def plot_tail_cooccurrence(data: dict):
    """Heat map of ``tail_cooccurrence``; None with fewer than two tail classes."""
    co = data["tail_cooccurrence"]
    tail = co["tail"]
    t = len(tail)
    if t < 2:
        return None
    cls = data["classes"]
    frac = np.array([[np.nan if v is None else v * 100 for v in row] for row in co["fraction"]])
    fig = figure(float(np.clip(0.42 * t + 4.0, 6.0, 30.0)), float(np.clip(0.34 * t + 2.6, 3.8, 40.0)))
    ax = fig.add_subplot()
    from matplotlib import colormaps

    cmap = colormaps["Blues"].with_extremes(bad="#e4e4e4")
    im = ax.imshow(np.ma.masked_invalid(frac), cmap=cmap, vmin=0, vmax=100, aspect="auto", interpolation="nearest")
    names = [cls[c]["name"] for c in tail]
    ax.set_xticks(np.arange(t))
    ax.set_xticklabels(names, rotation=60, ha="right", fontsize=SMALL_PT if t > 12 else 10)
    ax.set_yticks(np.arange(t))
    ax.set_yticklabels([f"{n} ({m:,})" for n, m in zip(names, co["images"])], fontsize=SMALL_PT if t > 12 else 10)
    for lab in ax.get_xticklabels() + ax.get_yticklabels():
        lab.set_color(BUCKET_COLORS["tail"])
    if t <= 16:
        for i in range(t):
            for j in range(t):
                if i == j:
                    ax.text(j, i, f"{co['images'][i]:,}", ha="center", va="center", fontsize=SMALL_PT, color="#555555",
                            style="italic")
                elif not np.isnan(frac[i, j]):
                    ax.text(j, i, f"{frac[i, j]:.0f}", ha="center", va="center", fontsize=SMALL_PT,
                            color="white" if frac[i, j] > 60 else "black")
    ax.set_xlabel("… that also contain this tail class")
    ax.set_ylabel("images containing this tail class (count)")
    ax.set_title("Tail × tail co-occurrence (% of the row class's images)", loc="left", fontsize=11)
    fig.colorbar(im, ax=ax, shrink=min(0.8, 3.5 / fig.get_figheight()), anchor=(0.0, 1.0),
                 label="% of the row class's images")
    fig.legend(handles=_bucket_handles(data, ("tail",)), loc="outside lower right", fontsize=SMALL_PT + 1,
               frameon=False)
    return fig


def plot_classes_per_image(data: dict):
    """Histograms of the classes per image, all classes and tail classes side by side."""
    dist = data["classes_per_image"]
    n = data["dataset"]["num_images"] or 1
    fig = figure(9.0, 4.4)
    ax = fig.add_subplot()
    series = [("all", "all classes", "#555555", -0.2), ("tail", "tail classes", BUCKET_COLORS["tail"], 0.2)]
    top, highest = 0, 1
    for key, label, color, dx in series:
        d = dist[key]
        hist = np.array(d["histogram"])
        x = np.arange(len(hist))
        top, highest = max(top, len(hist)), max(highest, int(hist.max()))
        ax.bar(x + dx, hist, width=0.4, color=color,
               label=f"{label}: mean {d['mean']:.2f}, median {d['median']:g}" if d["mean"] is not None else label)
        if d["mean"] is not None:
            ax.axvline(d["mean"], color=color, linestyle="--", linewidth=1.2)
    ax.set_xlim(-0.7, top - 0.3)
    ax.set_ylim(0, highest * 1.3)  # room for the legend
    if top <= 40:
        ax.set_xticks(np.arange(top))
    ax.set_xlabel("classes in the image")
    ax.set_ylabel("images")
    from matplotlib.ticker import FuncFormatter

    sec = ax.secondary_yaxis("right", functions=(lambda v: v / n * 100, lambda s: s * n / 100))
    sec.set_ylabel("% of the images")
    sec.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}%"))
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="best", fontsize=10, title="dashed line: the mean", title_fontsize=10)
    ax.set_title(f"Classes per image ({data['dataset']['num_images']:,} images)", loc="left", fontsize=11)
    return fig


def plot_spatial_prior(data: dict):
    """One heat map per class (frequency order), the class name as the panel's title in its bucket's
    colour; one colour scale for all panels (density relative to uniform). None when unavailable."""
    sp = data.get("spatial_prior") or {}
    if sp.get("status") != "ok":
        return None
    cls, order = data["classes"], data["frequency_order"]
    g = sp["grid"]
    rel = np.asarray(sp["density"], np.float64) * g * g  # 1 = as likely as anywhere else
    k = len(order)
    ncols = min(k, 12 if k > 60 else 8 if k > 24 else 6)
    nrows = -(-k // ncols)
    h, w = sp["frame"]
    aspect = float(np.clip(h / w, 0.3, 3.0))
    pw = 1.75
    fig = figure(ncols * pw + 1.3, nrows * (pw * aspect + 0.3) + 1.1)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    with_pixels = rel[[c for c in order if rel[c].sum() > 0]]
    from matplotlib.colors import PowerNorm

    # square-root scale, no clipping: the dense cells of a thin class and the gentle gradient of a
    # large one both stay visible
    norm = PowerNorm(0.5, vmin=0.0, vmax=float(max(2.0, with_pixels.max())) if len(with_pixels) else 2.0)
    im, kept = None, []
    for i, ax in enumerate(axes.flat):
        if i >= k:
            ax.remove()
            continue
        kept.append(ax)
        c = order[i]
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_box_aspect(aspect)
        ax.set_title(cls[c]["name"], fontsize=10, color=BUCKET_COLORS[cls[c]["bucket"]], fontweight="bold", pad=3)
        if rel[c].sum() > 0:
            im = ax.imshow(rel[c], cmap="viridis", norm=norm, aspect="auto", interpolation="nearest",
                           extent=(0, 1, 1, 0))
        else:
            ax.text(0.5, 0.5, "no pixels", ha="center", va="center", fontsize=SMALL_PT, color="#777777",
                    transform=ax.transAxes)
        for s in ax.spines.values():
            s.set_edgecolor("#999999")
    if im is not None:
        cb = fig.colorbar(im, ax=kept, shrink=min(0.95, 4.5 / fig.get_figheight()), aspect=25)
        cb.set_ticks([t for t in (0, 1, 2, 4, 8, 16, 32, 64, 128, 256) if t <= norm.vmax])
        cb.set_label("× uniform (√ scale)")
    fig.legend(handles=_bucket_handles(data), loc="outside lower left", ncol=3, fontsize=SMALL_PT + 1,
               title="panel title colour = bucket", title_fontsize=SMALL_PT + 1, frameon=False, alignment="left")
    fig.suptitle(f"Where each class lies in the frame ({g}×{g} grid over the frame, top row = top of the image)",
                 fontsize=11, x=0.01, ha="left")
    return fig


def figures(data: dict) -> dict:
    """The views' figures that apply, by plot name, in page order."""
    out = {}
    for name, plot in (("tail_cooccurrence", plot_tail_cooccurrence), ("classes_per_image", plot_classes_per_image),
                       ("spatial_prior", plot_spatial_prior)):
        fig = plot(data)
        if fig is not None:
            out[name] = fig
    return out


# ---- text ---------------------------------------------------------------------------------------

PER_IMAGE_HEADER = ["classes counted", "mean per image", "median", "min", "max", "images with none"]
SPATIAL_HEADER = ["class", "bucket", "label maps read", "centre from top (0–1)", "centre from left (0–1)",
                  "share in the lower half"]
SPATIAL_NOTE = ("Centres: the mean position of the class's pixels, 0 = top / left edge, 1 = bottom / right edge. "
                "Read from 16 label maps chosen per class, evenly along the split (all of them for a class in fewer); "
                "a class counts every chosen map it appears in, each weighing the same. The heat maps show the whole "
                "density.")


def _per_image_rows(data: dict) -> list[list[str]]:
    d = data["classes_per_image"]
    names = {"all": "all classes"} | {b: f"{b} classes" for b in BUCKET_NAMES}
    return [[names[s], "–" if d[s]["mean"] is None else f"{d[s]['mean']:.2f}",
             "–" if d[s]["median"] is None else f"{d[s]['median']:g}", str(d[s]["min"]), str(d[s]["max"]),
             f"{d[s]['images_with_none']:,}"] for s in SERIES]


def _tail_rows(data: dict) -> tuple[list[str], list[list[str]]]:
    co, cls = data["tail_cooccurrence"], data["classes"]
    header = ["tail class", "images"] + [cls[c]["name"] for c in co["tail"]]
    rows = [[cls[t]["name"], f"{n:,}"] + ["–" if i == j else pct(v) for j, v in enumerate(row)]
            for i, (t, n, row) in enumerate(zip(co["tail"], co["images"], co["fraction"]))]
    return header, rows


def _spatial_rows(data: dict) -> list[list[str]]:
    sp, cls = data["spatial_prior"], data["classes"]

    def f(x):
        return "–" if x is None else f"{x:.2f}"

    return [[cls[c]["name"], cls[c]["bucket"], str(sp["images"][c]), f(sp["summary"][c]["centre_y"]),
             f(sp["summary"][c]["centre_x"]), pct(sp["summary"][c]["lower_half"])] for c in data["frequency_order"]]


def markdown_sections(data: dict, plots) -> list[str]:
    """The views as Markdown lines (figures linked as files)."""
    from ...core.markdown import escape
    from ...core.markdown import table as md_table

    out = ["## Tail classes together", "",
           "Of the images containing each tail class (row), the share that also contain each other tail class.", ""]
    header, rows = _tail_rows(data)
    out += [md_table(header, rows) if rows else "(no tail classes)", ""]
    if "tail_cooccurrence" in plots:
        out += [f"![{CAPTIONS['tail_cooccurrence']}](tail_cooccurrence.png)", ""]
    out += ["## Classes per image", "", md_table(PER_IMAGE_HEADER, _per_image_rows(data)), ""]
    if "classes_per_image" in plots:
        out += [f"![{CAPTIONS['classes_per_image']}](classes_per_image.png)", ""]
    out += ["## Where each class lies in the frame", ""]
    sp = data.get("spatial_prior") or {}
    if sp.get("status") == "ok":
        out += [md_table(SPATIAL_HEADER, _spatial_rows(data)), "", SPATIAL_NOTE, ""]
        if "spatial_prior" in plots:
            out += [f"![{CAPTIONS['spatial_prior']}](spatial_prior.png)", ""]
    else:
        out += [escape(sp.get("message", "not computed")), ""]
    return out


def html_sections(data: dict, img, cls_cell, badge) -> list[str]:
    """The views as HTML parts; ``img(name)``: a plot's embedded figure ('' when absent);
    ``cls_cell(entry)``: a class name with its swatch; ``badge(bucket)``."""
    from ...core.page import table

    e = html.escape
    cls = data["classes"]
    parts = ["<h2>Tail classes together</h2>"]
    co = data["tail_cooccurrence"]
    if len(co["tail"]) >= 2:
        parts.append("<p>Of the images containing each tail class (row), the share that also contain each other "
                     "tail class (column): which tail classes already meet in the data. Head classes are left out: "
                     "they are in most images (see the image frequency), so pairing with them says little.</p>")
        parts.append(img("tail_cooccurrence"))
        header, rows = _tail_rows(data)
        body = [[(cls_cell(cls[t]), None)] + [e(x) for x in r[1:]] for t, r in zip(co["tail"], rows)]
        open_attr = " open" if len(co["tail"]) <= 12 else ""
        parts.append(f"<details{open_attr}><summary>as a table</summary>"
                     + table(["tail class", "images"] + [cls_cell(cls[c]) for c in co["tail"]], body, left=(0,))
                     + "</details>")
    else:
        parts.append(f"<p>({len(co['tail'])} tail class{'' if len(co['tail']) == 1 else 'es'}: nothing to pair)</p>")
    parts.append("<h2>Classes per image</h2>")
    parts.append(table([e(h) for h in PER_IMAGE_HEADER],
                       [[badge(r[0].split()[0]) if r[0].split()[0] in BUCKET_NAMES else e(r[0])] + [e(x) for x in r[1:]]
                        for r in _per_image_rows(data)], left=(0,)))
    parts.append(img("classes_per_image"))
    parts.append("<h2>Where each class lies in the frame</h2>")
    sp = data.get("spatial_prior") or {}
    if sp.get("status") == "ok":
        parts.append(f"<p>{e(SPATIAL_NOTE)} Pasting with <code>placement=\"prior\"</code> places objects by "
                     f"these densities.</p>")
        parts.append(img("spatial_prior"))
        rows = [[(cls_cell(cls[c]), None), (badge(r[1]), BUCKET_NAMES.index(r[1]))] + [e(x) for x in r[2:]]
                for c, r in zip(data["frequency_order"], _spatial_rows(data))]
        open_attr = " open" if len(rows) <= 20 else ""
        parts.append(f"<details{open_attr}><summary>centres per class</summary>"
                     + table([e(h) for h in SPATIAL_HEADER], rows, sortable=True, left=(0, 1)) + "</details>")
    else:
        parts.append(f'<p class="note">{e(sp.get("message", "not computed"))}</p>')
    return parts


__all__ = ["CAPTIONS", "classes_per_image", "figures", "html_sections", "markdown_sections", "pct",
           "plot_classes_per_image", "plot_spatial_prior", "plot_tail_cooccurrence", "spatial_data",
           "tail_cooccurrence"]
