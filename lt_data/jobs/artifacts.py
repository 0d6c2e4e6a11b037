"""The artifact layer: artifacts are written whole or not at all, by one writer, and nothing that is
not ours is deleted. It knows paths, locks and files, never what an artifact means: it imports no
domain module (docs/ARCHITECTURE.md).

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
3. **Files are checked.** Stores record the size and CRC-32 of every file they wrote
   (:func:`file_manifest`); opening checks sizes (a missing or truncated chunk is an error naming it),
   :func:`check_files` with ``checksums=True`` checks contents.

What an artifact was built from, and the refusal of one built from other inputs, is
:mod:`lt_data.stores.provenance`; the zarr stores' reader is :mod:`lt_data.stores.zarr_store`.
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
from typing import Callable, Iterator

from ..core.errors import ArtifactError
from ..core.fs import is_url

MARKER = ".lt-data-store"  # a file in every directory artifact lt-data creates: {"schema": ..., "tool": "lt-data"}


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
def lock(target: str | Path, what: str = "it", *, tidy: bool = False) -> Iterator[None]:
    """Hold the exclusive write lock of ``target`` (a local path); refuse if another process holds it.

    The lock file ``.NAME.lock`` sits beside ``target`` and stays there (removing a lock file races
    with a process that just opened it); the lock itself is the kernel's and dies with its holder.
    The holder's alone: a flock belongs to the open file, which a forked child (a worker process, a
    DataLoader worker) would share and keep alive after the holder died, so every fork closes the
    child's copy (:func:`_close_locks_in_child`) and exec never inherits it (O_CLOEXEC).

    ``tidy``: when the holder ends without ``target`` existing (refused before writing anything), the
    lock file goes too, and the folder around it when the lock made it and it is empty: a refused
    command leaves nothing behind. It goes while still held, so no other holder is robbed of it.
    """
    import fcntl

    target = Path(target)
    made_parent = not target.parent.exists()
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
            if tidy and not target.exists():
                path.unlink(missing_ok=True)
                if made_parent:
                    try:
                        parent.rmdir()
                    except OSError:  # not empty: something else is there now
                        pass
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


__all__ = ["MARKER", "check_files", "check_replaceable", "file_manifest", "lock", "lock_holder", "location",
           "output_dir", "read_marker", "replace_dir", "store_size", "tidy", "write_marker", "write_store"]
