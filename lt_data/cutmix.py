"""Multi-level tail cutmix subsets (paper 003): for each tail class b, the images containing b and
their level boxes, in ``WORK/cutmix.zarr``.

Level 0 is the whole image; level 1 the minimum rectangle around all of b's pixels in the image;
level t ≥ 2 that rectangle (x1, y1, w, h) expanded by (r + s·t) of its width and height on each side
and clipped to the image::

    x1 -= (r + s·t)·w;  y1 -= (r + s·t)·h;  w += 2(r + s·t)·w;  h += 2(r + s·t)·h     (0 < r < 1, s > 1)

Boxes are integer pixel boxes (y0, x0, y1, x1), half-open: the smallest integer box containing the
real-valued one (floor of the top-left, ceil of the bottom-right, to within 1e-9 px so that
float noise in r + s·t never adds a pixel), then clipped to [0, H] × [0, W].

The store keeps boxes and references (sample rows), not crops: a level-0 "crop" is the whole image
and levels overlap, so stored crops would copy the dataset several times over; the reader decodes
a source image once and slices every level from it (``TailCutmix.crops``). Schema in
``docs/BANK_FORMAT.md``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import ArtifactError, LtDataError
from .names import CUTMIX_DIR
from .parallel import map_samples, resolve_workers
from .artifacts import write_store
from .provenance import build_inputs
from .zarr_store import StoreReader, begin_store, create_array, finish_store, up_to_date

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
    :func:`lt_data.parallel.map_samples`. Returns the store's path or URL.
    """
    from .fs import as_path, is_local
    from .stats import open_layout

    work = as_path(work)  # a file:// URL is a local path
    if not is_local(work):
        raise LtDataError(f"{work}: build_cutmix reads a local work directory; for one at a URL call "
                          "lt_data.stages.on_local_copy('cutmix', url, ...)")

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


class TailCutmix(StoreReader):
    """Reader of a complete ``cutmix.zarr``: ``TailCutmix.open(path_or_url, work=WORK)``.

    Entries are grouped by class: the subset of class b is ``subset(b)`` (sample rows of the
    statistics), position ``i`` in it has level boxes ``boxes(b)[i]`` (levels + 1, 4). Everything
    but the sample list is loaded into numpy at open (a few arrays); pickling carries only the URL.
    Crops are read from the source images through the dataset layout recorded in the store
    (``root`` overrides its recorded root: data moved).
    """

    DIR, SCHEMA, SCHEMA_VERSION, COMMAND = CUTMIX_DIR, SCHEMA, SCHEMA_VERSION, "cutmix build"

    def __init__(self, url: str, *, storage_options: dict | None = None, root: str | Path | None = None):
        super().__init__(url, storage_options=storage_options)
        self.root = root

    def _options(self) -> dict:
        return {"storage_options": self.storage_options, "root": self.root}

    def _load_arrays(self, group) -> None:
        from .bank.reader import check_class_list

        check_class_list(self.url, self.attrs, self.table, self._rebuild_hint())
        self._class_id = group["class_id"][...].astype(np.int64)
        self._sample = group["sample"][...].astype(np.int64)
        self._size = group["image_size"][...].astype(np.int64).reshape(-1, 2)
        self._class_pixels = group["class_pixels"][...]
        self._boxes = group["boxes"][...].astype(np.int64).reshape(len(self._sample), -1, 4)
        self._class_start = group["class_start"][...].astype(np.int64)
        self._layout = None

    def __repr__(self) -> str:
        if not self._loaded:
            return f"TailCutmix({self.url!r}, not loaded)"
        return f"TailCutmix({self.url!r}, classes {self.classes}, levels 0..{self.levels})"

    # ---- index ----------------------------------------------------------------------------------
    @property
    def levels(self) -> int:
        """T: levels 0..T are stored."""
        self._ensure()
        return int(self.attrs["params"]["levels"])

    def subset(self, b: int) -> np.ndarray:
        """(N_b,) int64 sample rows (of the statistics) of the images containing class b."""
        s = self._span(b)  # loads the store first
        return self._sample[s]

    def boxes(self, b: int) -> np.ndarray:
        """(N_b, levels + 1, 4) int64 level boxes (y0, x0, y1, x1) of class b's subset."""
        s = self._span(b)  # loads the store first
        return self._boxes[s]

    def box(self, b: int, i: int, level: int) -> tuple[int, int, int, int]:
        """Level box (y0, x0, y1, x1), half-open, of position ``i`` of class b's subset."""
        s = self._span(b)
        if not 0 <= i < s.stop - s.start:
            raise IndexError(f"position {i} outside 0..{s.stop - s.start - 1} of the subset of class {b}")
        if not 0 <= level <= self.levels:
            raise IndexError(f"level {level} outside 0..{self.levels}")
        return tuple(int(v) for v in self._boxes[s.start + i, level])

    def class_pixels(self, b: int) -> np.ndarray:
        """(N_b,) int64 pixels of class b in each image of its subset."""
        s = self._span(b)  # loads the store first
        return self._class_pixels[s]

    def sample(self, class_ids: Sequence[int] | np.ndarray, generator) -> tuple[np.ndarray, np.ndarray]:
        """One subset position drawn uniformly for each class in ``class_ids`` (numpy or torch
        generator; one uniform per entry). Classes with an empty subset are skipped. Returns
        (classes (m,), positions (m,)) int64."""
        cls, _, pick = self._draw(class_ids, generator)
        return cls, pick

    # ---- crops ----------------------------------------------------------------------------------
    def layout(self):
        """The dataset layout the store was built from (``root`` overrides its recorded root)."""
        self._ensure()
        if self._layout is None:
            from .layouts import get_layout

            d = self.attrs["dataset"]
            self._layout = get_layout(d["layout"], self.root or d["root"], d["split"], **(d.get("options") or {}))
        return self._layout

    def crops(self, b: int, i: int, levels: Sequence[int] | None = None
              ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Level crops of position ``i`` of class b's subset: one decode of the source image and
        label, then a slice per level. Returns [(pixels (h, w, 3) uint8, labels (h, w) uint8 train
        ids), ...] for ``levels`` (default all, 0..T). Crops are views of the decoded image."""
        from .layouts import Sample

        s = self._span(b)
        if not 0 <= i < s.stop - s.start:
            raise IndexError(f"position {i} outside 0..{s.stop - s.start - 1} of the subset of class {b}")
        levels = range(self.levels + 1) if levels is None else levels
        row = s.start + i
        lay = self.layout()
        sample = Sample(**self.samples[int(self._sample[row])])
        image, label = lay.read_image(sample), lay.read_label(sample)
        if label.shape != tuple(self._size[row]):
            raise ArtifactError(f"{lay.label_path(sample)}: label is {label.shape[1]}x{label.shape[0]} but the store "
                                f"recorded {self._size[row][1]}x{self._size[row][0]}; rebuild {self.url}")
        out = []
        for t in levels:
            if not 0 <= t <= self.levels:
                raise IndexError(f"level {t} outside 0..{self.levels}")
            y0, x0, y1, x1 = self._boxes[row, t].tolist()
            out.append((image[y0:y1, x0:x1], label[y0:y1, x0:x1]))
        return out

    def crop(self, b: int, i: int, level: int) -> tuple[np.ndarray, np.ndarray]:
        """One level crop: (pixels (h, w, 3) uint8, labels (h, w) uint8)."""
        return self.crops(b, i, [level])[0]

    def summary(self) -> dict:
        self._ensure()
        per = []
        for c in self.classes:
            bx = self.boxes(c)
            size = self._size[self._span(c)]
            frac = [float(np.mean((bx[:, t, 2] - bx[:, t, 0]) * (bx[:, t, 3] - bx[:, t, 1]) / (size[:, 0] * size[:, 1])))
                    if len(bx) else 0.0 for t in range(self.levels + 1)]
            per.append({"id": c, "name": self.table.names[c], "images": self.count(c), "mean_area_share": frac})
        return {"url": self.url, "levels": self.levels, "params": self.params, "classes": per}


def format_summary(summary: dict) -> str:
    p = summary["params"]
    lines = [f"cutmix {summary['url']}: levels 0..{summary['levels']}, r = {p['ratio']}, s = {p['step']}",
             "mean share of the image covered by each level box:"]
    width = max([5] + [len(c["name"]) for c in summary["classes"]])
    lines.append(f"{'id':>4}  {'class':<{width}}  {'images':>6}  " + "  ".join(f"{'L' + str(t):>6}"
                                                                              for t in range(summary["levels"] + 1)))
    for c in summary["classes"]:
        lines.append(f"{c['id']:>4}  {c['name']:<{width}}  {c['images']:>6}  "
                     + "  ".join(f"{v:>6.1%}" for v in c["mean_area_share"]))
    return "\n".join(lines)


__all__ = ["CUTMIX_DIR", "TailCutmix", "build_cutmix", "class_rects", "level_boxes", "validate_params"]
