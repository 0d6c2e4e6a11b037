"""The zarr stores (``bank.zarr``, ``cutmix.zarr``): opening a group, creating arrays, the attributes
a build writes first and last, and :class:`StoreReader`, the life cycle both readers (``TailBank``,
``TailCutmix``) share: open a path, URL or work directory, check schema, completion, files and
fingerprints, load lazily, pickle as the URL only, draw per class.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ..jobs.artifacts import check_files, file_manifest, tidy
from ..core.classes import ClassTable
from ..core.errors import ArtifactError
from ..core.fs import is_url
from ..core.names import CLASS_STATS_FILE
from .provenance import dataset_record, refuse_mismatch
from ..core.rng import uniform

INDEX_CHUNK = 1 << 18  # rows per chunk of index arrays


def open_group(url: str, storage_options: dict | None = None, mode: str = "r"):
    """(zarr group, attrs) of a store, or ArtifactError saying why it cannot be opened."""
    import zarr

    try:
        group = zarr.open_group(url, mode=mode, storage_options=storage_options) if is_url(url) else \
            zarr.open_group(url, mode=mode)
        attrs = dict(group.attrs)
    except FileNotFoundError:
        raise ArtifactError(f"{url}: not a readable zarr group (no zarr.json: nothing was built here); "
                            f"run the build") from None
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError, KeyError, TypeError) as e:
        raise ArtifactError(f"{url}: not a readable zarr group ({type(e).__name__}: {e}); re-run the build") from None
    except Exception as e:  # noqa: BLE001 - zarr's GroupNotFoundError and friends
        raise ArtifactError(f"{url}: not a readable zarr group ({type(e).__name__}: {e})") from None
    return group, attrs


def existing_attrs(url: str, storage_options: dict | None = None) -> dict | None:
    """Attributes of the store at ``url``, or None when there is none that can be read."""
    try:
        return open_group(url, storage_options)[1]
    except ArtifactError:
        return None


def create_array(group, name: str, data: np.ndarray | None = None, *, shape=None, dtype=None, chunks=None):
    """An uncompressed array whose chunk files all exist (empty chunks written too)."""
    if data is not None:
        shape, dtype = data.shape, data.dtype
    if chunks is None:
        chunks = (max(1, min(shape[0], INDEX_CHUNK)),) + tuple(shape[1:])
    arr = group.create_array(name, shape=shape, dtype=dtype, chunks=chunks, compressors=None, fill_value=0,
                             config={"write_empty_chunks": True})
    if data is not None and data.size:
        arr[...] = data
    return arr


def decode_samples(array) -> list[dict]:
    """The sample records a store keeps as the bytes of ``samples.jsonl`` (a uint8 zarr array)."""
    text = bytes(array[...]).decode("utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def check_store(url: str, attrs: dict, schema: str, schema_version: int, rebuild: str) -> None:
    """Refuse a store that is not ours, of another schema version, or incomplete."""
    if attrs.get("schema") != schema:
        raise ArtifactError(f"{url}: not an {schema} store (schema attribute is {attrs.get('schema')!r})")
    if attrs.get("schema_version") != schema_version:
        raise ArtifactError(f"{url}: schema version {attrs.get('schema_version')!r}, this lt-data reads version "
                            f"{schema_version}; {rebuild}")
    if attrs.get("complete") is not True:
        raise ArtifactError(f"{url}: incomplete store (its build was interrupted or is still running; the "
                            f"completion marker is written last); {rebuild}")


def up_to_date(out: str, storage_options: dict | None, schema_version: int, params: dict, fingerprints: dict) -> bool:
    """Whether ``out`` holds a complete store of this schema version built with ``params`` from inputs
    with these ``fingerprints`` (then a build keeps it instead of rebuilding)."""
    old = existing_attrs(out, storage_options)
    current = bool(old and old.get("complete") is True and old.get("schema_version") == schema_version
                   and old.get("params") == params and old.get("fingerprints") == fingerprints)
    if current and not is_url(out):
        tidy(out)
    return current


def begin_store(location_: str, storage_options: dict | None, schema: str, schema_version: int, stats,
                classes: list[int], params: dict, fingerprints: dict):
    """Open the zarr group a build writes (at the location :func:`write_store` gave) and give it the
    attributes it gets before any data: what it is, what it is built from and how, and the samples;
    ``complete`` is false until :func:`finish_store`. Returns the group."""
    from .. import __version__

    group, _ = open_group(location_, storage_options, mode="a")  # "w" would delete the store marker
    group.attrs.update({"schema": schema, "schema_version": schema_version, "complete": False, "tool": "lt-data",
                        "version": __version__, "class_table": stats.table.to_json(), "classes": classes,
                        "params": params, "fingerprints": fingerprints, "dataset": dataset_record(stats)})
    create_array(group, "samples_jsonl", np.frombuffer(stats.samples_bytes, dtype=np.uint8))
    return group


def finish_store(group, location_: str, storage_options: dict | None, *, started: float, skipped: list,
                 **summary) -> None:
    """The closing attributes (``summary``, skipped samples, duration, the file manifest), then the
    completion marker, written last."""
    import time

    group.attrs.update(summary | {"skipped": [b.to_json() for b in skipped],
                                  "seconds": round(time.perf_counter() - started, 3),
                                  "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                                  "files": file_manifest(location_, storage_options)})
    group.attrs["complete"] = True


def resolve_store(path_or_url: str | Path, name: str, command: str) -> str:
    """A store path from a work directory (``WORK`` → ``WORK/name``) or a store path/URL itself."""
    s = str(path_or_url)
    if is_url(s):
        return s
    p = Path(s)
    if not (p / "zarr.json").exists() and (p / name).exists():
        return str(p / name)
    if p.is_dir() and not (p / "zarr.json").exists() and (p / CLASS_STATS_FILE).exists():
        raise ArtifactError(f"{p}: a work directory without {name}; run `lt-data {command} {p}` first")
    return s


class StoreReader:
    """Shared by the zarr readers: subclasses set ``DIR``, ``SCHEMA``, ``SCHEMA_VERSION``, ``COMMAND``
    and implement ``_load_arrays(group)``, which must set ``self._class_start`` ((K + 1,) int64: the
    entries of class c are rows ``class_start[c]:class_start[c + 1]``).

    A reader pickles as its URL and options only (``_options()``): a spawned DataLoader worker or
    another rank reopens the store lazily on first use.
    """

    DIR = ""
    SCHEMA = ""
    SCHEMA_VERSION = 0
    COMMAND = ""

    def __init__(self, url: str, *, storage_options: dict | None = None):
        self.url, self.storage_options = url, storage_options
        self._loaded = False
        self._pid: int | None = None

    @classmethod
    def open(cls, path_or_url: str | Path, *, work: str | Path | None = None, expect_stats: str | None = None,
             expect_table: ClassTable | str | None = None, storage_options: dict | None = None, **options):
        """Open a complete store (a path, URL, or a work directory holding the store).

        ``work`` (a statistics work directory), ``expect_stats`` (a ``stats_fingerprint``) or
        ``expect_table`` (a ClassTable or its fingerprint) refuse a store built from other inputs,
        with a message naming what differs.
        """
        reader = cls(resolve_store(path_or_url, cls.DIR, cls.COMMAND), storage_options=storage_options, **options)
        reader._load()
        refuse_mismatch(reader.url, reader.attrs, cls.COMMAND, work=work, expect_stats=expect_stats,
                        expect_table=expect_table)
        return reader

    def check_compatible(self, work: str | Path) -> None:
        """Refuse (ArtifactError) when the store was not built from ``work``'s statistics and class table."""
        self._ensure()
        refuse_mismatch(self.url, self.attrs, self.COMMAND, work=work)

    def verify(self) -> None:
        """Check every file the store wrote, contents included (reads the whole store)."""
        self._ensure()
        check_files(self.url, self.attrs.get("files"), self.storage_options, checksums=True,
                    rebuild=self._rebuild_hint())

    def _rebuild_hint(self) -> str:
        return f"re-run `lt-data {self.COMMAND} WORK` to rebuild it"

    def _load(self) -> None:
        group, attrs = open_group(self.url, self.storage_options)
        check_store(self.url, attrs, self.SCHEMA, self.SCHEMA_VERSION, self._rebuild_hint())
        check_files(self.url, attrs.get("files"), self.storage_options, rebuild=self._rebuild_hint())
        self.attrs = attrs
        self.table = ClassTable.from_manifest(attrs["class_table"])
        self._samples_array = group["samples_jsonl"]
        self._samples: list[dict] | None = None
        self._load_arrays(group)
        self._loaded = True
        self._pid = os.getpid()

    def _load_arrays(self, group) -> None:
        raise NotImplementedError

    def _ensure(self) -> None:
        if not self._loaded:
            self._load()

    def _options(self) -> dict:
        return {"storage_options": self.storage_options}

    def __getstate__(self) -> dict:
        return {"url": self.url, **self._options()}

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        self.__init__(state.pop("url"), **state)

    def __repr__(self) -> str:
        if not self._loaded:
            return f"{type(self).__name__}({self.url!r}, not loaded)"
        return f"{type(self).__name__}({self.url!r}, classes {self.classes})"

    # ---- index ----------------------------------------------------------------------------------
    @property
    def classes(self) -> list[int]:
        """Train ids the store was built for (some may hold no entry: see ``count``)."""
        self._ensure()
        return list(self.attrs["classes"])

    @property
    def params(self) -> dict:
        self._ensure()
        return dict(self.attrs["params"])

    @property
    def class_start(self) -> np.ndarray:
        """(K + 1,) int64: entries of class c are rows ``class_start[c]:class_start[c + 1]``."""
        self._ensure()
        return self._class_start

    def _span(self, class_id: int) -> slice:
        self._ensure()
        c = int(class_id)
        if not 0 <= c < self.table.num_classes:
            raise IndexError(f"class id {c} outside 0..{self.table.num_classes - 1} of the {self.table.dataset} table")
        return slice(int(self._class_start[c]), int(self._class_start[c + 1]))

    def count(self, class_id: int) -> int:
        """Entries of ``class_id`` (0 for a class of the table the store does not hold)."""
        s = self._span(class_id)
        return s.stop - s.start

    @property
    def samples(self) -> list[dict]:
        """The statistics' sample records (``samples.jsonl``) the store's ``sample`` column indexes."""
        self._ensure()
        if self._samples is None:
            self._samples = decode_samples(self._samples_array)
        return self._samples

    def _draw(self, class_ids: Sequence[int] | np.ndarray, generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One uniform draw per entry of ``class_ids`` (whatever the store holds, so the generator's
        stream does not depend on it). Returns (kept classes (m,), their first rows (m,), positions
        within the class (m,)), skipping classes that hold no entry."""
        self._ensure()
        cls = np.asarray(class_ids, dtype=np.int64).reshape(-1)
        k = self.table.num_classes
        if len(cls) and (cls.min() < 0 or cls.max() >= k):
            raise IndexError(f"class ids {cls[(cls < 0) | (cls >= k)].tolist()} outside 0..{k - 1}")
        u = uniform(generator, len(cls))
        start = self._class_start[cls]
        cnt = self._class_start[cls + 1] - start
        has = cnt > 0
        pick = np.minimum((u[has] * cnt[has]).astype(np.int64), cnt[has] - 1)
        return cls[has], start[has], pick


__all__ = ["INDEX_CHUNK", "StoreReader", "begin_store", "check_store", "create_array", "decode_samples",
           "existing_attrs", "finish_store", "open_group", "resolve_store", "up_to_date"]
