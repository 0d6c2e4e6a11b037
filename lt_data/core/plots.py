"""Figures shared by the report and the run comparison.

Plots use matplotlib's Agg canvas directly (``matplotlib.figure.Figure``: no pyplot, no global backend
switch). Every figure is written three ways by :func:`render`: PNG (embedded in the HTML pages) and
SVG and PDF (vector files to put in a paper). The vector files are reproducible: no dates in their
metadata and fixed SVG element ids, so the same numbers give the same bytes; the PDF embeds TrueType
fonts (``pdf.fonttype`` 42) rather than Type 3 fonts, which some publishers refuse.

Buckets have one colour each, everywhere (Okabe-Ito, colour-blind safe). Where bars of several
series share a class (runs of a comparison, train and evaluation splits), every series keeps its
bucket's colour, lightened by :func:`shade`, with a hatch of its own, so the figure also reads in
grey print.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from .names import BUCKET_NAMES

# head blue, middle green, tail vermilion: Okabe-Ito, colour-blind safe
BUCKET_COLORS = dict(zip(BUCKET_NAMES, ("#0072B2", "#009E73", "#D55E00")))
NO_BUCKET_COLOR = "#777777"  # classes of metrics evaluated without buckets
DPI = 100
FORMATS = ("png", "svg", "pdf")
HATCHES = ("", "///", "...", "xxx", "\\\\\\", "ooo", "+++", "---")
_RC = {"svg.hashsalt": "lt-data", "svg.fonttype": "path", "pdf.fonttype": 42}
_METADATA = {"svg": {"Date": None}, "pdf": {"CreationDate": None, "ModDate": None}}


def figure(width: float, height: float):
    """A constrained-layout figure of ``width`` × ``height`` inches at :data:`DPI`."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def render(fig) -> dict[str, bytes]:
    """The figure as ``{"png": ..., "svg": ..., "pdf": ...}`` bytes.

    The layout is computed once, by the first save; the other formats reuse it (the figure's layout
    engine is switched off after it), which saves a quarter of the time and gives every format the
    same positions."""
    import matplotlib

    out = {}
    with matplotlib.rc_context(_RC):
        for fmt in FORMATS:
            buf = io.BytesIO()
            fig.savefig(buf, format=fmt, dpi=DPI, metadata=_METADATA.get(fmt))
            out[fmt] = buf.getvalue()
            fig.set_layout_engine("none")
    return out


def write_figures(out: Path, figures: dict[str, dict[str, bytes]]) -> list[str]:
    """Write each rendered figure as ``NAME.png``, ``NAME.svg``, ``NAME.pdf`` into ``out``; the file names."""
    names = []
    for name, files in figures.items():
        for fmt, data in files.items():
            (Path(out) / f"{name}.{fmt}").write_bytes(data)
            names.append(f"{name}.{fmt}")
    return names


def png_width(png: bytes) -> int:
    """Pixel width of a PNG (its IHDR chunk)."""
    return int.from_bytes(png[16:20], "big")


def bucket_color(bucket: str | None) -> str:
    return BUCKET_COLORS.get(bucket or "", NO_BUCKET_COLOR)


def shade(color: str, i: int, n: int) -> tuple[float, float, float]:
    """Series ``i`` of ``n``: ``color`` for the first, mixed towards white up to 60% for the last."""
    rgb = np.array([int(color[j:j + 2], 16) / 255 for j in (1, 3, 5)])
    t = 0.6 * i / (n - 1) if n > 1 else 0.0
    return tuple(float(v) for v in rgb + (1 - rgb) * t)


def hatch(i: int) -> str:
    return HATCHES[i % len(HATCHES)]


def class_axis_width(k: int, per_class: float = 0.16, lo: float = 8.0, hi: float = 30.0) -> float:
    """Width in inches of a plot with one slot per class: grows with the classes, then scrolls."""
    return float(np.clip(per_class * k + 2.0, lo, hi))


__all__ = ["BUCKET_COLORS", "DPI", "FORMATS", "NO_BUCKET_COLOR", "bucket_color", "class_axis_width", "figure",
           "hatch", "png_width", "render", "shade", "write_figures"]
