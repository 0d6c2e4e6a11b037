"""The exit-code policy of ``lt-data``: a user's mistake (bad data, a bad option, a usage error, a file
in the way, a full disk) ends the command with ONE line on stderr, ``error: ...``, and exit code 2;
Ctrl-C exits 130 and SIGTERM 143, each with one line; a bug in lt-data keeps its traceback."""

from __future__ import annotations

import errno
import os
import re
import signal
import sys
from contextlib import contextmanager
from pathlib import Path

import typer

from ...core.errors import TERMINATING, LtDataError, Terminated, show_path

# errno values that describe the machine rather than the program: reported even without a file name
_MACHINE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO, errno.EMFILE,
                   errno.ENFILE}


@contextmanager
def _user_errors(*outputs: str | Path | None):
    """A user's mistake ends the command with ONE line on stderr, ``error: ...``, and exit code 2.

    - :class:`LtDataError` (bad data, a bad option, a missing or stale artifact);
    - an :class:`OSError` that names a file (``--out`` is an existing file, a folder that may not be
      written, a path that vanished) or that describes the machine (disk full, quota, read-only file
      system, permission): the line names the path; for a failed ``write()``, which carries no file
      name, the command's ``outputs``;
    - Ctrl-C: exit code 130.

    Anything else, an OSError without a file name or such an errno included, is a bug in lt-data and
    keeps its traceback, which is what a bug report needs.
    """
    try:
        yield
    except LtDataError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    except OSError as e:
        line = _os_error_line(e, [str(o) for o in outputs if o is not None])
        if line is None:
            raise
        typer.echo(f"error: {line}", err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt as e:
        how = "terminated" if isinstance(e, Terminated) else "interrupted"
        _quiet_exit()
        typer.echo(f"{how}: nothing half-written was left marked complete", err=True)
        raise typer.Exit(143 if isinstance(e, Terminated) else 130) from None


def _quiet_exit() -> None:
    """After an interrupt the one line is said: what libraries still complain about while the process
    ends (a Dask cluster cut short while starting, its atexit hook; multiprocessing's resource-sharer
    thread, whose listener closes under it and which reports that through ``sys.excepthook``) is noise,
    not news."""
    import logging
    import threading

    sys.unraisablehook = lambda unraisable: None
    sys.excepthook = lambda *exc_info: None
    threading.excepthook = lambda args: None
    for name in ("distributed", "tornado", "asyncio"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _os_error_line(e: OSError, outputs: list[str]) -> str | None:
    """``PATH: problem`` for an OSError a user can act on, None for one that is a bug."""
    problem = e.strerror or str(e)
    if e.errno in (errno.EEXIST, errno.ENOTDIR):
        problem += " (a file stands where a directory is needed)"
    if e.filename is not None:
        where = show_path(os.fsdecode(e.filename))
        if e.filename2 is not None:
            where += f" -> {show_path(os.fsdecode(e.filename2))}"
        return f"{where}: {problem}"
    if e.errno in _MACHINE_ERRNOS:
        return f"{', '.join(outputs)}: {problem}" if outputs else problem
    return None


def _on_sigterm(signum, frame) -> None:
    if TERMINATING:
        return  # once: the unwinding must not be cut short again
    TERMINATING.append("term")  # the loops' check_terminated() raises it again if this raise is lost
    raise Terminated()


def _on_sigint(signum, frame) -> None:
    if TERMINATING:
        return
    TERMINATING.append("int")
    raise KeyboardInterrupt()


def main(argv: list[str] | None = None) -> None:
    """The ``lt-data`` console entry point: the app, with command-line usage mistakes (a missing
    option, a value of the wrong type, an unknown command) as one line on stderr and exit code 2,
    like every other user error, instead of click's usage box. SIGTERM is handled like Ctrl-C
    (exit 143)."""
    from . import app  # the package is imported whole by now: every command registered

    signal.signal(signal.SIGTERM, _on_sigterm)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_sigint)
    try:
        rv = app(args=argv, prog_name="lt-data", standalone_mode=False)
    except Terminated:
        _quiet_exit()
        typer.echo("terminated", err=True)
        sys.exit(143)
    except Exception as e:  # click's exceptions, duck-typed: typer vendors click in some versions
        if not (hasattr(e, "format_message") and hasattr(e, "exit_code")):
            raise
        kind = type(e).__name__
        if kind == "Abort":
            term = isinstance(e.__cause__ or e.__context__, Terminated)
            _quiet_exit()
            typer.echo("terminated" if term else "interrupted", err=True)
            sys.exit(143 if term else 130)
        ctx = getattr(e, "ctx", None)
        if kind == "NoArgsIsHelpError" or ctx is None:
            e.show()
            sys.exit(e.exit_code)
        message = re.sub(r"\s*\n\s*", " ", e.format_message()).strip().rstrip(".")  # a list of choices: one line
        message = message.replace("Value error, ", "")  # typer's wording of a bad choice
        typer.echo(f"error: {message} (see '{ctx.command_path} --help')", err=True)
        sys.exit(e.exit_code)
    sys.exit(rv if isinstance(rv, int) else 0)
