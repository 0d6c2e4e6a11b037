"""Artifact I/O: atomic writes, JSON/JSONL (:func:`read_json` with one-line errors naming the file), fingerprints.

Every artifact is written to a temporary name in the same directory and renamed into place, so a
reader never sees half a file; each stage writes its completion marker (a JSON file holding the
fingerprints of the other files) last.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from .errors import ArtifactError, LtDataError, show_path


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any, indent: int | None = 1) -> None:
    atomic_write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False) + "\n")


def atomic_write_jsonl(path: str | Path, rows: Iterable[dict]) -> None:
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def atomic_save_npy(path: str | Path, array: np.ndarray) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp(path)
    try:
        with open(tmp, "wb") as f:
            np.save(f, array, allow_pickle=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_json(path: str | Path, what: str | None = None) -> Any:
    """The JSON value in ``path``. Without ``what``, the reading and parsing errors as they come
    (OSError, ValueError: for callers that probe). With ``what`` (what the file should be, e.g. "a
    metrics file (lt-data evaluate's metrics.json)"), each is one line naming the file: LtDataError
    for a path that holds no readable file, ArtifactError for content that is not JSON text."""
    path = Path(path)
    if what is None:
        return json.loads(path.read_text(encoding="utf-8"))
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LtDataError(f"{show_path(path)}: no such file") from None
    except IsADirectoryError:
        raise LtDataError(f"{show_path(path)}: a directory, expected {what}") from None
    except UnicodeDecodeError:
        raise ArtifactError(f"{path}: not UTF-8 text; expected {what}") from None
    except json.JSONDecodeError as err:
        raise ArtifactError(f"{path}: invalid JSON at line {err.lineno} column {err.colno} ({err.msg}); "
                            f"expected {what}") from None
    except OSError as err:
        raise LtDataError(f"{show_path(path)}: cannot be read ({err.strerror or err})") from None


def read_jsonl(path: str | Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
