"""Reading a tail-object bank: :class:`TailBank`.

The small index arrays are loaded into numpy at open (one (N, 9) int64 matrix); object bytes come
from one of the buffers of :mod:`lt_data.stores.bank.buffers`, chosen by ``mode``. Opening, checks, pickling
and per-class drawing are the store layer's (:class:`lt_data.stores.zarr_store.StoreReader`).
"""

from __future__ import annotations

import math
import os
from typing import Literal, Sequence

import numpy as np

from ...core.classes import ClassTable, class_ids_problem
from ...core.errors import ArtifactError, show_path
from ...core.names import BANK_DIR
from ...jobs.artifacts import location, store_size
from ..zarr_store import StoreReader
from .buffers import MemoryBuffer, MmapBuffer, RangeBuffer, ZarrBuffer, raw_chunks

SCHEMA = "lt-data/tail-bank"
SCHEMA_VERSION = 1
DEFAULT_MAX_MEMORY = 2 << 30  # "auto" mode holds a non-local bank in RAM up to this many bytes
READ_MODES = ("auto", "mmap", "memory", "ranges", "zarr")

# Columns of the (N, 9) int64 matrix a reader keeps in RAM; the store holds one array per column.
COLUMNS = ("class_id", "sample", "y0", "x0", "h", "w", "area", "pixel_offset", "mask_offset")


def check_class_list(url: str, attrs: dict, table: ClassTable, rebuild: str) -> None:
    """Refuse a store whose ``classes`` attribute (root ``zarr.json``, which the file manifest does not
    cover) is not a list of distinct class ids of its class table: an edited id would index past the
    table in ``bank info``, the report and training. Shared by the bank and cutmix readers."""
    problem = class_ids_problem(attrs.get("classes"), table.num_classes)
    if problem:
        raise ArtifactError(f'{show_path(url)}: attribute "classes" in zarr.json {problem} (the store\'s class '
                            f"table {table.dataset!r}); {rebuild}")


class TailBank(StoreReader):
    """Reader of a complete ``bank.zarr``.

    ``TailBank.open(path_or_url, work=WORK)``; then ``len(bank)``, ``bank.classes``, ``bank.count(c)``,
    ``bank.get(i)``, ``bank.get_many(indices)``, ``bank.sample(class_ids, generator)``.

    Opening checks the schema version, the completion marker, the sizes of the files the build wrote,
    and, when asked (``work``, ``expect_stats``, ``expect_table``), the statistics and class table the
    bank was built from. Reading modes (``mode``): ``mmap`` memory-maps the raw chunk files of a local
    store (the default there: shared page cache, no load time, ~10^5 reads/s); ``memory`` loads the
    flat buffers into RAM; ``ranges`` does positioned reads of the chunk files through fsspec, batched
    per ``get_many`` (object storage); ``zarr`` reads through zarr (slow, ~10^3/s). ``auto``: ``mmap``
    for local stores, else ``memory`` when the buffers fit in ``max_memory_bytes``, else ``ranges``.

    A TailBank pickles as its URL and options only: a spawned DataLoader worker (or another rank)
    reopens the store lazily on first use; a forked worker keeps the parent's maps, which is safe
    because they are read-only.
    """

    DIR, SCHEMA, SCHEMA_VERSION, COMMAND = BANK_DIR, SCHEMA, SCHEMA_VERSION, "bank build"

    def __init__(self, url: str, *, storage_options: dict | None = None, mode: Literal["auto", "mmap", "memory", "zarr"] = "auto",
                 max_memory_bytes: int = DEFAULT_MAX_MEMORY):
        if mode not in READ_MODES:
            raise ValueError(f"mode must be one of {READ_MODES}, got {mode!r}")
        super().__init__(url, storage_options=storage_options)
        self.mode = mode
        self.max_memory_bytes = int(max_memory_bytes)

    def _options(self) -> dict:
        return {"storage_options": self.storage_options, "mode": self.mode, "max_memory_bytes": self.max_memory_bytes}

    def _load_arrays(self, group) -> None:
        attrs = self.attrs
        check_class_list(self.url, attrs, self.table, self._rebuild_hint())
        cols = [group[name][...] for name in ("class_id", "sample")]
        box = group["box"][...].astype(np.int64).reshape(-1, 4)
        self._rows = np.column_stack([cols[0], cols[1], box, group["area"][...], group["pixel_offset"][...],
                                      group["mask_offset"][...]]).astype(np.int64)  # (N, 9) in COLUMNS order
        self._class_start = group["class_start"][...].astype(np.int64)
        mode = self.mode
        fs, root, local = location(self.url, self.storage_options)
        raw = raw_chunks(group["pixels"]) and raw_chunks(group["masks"])
        size = int(attrs.get("pixel_bytes", 0)) + int(attrs.get("mask_bytes", 0))
        if mode == "auto":
            mode = "mmap" if local and raw else "memory" if size <= self.max_memory_bytes or not raw else "ranges"
        if mode in ("mmap", "ranges") and not raw:
            raise ArtifactError(f"{self.url}: mode {mode!r} needs uncompressed chunks; this store's pixels are "
                                f"encoded with {group['pixels'].metadata.codecs}; use mode 'memory' or 'zarr'")
        if mode == "mmap" and not local:
            raise ArtifactError(f"{self.url}: mode 'mmap' needs a local store; use 'memory' or 'ranges'")
        self._buffers = {}
        for name in ("pixels", "masks"):
            arr = group[name]
            if mode == "memory":
                self._buffers[name] = MemoryBuffer(arr[...])
            elif mode == "zarr":
                self._buffers[name] = ZarrBuffer(arr)
            else:
                chunk = arr.chunks[0]
                nchunks = math.ceil(arr.shape[0] / chunk)
                paths = [f"{root}/{name}/{arr.metadata.encode_chunk_key((k,))}" for k in range(nchunks)]
                self._buffers[name] = MmapBuffer(paths, chunk) if mode == "mmap" else RangeBuffer(fs, paths, chunk)
        self.resolved_mode = mode
        self._names = self.table.names

    def _ensure(self) -> None:
        if not self._loaded:
            self._load()
        elif self._pid != os.getpid() and self.resolved_mode == "ranges":
            self._load()  # network clients do not survive a fork

    def __repr__(self) -> str:
        if not self._loaded:
            return f"TailBank({self.url!r}, not loaded)"
        return f"TailBank({self.url!r}, {len(self)} objects, classes {self.classes}, mode {self.resolved_mode!r})"

    # ---- index ----------------------------------------------------------------------------------
    def __len__(self) -> int:
        self._ensure()
        return len(self._rows)

    def objects_of(self, class_id: int) -> range:
        """Indices of the objects of ``class_id``."""
        s = self._span(class_id)
        return range(s.start, s.stop)

    def column(self, name: str) -> np.ndarray:
        """One index column over all objects: ``class_id``, ``sample``, ``area`` (N,) or ``box`` (N, 4)
        (y0, x0, h, w)."""
        self._ensure()
        if name == "box":
            return self._rows[:, 2:6]
        if name not in COLUMNS:
            raise KeyError(f"no column {name!r}; columns: box, {', '.join(COLUMNS)}")
        return self._rows[:, COLUMNS.index(name)]

    # ---- objects --------------------------------------------------------------------------------
    def _meta(self, i: int, row: list[int]) -> dict:
        c, s, y0, x0, h, w, area = row[:7]
        return {"index": i, "class_id": c, "class_name": self._names[c], "box": (y0, x0, h, w), "area": area,
                "sample": s, "source": self.samples[s]["id"]}

    def get(self, i: int) -> tuple[np.ndarray, np.ndarray, dict]:
        """Object ``i``: pixels (h, w, 3) uint8 RGB, mask (h, w) bool, metadata dict with
        ``index``, ``class_id``, ``class_name``, ``box`` (y0, x0, h, w) in the source image,
        ``area`` (mask pixels), ``sample`` (row of the statistics) and ``source`` (sample id)."""
        self._ensure()
        n = len(self._rows)
        if not -n <= i < n:
            raise IndexError(f"object {i} outside 0..{n - 1} of {self.url}")
        i = int(i) % n
        row = self._rows[i].tolist()
        h, w = row[4], row[5]
        pixels = np.array(self._buffers["pixels"].read(row[7], h * w * 3)).reshape(h, w, 3)
        mask = np.unpackbits(self._buffers["masks"].read(row[8], (h * w + 7) // 8), count=h * w).reshape(h, w)
        return pixels, mask.view(bool), self._meta(i, row)

    def __getitem__(self, i: int):
        return self.get(i)

    def get_many(self, indices: Sequence[int] | np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray], dict]:
        """Objects at ``indices`` in one call: (list of pixels (h, w, 3) uint8, list of masks (h, w)
        bool, columns dict of arrays ``index``, ``class_id``, ``sample`` (n,), ``box`` (n, 4) (y0, x0,
        h, w), ``area`` (n,)). Remote stores fetch the whole batch in one request round."""
        self._ensure()
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        n = len(self._rows)
        if len(idx) and (idx.min() < -n or idx.max() >= n):
            raise IndexError(f"object indices outside 0..{n - 1} of {self.url}")
        idx = idx % max(n, 1)
        rows = self._rows[idx]
        h, w = rows[:, 4], rows[:, 5]
        pix = self._buffers["pixels"].read_many(rows[:, 7].tolist(), (h * w * 3).tolist())
        msk = self._buffers["masks"].read_many(rows[:, 8].tolist(), ((h * w + 7) // 8).tolist())
        pixels, masks = [], []
        for p, m, hh, ww in zip(pix, msk, h.tolist(), w.tolist()):
            pixels.append(np.array(p).reshape(hh, ww, 3))
            masks.append(np.unpackbits(m, count=hh * ww).reshape(hh, ww).view(bool))
        cols = {"index": idx, "class_id": rows[:, 0].copy(), "sample": rows[:, 1].copy(), "box": rows[:, 2:6].copy(),
                "area": rows[:, 6].copy()}
        return pixels, masks, cols

    def sample(self, class_ids: Sequence[int] | np.ndarray, generator) -> np.ndarray:
        """One object index drawn uniformly among the objects of each class in ``class_ids``.

        class_ids: (n,) train ids (repeats draw several objects of a class). generator: a
        ``numpy.random.Generator`` or a ``torch.Generator``. One uniform number is drawn per entry of
        ``class_ids`` whatever the bank holds (so the generator's stream does not depend on the
        bank); entries whose class holds no object are skipped, so the result (m,) int64 has
        ``m <= n`` entries, in the order of ``class_ids``. Use ``bank.column("class_id")[result]``
        to see which classes were drawn.
        """
        _, start, pick = self._draw(class_ids, generator)
        return start + pick

    # ---- summaries ------------------------------------------------------------------------------
    def summary(self) -> dict:
        """Per-class counts, source images, area and box-size distributions, and size on disk."""
        self._ensure()
        per = []
        area, smp, box = self._rows[:, 6], self._rows[:, 1], self._rows[:, 2:6]
        for c in self.classes:
            sl = slice(int(self._class_start[c]), int(self._class_start[c + 1]))
            a = area[sl]
            q = np.percentile(a, [0, 10, 50, 90, 100]).round().astype(int).tolist() if len(a) else [0] * 5
            per.append({"id": c, "name": self.table.names[c], "objects": int(len(a)),
                        "images": int(len(np.unique(smp[sl]))), "area_min": q[0], "area_p10": q[1],
                        "area_median": q[2], "area_p90": q[3], "area_max": q[4],
                        "box_median_hw": [int(np.median(box[sl, 2])), int(np.median(box[sl, 3]))] if len(a) else [0, 0]})
        return {"url": self.url, "objects": len(self), "classes": per, "params": self.params,
                "fingerprints": self.attrs.get("fingerprints"), "dataset": self.attrs.get("dataset"),
                "pixel_bytes": self.attrs.get("pixel_bytes"), "mask_bytes": self.attrs.get("mask_bytes"),
                "disk_bytes": store_size(self.url, self.storage_options), "read_mode": self.resolved_mode,
                "built_at": self.attrs.get("built_at"), "build_seconds": self.attrs.get("seconds")}


__all__ = ["BANK_DIR", "COLUMNS", "READ_MODES", "TailBank", "check_class_list"]
