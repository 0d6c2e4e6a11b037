"""The ``report`` stage: :func:`write_report` reads the statistics and buckets, gathers the numbers
(:mod:`~lt_data.views.report.data`, :mod:`~lt_data.views.report.views`), draws the figures and writes the
report directory whole; :func:`load_report` reads its numbers back."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from ...jobs.artifacts import check_replaceable, replace_dir
from ...data.buckets import compute_buckets
from ...core.errors import LtDataError
from ...core.io import atomic_write_json, atomic_write_text, read_json
from ...core.names import REPORT_DIR
from ...data.workdir import WorkDir
from ...core.plots import render, write_figures
from .data import add_eval, bank_data, exposure_rows, report_data
from .figures import CONTACT_SHEET, build_figures, contact_sheet_png
from .html import render_html
from .markdown import render_markdown
from .views import spatial_data

REPORT_SCHEMA = "lt-data/report"


def _old_report(path: Path) -> bool:
    """A report written before reports carried the store marker (lt-data 0.1 wrote report.json)."""
    try:
        return read_json(path / "report.json")["source"]["tool"] == "lt-data"
    except (OSError, ValueError, KeyError, TypeError):
        return False


def load_report(path: str | Path) -> dict:
    """The numbers of a written report (its ``report.json``); ``path``: the report directory or its
    ``index.html`` (what :func:`write_report` returns)."""
    path = Path(path)
    directory = path.parent if path.suffix == ".html" else path
    return read_json(directory / "report.json", "a report's numbers (lt-data report's report.json)")


def write_report(work: str | Path, *, top: int = 10, eval_work: str | Path | None = None,
                 out: str | Path | None = None, progress: bool = False) -> Path:
    """The ``report`` stage: write the report into ``out`` (default ``WORK/report``) and return the
    path of its ``index.html``; :func:`load_report` on that path gives ``report.json``'s numbers.

    ``eval_work``: the statistics work directory of an evaluation split (same class table), whose
    class pixel shares are shown beside the training split's. ``out`` is replaced as a whole; a
    directory there that lt-data did not write (or another lt-data artifact) is refused
    (ArtifactError), and so is a file. ``progress``: a progress bar while the spatial prior reads
    label files."""
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise LtDataError(f"top must be a whole number of classes, at least 1; got {top!r}")
    work = WorkDir.of(work)
    target = Path(out) if out is not None else work.report
    check_replaceable(target, REPORT_SCHEMA, "report", _old_report)  # refuse before the work; again under the lock
    stats = work.stats()
    fingerprint = work.fingerprint
    from_file = work.has_buckets
    if from_file:
        buckets = work.buckets()  # refuses buckets of other statistics
    else:
        buckets = dataclasses.replace(compute_buckets(stats), source={"stats": fingerprint})
    data = report_data(stats, buckets, top=top, buckets_from_file=from_file)
    data["exposure"] = exposure_rows(work, buckets)
    if eval_work is not None:
        add_eval(data, stats, WorkDir.of(eval_work).stats(), Path(eval_work))
    data["spatial_prior"] = spatial_data(work, stats.samples, progress=progress)
    images = {}
    bank_info, bank = bank_data(work)
    if bank_info is not None:
        data["bank"] = bank_info
    if bank is not None:
        images[CONTACT_SHEET] = contact_sheet_png(bank)
    rendered = {name: render(fig) for name, fig in build_figures(data, bank).items()}
    pngs = {name: r["png"] for name, r in rendered.items()}
    data["plots"] = [f"{name}.png" for name in rendered]
    data["source"]["buckets"] = (os.path.relpath(work.buckets_file.resolve(), target.resolve())
                                 if from_file else None)
    with replace_dir(target, REPORT_SCHEMA, "report", legacy=_old_report) as tmp:
        data["files"] = write_figures(tmp, rendered)
        for name, png in images.items():
            (tmp / name).write_bytes(png)
            data["files"].append(name)
        atomic_write_json(tmp / "report.json", data)
        atomic_write_text(tmp / "report.md", render_markdown(data, pngs))
        atomic_write_text(tmp / "index.html", render_html(data, pngs, images))
    return target / "index.html"


__all__ = ["REPORT_DIR", "REPORT_SCHEMA", "load_report", "write_report"]
