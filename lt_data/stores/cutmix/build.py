"""``build_cutmix``, the ``cutmix build`` stage: each tail class's images and their level boxes
(the geometry of the package docstring), written aside and moved into place complete."""


from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import numpy as np

from ...core.errors import LtDataError
from ...core.names import CUTMIX_DIR
from ...jobs.parallel import map_samples, resolve_workers
from ...jobs.artifacts import write_store
from ..provenance import build_inputs
from ..zarr_store import begin_store, create_array, finish_store, up_to_date

SCHEMA = "lt-data/tail-cutmix"
SCHEMA_VERSION = 1
DEFAULT_LEVELS = 3
DEFAULT_RATIO = 0.1
DEFAULT_STEP = 1.1
_EPS = 1e-9


def validate_params(levels: int, ratio: float, step: float) -> None:
    """Paper 003's constraints: 0 < r < 1, s > 1; levels T ≥ 1 (levels 0..T are built)."""
    if int(levels) != levels or levels < 1:
        raise LtDataError(f"--levels must be an integer ≥ 1 (levels 0..T are built), got {levels}")
    if not 0 < ratio < 1:
        raise LtDataError(f"--ratio r must satisfy 0 < r < 1 (paper 003), got {ratio}")
    if not step > 1:
        raise LtDataError(f"--step s must satisfy s > 1 (paper 003), got {step}")


def level_boxes(rects: np.ndarray, sizes: np.ndarray, levels: int = DEFAULT_LEVELS, ratio: float = DEFAULT_RATIO,
                step: float = DEFAULT_STEP) -> np.ndarray:
    """Level boxes of minimum rectangles.

    rects: (N, 4) int (y0, x0, y1, x1) half-open minimum rectangles of the class pixels.
    sizes: (N, 2) int (H, W) of the images. Returns (N, levels + 1, 4) int64 (y0, x0, y1, x1).
    """
    validate_params(levels, ratio, step)
    rects = np.asarray(rects, dtype=np.int64).reshape(-1, 4)
    sizes = np.asarray(sizes, dtype=np.int64).reshape(-1, 2)
    n = len(rects)
    out = np.zeros((n, levels + 1, 4), dtype=np.int64)
    hh, ww = sizes[:, 0], sizes[:, 1]
    out[:, 0, 2], out[:, 0, 3] = hh, ww
    out[:, 1] = rects
    y0, x0, y1, x1 = (rects[:, j].astype(np.float64) for j in range(4))
    h, w = y1 - y0, x1 - x0
    for t in range(2, levels + 1):
        f = ratio + step * t
        ny0 = np.floor(y0 - f * h + _EPS)
        nx0 = np.floor(x0 - f * w + _EPS)
        ny1 = np.ceil(y0 - f * h + (h + 2 * f * h) - _EPS)
        nx1 = np.ceil(x0 - f * w + (w + 2 * f * w) - _EPS)
        out[:, t, 0] = np.clip(ny0, 0, hh)
        out[:, t, 1] = np.clip(nx0, 0, ww)
        out[:, t, 2] = np.clip(ny1, 0, hh)
        out[:, t, 3] = np.clip(nx1, 0, ww)
    return out


def class_rects(label: np.ndarray, classes: Sequence[int]) -> np.ndarray:
    """(len(classes), 4) int64 minimum rectangles (y0, x0, y1, x1) of each class's pixels; a class
    absent from the label gets (0, 0, 0, 0)."""
    out = np.zeros((len(classes), 4), dtype=np.int64)
    for j, c in enumerate(classes):
        m = label == c
        rows = np.flatnonzero(m.any(axis=1))
        if len(rows):
            cols = np.flatnonzero(m.any(axis=0))
            out[j] = (rows[0], cols[0], rows[-1] + 1, cols[-1] + 1)
    return out


def _rects_task(state: dict, task: tuple) -> tuple[np.ndarray, tuple[int, int]]:
    i, classes = task
    label = state["layout"].read_label(state["samples"][i])
    return class_rects(label, classes), label.shape


def build_cutmix(work: str | Path, *, levels: int = DEFAULT_LEVELS, ratio: float = DEFAULT_RATIO,
                 step: float = DEFAULT_STEP, classes: str | Sequence[int] | None = "tail", workers: int | None = None,
                 out: str | Path | None = None, storage_options: dict | None = None, force: bool = False,
                 skip_bad: bool = False, progress: bool = True, backend: str = "processes",
                 scheduler: str | None = None) -> str:
    """The ``cutmix build`` stage: tail subsets and their level boxes into ``WORK/cutmix.zarr``.

    Subsets come from the statistics' per-image counts; minimum rectangles from the label files
    (only labels are decoded). An up-to-date complete store is kept unless ``force``; otherwise a new
    store is built aside and replaces the old one when complete (an existing ``out`` that is not a
    cutmix store is refused). Bad labels fail the build naming every one, or with ``skip_bad`` are
    left out of the subsets and listed in the ``skipped`` attribute. ``storage_options`` apply to
    ``out`` and to a dataset root that is a URL; ``backend``/``scheduler``: see
    :func:`lt_data.jobs.parallel.map_samples`. Returns the store's path or URL.
    """
    from ...core.fs import as_path, is_local
    from ...data.stats import open_layout

    work = as_path(work)  # a file:// URL is a local path
    if not is_local(work):
        raise LtDataError(f"{work}: build_cutmix reads a local work directory; for one at a URL call "
                          "lt_data.entry.stages.on_local_copy('cutmix', url, ...)")

    validate_params(levels, ratio, step)
    workers = resolve_workers(workers)
    t0 = time.perf_counter()
    work, stats, ids, class_record, out = build_inputs(work, classes, out, CUTMIX_DIR)
    params = {"classes": ids, "class_source": class_record, "levels": int(levels), "ratio": float(ratio),
              "step": float(step), "box": "y0, x0, y1, x1 half-open; floor/ceil outward, clipped"}
    fingerprints = work.fingerprints()
    if not force and up_to_date(out, storage_options, SCHEMA_VERSION, params, fingerprints):
        return out

    sel = np.array(ids, dtype=np.int64)
    present = stats.counts[:, sel] > 0
    tasks = [(int(i), sel[present[i]].tolist()) for i in np.flatnonzero(present.any(axis=1))]
    layout, samples = open_layout(work, storage_options), stats.samples
    skipped: list = []
    rows = []  # per image: (classes, 8) rows of class, sample, H, W, y0, x0, y1, x1
    with write_store(out, SCHEMA, "cutmix store", storage_options) as target:
        group = begin_store(target, storage_options, SCHEMA, SCHEMA_VERSION, stats, ids, params, fingerprints)
        for p, (rects, (h, w)) in map_samples(_rects_task, tasks, {"layout": layout, "samples": samples},
                                              workers=workers, skip_bad=skip_bad, bad=skipped, desc="cutmix build",
                                              progress=progress, backend=backend, scheduler=scheduler,
                                              describe=lambda p: str(layout.label_path(samples[tasks[p][0]]))):
            i, classes_i = tasks[p]
            rows.append(np.column_stack([np.asarray(classes_i, np.int64), np.full((len(classes_i), 3), (i, h, w)),
                                         np.asarray(rects, np.int64).reshape(-1, 4)]))
        m = np.concatenate(rows) if rows else np.zeros((0, 8), np.int64)
        m = m[np.lexsort((m[:, 1], m[:, 0]))]
        boxes = level_boxes(m[:, 4:8], m[:, 2:4], levels, ratio, step)
        k = stats.table.num_classes
        counts = np.bincount(m[:, 0], minlength=k)
        create_array(group, "class_id", m[:, 0].astype(np.int32))
        create_array(group, "sample", m[:, 1].astype(np.int32))
        create_array(group, "image_size", m[:, 2:4].astype(np.int32))
        create_array(group, "class_pixels", stats.counts[m[:, 1], m[:, 0]].astype(np.int64))
        create_array(group, "boxes", boxes.astype(np.int32))
        create_array(group, "class_start", np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))
        finish_store(group, target, storage_options, started=t0, skipped=skipped, num_entries=int(len(m)),
                     counts={str(c): int(counts[c]) for c in ids})
    return out


