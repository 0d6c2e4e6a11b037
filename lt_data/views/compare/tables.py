"""Numbers as table cells (IoU in percent points, signed deltas, mean ± std) and the summary table's
rows, shared by the terminal summary, the Markdown, LaTeX and HTML renderers."""

from __future__ import annotations

from .stats import MEASURE_LABELS, MEASURES

STD_NOTE = ("± is the sample standard deviation over the runs of a recipe (n − 1 in the denominator); "
            "n is the number of runs (seeds)")


def pts(x: float | None, digits: int = 2) -> str:
    """An IoU in percent points."""
    return "–" if x is None else f"{100 * x:.{digits}f}"


def signed(x: float | None, minus: str = "−") -> str:
    if x is None:
        return "–"
    v = round(100 * x, 2)
    return f"{'+' if v > 0 else minus if v < 0 else ''}{abs(v):.2f}"  # no sign on 0: ± means a std here


def mean_std_cell(s: dict, pm: str = " ± ") -> str:
    if s["mean"] is None:
        return "–"
    return pts(s["mean"]) + (f"{pm}{pts(s['std'])}" if s["std"] is not None else "")


def summary_rows(data: dict) -> list[list[str]]:
    """Per group: name, n, overall/head/middle/tail mean ± std, then their deltas (plain text)."""
    rows = []
    for g in data["groups"]:
        rows.append([g["name"] + (" (baseline)" if g["baseline"] else ""), str(g["n"])]
                    + [mean_std_cell(g["measures"][m]) for m in MEASURES]
                    + [("–" if g["baseline"] else signed(g["delta"][m], "-")) for m in MEASURES])
    return rows


SUMMARY_HEADER = (["method", "n"] + [f"{MEASURE_LABELS[m]} mIoU" for m in MEASURES]
                  + [f"Δ {MEASURE_LABELS[m]}" for m in MEASURES])


__all__ = ["STD_NOTE", "SUMMARY_HEADER", "mean_std_cell", "pts", "signed", "summary_rows"]
