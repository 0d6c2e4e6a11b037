"""The LaTeX tables (booktabs): ``miou_table.tex`` and ``per_class_table.tex``, ASCII only, so they
paste into any paper."""

from __future__ import annotations

from ... import __version__
from .stats import MEASURE_LABELS, MEASURES
from .tables import pts, signed

TEX_STD_NOTE = "+/- is the sample standard deviation over the seeds of a recipe (n - 1 in the denominator)"
TABLES = ("miou_table.tex", "per_class_table.tex")  # the files render_latex writes

_TEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                "·": r"$\cdot$", "−": "-", "×": r"$\times$", "±": r"$\pm$"}


def tex_escape(text: str) -> str:
    return "".join(_TEX_ESCAPES.get(ch, ch) for ch in str(text))


def _tex_cell(s: dict, best: bool, delta: float | None = None) -> str:
    if s["mean"] is None:
        return "--"
    v = pts(s["mean"])
    cell = rf"\textbf{{{v}}}" if best else v
    if s["std"] is not None:
        cell += rf" $\pm$ {pts(s['std'])}"
    if delta is not None:
        cell += rf" {{\scriptsize(${signed(delta, '-')}$)}}"
    return cell


def _best(values: list[float | None]) -> float | None:
    got = [round(v, 4) for v in values if v is not None]  # equal when equal as printed (2 decimals of %)
    return max(got) if got else None


def render_latex(data: dict) -> dict[str, str]:
    """Two booktabs tables (``\\usepackage{booktabs}``): ``miou_table.tex`` (one row per recipe:
    n, overall / head / middle / tail mIoU, mean ± std, Δ against the baseline in small type, best
    in bold) and ``per_class_table.tex`` (one row per class in bucket order, one column per recipe)."""
    groups = data["groups"]
    cols = MEASURES
    lines = [f"% lt-data {__version__} compare: mIoU (%) per bucket. {TEX_STD_NOTE}.",
             "% Small numbers in parentheses: mean minus the baseline's mean, in IoU points. "
             "Needs \\usepackage{booktabs}.",
             r"\begin{table}[t]", r"\centering",
             r"\caption{mIoU (\%) overall and per bucket; mean $\pm$ sample standard deviation over $n$ seeds; "
             rf"in parentheses, the difference to {tex_escape(data['baseline'])}.}}",
             r"\label{tab:lt-miou}",
             r"\begin{tabular}{lc" + "r" * len(cols) + "}", r"\toprule",
             "Method & $n$ & " + " & ".join(MEASURE_LABELS[m].capitalize() for m in cols) + r" \\", r"\midrule"]
    best = {m: _best([g["measures"][m]["mean"] for g in groups]) for m in cols}
    for g in groups:
        cells = [_tex_cell(g["measures"][m], len(groups) > 1 and g["measures"][m]["mean"] is not None
                           and round(g["measures"][m]["mean"], 4) == best[m],
                           None if g["baseline"] else g["delta"][m]) for m in cols]
        lines.append(f"{tex_escape(g['name'])} & {g['n']} & " + " & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    summary = "\n".join(lines)

    cls = data["classes"]
    lines = [f"% lt-data {__version__} compare: per-class IoU (%), classes in bucket order. {TEX_STD_NOTE}.",
             r"% Needs \usepackage{booktabs}.",
             r"\begin{table}[t]", r"\centering",
             r"\caption{Per-class IoU (\%); mean $\pm$ sample standard deviation over seeds.}",
             r"\label{tab:lt-per-class}",
             r"\begin{tabular}{ll" + "r" * len(groups) + "}", r"\toprule",
             "Class & Bucket & " + " & ".join(f"{tex_escape(g['name'])} ($n={g['n']}$)" for g in groups) + r" \\"]
    previous = object()
    for c in data["class_order"]:
        if cls[c]["bucket"] != previous:
            lines.append(r"\midrule")
            previous = cls[c]["bucket"]
        best_c = _best([g["per_class"][c]["mean"] for g in groups])
        cells = [_tex_cell(g["per_class"][c], len(groups) > 1 and g["per_class"][c]["mean"] is not None
                           and round(g["per_class"][c]["mean"], 4) == best_c) for g in groups]
        lines.append(f"{tex_escape(cls[c]['name'])} & {cls[c]['bucket'] or '--'} & " + " & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return {"miou_table.tex": summary, "per_class_table.tex": "\n".join(lines)}


__all__ = ["TABLES", "TEX_STD_NOTE", "render_latex", "tex_escape"]
