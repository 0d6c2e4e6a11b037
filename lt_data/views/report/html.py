"""``index.html``: the self-contained report page (every figure embedded as a base64 PNG, class
tables that sort in the browser, wide plots that scroll sideways), built on :mod:`lt_data.core.page`."""

from __future__ import annotations

import html

from ... import __version__
from ...data.buckets import BUCKET_NAMES
from ...core.page import badge as _page_badge
from ...core.page import document, embedded_figure, table
from ...core.references import render_html as render_references_html
from .figures import CAPTIONS, CONTACT_SHEET
from .tables import (BANK_HEADER, BANK_NOTE, BUCKET_HEADER, EVAL_BUCKET_HEADER, EXPOSURE_NOTE, bank_rows, bucket_rows,
                     class_header, class_row, class_sort_values, eval_rows, eval_summary, overview, paste_cells)
from .views import html_sections, pct

def render_html(data: dict, plots: dict[str, bytes], images: dict[str, bytes] | None = None) -> str:
    """The page; ``plots``: figure name → PNG (also written as SVG and PDF); ``images``: raster-only
    pictures (the bank's contact sheet) by file name."""
    e = html.escape
    d = data["dataset"]
    cls = data["classes"]
    images = images or {}
    header = class_header(data)

    def badge(b: str) -> str:
        return _page_badge(b)

    def cls_cell(c: dict) -> str:
        return f'<span class="sw" style="background:{c["color"]}"></span>{e(c["name"])}'

    def class_table(ids) -> str:
        rows = []
        for c in (cls[i] for i in ids):
            r, v = class_row(c), class_sort_values(c)
            cells = [(e(x), v[j]) for j, x in enumerate(r)]
            cells[2] = (cls_cell(c), None)
            cells[3] = (badge(c["bucket"]), v[3])
            rows.append(cells)
        return table([e(h) for h in header], rows, sortable=True, left=(2, 3))

    def img(name: str) -> str:
        return embedded_figure(name, plots[name], CAPTIONS[name]) if name in plots else ""

    parts = [f"<h1>Class frequencies and buckets: {e(d['name'])} / {e(str(d['split']))}</h1>",
             "<table class=overview>" + "".join(f"<tr><td>{e(k)}</td><td>{e(v)}</td></tr>"
                                                for k, v in overview(data)) + "</table>",
             "<p>Click a column header of a class table to sort it. Every plot is also an SVG and a PDF file "
             "beside this page, for a paper.</p>"]

    parts.append("<h2>Buckets</h2>")
    hdr = "".join(f"<th{' class=l' if i in (0, 6, 7) else ''}>{h}</th>" for i, h in enumerate(BUCKET_HEADER))
    rows = "".join("<tr>" + "".join(f"<td{' class=l' if i in (0, 6, 7) else ''}>{badge(x) if i == 0 else e(x)}</td>"
                                    for i, x in enumerate(r)) + "</tr>" for r in bucket_rows(data))
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
                       + "".join(f"<td>{pct(r[b])}</td>" for b in BUCKET_NAMES)
                       + "".join(f"<td>{c}</td>" for c in paste_cells(r)) + "</tr>" for r in data["exposure"])
        parts.append(f'<div class="tablewrap"><table><tr>{head}</tr>{body}</table></div><p>{e(EXPOSURE_NOTE)}</p>')

    parts.append("<h2>Pixels per class</h2>")
    parts.append(img("pixel_histogram"))
    parts.append("<h2>Cumulative pixel share</h2>")
    parts.append(img("cumulative_share"))
    parts.append("<h2>Image frequency</h2>")
    parts.append(img("image_frequency"))

    if "eval" in data:
        parts.append("<h2>Training vs evaluation split</h2>")
        parts.append(f"<p>{e(eval_summary(data))}</p>")
        parts.append(table([e(h) for h in EVAL_BUCKET_HEADER],
                           [[badge(r[0])] + [e(x) for x in r[1:]] for r in eval_rows(data)], left=(0,)))
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
                     f"{pct(data['per_bucket'][b]['pixel_share'])} of pixels</summary>{body}</details>")

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
                            for r in bank_rows(data)], sortable=True, left=(0, 1)))
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


__all__ = ["render_html"]
