"""The ``compare`` stage: :func:`write_comparison` reads the runs, computes the numbers and writes
the output directory whole; :func:`format_summary` is the terminal's table."""

from __future__ import annotations

from pathlib import Path

from .figures import plot_bucket_miou, plot_per_class
from .html import render_html
from .latex import render_latex
from .markdown import render_markdown
from .runs import load_runs
from .stats import COMPARE_SCHEMA, compare_data
from .tables import STD_NOTE, SUMMARY_HEADER, summary_rows


def format_summary(data: dict) -> str:
    """A plain-text table for the terminal."""
    rows = [SUMMARY_HEADER] + summary_rows(data)
    widths = [max(len(r[i]) for r in rows) for i in range(len(SUMMARY_HEADER))]
    lines = ["  ".join(x.ljust(w) if i == 0 else x.rjust(w) for i, (x, w) in enumerate(zip(r, widths))) for r in rows]
    return "\n".join(lines + ["", STD_NOTE + f"; Δ against {data['baseline']}, in IoU points."])


def write_comparison(inputs: list[str | Path], out: str | Path, *, names: list[str] | None = None,
                     baseline: str | None = None) -> dict:
    """The ``compare`` stage: write ``OUT/`` whole (index.html, compare.md, compare.json, the LaTeX
    tables, each figure as PNG, SVG and PDF) and return compare.json's content."""
    from ...jobs.artifacts import replace_dir
    from ...core.io import atomic_write_json, atomic_write_text
    from ...core.plots import render, write_figures

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


__all__ = ["format_summary", "write_comparison"]
