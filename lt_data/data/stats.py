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
    class_stats.json     totals and shares per class, the content hashes of the files above and their
                         fingerprint; written last, it marks the statistics complete

The statistics' fingerprint (:func:`stats_fingerprint`) hashes the content of the four files, never
a timestamp: re-running the same statistics gives the same fingerprint, so artifacts built from them
(buckets, bank, cutmix, runs) stay valid; statistics of anything else give another, and those
artifacts are refused.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import __version__
from ..core.classes import ClassTable
from ..core.errors import ArtifactError, BadInput, DataError
from ..core.io import atomic_save_npy, atomic_write_bytes, atomic_write_json, file_sha256, read_json
from .layouts import Layout, Sample
from .layouts.base import unknown_values_problem
from ..jobs.parallel import Backend, map_samples, resolve_workers
from ..jobs.artifacts import lock, output_dir

from ..core.names import CLASS_STATS_FILE, COUNTS_FILE, DATASET_FILE, IGNORED_FILE, SAMPLES_FILE, STATS_FILES


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
    def samples_bytes(self) -> bytes:
        """The content of ``samples.jsonl``: one JSON record per sample."""
        return "".join(json.dumps(s.to_json(), ensure_ascii=False) + "\n" for s in self.samples).encode("utf-8")

    @property
    def samples_fingerprint(self) -> str:
        return hashlib.sha256(self.samples_bytes).hexdigest()[:16]

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


def _count_task(state: tuple[Layout, list[Sample]], i: int) -> tuple[np.ndarray, int, int]:
    layout, samples = state
    return count_sample(layout, samples[i])


_FOLD_BLOCK = 4096  # raw histograms folded per block: memory stays (N, K) tables, never (N, 256)


def compute_stats(layout: Layout, *, workers: int | None = None, skip_bad: bool = False, progress: bool = True,
                  backend: Backend = "processes", scheduler: str | None = None) -> ClassStats:
    """Scan the layout and count every sample's classes. Raises :class:`DataError` on bad input
    unless ``skip_bad``, which skips bad samples and lists them in ``ClassStats.skipped``.
    ``backend``/``scheduler``: see :func:`lt_data.jobs.parallel.map_samples`."""
    samples, bad = layout.scan()
    workers = resolve_workers(workers)
    if not samples and not bad:
        raise DataError(layout.root, f"empty split {layout.split!r}: no image/label pairs found for the "
                                     f"{layout.name} layout")
    n, k = len(samples), layout.table.num_classes
    counts_all = np.zeros((n, k), dtype=np.int64)
    ignored_all = np.zeros(n, dtype=np.int64)
    sizes = np.zeros((n, 2), dtype=np.int64)
    ok = np.zeros(n, dtype=bool)
    block, where = np.zeros((_FOLD_BLOCK, 256), dtype=np.int64), []

    def fold() -> None:
        c, g = layout.table.fold_histograms(block[:len(where)])
        counts_all[where], ignored_all[where] = c, g
        where.clear()

    skipped = list(bad)  # unpaired files found by the scan are reported (or skipped) with the bad labels
    results = map_samples(_count_task, range(n), (layout, samples), workers=workers, ordered=False,
                          skip_bad=skip_bad, bad=skipped, desc=f"stats {layout.name}/{layout.split}",
                          progress=progress, describe=lambda i: str(layout.label_path(samples[i])),
                          backend=backend, scheduler=scheduler)
    for i, (hist, h, w) in results:
        block[len(where)] = hist
        where.append(i)
        if len(where) == _FOLD_BLOCK:
            fold()
        sizes[i] = (h, w)
        ok[i] = True
    fold()

    if not ok.any():
        raise DataError(layout.root, f"empty split {layout.split!r}: all {len(skipped)} samples were bad "
                                     f"(first: {skipped[0]})")
    idx = np.flatnonzero(ok)
    kept = []
    for i in idx:
        s = samples[i]
        s.height, s.width = int(sizes[i, 0]), int(sizes[i, 1])
        kept.append(s)
    counts, ignored = counts_all[idx], ignored_all[idx]
    dataset = layout.describe() | {"class_table": layout.table.to_json(), "ignore_index": layout.table.ignore_index,
                                   "tool": "lt-data", "version": __version__,
                                   "warnings": list(getattr(layout, "warnings", []))}
    return ClassStats(table=layout.table, samples=kept, counts=counts, ignored=ignored, dataset=dataset,
                      skipped=skipped)


# ---- artifacts ----------------------------------------------------------------------------------

def write_stats(stats: ClassStats, work: str | Path, *, seconds: float | None = None) -> Path:
    """Write the statistics artifacts under the work directory's statistics lock; ``class_stats.json``
    goes last and marks them complete. ``seconds`` (the run's duration) is recorded there, outside
    the fingerprint."""
    work = output_dir(work, "--out work directory")
    with lock(work / "statistics", "statistics"):
        check_stats_dir(work)
        (work / CLASS_STATS_FILE).unlink(missing_ok=True)  # an interrupted rewrite must not look complete
        dataset = dict(stats.dataset)
        dataset["num_samples"] = stats.num_images
        dataset["skipped"] = [b.to_json() for b in stats.skipped]
        atomic_write_json(work / DATASET_FILE, dataset)  # first: it says whose the files are (check_stats_dir)
        atomic_write_bytes(work / SAMPLES_FILE, stats.samples_bytes)
        atomic_save_npy(work / COUNTS_FILE, stats.counts)
        atomic_save_npy(work / IGNORED_FILE, stats.ignored)
        summary = stats.summary()
        summary["artifacts"] = {name: file_sha256(work / name)
                                for name in (SAMPLES_FILE, DATASET_FILE, COUNTS_FILE, IGNORED_FILE)}
        summary["fingerprint"] = _fingerprint(summary["artifacts"])
        summary["version"] = __version__
        summary["seconds"] = seconds
        atomic_write_json(work / CLASS_STATS_FILE, summary)
    return work


def check_stats_dir(work: Path) -> None:
    """Refuse to overwrite statistics files in ``work`` that lt-data did not write: a folder holding a
    ``dataset.json``, ``class_stats.json``, ``samples.jsonl`` or counts ``.npy`` of its own is not
    replaced. Ours: a ``dataset.json`` or ``class_stats.json`` that says so (``dataset.json`` is
    written first, so an interrupted run's files are recognised too)."""
    present = [n for n in STATS_FILES if (work / n).exists()]
    if not present:
        return
    for name, key in ((DATASET_FILE, "tool"), (CLASS_STATS_FILE, "artifacts")):
        try:
            d = read_json(work / name)
        except (OSError, ValueError):
            continue
        if isinstance(d, dict) and (d.get(key) == "lt-data" if key == "tool" else isinstance(d.get(key), dict)):
            return
    raise ArtifactError(f"{work}: holds {', '.join(present)} that lt-data did not write; refusing to overwrite "
                        "them (choose another --out)")


def _fingerprint(artifacts: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(artifacts, sort_keys=True).encode()).hexdigest()[:16]


def _read_marker(work: Path) -> dict:
    marker = work / CLASS_STATS_FILE
    if not marker.is_file():
        raise ArtifactError(f"{work}: no complete statistics ({CLASS_STATS_FILE} missing); run `lt-data stats` first")
    try:
        summary = read_json(marker)
        summary["artifacts"][SAMPLES_FILE]
    except (ValueError, KeyError, TypeError):
        raise ArtifactError(f"{marker}: not a statistics file written by lt-data (unreadable or edited); "
                            f"re-run `lt-data stats`") from None
    return summary


def load_stats(work: str | Path, *, verify: bool = True) -> ClassStats:
    """Read complete statistics from a work directory. With ``verify`` (the default) every file is
    checked against the hashes in ``class_stats.json`` and the totals there against the counts, so
    altered or edited statistics are refused."""
    work = Path(work)
    summary = _read_marker(work)
    if verify:
        for name, sha in summary["artifacts"].items():
            path = work / name
            if not path.is_file():
                raise ArtifactError(f"{path}: missing; re-run `lt-data stats`")
            if file_sha256(path) != sha:
                raise ArtifactError(f"{path}: changed since {CLASS_STATS_FILE} was written; re-run `lt-data stats`")
    dataset = read_json(work / DATASET_FILE)
    table = ClassTable.from_manifest(dataset["class_table"])
    with open(work / SAMPLES_FILE, encoding="utf-8") as f:
        samples = [Sample(**json.loads(line)) for line in f if line.strip()]
    counts = np.load(work / COUNTS_FILE)
    ignored = np.load(work / IGNORED_FILE)
    skipped = [BadInput(**b) for b in dataset.get("skipped", [])]
    stats = ClassStats(table=table, samples=samples, counts=counts, ignored=ignored, dataset=dataset, skipped=skipped)
    if verify:
        expected = stats.summary()
        if any(summary.get(key) != value for key, value in expected.items()):
            raise ArtifactError(f"{work / CLASS_STATS_FILE}: its totals differ from {COUNTS_FILE} (edited by hand?); "
                                f"re-run `lt-data stats`")
    return stats


def open_layout(work: str | Path, storage_options: dict | None = None) -> Layout:
    """The layout the statistics in ``work`` were computed from (to read its images and labels);
    ``storage_options`` for a dataset root that is a URL."""
    from .layouts import get_layout

    dataset = read_json(Path(work) / DATASET_FILE)
    return get_layout(dataset["layout"], dataset["root"], dataset["split"], storage_options=storage_options,
                      **dataset.get("options", {}))


def stats_fingerprint(work: str | Path) -> str:
    """A short hash of the content of the statistics in ``work`` (never of a timestamp): what later
    artifacts record as built from, and what their readers compare."""
    return _fingerprint(_read_marker(Path(work))["artifacts"])


def run_stats(layout: Layout, out: str | Path, *, workers: int | None = None, skip_bad: bool = False,
              progress: bool = True, backend: Backend = "processes", scheduler: str | None = None) -> ClassStats:
    """The ``stats`` stage: count and write to the local directory ``out`` (for a URL:
    ``lt_data.entry.stages.on_local_copy("stats", url, layout, ...)``). Returns the statistics."""
    from ..core.errors import LtDataError
    from ..core.fs import as_path, check_location, is_local

    check_location(out, "statistics output")
    out = as_path(out)  # a file:// URL is a local path
    if not is_local(out):
        raise LtDataError(f"{out}: run_stats writes a local directory; for one at a URL call "
                          "lt_data.entry.stages.on_local_copy('stats', url, layout, ...)")
    t0 = time.perf_counter()
    stats = compute_stats(layout, workers=workers, skip_bad=skip_bad, progress=progress, backend=backend,
                          scheduler=scheduler)
    write_stats(stats, out, seconds=round(time.perf_counter() - t0, 3))
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
