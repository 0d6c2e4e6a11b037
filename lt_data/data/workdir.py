"""The work directory: one object for the folder that holds one split's artifacts.

A work directory is where ``lt-data stats`` wrote a split's statistics and where every later stage
puts its artifact (docs/FORMATS.md)::

    WORK/class_stats.json, dataset.json, samples.jsonl, pixel_counts.npy, ignored_pixels.npy   stats
    WORK/buckets.json                                                                           buckets
    WORK/bank.zarr, WORK/cutmix.zarr                                                            the stores
    WORK/report/, WORK/exports/, WORK/runs/RECIPE/, WORK/eval-SPLIT/                            views, runs

:class:`WorkDir` builds those paths (from the names in :mod:`lt_data.core.names`, spelled nowhere else)
and loads the statistics, the buckets and their fingerprints once: a second ask returns what the
first one read, until one of the files it was read from changes (its size, modification time or
inode: every lt-data write replaces a file by rename, so a rewrite always shows). ``WorkDir.of(p)``
returns the one object of that folder in this process (the last few stay cached after use), so stages
handed a path share what it read too.

It is a path (``os.fspath(work)``, ``work / "name"``), so every function that takes a path takes it.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
import weakref
from pathlib import Path
from typing import Callable, TypeVar

from ..core.names import (BANK_DIR, BUCKETS_FILE, CLASS_STATS_FILE, CUTMIX_DIR, DATASET_FILE, EXPORTS_DIR, REPORT_DIR,
                    RUNS_DIR, STATS_FILES, STORES, PasteMode)

T = TypeVar("T")


def _signature(paths) -> tuple:
    """What changes when any of ``paths`` is rewritten (None for a missing file)."""
    out = []
    for p in paths:
        try:
            st = os.stat(p)
        except OSError:
            out.append(None)
        else:
            out.append((st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(out)


class WorkDir(os.PathLike):
    """A work directory (module docstring): its artifact paths and its cached statistics and buckets."""

    _interned: "weakref.WeakValueDictionary[str, WorkDir]" = weakref.WeakValueDictionary()
    _intern_lock = threading.Lock()
    _recent: "OrderedDict[str, WorkDir]" = OrderedDict()
    KEEP = 4  # work directories kept read after their last user let go

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._memo: dict[str, tuple[tuple, object]] = {}

    @classmethod
    def of(cls, work: "str | os.PathLike | WorkDir") -> "WorkDir":
        """``work`` itself when it is a WorkDir, else this process's WorkDir of that folder."""
        if isinstance(work, WorkDir):
            return work
        key = os.path.abspath(work)
        with cls._intern_lock:
            found = cls._interned.get(key)
            if found is None or found.path != Path(work):
                found = cls(work)
                cls._interned[key] = found
            cls._recent[key] = found  # the last few stay alive between stages: `lt-data run`'s report and
            cls._recent.move_to_end(key)  # trainer share one spatial prior
            while len(cls._recent) > cls.KEEP:
                cls._recent.popitem(last=False)
            return found

    # ---- a path ----------------------------------------------------------------------------------

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    def __str__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        return f"WorkDir({str(self.path)!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, WorkDir) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    def __reduce__(self):  # a worker process gets the path, and its own cache
        return (WorkDir, (self.path,))

    # ---- the artifacts' paths --------------------------------------------------------------------

    @property
    def stats_file(self) -> Path:
        """``class_stats.json``: written last, it marks the statistics complete."""
        return self.path / CLASS_STATS_FILE

    @property
    def stats_files(self) -> tuple[Path, ...]:
        return tuple(self.path / name for name in STATS_FILES)

    @property
    def dataset_file(self) -> Path:
        return self.path / DATASET_FILE

    @property
    def buckets_file(self) -> Path:
        return self.path / BUCKETS_FILE

    @property
    def bank(self) -> Path:
        return self.path / BANK_DIR

    @property
    def cutmix(self) -> Path:
        return self.path / CUTMIX_DIR

    def store(self, mode: PasteMode) -> Path:
        """The store a paste mode reads: ``bank.zarr`` or ``cutmix.zarr``."""
        return self.path / STORES[mode]

    @property
    def report(self) -> Path:
        return self.path / REPORT_DIR

    @property
    def exports(self) -> Path:
        return self.path / EXPORTS_DIR

    def run(self, recipe: str) -> Path:
        """``WORK/runs/RECIPE``: the reference trainer's default run directory of a recipe."""
        return self.path / RUNS_DIR / recipe

    def eval_split(self, split: str) -> Path:
        """``WORK/eval-SPLIT``: the statistics of an evaluation split, as ``lt-data run`` computes them."""
        return self.path / f"eval-{split}"

    def preview(self, mode: str) -> Path:
        return self.path / f"preview_{mode}.png"

    @property
    def has_stats(self) -> bool:
        return self.stats_file.is_file()

    @property
    def has_buckets(self) -> bool:
        return self.buckets_file.is_file()

    # ---- what it holds, read once ----------------------------------------------------------------

    def memo(self, key: str, files, load: Callable[[], T]) -> T:
        """``load()``, or what it returned last for ``key`` when none of ``files`` changed since."""
        sig = _signature(files)
        hit = self._memo.get(key)
        if hit is not None and hit[0] == sig:
            return hit[1]
        value = load()
        self._memo[key] = (sig, value)
        return value

    def stats(self, *, verify: bool = True):
        """The statistics (:class:`lt_data.data.stats.ClassStats`); with ``verify`` their files are checked
        against the hashes in ``class_stats.json`` (once per version of the files). Callers share the
        object: treat it as read-only."""
        from .stats import load_stats

        files = self.stats_files
        if not verify:
            sig = _signature(files)
            hit = self._memo.get("stats")
            if hit is not None and hit[0] == sig:
                return hit[1]
            return self.memo("stats_unverified", files, lambda: load_stats(self.path, verify=False))
        return self.memo("stats", files, lambda: load_stats(self.path))

    @property
    def fingerprint(self) -> str:
        """The statistics' content fingerprint (:func:`lt_data.data.stats.stats_fingerprint`)."""
        from .stats import stats_fingerprint

        return self.memo("fingerprint", (self.stats_file,), lambda: stats_fingerprint(self.path))

    @property
    def dataset(self) -> dict:
        """``dataset.json``: the layout, root, split, options and class table the statistics describe."""
        from ..core.io import read_json

        return self.memo("dataset", (self.dataset_file,),
                         lambda: read_json(self.dataset_file))

    @property
    def table(self):
        """The class table the statistics were computed with (refused, as the statistics are, when they
        are incomplete)."""
        from ..core.classes import ClassTable

        self.fingerprint  # noqa: B018 (raises the statistics' one-line error when they are incomplete)
        return self.memo("table", (self.dataset_file,),
                         lambda: ClassTable.from_manifest(self.dataset["class_table"]))

    def buckets(self, *, check: bool = True):
        """The buckets (:class:`lt_data.data.buckets.Buckets`) of ``buckets.json`` (:func:`lt_data.data.buckets.load_buckets`),
        refused when built from other statistics unless ``check`` is False."""
        from .buckets import load_buckets

        return self.memo(f"buckets_{check}", (self.buckets_file, *self.stats_files),
                         lambda: load_buckets(self.path, check=check))

    def buckets_or_none(self):
        """The checked buckets, or None where the work directory has no ``buckets.json``."""
        return self.buckets() if self.has_buckets else None

    def tail(self) -> list[int]:
        """The tail bucket's class ids."""
        return list(self.buckets().tail)

    def fingerprints(self) -> dict:
        """What a store built from this work directory records: statistics, samples and class table
        fingerprints."""
        stats = self.stats()
        return {"stats": self.fingerprint, "samples": stats.samples_fingerprint,
                "class_table": stats.table.fingerprint()}

    def layout(self, storage_options: dict | None = None):
        """The layout the statistics were computed from (to read images and labels)."""
        from .stats import open_layout

        return open_layout(self.path, storage_options)

    def forget(self) -> None:
        """Drop what was read: the next ask reads the files again."""
        self._memo.clear()


__all__ = ["WorkDir"]
