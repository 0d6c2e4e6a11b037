"""Where datasets and artifacts live: local paths, or fsspec URLs (``s3://``, ``gs://``, ``memory://``, ...).

Local paths stay :class:`pathlib.Path` and cost nothing extra: ``file://`` URLs become local paths too.
Any other URL becomes an :class:`FsPath`, a small path object over an fsspec filesystem that offers
the part of ``Path``'s interface the layouts and readers use (``/``, ``name``, ``is_dir``, ``open``,
``glob``, ``relative_to``), so a layout lists and reads a bucket with the same code as a disk.

Work directories (a handful of small tables) are read and written through a local copy
(:func:`work_dir`): the stage runs on local files exactly as it does for a local work directory,
and what it wrote is uploaded afterwards. Stores (bank, cutmix) are written to URLs by zarr itself.

``storage_options`` (credentials, endpoint, ...) are given once per command (``--storage-options
JSON``) and apply to every URL of that command; they are never written into an artifact.
"""

from __future__ import annotations

import errno
import json
import os
import posixpath
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Iterator

from .errors import LtDataError, show_path
from .names import CLASS_STATS_FILE

_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+)://")
_ALMOST_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):(/?)(?!/)")  # "s3:/bucket", "file:/data", "s3:bucket"
# protocols whose data is gone when the process ends: refused as a command line's input or output
EPHEMERAL = ("memory",)


def is_url(value: str | os.PathLike) -> bool:
    """Whether ``value`` is written as a URL (``scheme://...``)."""
    return isinstance(value, (str, FsPath)) and bool(_URL.match(str(value)))


def protocol_of(value: str) -> str:
    m = _URL.match(str(value))
    return m.group(1).lower() if m else "file"


def check_location(value: str | os.PathLike, what: str, *, cli: bool = False) -> None:
    """Refuse what cannot be a dataset or artifact location, before any work, with one clear line.

    - a string that looks like a URL but is not one (``s3:/bucket``, ``file:/data``): a path would
      quietly become a relative folder named ``s3:``;
    - a protocol fsspec does not know, or whose package is not installed (``s3://`` needs s3fs);
    - from the command line (``cli``), ``memory://``: it would not outlive the command.
    """
    text = os.fspath(value) if not isinstance(value, FsPath) else str(value)
    if not isinstance(text, str):
        return
    m = _URL.match(text)
    if not m:
        almost = _ALMOST_URL.match(text)
        if almost and (almost.group(2) or almost.group(1).lower() in _known_protocols()):
            scheme = almost.group(1)
            raise LtDataError(f"{show_path(text)}: the {what} looks like a URL but is not one (a URL is "
                              f"{scheme}://...; a local path has no '{scheme}:' in front)")
        return
    proto = m.group(1).lower()
    if cli and proto in EPHEMERAL:
        raise LtDataError(f"{show_path(text)}: a {proto}:// {what} lives only inside this process and is gone when the "
                          f"command ends; use a local path or a storage URL (s3://, gs://, ...)")
    if proto in ("file", "local"):
        return
    _filesystem_class(proto, text, what)


def _known_protocols() -> set[str]:
    import fsspec

    return set(fsspec.available_protocols())


def _filesystem_class(proto: str, text: str, what: str):
    import fsspec

    try:
        return fsspec.get_filesystem_class(proto)
    except ValueError:
        raise LtDataError(f"{show_path(text)}: the {what} has an unknown URL protocol {proto}:// (fsspec knows "
                          f"{', '.join(sorted(_known_protocols()))})") from None
    except ImportError as e:
        extra = " (pip install 'lt-data[dask]' brings s3fs)" if proto in ("s3", "s3a") else ""
        raise LtDataError(f"{show_path(text)}: {proto}:// needs a package that is not installed: {e}{extra}") from None


@contextmanager
def storage_errors(where: str) -> Iterator[None]:
    """Turn a storage library's failure (missing credentials, an unreachable endpoint, a refused
    request) into an ``OSError`` naming ``where``, which the command line reports in one line."""
    try:
        yield
    except FileNotFoundError as e:
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", e.filename or where) from None
    except OSError as e:
        if e.filename is not None:
            raise
        raise OSError(e.errno or errno.EIO, e.strerror or str(e), where) from None
    except (LtDataError, KeyboardInterrupt):
        raise
    except Exception as e:  # noqa: BLE001 - botocore, aiohttp, google-auth, ...: each has its own classes
        raise OSError(errno.EIO, f"storage error ({type(e).__name__}: {e})", where) from None


def as_path(value: str | os.PathLike, storage_options: dict | None = None) -> "Path | FsPath":
    """A local :class:`Path` (also for ``file://`` URLs) or an :class:`FsPath` for any other URL."""
    if isinstance(value, FsPath):
        return value
    text = os.fspath(value)
    if not is_url(text):
        return Path(text)
    proto = protocol_of(text)
    if proto in ("file", "local"):
        return Path(text.split("://", 1)[1] or "/")
    return FsPath.from_url(text, storage_options)


def is_local(path) -> bool:
    return not isinstance(path, FsPath)


class FsPath:
    """A file or folder on an fsspec filesystem, with the part of :class:`pathlib.Path` lt-data uses.

    It holds the protocol, the path inside the filesystem and the storage options; the filesystem
    object itself is fetched from fsspec's cache on use, per process (a forked or spawned worker gets
    its own client: an s3fs client must not cross a fork). It pickles as those three fields.
    """

    __slots__ = ("protocol", "path", "storage_options", "_fs")

    def __init__(self, protocol: str, path: str, storage_options: dict | None = None):
        self.protocol = protocol
        self.path = path.rstrip("/") or "/"
        self.storage_options = dict(storage_options or {})
        self._fs = None

    @classmethod
    def from_url(cls, url: str, storage_options: dict | None = None) -> "FsPath":
        proto = protocol_of(url)
        fs_cls = _filesystem_class(proto, url, "location")
        return cls(proto, fs_cls._strip_protocol(url), storage_options)

    @property
    def fs(self):
        pid = os.getpid()
        if self._fs is None or self._fs[0] != pid:
            import fsspec

            self._fs = (pid, fsspec.filesystem(self.protocol, **self.storage_options))
        return self._fs[1]

    # ---- pickling (the filesystem object stays behind) ---------------------------------------
    def __getstate__(self):
        return (self.protocol, self.path, self.storage_options)

    def __setstate__(self, state):
        self.protocol, self.path, self.storage_options = state
        self._fs = None

    # ---- pure path operations ------------------------------------------------------------------
    def _new(self, path: str) -> "FsPath":
        return FsPath(self.protocol, path, self.storage_options)

    def __truediv__(self, other) -> "FsPath":
        return self._new(posixpath.normpath(posixpath.join(self.path, str(other))))

    def joinpath(self, *parts) -> "FsPath":
        out = self
        for p in parts:
            out = out / p
        return out

    @property
    def name(self) -> str:
        return posixpath.basename(self.path)

    @property
    def stem(self) -> str:
        return PurePosixPath(self.name).stem

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.name).suffix

    @property
    def parent(self) -> "FsPath":
        return self._new(posixpath.dirname(self.path) or self.path)

    def with_name(self, name: str) -> "FsPath":
        return self.parent / name

    def relative_to(self, other: "FsPath") -> PurePosixPath:
        if not isinstance(other, FsPath) or other.protocol != self.protocol:
            raise ValueError(f"{self} is not under {other}")
        return PurePosixPath(self.path).relative_to(other.path)

    def resolve(self) -> "FsPath":
        return self

    def expanduser(self) -> "FsPath":
        return self

    def __str__(self) -> str:
        return f"{self.protocol}://{self.path}"

    def __repr__(self) -> str:
        return f"FsPath({str(self)!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, FsPath) and (self.protocol, self.path) == (other.protocol, other.path)

    def __hash__(self) -> int:
        return hash((self.protocol, self.path))

    def __lt__(self, other: "FsPath") -> bool:
        return str(self) < str(other)

    # ---- the filesystem --------------------------------------------------------------------------
    def exists(self) -> bool:
        with storage_errors(str(self)):
            return self.fs.exists(self.path)

    def is_dir(self) -> bool:
        with storage_errors(str(self)):
            return self.fs.isdir(self.path)

    def is_file(self) -> bool:
        with storage_errors(str(self)):
            return self.fs.isfile(self.path)

    def open(self, mode: str = "rb", encoding: str | None = None):
        with storage_errors(str(self)):
            if "b" in mode:
                return self.fs.open(self.path, mode)
            return self.fs.open(self.path, mode, encoding=encoding or "utf-8")

    def read_bytes(self) -> bytes:
        with storage_errors(str(self)):
            return self.fs.cat_file(self.path)

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.read_bytes().decode(encoding)

    def write_bytes(self, data: bytes) -> None:
        with storage_errors(str(self)):
            self.fs.pipe_file(self.path, data)

    def glob_paths(self, pattern: str) -> list[str]:
        """Paths inside the filesystem (no protocol) matching ``pattern`` under this folder: one listing."""
        with storage_errors(str(self)):
            return sorted(self.fs.glob(posixpath.join(self.path, pattern)))

    def glob(self, pattern: str) -> list["FsPath"]:
        return [self._new(p) for p in self.glob_paths(pattern)]

    def iterdir(self) -> list["FsPath"]:
        with storage_errors(str(self)):
            found = sorted(self.fs.ls(self.path, detail=False))
        return [self._new(p) for p in found if p.rstrip("/") != self.path]

    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None:
        with storage_errors(str(self)):
            self.fs.makedirs(self.path, exist_ok=True)


def parse_storage_options(text: str | None) -> dict | None:
    """``--storage-options``: a JSON object (``'{"anon": true}'``) or a file holding one (``@opts.json``)."""
    if text is None or text == "":
        return None
    source = "--storage-options"
    if text.startswith("@"):
        source = text[1:]
        try:
            text = Path(source).read_text(encoding="utf-8")
        except OSError as e:
            raise LtDataError(f"{show_path(source)}: cannot read the storage options file "
                              f"({e.strerror or e})") from None
    try:
        value = json.loads(text)
    except ValueError as e:
        raise LtDataError(f"{show_path(source)}: not JSON ({e}); give an object such as "
                          "'{\"endpoint_url\": \"http://127.0.0.1:9000\"}'") from None
    if not isinstance(value, dict):
        raise LtDataError(f"{show_path(source)}: must be a JSON object of fsspec options, got {type(value).__name__}")
    return value


# ---- work directories at URLs -----------------------------------------------------------------------

STORE_SUFFIX = ".zarr"  # stores inside a work directory are opened where they are, never copied
WORK_FILE_SUFFIXES = (".json", ".jsonl", ".npy")  # the tables a stage reads; anything else there is left alone


@contextmanager
def work_dir(work: str | os.PathLike, storage_options: dict | None = None, *, write: bool = False
             ) -> Iterator[Path]:
    """A local directory holding ``work``: ``work`` itself when local, else a temporary copy of the
    work directory's tables (not its ``*.zarr`` stores or folders), whose new or changed files are uploaded back
    when the block ends without an error (``write``). Nothing at the URL is deleted."""
    path = as_path(work, storage_options)
    if is_local(path):
        yield path
        return
    fs = path.fs
    with tempfile.TemporaryDirectory(prefix="lt-data-work-") as tmp:
        local = Path(tmp) / (path.name or "work")
        local.mkdir()
        before: dict[str, bytes] = {}
        with storage_errors(str(path)):
            _download(fs, path, local, before)
        try:
            yield local
        except LtDataError as e:  # name the user's URL, not the temporary copy
            e.args = tuple(a.replace(str(local), str(work)) if isinstance(a, str) else a for a in e.args)
            raise
        if write:
            with storage_errors(str(path)):
                _upload_changed(local, path, before)


def _download(fs, path: "FsPath", local: Path, before: dict[str, bytes]) -> None:
    """The work directory's own tables (``*.json``, ``*.jsonl``, ``*.npy``; not its stores, folders or
    other files, which a stage never reads) into ``local``."""
    if fs.isdir(path.path):
        for entry in fs.ls(path.path, detail=True):
            name = posixpath.basename(entry["name"].rstrip("/"))
            if entry["type"] != "file" or not name.endswith(WORK_FILE_SUFFIXES) or name.startswith("."):
                continue
            data = fs.cat_file(entry["name"])
            (local / name).write_bytes(data)
            before[name] = data
    elif fs.exists(path.path):
        raise LtDataError(f"{show_path(path)}: exists and is not a directory; choose another work directory")


def _upload_changed(local: Path, path: "FsPath", before: dict[str, bytes]) -> None:
    """Upload what a stage wrote; the statistics' completion marker is removed first and written last,
    so a reader never takes a half-uploaded work directory for complete statistics."""
    fs, marker = path.fs, CLASS_STATS_FILE
    changed = {f.name: f.read_bytes() for f in sorted(local.iterdir())
               if f.is_file() and not f.name.startswith(".")}
    changed = {name: data for name, data in changed.items() if before.get(name) != data}
    if marker in changed and marker in before:
        fs.rm_file(posixpath.join(path.path, marker))
    for name, data in changed.items():
        if name != marker:
            fs.pipe_file(posixpath.join(path.path, name), data)
    if marker in changed:
        fs.pipe_file(posixpath.join(path.path, marker), changed[marker])


def join(base: str | os.PathLike, name: str) -> str:
    """``base/name`` for a path or a URL (URLs keep their protocol)."""
    text = os.fspath(base) if not isinstance(base, FsPath) else str(base)
    return f"{text.rstrip('/')}/{name}" if is_url(text) else str(Path(text) / name)


__all__ = ["FsPath", "as_path", "check_location", "is_local", "is_url", "join", "parse_storage_options",
           "protocol_of", "work_dir"]
