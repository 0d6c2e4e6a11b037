"""Where a command reads and writes: local paths, output directories (refused before any work when a
file is in the way), fsspec URLs with their --storage-options, and the refusal of a URL where a
command takes a local path."""

from __future__ import annotations

import functools
import re
import sys
from pathlib import Path

import typer

from ...core.errors import LtDataError, local_path, show_path


def _output_dir(value: str | Path, what: str) -> Path:
    """A directory the command will create or write into; refused before any work when a file is in the way."""
    path = local_path(value, what)
    for p in (path, *path.parents):
        if p.exists():
            if not p.is_dir():
                inside = "" if p == path else f", so {path} cannot be created"
                raise LtDataError(f"{show_path(p)}: is a file, not a directory{inside} ({what} must be a directory)")
            break
    return path


def _where(value: str | Path, what: str, storage_options: dict | None, *, output: bool = False) -> Path | str:
    """A local Path (a ``file://`` URL included; an output folder is created) or a storage URL; a string
    that is not a URL but looks like one, an unknown protocol and ``memory://`` are refused."""
    from ...core.fs import as_path, check_location, is_local

    check_location(value, what, cli=True)
    path = as_path(value, storage_options)
    if not is_local(path):
        return str(path) if not isinstance(value, str) else value
    return _output_dir(path, what) if output else path


def _storage(storage_options: str | None) -> dict | None:
    from ...core.fs import parse_storage_options

    return parse_storage_options(storage_options)


_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):/")  # a Path keeps "s3:/bucket" of "s3://bucket"


def _local_paths_only(func):
    """Refuse a URL given where a command takes a local path (the str-typed --out of the store builds
    and the store arguments of ``bank info/show`` take URLs; they are not Path-typed)."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        for name, value in kwargs.items():
            m = _URL.match(str(value)) if isinstance(value, Path) else None
            if m:
                typed = next((a for a in sys.argv if a.startswith(m.group(1) + ":") and Path(a) == value), value)
                typer.echo(f"error: {show_path(typed)}: the {name.replace('_', ' ')} must be a local path, not a URL",
                           err=True)
                raise typer.Exit(2)
        return func(*args, **kwargs)
    return wrapper
