"""``report.md``: the report's tables in Markdown (every cell escaped by :mod:`lt_data.core.markdown`),
its figures linked as files beside it."""

from __future__ import annotations

from ...data.buckets import BUCKET_NAMES
from ...core.markdown import escape as md_escape
from ...core.markdown import table as md_table
from ...core.references import render_markdown as render_references_md
from .figures import CAPTIONS, CONTACT_SHEET
from .tables import (BANK_HEADER, BANK_NOTE, BUCKET_HEADER, EVAL_BUCKET_HEADER, EXPOSURE_NOTE, bank_rows, bucket_rows,
                     class_header, class_row, eval_rows, eval_summary, overview, paste_cells)
from .views import CAPTIONS as VIEW_CAPTIONS
from .views import markdown_sections, pct

def render_markdown(data: dict, plots: dict[str, bytes]) -> str:
    table = md_table  # every class name, header and cell escaped (lt_data.core.markdown)
    d = data["dataset"]
    cls = data["classes"]
    header = class_header(data)
    out = [f"# Class frequencies and buckets: {d['name']} / {d['split']}", ""]
    out += [f"- **{k}**: {v}" for k, v in overview(data)] + [""]
    out += ["## Buckets", "", table(BUCKET_HEADER, bucket_rows(data)), ""]
    for n in data["buckets"]["notes"]:
        out.append(f"> note: {md_escape(n)}")
    for m in data["buckets"]["moves"]:
        out.append(f"- moved **{md_escape(m['name'])}** ({m['id']}) {m['from']} → {m['to']}: {m['reason']}")
    out.append("")
    out += ["## What training sees", "", table(["method", "images per epoch"] + list(BUCKET_NAMES)
                                                + ["pasted objects / image", "pasted share"],
                                                [[r["method"], str(r["draws"])] + [pct(r[b]) for b in BUCKET_NAMES]
                                                 + paste_cells(r) for r in data.get("exposure", [])]),
            "", EXPOSURE_NOTE, ""]
    if "eval" in data:
        out += ["## Training vs evaluation split", "", md_escape(eval_summary(data)), "",
                table(EVAL_BUCKET_HEADER, eval_rows(data)), ""]
    bank = data.get("bank")
    if bank and bank["status"] == "ok":
        out += [f"## Tail bank: {bank['objects']:,} objects", "", table(BANK_HEADER, bank_rows(data)), "",
                BANK_NOTE, "", f"![{CAPTIONS['bank_objects']}]({CONTACT_SHEET})", ""]
    elif bank:
        out += ["## Tail bank", "", f"Not shown: {bank['message']}", ""]
    out += ["## Plots", "", "Each plot is also a vector file for a paper: the same name with .svg and .pdf.", ""]
    for p in plots:
        if p not in VIEW_CAPTIONS:  # those come with their sections
            out += [f"![{CAPTIONS[p]}]({p}.png)", ""]
    if len(cls) <= len(data["most_frequent"]) + len(data["least_frequent"]):
        out += [f"## All {len(cls)} classes, most frequent first", "",
                table(header, [class_row(cls[c]) for c in data["frequency_order"]]), ""]
    else:
        out += ["## Most frequent classes", "",
                table(header, [class_row(cls[c]) for c in data["most_frequent"]]), ""]
        out += ["## Least frequent classes", "",
                table(header, [class_row(cls[c]) for c in data["least_frequent"]]), ""]
    for b in BUCKET_NAMES:
        ids = data["per_bucket"][b]["ids"]
        out += [f"## {b.capitalize()} classes ({len(ids)})", ""]
        out += [table(header, [class_row(cls[c]) for c in ids]) if ids else "(none)", ""]
    out += markdown_sections(data, plots)
    out += [render_references_md()]
    return "\n".join(out)


__all__ = ["render_markdown"]
