"""``bank build``: every selected object of a split, extracted in worker processes, into one zarr store.

Reads the statistics (images without a selected class are never decoded) and, for bucket classes,
``buckets.json`` (checked against the statistics). Objects stream into flat uncompressed byte buffers
written in whole chunks; index arrays sorted by class follow; ``complete`` goes last. The store is
built in a temporary sibling and moved into place whole, under the store's lock
(:func:`lt_data.jobs.artifacts.write_store`). Schema in ``docs/BANK_FORMAT.md``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import numpy as np

from ...core.errors import DataError, LtDataError
from ...jobs.parallel import map_samples, resolve_workers
from ...jobs.artifacts import write_store
from ..provenance import build_inputs
from ..zarr_store import begin_store, create_array, finish_store, up_to_date
from .extract import (CHOICES, DEFAULT_CHOOSE, DEFAULT_CONNECTIVITY, DEFAULT_MIN_AREA, choose_objects,
                      extract_objects, scan_components)
from .reader import BANK_DIR, SCHEMA, SCHEMA_VERSION

PIXEL_CHUNK = 8 << 20  # bytes per chunk of the flat pixel buffer
MASK_CHUNK = 1 << 20  # bytes per chunk of the flat bit-packed mask buffer
DASK_EXTRACT_CHUNK = 16  # images per Dask task of the extraction pass (their objects travel back together)


def _scan_task(state: dict, task: tuple) -> np.ndarray:
    i, classes, _ = task
    label = state["layout"].read_label(state["samples"][i])
    return scan_components(label, classes, min_area=state["min_area"], connectivity=state["connectivity"])


def _extract_task(state: dict, task: tuple) -> tuple:
    i, classes, keep = task
    layout, sample = state["layout"], state["samples"][i]
    label = layout.read_label(sample)
    try:
        return extract_objects(lambda: layout.read_image(sample), label, classes, min_area=state["min_area"],
                               connectivity=state["connectivity"], keep=keep)
    except ValueError as e:
        raise DataError(layout.image_path(sample), str(e)) from None


class _Appender:
    """Appends bytes to a 1-D uint8 zarr array, writing whole chunks only (no read-modify-write)."""

    def __init__(self, array, chunk: int):
        self.array, self.chunk = array, chunk
        self.pending: list[bytes] = []
        self.pending_bytes = 0
        self.written = 0

    @property
    def size(self) -> int:
        return self.written + self.pending_bytes

    def append(self, data: bytes) -> int:
        offset = self.size
        if data:
            self.pending.append(data)
            self.pending_bytes += len(data)
            if self.pending_bytes >= self.chunk:
                self._flush(final=False)
        return offset

    def _flush(self, final: bool) -> None:
        buf = b"".join(self.pending)
        n = len(buf) if final else len(buf) // self.chunk * self.chunk
        if n:
            self.array.resize((self.written + n,))
            self.array[self.written:self.written + n] = np.frombuffer(buf, dtype=np.uint8, count=n)
            self.written += n
        rest = buf[n:]
        self.pending = [rest] if rest else []
        self.pending_bytes = len(rest)

    def close(self) -> int:
        self._flush(final=True)
        return self.written


def validate_params(min_area: int, max_per_class: int | None, choose: str, connectivity: int) -> None:
    if connectivity not in (4, 8):
        raise LtDataError(f"--connectivity must be 4 or 8, got {connectivity}")
    if min_area < 1:
        raise LtDataError(f"--min-area must be at least 1 pixel, got {min_area}")
    if max_per_class is not None and max_per_class < 1:
        raise LtDataError(f"--max-per-class must be at least 1, got {max_per_class}")
    if choose not in CHOICES:
        raise LtDataError(f"--choose must be one of {', '.join(CHOICES)}, got {choose!r}")


def build_bank(work: str | Path, *, classes: str | Sequence[int] | None = "tail", min_area: int = DEFAULT_MIN_AREA,
               max_per_class: int | None = None, choose: str = DEFAULT_CHOOSE, seed: int = 0,
               connectivity: int = DEFAULT_CONNECTIVITY, workers: int | None = None, out: str | Path | None = None,
               storage_options: dict | None = None, force: bool = False, skip_bad: bool = False,
               progress: bool = True, backend: str = "processes", scheduler: str | None = None) -> str:
    """The ``bank build`` stage: extract every selected object of the split into ``WORK/bank.zarr``.

    An existing complete bank built with the same parameters from the same statistics is kept unless
    ``force``. Otherwise a new store is built aside and replaces the old one only when complete; an
    existing ``out`` that is not a bank is refused, never deleted. A bad sample (unreadable image,
    image/label size mismatch) fails the build naming every bad file, or with ``skip_bad`` is
    skipped and listed in the store's ``skipped`` attribute. ``storage_options`` apply to ``out`` and
    to a dataset root that is a URL; ``backend``/``scheduler``: see :func:`lt_data.jobs.parallel.map_samples`.
    Objects stream into the store as they arrive: memory holds the per-object index rows, never the
    pixels of more than a few images. Returns the store's path or URL.
    """
    from ...core.fs import as_path, is_local
    from ...data.stats import open_layout

    work = as_path(work)  # a file:// URL is a local path
    if not is_local(work):
        raise LtDataError(f"{work}: build_bank reads a local work directory; for one at a URL call "
                          "lt_data.entry.stages.on_local_copy('bank', url, ...)")
    validate_params(min_area, max_per_class, choose, connectivity)
    workers = resolve_workers(workers)
    t0 = time.perf_counter()
    work, stats, ids, class_record, out = build_inputs(work, classes, out, BANK_DIR)
    params = {"classes": ids, "class_source": class_record, "min_area": int(min_area),
              "max_per_class": None if max_per_class is None else int(max_per_class),
              "choose": choose, "seed": int(seed), "connectivity": int(connectivity)}
    fingerprints = work.fingerprints()
    if not force and up_to_date(out, storage_options, SCHEMA_VERSION, params, fingerprints):
        return out

    layout, samples = open_layout(work, storage_options), stats.samples
    state = {"layout": layout, "samples": samples, "min_area": int(min_area), "connectivity": int(connectivity)}
    sel = np.array(ids, dtype=np.int64)
    present = stats.counts[:, sel] > 0
    tasks_idx = np.flatnonzero(present.any(axis=1))
    skipped: list = []

    def run(func, tasks, desc, chunksize=None):
        return map_samples(func, tasks, state, workers=workers, skip_bad=skip_bad, bad=skipped, desc=desc,
                           progress=progress, describe=lambda p: str(layout.label_path(samples[tasks[p][0]])),
                           backend=backend, scheduler=scheduler, chunksize=chunksize)

    with write_store(out, SCHEMA, "tail bank", storage_options) as target:
        group = begin_store(target, storage_options, SCHEMA, SCHEMA_VERSION, stats, ids, params, fingerprints)

        keep_by_image: dict[int, dict[int, np.ndarray]] | None = None
        if max_per_class is not None:  # pass 1 (labels only): areas of all candidates, then the seeded choice
            tasks = [(int(i), sel[present[i]].tolist(), None) for i in tasks_idx]
            cand = [np.column_stack([np.full(len(rows), tasks[p][0], np.int64), rows])
                    for p, rows in run(_scan_task, tasks, "bank scan")]
            cand = np.concatenate(cand) if cand else np.zeros((0, 4), np.int64)
            kept = cand[choose_objects(cand, max_per_class, choose, seed)]
            keep_by_image = {}
            for i, c, j, _ in kept.tolist():
                keep_by_image.setdefault(i, {}).setdefault(c, []).append(j)
            keep_by_image = {i: {c: np.array(js, np.int64) for c, js in d.items()} for i, d in keep_by_image.items()}
            tasks_idx = np.array(sorted(keep_by_image), dtype=np.int64)

        tasks = [(int(i), sel[present[i]].tolist(), None if keep_by_image is None else keep_by_image[int(i)])
                 for i in tasks_idx]
        pixels = _Appender(create_array(group, "pixels", shape=(0,), dtype=np.uint8, chunks=(PIXEL_CHUNK,)),
                           PIXEL_CHUNK)
        masks = _Appender(create_array(group, "masks", shape=(0,), dtype=np.uint8, chunks=(MASK_CHUNK,)), MASK_CHUNK)
        metas = []
        # a Dask chunk's result holds its objects' pixels until written: small chunks keep that bounded
        for p, (meta, pix, msk) in run(_extract_task, tasks, "bank build",
                                       DASK_EXTRACT_CHUNK if backend == "dask" else None):
            if not len(meta):
                continue
            h, w = meta[:, 4], meta[:, 5]
            pix_off = pixels.append(pix) + np.concatenate([[0], np.cumsum(h * w * 3)[:-1]])
            msk_off = masks.append(msk) + np.concatenate([[0], np.cumsum((h * w + 7) // 8)[:-1]])
            metas.append(np.column_stack([np.full(len(meta), tasks[p][0], np.int64), meta, pix_off, msk_off]))
        pixel_bytes, mask_bytes = pixels.close(), masks.close()

        # rows: sample, class, component, y0, x0, h, w, area, pixel_offset, mask_offset → sort by class
        m = np.concatenate(metas) if metas else np.zeros((0, 10), np.int64)
        m = m[np.lexsort((m[:, 2], m[:, 0], m[:, 1]))]
        k = stats.table.num_classes
        create_array(group, "class_id", m[:, 1].astype(np.int32))
        create_array(group, "sample", m[:, 0].astype(np.int32))
        create_array(group, "box", m[:, 3:7].astype(np.int32))
        create_array(group, "area", m[:, 7].copy())
        create_array(group, "pixel_offset", m[:, 8].copy())
        create_array(group, "mask_offset", m[:, 9].copy())
        counts = np.bincount(m[:, 1], minlength=k)
        create_array(group, "class_start", np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))
        finish_store(group, target, storage_options, started=t0, skipped=skipped, num_objects=int(len(m)),
                     counts={str(c): int(counts[c]) for c in ids}, pixel_bytes=int(pixel_bytes),
                     mask_bytes=int(mask_bytes), images_scanned=int(present.any(axis=1).sum()),
                     images_with_objects=int(len(np.unique(m[:, 0]))))
    return out


__all__ = ["MASK_CHUNK", "PIXEL_CHUNK", "build_bank", "validate_params"]
