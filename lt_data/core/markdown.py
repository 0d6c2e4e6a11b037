"""Markdown for the written reports (``report.md``, ``compare.md``): escaping and tables.

Class names, run names and paths come from the user's files and may hold any character; one with
``|`` or a newline would split a table row, one with ``*``, ``_``, backticks or ``<`` would turn the
rest of a cell into emphasis, code or HTML. :func:`escape` makes such text literal and leaves
ordinary names (``road``, ``wall-other``, ``traffic_light``) as they are.
"""

from __future__ import annotations

import re
from typing import Sequence

from .errors import one_line

# ASCII punctuation that is Markdown syntax inline (a table cell holds inline content only): code,
# emphasis, links and images, HTML and autolinks, entities, GFM strikethrough and cell separators.
# "_" is handled apart: between two letters or digits it cannot start or end emphasis.
_SPECIAL = re.compile(r"[\\`*\[\]<&~|]|_")
_NEWLINE = re.compile(r"\r\n|\r|\n|\u2028|\u2029")


def escape(text: object) -> str:
    """``text`` as literal inline Markdown: syntax characters backslash-escaped, a line break as
    ``<br>`` (it keeps a table row on one line), other control characters escaped (``\\t``, ``\\x1b``)."""
    s = str(text)

    def esc(m: re.Match) -> str:
        if m.group() == "_":
            i = m.start()
            if 0 < i < len(s) - 1 and s[i - 1].isalnum() and s[i + 1].isalnum():
                return "_"
        return "\\" + m.group()

    return one_line(_NEWLINE.sub("<br>", _SPECIAL.sub(esc, s)))


def table(header: Sequence[object], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-flavoured Markdown table, every header and cell escaped (:func:`escape`)."""
    lines = ["| " + " | ".join(escape(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(escape(x) for x in r) + " |" for r in rows]
    return "\n".join(lines)


__all__ = ["escape", "table"]
