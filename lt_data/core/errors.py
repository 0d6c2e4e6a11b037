"""Errors that name the file and the problem."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path


# C0 and C1 control characters and the Unicode line / paragraph separators: any of them in a file
# name would end the one-line message early (a newline forges a second ``error:`` line) or drive the
# terminal (ESC sequences)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def show_path(path: str | os.PathLike) -> str:
    """``path`` as it goes into a one-line message: unchanged, or, when it holds a control character
    (a newline in a file name), Python's quoted repr of it (``'a\\nb.png'``), which escapes them."""
    text = os.fspath(path) if isinstance(path, os.PathLike) else str(path)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    return repr(text) if _CONTROL.search(text) else text


def one_line(text: str) -> str:
    """``text`` with every control character escaped (``\\n``, ``\\x1b``): a message that stays one line."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class LtDataError(Exception):
    """Base class: a problem the user can fix, reported without a traceback by the CLI."""


@dataclass(frozen=True)
class BadInput:
    """One bad sample: the file at fault and what is wrong with it."""

    path: str
    problem: str

    def __str__(self) -> str:  # one line whatever the file is called (the problem may quote other paths)
        return f"{show_path(self.path)}: {one_line(self.problem)}"

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

    def __str__(self) -> str:  # its message names work-directory paths, which may hold any character
        return one_line(super().__str__())


_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def local_path(value: str | os.PathLike, what: str) -> Path:
    """``value`` as a local :class:`Path`; a URL (``file:///x``, ``s3://b/k``) is an :class:`LtDataError`.

    ``Path("file:///data")`` quietly becomes the relative path ``file:/data``, which then "does not
    exist" under the current directory: name the real mistake instead.
    """
    text = os.fspath(value)
    if isinstance(text, str) and _URL.match(text):
        raise LtDataError(f"{show_path(text)}: the {what} must be a local path, not a URL")
    return Path(text)


class Terminated(KeyboardInterrupt):
    """SIGTERM (what ``timeout``, Slurm and Kubernetes send), raised in the main thread so that it
    unwinds like Ctrl-C: workers reaped, temporary siblings removed, locks released; exit 143."""


TERMINATING: list[str] = []  # "term" / "int": set by the CLI's SIGTERM and SIGINT handlers


def check_terminated() -> None:
    """Raise :class:`Terminated` (SIGTERM) or KeyboardInterrupt (Ctrl-C) when one arrived: long loops
    call this at safe points, since the handler's own exception can land where it is swallowed (a
    finaliser, a library's catch-all) and be lost."""
    if TERMINATING:
        raise Terminated() if TERMINATING[0] == "term" else KeyboardInterrupt()


def build_checked(what: str, build, *args, **kwargs):
    """``build(*args, **kwargs)``, a user's unknown name or bad option (TypeError, ValueError) reported
    as one LtDataError line that starts with ``what``."""
    try:
        return build(*args, **kwargs)
    except (TypeError, ValueError) as e:
        raise LtDataError(f"{what}: {e}") from None
