"""Class-frequency statistics: per-image per-class pixel counts, in parallel, at the speed of decoding.

Each worker decodes one label file and counts its 256 raw values in the same C pass (Pillow's
``histogram``); the main process folds the 256-bin histogram through the class table's lookup,
which costs nothing next to remapping pixels. Only labels are decoded; an image's size comes from
its file header.

Artifacts written to the work directory (``docs/FORMATS.md``)::

    samples.jsonl        one sample per line: id, image, label (relative to the root), height, width
    dataset.json         layout, root, split, options, class table, ignore index, skipped files, version
    pixel_counts.npy     (N_images, K) int64: pixels of class k in image i (ignore excluded)
    ignored_pixels.npy   (N_images,) int64: ignored pixels per image
    class_stats.json     totals and shares per class; written last, it marks the statistics complete
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from . import __version__
from .classes import ClassTable
from .errors import ArtifactError, BadInput, DataError
from .io import (atomic_save_npy, atomic_write_json, atomic_write_jsonl, file_sha256, read_json,
                 read_jsonl)
from .layouts import Layout, Sample
from .layouts.base import unknown_values_problem

SAMPLES_FILE = "samples.jsonl"
DATASET_FILE = "dataset.json"
COUNTS_FILE = "pixel_counts.npy"
IGNORED_FILE = "ignored_pixels.npy"
CLASS_STATS_FILE = "class_stats.json"


@dataclass
class ClassStats:
    """Per-image class pixel counts of one split, and everything derived from them."""

    table: ClassTable
    samples: list[Sample]
    counts: np.ndarray  # (N, K) int64
    ignored: np.ndarray  # (N,) int64
    dataset: dict = field(default_factory=dict)  # what dataset.json holds
    skipped: list[BadInput] = field(default_factory=list)

    @property
    def num_images(self) -> int:
        return len(self.samples)

    @property
    def pixels(self) -> np.ndarray:
        """(K,) int64 pixels per class over the split."""
        return self.counts.sum(axis=0)

    @property
    def images(self) -> np.ndarray:
        """(K,) int64 number of images that contain each class."""
        return (self.counts > 0).sum(axis=0)

    @property
    def labelled_pixels(self) -> int:
        return int(self.counts.sum())

    @property
    def pixel_share(self) -> np.ndarray:
        total = self.labelled_pixels
        return self.pixels / total if total else np.zeros(self.table.num_classes)

    @property
    def image_share(self) -> np.ndarray:
        return self.images / self.num_images if self.num_images else np.zeros(self.table.num_classes)

    def summary(self) -> dict:
        """The content of ``class_stats.json``."""
        pixels, images = self.pixels, self.images
        pshare, ishare = self.pixel_share, self.image_share
        return {
            "num_images": self.num_images,
            "num_classes": self.table.num_classes,
            "total_pixels": int(self.counts.sum() + self.ignored.sum()),
            "labelled_pixels": self.labelled_pixels,
            "ignored_pixels": int(self.ignored.sum()),
            "classes": [
                {"id": k, "name": self.table.names[k], "pixels": int(pixels[k]), "images": int(images[k]),
                 "pixel_share": float(pshare[k]), "image_share": float(ishare[k])}
                for k in range(self.table.num_classes)
            ],
        }


# ---- counting -----------------------------------------------------------------------------------

def count_sample(layout: Layout, sample: Sample) -> tuple[np.ndarray, int, int]:
    """Raw 256-bin histogram and (height, width) of one sample, after every check.

    Raises :class:`DataError` for an unreadable file, an unknown label value, or an image whose
    size differs from its label's.
    """
    hist, h, w = layout.raw_histogram(sample)
    unknown = layout.table.unknown_values(hist)
    if unknown:
        raise DataError(layout.label_path(sample), unknown_values_problem(layout.table, unknown))
    ih, iw = layout.image_size(sample)
    if (ih, iw) != (h, w):
        raise DataError(layout.image_path(sample),
                        f"image is {iw}x{ih} but its label {layout.label_path(sample)} is {w}x{h}")
    return hist, h, w


_WORKER_LAYOUT: Layout | None = None
_WORKER_SAMPLES: list[Sample] | None = None


def _set_worker_state(layout: Layout | None, samples: list[Sample] | None) -> None:
    global _WORKER_LAYOUT, _WORKER_SAMPLES
    _WORKER_LAYOUT, _WORKER_SAMPLES = layout, samples


def _init_worker(layout: Layout, samples: list[Sample]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops the pool
    _set_worker_state(layout, samples)


def _count_chunk(bounds: tuple[int, int]) -> list[tuple]:
    out = []
    for i in range(*bounds):
        try:
            hist, h, w = count_sample(_WORKER_LAYOUT, _WORKER_SAMPLES[i])
            out.append((i, hist, h, w, None))
        except DataError as e:
            out.append((i, None, 0, 0, e.bad))
    return out


def default_workers() -> int:
    return max(1, min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1, 16))


def compute_stats(layout: Layout, *, workers: int | None = None, skip_bad: bool = False,
                  progress: bool = True) -> ClassStats:
    """Scan the layout and count every sample's classes. Raises :class:`DataError` on bad input
    unless ``skip_bad``, which skips bad samples and lists them in ``ClassStats.skipped``."""
    samples, bad = layout.scan()
    if bad and not skip_bad:
        more = f" (and {len(bad) - 1} more problems)" if len(bad) > 1 else ""
        raise DataError(bad[0].path, f"{bad[0].problem}{more}; --skip-bad skips such samples")
    skipped = list(bad)
    if not samples:
        raise DataError(layout.root, f"empty split {layout.split!r}: no image/label pairs found for the "
                                     f"{layout.name} layout")
    workers = default_workers() if workers is None else max(1, workers)
    n = len(samples)
    raw_hists = np.zeros((n, 256), dtype=np.int64)
    sizes = np.zeros((n, 2), dtype=np.int64)
    ok = np.ones(n, dtype=bool)

    def take(results):
        for i, hist, h, w, problem in results:
            if problem is not None:
                if not skip_bad:
                    raise DataError(problem.path, f"{problem.problem}; --skip-bad skips such samples")
                skipped.append(problem)
                ok[i] = False
            else:
                raw_hists[i], sizes[i] = hist, (h, w)

    bar = tqdm(total=n, desc=f"stats {layout.name}/{layout.split}", unit="img", disable=not progress,
               dynamic_ncols=True)
    chunk = max(1, min(64, n // (workers * 8) or 1))
    chunks = [(s, min(s + chunk, n)) for s in range(0, n, chunk)]
    try:
        if workers == 1:
            _set_worker_state(layout, samples)
            for c in chunks:
                take(_count_chunk(c))
                bar.update(c[1] - c[0])
        else:
            ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
            with ctx.Pool(workers, initializer=_init_worker, initargs=(layout, samples)) as pool:
                for res in pool.imap_unordered(_count_chunk, chunks):
                    take(res)
                    bar.update(len(res))
    finally:
        bar.close()
        _set_worker_state(None, None)

    if skipped and not ok.any():
        raise DataError(layout.root, f"empty split {layout.split!r}: all {n} samples were bad "
                                     f"(first: {skipped[0]})")
    idx = np.flatnonzero(ok)
    kept = []
    for i in idx:
        s = samples[i]
        s.height, s.width = int(sizes[i, 0]), int(sizes[i, 1])
        kept.append(s)
    counts, ignored = layout.table.fold_histograms(raw_hists[idx])
    dataset = layout.describe() | {"class_table": layout.table.to_json(), "ignore_index": layout.table.ignore_index,
                                   "tool": "lt-data", "version": __version__,
                                   "warnings": list(getattr(layout, "warnings", []))}
    return ClassStats(table=layout.table, samples=kept, counts=counts, ignored=ignored, dataset=dataset,
                      skipped=skipped)


# ---- artifacts ----------------------------------------------------------------------------------

def write_stats(stats: ClassStats, work: str | Path) -> Path:
    """Write the statistics artifacts; ``class_stats.json`` goes last and marks them complete."""
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    (work / CLASS_STATS_FILE).unlink(missing_ok=True)  # an interrupted rewrite must not look complete
    atomic_write_jsonl(work / SAMPLES_FILE, (s.to_json() for s in stats.samples))
    dataset = dict(stats.dataset)
    dataset["num_samples"] = stats.num_images
    dataset["skipped"] = [b.to_json() for b in stats.skipped]
    atomic_write_json(work / DATASET_FILE, dataset)
    atomic_save_npy(work / COUNTS_FILE, stats.counts)
    atomic_save_npy(work / IGNORED_FILE, stats.ignored)
    summary = stats.summary()
    summary["artifacts"] = {name: file_sha256(work / name)
                            for name in (SAMPLES_FILE, DATASET_FILE, COUNTS_FILE, IGNORED_FILE)}
    summary["version"] = __version__
    atomic_write_json(work / CLASS_STATS_FILE, summary)
    return work


def load_stats(work: str | Path, *, verify: bool = True) -> ClassStats:
    """Read complete statistics from a work directory (refuses incomplete or altered ones)."""
    work = Path(work)
    marker = work / CLASS_STATS_FILE
    if not marker.is_file():
        raise ArtifactError(f"{work}: no complete statistics ({CLASS_STATS_FILE} missing); run `lt-data stats` first")
    summary = read_json(marker)
    if verify:
        for name, sha in summary.get("artifacts", {}).items():
            path = work / name
            if not path.is_file():
                raise ArtifactError(f"{path}: missing; re-run `lt-data stats`")
            if file_sha256(path) != sha:
                raise ArtifactError(f"{path}: changed since {CLASS_STATS_FILE} was written; re-run `lt-data stats`")
    dataset = read_json(work / DATASET_FILE)
    table = ClassTable.from_manifest(dataset["class_table"])
    samples = [Sample(**r) for r in read_jsonl(work / SAMPLES_FILE)]
    counts = np.load(work / COUNTS_FILE)
    ignored = np.load(work / IGNORED_FILE)
    skipped = [BadInput(**b) for b in dataset.get("skipped", [])]
    return ClassStats(table=table, samples=samples, counts=counts, ignored=ignored, dataset=dataset, skipped=skipped)


def open_layout(work: str | Path) -> Layout:
    """The layout the statistics in ``work`` were computed from (to read its images and labels)."""
    from .layouts import get_layout

    dataset = read_json(Path(work) / DATASET_FILE)
    return get_layout(dataset["layout"], dataset["root"], dataset["split"], **dataset.get("options", {}))


def stats_fingerprint(work: str | Path) -> str:
    """A short hash of the statistics a later artifact was built from."""
    return file_sha256(Path(work) / CLASS_STATS_FILE)[:16]


def run_stats(layout: Layout, out: str | Path, *, workers: int | None = None, skip_bad: bool = False,
              progress: bool = True) -> ClassStats:
    """The ``stats`` stage: count and write. Returns the statistics."""
    t0 = time.perf_counter()
    stats = compute_stats(layout, workers=workers, skip_bad=skip_bad, progress=progress)
    stats.dataset["seconds"] = round(time.perf_counter() - t0, 3)
    write_stats(stats, out)
    return stats


def format_table(stats: ClassStats, limit: int = 40) -> str:
    """A plain-text summary table, rarest classes last."""
    order = np.argsort(-stats.pixels, kind="stable")
    rows = order if len(order) <= limit else np.concatenate([order[: limit // 2], order[-limit // 2:]])
    width = max(5, max(len(n) for n in stats.table.names))
    lines = [f"{'id':>4}  {'class':<{width}}  {'pixels':>14}  {'share':>8}  {'images':>7}  {'img share':>9}"]
    share, ishare, pixels, images = stats.pixel_share, stats.image_share, stats.pixels, stats.images
    for j, k in enumerate(rows):
        if len(order) > limit and j == limit // 2:
            lines.append(f"{'...':>4}  ({len(order) - limit} classes not shown)")
        lines.append(f"{k:>4}  {stats.table.names[k]:<{width}}  {pixels[k]:>14,}  {share[k]:>8.3%}  "
                     f"{images[k]:>7}  {ishare[k]:>9.1%}")
    lines.append(f"{stats.num_images} images, {stats.labelled_pixels:,} labelled pixels, "
                 f"{int(stats.ignored.sum()):,} ignored" + (f", {len(stats.skipped)} bad samples skipped"
                                                             if stats.skipped else ""))
    return "\n".join(lines)
