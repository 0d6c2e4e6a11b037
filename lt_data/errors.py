"""Errors that name the file and the problem."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path


class LtDataError(Exception):
    """Base class: a problem the user can fix, reported without a traceback by the CLI."""


@dataclass(frozen=True)
class BadInput:
    """One bad sample: the file at fault and what is wrong with it."""

    path: str
    problem: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"

    def to_json(self) -> dict:
        return {"path": self.path, "problem": self.problem}


class DataError(LtDataError):
    """Bad input data. ``str(err)`` is ``"<file>: <problem>"``."""

    def __init__(self, path: str | Path, problem: str):
        self.bad = BadInput(str(path), problem)
        super().__init__(str(self.bad))

    def __reduce__(self):  # picklable, so a worker process can send it back to the parent
        return (DataError, (self.bad.path, self.bad.problem))

    @property
    def path(self) -> str:
        return self.bad.path

    @property
    def problem(self) -> str:
        return self.bad.problem


class ArtifactError(LtDataError):
    """A work-directory artifact is missing, incomplete, or was built from other inputs."""


_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def local_path(value: str | os.PathLike, what: str) -> Path:
    """``value`` as a local :class:`Path`; a URL (``file:///x``, ``s3://b/k``) is an :class:`LtDataError`.

    ``Path("file:///data")`` quietly becomes the relative path ``file:/data``, which then "does not
    exist" under the current directory: name the real mistake instead.
    """
    text = os.fspath(value)
    if isinstance(text, str) and _URL.match(text):
        raise LtDataError(f"{text}: the {what} must be a local path, not a URL")
    return Path(text)
