"""Pieces of the self-contained HTML pages (the report, the run comparison).

A page is one file: style and script inline, figures embedded as base64 PNG data URIs, nothing
fetched. Tables with class ``sortable`` sort in the browser: click a column header (or focus it and
press Enter) to sort by it, again to reverse. Sorting is numeric-aware: a cell sorts by its
``data-v`` attribute when it has one, else by the number its text starts with (``1,234``,
``12.5%``, ``45.21 ± 0.40``, ``−1.2``), else by its text; empty cells (``–``) go last either way.
"""

from __future__ import annotations

import base64
import html

from .plots import png_width

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1180px;
padding:1.2em 1.6em 3em;color:#222;line-height:1.45}
h1{font-size:1.5em;margin-bottom:.3em}h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;font-size:.88em;margin:.5em 0}
th,td{border:1px solid #ddd;padding:.25em .55em;text-align:right;white-space:nowrap}
th{background:#f4f4f4;white-space:normal;vertical-align:bottom}td.l,th.l{text-align:left}
.overview td:first-child{font-weight:600;text-align:left}.overview td{text-align:left;white-space:normal}
.sw{display:inline-block;width:.9em;height:.9em;border:1px solid #888;vertical-align:-.1em;margin-right:.35em}
.b{display:inline-block;padding:0 .45em;border-radius:.3em;color:#fff;font-size:.85em}
.head{background:#0072B2}.middle{background:#009E73}.tail{background:#D55E00}.none{background:#777}
.scroll{overflow-x:auto;border:1px solid #eee;margin:.4em 0}.scroll img{max-width:none;display:block}
img.fit{max-width:100%}.cols{display:flex;gap:2em;flex-wrap:wrap}.note{color:#8a5a00}
figcaption{font-size:.85em;color:#555}details summary{cursor:pointer;margin:.4em 0}
.tablewrap{overflow-x:auto}
table.sortable th{cursor:pointer;user-select:none;position:relative;padding-right:1.15em}
table.sortable th:hover{background:#e8eef6}
table.sortable th::after{content:"\\2195";color:#aaa;font-size:.75em;position:absolute;right:.3em;bottom:.35em}
table.sortable th[aria-sort=ascending]::after{content:"\\25B2";color:#333}
table.sortable th[aria-sort=descending]::after{content:"\\25BC";color:#333}
ol.refs li{margin:.3em 0}.refnote{color:#666;font-size:.9em}
.pos{color:#1a7f37}.neg{color:#b42318}.base{color:#777;font-style:italic}
"""

SORT_JS = r"""
(function () {
  function key(td) {
    if (!td) return null;
    var v = td.getAttribute('data-v');
    var t = (v !== null ? v : td.textContent).trim();
    if (t === '' || t === '\u2013' || t === '-' || t === 'n/a') return null;
    var s = t.replace(/[,\u2009\u202f ]/g, '').replace(/\u2212/g, '-');
    var m = s.match(/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?/i);
    return m ? parseFloat(m[0]) : t.toLowerCase();
  }
  function cmp(a, b) {
    var na = typeof a === 'number', nb = typeof b === 'number';
    if (na && nb) return a - b;
    if (na !== nb) return na ? -1 : 1;
    return a < b ? -1 : a > b ? 1 : 0;
  }
  Array.prototype.forEach.call(document.querySelectorAll('table.sortable'), function (table) {
    if (!table.tHead || !table.tBodies.length) return;
    var ths = table.tHead.rows[table.tHead.rows.length - 1].cells;
    Array.prototype.forEach.call(ths, function (th, col) {
      th.title = 'click to sort';
      th.tabIndex = 0;
      function sort() {
        var asc = th.getAttribute('aria-sort') !== 'ascending';
        Array.prototype.forEach.call(ths, function (h) { h.removeAttribute('aria-sort'); });
        th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
        var body = table.tBodies[0];
        var rows = Array.prototype.map.call(body.rows, function (r, i) { return [key(r.cells[col]), i, r]; });
        rows.sort(function (x, y) {
          if (x[0] === null || y[0] === null) return ((x[0] === null) - (y[0] === null)) || x[1] - y[1];
          return (asc ? cmp(x[0], y[0]) : cmp(y[0], x[0])) || x[1] - y[1];
        });
        rows.forEach(function (r) { body.appendChild(r[2]); });
      }
      th.addEventListener('click', sort);
      th.addEventListener('keydown', function (e) {
        if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); sort(); }
      });
    });
  });
})();
"""

e = html.escape


def badge(bucket: str | None) -> str:
    b = bucket or "none"
    return f'<span class="b {b}">{e(bucket or "no bucket")}</span>'


def table(header: list[str], rows: list[list[str]], *, sortable: bool = False, left: tuple[int, ...] = (),
          cls: str = "") -> str:
    """An HTML table; ``header`` and ``rows`` hold cell HTML (already escaped); a row cell may be a
    ``(html, sort_value)`` pair; columns in ``left`` are left-aligned."""
    def cell(tag: str, i: int, x) -> str:
        attrs = " class=l" if i in left else ""
        if isinstance(x, tuple):
            x, v = x
            if v is not None:
                attrs += f' data-v="{e(str(v))}"'
        return f"<{tag}{attrs}>{x}</{tag}>"

    classes = " ".join(c for c in (cls, "sortable" if sortable else "") if c)
    head = "<tr>" + "".join(cell("th", i, h) for i, h in enumerate(header)) + "</tr>"
    body = "".join("<tr>" + "".join(cell("td", i, x) for i, x in enumerate(r)) + "</tr>" for r in rows)
    attr = f' class="{classes}"' if classes else ""
    return f'<div class="tablewrap"><table{attr}><thead>{head}</thead><tbody>{body}</tbody></table></div>'


def embedded_figure(name: str, png: bytes, alt: str, *, vector: bool = True) -> str:
    """A figure embedded as a PNG data URI, with links to its files beside the page."""
    b64 = base64.b64encode(png).decode("ascii")
    wide = " Wide figure: scroll sideways." if png_width(png) > 1100 else ""
    files = [f"{name}.png"] + ([f"{name}.svg", f"{name}.pdf"] if vector else [])
    links = ", ".join(f'<a href="{f}">{f.rsplit(".", 1)[1].upper()}</a>' for f in files)
    return (f'<figure><div class="scroll"><img src="data:image/png;base64,{b64}" alt="{e(alt)}"></div>'
            f"<figcaption>{e(alt)}.{wide} Files: {links}</figcaption></figure>")


def document(title: str, body: list[str]) -> str:
    """The whole page: head with the style, ``body`` parts, the sorting script last."""
    return "\n".join([f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
                      f"<meta name=viewport content='width=device-width,initial-scale=1'>"
                      f"<title>{e(title)}</title><style>{CSS}</style></head><body>", *body,
                      f"<script>{SORT_JS}</script></body></html>"])


__all__ = ["CSS", "SORT_JS", "badge", "document", "embedded_figure", "table"]
