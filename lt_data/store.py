"""The store layer: artifacts are written whole or not at all, by one writer, from inputs readers can check.

Three promises, kept here once for every artifact (statistics, buckets, report, bank, cutmix, runs):

1. **Complete or absent.** A directory artifact is built in a temporary sibling
   (``.NAME.tmp-PID-XXXX``) and renamed into place when complete (:func:`replace_dir`, and
   :func:`write_store` for zarr stores); a file artifact is written to a temporary name and renamed
   (``io.atomic_write_*``). A reader never sees half an artifact, and a reader that opened the old one
   keeps reading the old one (its files are renamed away, not rewritten).
2. **One writer, and nothing that is not ours is deleted.** Writers take an exclusive lock
   (:func:`lock`, ``.NAME.lock`` beside the artifact, ``flock``: released by the kernel when the
   writer dies, so a ``kill -9`` never leaves a stale lock); a second writer is refused with a
   message naming the first. An existing output is replaced only when it is an artifact of the same
   kind that lt-data wrote (a marker file ``.lt-data-store`` or the store's own schema attribute); any
   other existing folder is refused, whatever it holds.
3. **Built from what you give it.** Every artifact records the fingerprints (content hashes, never
   timestamps) of the statistics and class table it was built from; every reader compares them with
   the work directory it is used with (:func:`refuse_mismatch`). Stores record the size and CRC-32 of
   every file they wrote (:func:`file_manifest`); opening checks sizes (a missing or truncated chunk is
   an error naming it), :func:`check_files` with ``checksums=True`` checks contents.

:class:`StoreReader` is the life cycle both zarr readers (``TailBank``, ``TailCutmix``) share:
open a path, URL or work directory, check schema, completion, files and fingerprints, load lazily,
pickle as the URL only, draw per class.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from .classes import ClassTable
from .errors import ArtifactError
from .fs import is_url

MARKER = ".lt-data-store"  # a file in every directory artifact lt-data creates: {"schema": ..., "tool": "lt-data"}
INDEX_CHUNK = 1 << 18  # rows per chunk of index arrays


# ---- locations ------------------------------------------------------------------------------------

def location(url: str | Path, storage_options: dict | None = None):
    """(fsspec filesystem, root path inside it, is_local) of a path or URL."""
    import fsspec
    from fsspec.implementations.local import LocalFileSystem

    url = str(url)
    if not is_url(url):
        url = os.path.abspath(url)  # not resolved: a path through a symlink is shown as typed
    fs, root = fsspec.core.url_to_fs(url, **(storage_options or {}))
    return fs, root.rstrip("/"), isinstance(fs, LocalFileSystem)


def output_dir(path: str | Path, what: str = "output") -> Path:
    """A local directory to write into, created if absent; an existing file there is an error."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ArtifactError(f"{path}: exists and is not a directory; choose another {what}")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ArtifactError(f"{path}: a parent of it is a file, not a directory; choose another {what}") from None
    return path


# ---- one writer -----------------------------------------------------------------------------------

@contextmanager
def lock(target: str | Path, what: str = "it") -> Iterator[None]:
    """Hold the exclusive write lock of ``target`` (a local path); refuse if another process holds it.

    The lock file ``.NAME.lock`` sits beside ``target`` and stays there (removing a lock file races
    with a process that just opened it); the lock itself is the kernel's and dies with its holder.
    The holder's alone: a flock belongs to the open file, which a forked child (a worker process, a
    DataLoader worker) would share and keep alive after the holder died, so every fork closes the
    child's copy (:func:`_close_locks_in_child`) and exec never inherits it (O_CLOEXEC).
    """
    import fcntl

    target = Path(target)
    parent = output_dir(target.parent, "output")
    path = parent / f".{target.name}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    _HELD_LOCKS.add(fd)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or "unknown process"
            raise ArtifactError(f"{target}: another lt-data process is writing {what} ({holder}); "
                                f"wait for it to finish") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}: {' '.join(sys.argv[:4])}".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        _HELD_LOCKS.discard(fd)
        os.close(fd)


def lock_holder(target: str | Path) -> str | None:
    """Who holds ``target``'s write lock now (the holder's note: pid and command), or None."""
    import fcntl

    path = Path(target).parent / f".{Path(target).name}.lock"
    if not path.is_file():
        return None
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or "unknown process"
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


_HELD_LOCKS: set[int] = set()  # descriptors of the locks this process holds


def _close_locks_in_child() -> None:
    for fd in list(_HELD_LOCKS):
        try:
            os.close(fd)
        except OSError:
            pass
    _HELD_LOCKS.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_locks_in_child)


def tidy(target: str | Path) -> None:
    """Remove what killed writers of ``target`` left beside it (temporary and old siblings), when no
    writer holds its lock now; a local artifact that is already up to date calls this, since no
    build will run to clean them."""
    import fcntl

    target = Path(target)
    if not any(target.parent.glob(f".{target.name}.tmp-*")) and not any(target.parent.glob(f".{target.name}.old-*")):
        return  # the common case: nothing to tidy, no lock file to touch
    fd = os.open(target.parent / f".{target.name}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # a writer is at work: its siblings are its own
        try:
            _clean_leftovers(target)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


# ---- whole or absent ------------------------------------------------------------------------------

def write_marker(directory: str | Path, schema: str) -> None:
    Path(directory, MARKER).write_text(json.dumps({"schema": schema, "tool": "lt-data"}) + "\n")


def read_marker(directory: str | Path) -> dict | None:
    try:
        return json.loads(Path(directory, MARKER).read_text())
    except (OSError, ValueError):
        return None


def _zarr_schema(directory: Path) -> str | None:
    try:
        meta = json.loads((directory / "zarr.json").read_text())
        return meta.get("attributes", {}).get("schema")
    except (OSError, ValueError, AttributeError):
        return None


def check_replaceable(target: Path, schema: str, what: str, legacy: Callable[[Path], bool] | None = None) -> bool:
    """Whether ``target`` exists as an artifact of kind ``schema`` that lt-data may replace.

    Absent or an empty directory: False (nothing to replace). Ours: True (``legacy(target)`` recognises
    an artifact written before artifacts carried the marker). Anything else (a file, a
    folder with other content, an artifact of another kind) raises ArtifactError and is left alone.
    """
    if not target.exists() and not target.is_symlink():
        return False
    if not target.is_dir() or target.is_symlink():
        raise ArtifactError(f"{target}: exists and is not a {what} directory; refusing to replace it "
                            f"(choose another output or remove it yourself)")
    marker = read_marker(target)
    kind = marker.get("schema") if marker else _zarr_schema(target)
    if kind == schema or (kind is None and legacy is not None and legacy(target)):
        return True
    entries = sorted(p.name for p in target.iterdir())
    if not entries:
        return False
    shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
    is_what = f"a {kind} artifact" if kind else f"a folder lt-data did not create ({len(entries)} entries: {shown})"
    raise ArtifactError(f"{target}: exists and is {is_what}, not a {what}; refusing to replace it "
                        f"(choose another output or remove it yourself)")


def _clean_leftovers(target: Path) -> None:
    """Remove the temporary siblings of ``target`` that earlier writers left (killed mid-build). Only
    called under the lock, so no live writer owns any of them; ours by name."""
    for pattern in (f".{target.name}.tmp-*", f".{target.name}.old-*"):
        for p in target.parent.glob(pattern):
            shutil.rmtree(p, ignore_errors=True)


@contextmanager
def replace_dir(target: str | Path, schema: str, what: str | None = None,
                legacy: Callable[[Path], bool] | None = None) -> Iterator[Path]:
    """Build a directory artifact in a temporary sibling; on success it replaces ``target``.

    Yields the temporary directory (already holding the marker file). Under :func:`lock`. If the
    body raises (or is interrupted) the temporary directory is removed and ``target`` is untouched.
    An existing ``target`` must pass :func:`check_replaceable` before any work is done.
    """
    target = Path(target)
    what = what or schema
    with lock(target, what):
        replace = check_replaceable(target, schema, what, legacy)
        _clean_leftovers(target)
        tmp = target.parent / f".{target.name}.tmp-{os.getpid()}-{secrets.token_hex(3)}"
        tmp.mkdir()
        try:
            write_marker(tmp, schema)
            yield tmp
            if replace:
                old = target.parent / f".{target.name}.old-{os.getpid()}-{secrets.token_hex(3)}"
                os.rename(target, old)
                os.rename(tmp, target)
                shutil.rmtree(old, ignore_errors=True)
            else:
                if target.is_dir():
                    target.rmdir()  # empty (check_replaceable said so)
                os.rename(tmp, target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def write_store(out: str, schema: str, what: str, storage_options: dict | None = None) -> Iterator[str]:
    """Where to write a zarr store destined for ``out`` (a path or URL): yields the location to write.

    Local paths: a temporary sibling, renamed into place on success (:func:`replace_dir`). URLs
    (object storage has no rename): the location itself, after checking that it is absent or a
    store of this kind; its completion attribute, written last, keeps readers off a partial store.
    """
    if not is_url(out):
        with replace_dir(out, schema, what) as tmp:
            yield str(tmp)
        return
    fs, root, _ = location(out, storage_options)
    if fs.exists(root):
        kind = None
        try:
            kind = json.loads(fs.cat_file(f"{root}/zarr.json")).get("attributes", {}).get("schema")
        except Exception:  # noqa: BLE001 - absent or unreadable: not ours
            pass
        if kind != schema and fs.ls(root):
            raise ArtifactError(f"{out}: exists and is not a {what}; refusing to replace it")
        if kind == schema:
            fs.rm(root, recursive=True)
    yield out


def store_size(url: str, storage_options: dict | None = None) -> int:
    """Bytes on disk (or in the bucket) under a store."""
    fs, root, local = location(url, storage_options)
    if local:
        return sum(f.stat().st_size for f in Path(root).rglob("*") if f.is_file())
    return int(fs.du(root))


# ---- files a store wrote ----------------------------------------------------------------------------

def file_manifest(url: str | Path, storage_options: dict | None = None) -> dict[str, list[int]]:
    """``{relative path: [size, crc32]}`` of every file under a store except its root ``zarr.json``
    (rewritten when attributes change) and the marker."""
    fs, root, local = location(url, storage_options)
    out = {}
    if local:
        for p in sorted(Path(root).rglob("*")):
            rel = p.relative_to(root).as_posix()
            if p.is_file() and rel not in ("zarr.json", MARKER):
                crc = 0
                with open(p, "rb") as f:
                    while block := f.read(1 << 22):
                        crc = zlib.crc32(block, crc)
                out[rel] = [p.stat().st_size, crc]
        return out
    for path, info in sorted(fs.find(root, detail=True).items()):
        rel = path[len(root) + 1:]
        if rel not in ("zarr.json", MARKER):
            out[rel] = [int(info.get("size", 0)), zlib.crc32(fs.cat_file(path))]
    return out


def check_files(url: str, manifest: dict[str, list[int]] | None, storage_options: dict | None = None, *,
                checksums: bool = False, rebuild: str = "rebuild it") -> None:
    """Raise ArtifactError naming the first file of ``manifest`` that is missing, of another size, or
    (with ``checksums``) of other content."""
    if not manifest:
        return
    fs, root, local = location(url, storage_options)
    if local:
        def size(rel):
            try:
                return os.stat(f"{root}/{rel}").st_size
            except FileNotFoundError:
                return None
    else:
        listing = {p[len(root) + 1:]: int(info.get("size", 0)) for p, info in fs.find(root, detail=True).items()}

        def size(rel):
            return listing.get(rel)
    for rel, (want, crc) in manifest.items():
        have = size(rel)
        if have is None:
            raise ArtifactError(f"{url}/{rel}: missing (the store lists it); {rebuild}")
        if have != want:
            raise ArtifactError(f"{url}/{rel}: {have} bytes, the store wrote {want} (truncated or altered); {rebuild}")
        if checksums:
            got = zlib.crc32(fs.cat_file(f"{root}/{rel}"))
            if got != crc:
                raise ArtifactError(f"{url}/{rel}: content differs from what the store wrote (CRC-32 {got:08x}, "
                                    f"expected {crc:08x}); {rebuild}")


# ---- zarr groups ----------------------------------------------------------------------------------------

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


def build_inputs(work: str | Path, classes, out: str | Path | None, store_dir: str):
    """What a store build starts from: (work Path, verified statistics, selected class ids, where they
    came from, the output path or URL: ``out`` or ``WORK/store_dir``)."""
    from .buckets import select_classes
    from .stats import load_stats

    work = Path(work)
    stats = load_stats(work)
    ids, record = select_classes(classes, stats.table, work)
    return work, stats, ids, record, str(out) if out is not None else str(work / store_dir)


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
    from . import __version__

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


# ---- built from what you give it ------------------------------------------------------------------------

def work_fingerprints(work: str | Path, stats) -> dict:
    """What a store built from ``work`` records: statistics, samples and class table fingerprints."""
    from .stats import stats_fingerprint

    return {"stats": stats_fingerprint(work), "samples": stats.samples_fingerprint,
            "class_table": stats.table.fingerprint()}


def dataset_record(stats) -> dict:
    d = stats.dataset
    return {"layout": d.get("layout"), "root": d.get("root"), "split": d.get("split"),
            "options": d.get("options", {}), "num_samples": stats.num_images}


def work_expectations(work: str | Path) -> tuple[str, ClassTable, dict]:
    """(statistics fingerprint, class table, dataset description) of a work directory."""
    from .io import read_json
    from .stats import DATASET_FILE, stats_fingerprint

    work = Path(work)
    fp = stats_fingerprint(work)
    dataset = read_json(work / DATASET_FILE)
    desc = {k: dataset.get(k) for k in ("layout", "split", "root", "num_samples")}
    return fp, ClassTable.from_manifest(dataset["class_table"]), desc


def compare_fingerprints(url: str, attrs: dict, *, stats: str | None = None, table: ClassTable | str | None = None,
                         work_desc: dict | None = None, rebuild: str = "rebuild it") -> None:
    """Raise ArtifactError naming what differs between the store's sources and the expected ones."""
    fp = attrs.get("fingerprints", {})
    problems = []
    if table is not None:
        want = table if isinstance(table, str) else table.fingerprint()
        if fp.get("class_table") != want:
            have = ClassTable.from_manifest(attrs["class_table"])
            msg = (f"class table differs: built for {have.dataset!r} ({have.num_classes} classes, fingerprint "
                   f"{fp.get('class_table')})")
            if isinstance(table, ClassTable):
                msg += f", expected {table.dataset!r} ({table.num_classes} classes, fingerprint {want})"
                diff = [i for i in range(min(have.num_classes, table.num_classes)) if have.names[i] != table.names[i]]
                if diff:
                    i = diff[0]
                    msg += f"; first different name: id {i} is {have.names[i]!r} in the store, {table.names[i]!r} expected"
            else:
                msg += f", expected fingerprint {want}"
            problems.append(msg)
    if stats is not None and fp.get("stats") != stats:
        d = attrs.get("dataset", {})
        msg = (f"statistics differ: built from statistics {fp.get('stats')} ({d.get('num_samples')} images of "
               f"{d.get('layout')}/{d.get('split')} at {d.get('root')})")
        if work_desc:
            msg += (f", expected {stats} ({work_desc.get('num_samples')} images of {work_desc.get('layout')}/"
                    f"{work_desc.get('split')} at {work_desc.get('root')})")
        else:
            msg += f", expected {stats}"
        problems.append(msg)
    if problems:
        raise ArtifactError(f"{url}: refused: " + "; ".join(problems) + f"; {rebuild}")


def refuse_mismatch(url: str, attrs: dict, command: str, *, work: str | Path | None = None,
                    expect_stats: str | None = None, expect_table: ClassTable | str | None = None) -> None:
    """Raise ArtifactError when a store was built from other statistics or another class table than
    ``work``'s, or than the given fingerprints; the message says how to rebuild (``lt-data COMMAND``)."""
    if work is not None:
        fp, table, desc = work_expectations(work)
        compare_fingerprints(url, attrs, stats=fp, table=table, work_desc=desc,
                             rebuild=f"rebuild it with `lt-data {command} {work}`")
    if expect_stats is not None or expect_table is not None:
        compare_fingerprints(url, attrs, stats=expect_stats, table=expect_table,
                             rebuild=f"rebuild it with `lt-data {command} WORK`")


def resolve_store(path_or_url: str | Path, name: str, command: str) -> str:
    """A store path from a work directory (``WORK`` → ``WORK/name``) or a store path/URL itself."""
    s = str(path_or_url)
    if is_url(s):
        return s
    p = Path(s)
    if not (p / "zarr.json").exists() and (p / name).exists():
        return str(p / name)
    if p.is_dir() and not (p / "zarr.json").exists() and (p / "class_stats.json").exists():
        raise ArtifactError(f"{p}: a work directory without {name}; run `lt-data {command} {p}` first")
    return s


# ---- the readers' shared life cycle ------------------------------------------------------------------------

def uniform(generator, n: int) -> np.ndarray:
    """(n,) float64 uniform in [0, 1) from a numpy or torch generator."""
    if isinstance(generator, np.random.Generator):
        return generator.random(n)
    if type(generator).__name__ == "Generator" and type(generator).__module__.startswith("torch"):
        import torch

        return torch.rand(n, generator=generator, dtype=torch.float64).numpy()
    raise TypeError(f"generator must be a numpy.random.Generator or a torch.Generator, got {type(generator).__name__}")


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


__all__ = ["MARKER", "StoreReader", "check_files", "check_replaceable", "check_store", "compare_fingerprints",
           "create_array", "decode_samples", "file_manifest", "lock", "location", "open_group", "output_dir",
           "refuse_mismatch", "replace_dir", "resolve_store", "store_size", "work_expectations", "work_fingerprints",
           "write_store"]
