"""Small datasets the tests write: built the same way wherever a test needs one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def make_folder_dataset(root: Path, n: int = 3) -> Path:
    """A folder-layout dataset of n 16x12 samples (random labels of 3 classes, black images)."""
    (root / "images" / "train").mkdir(parents=True)
    (root / "labels" / "train").mkdir(parents=True)
    (root / "classes.txt").write_text("road\ncar\nbike\n")
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 3, (12, 16), dtype=np.uint8)).save(root / "labels" / "train" / f"s{i}.png")
        Image.new("RGB", (16, 12)).save(root / "images" / "train" / f"s{i}.png")
    return root


def one_error_line(res, *must_contain: str) -> str:
    """A CliRunner result that failed as a user's mistake: exit 2, exactly one stderr line
    ``error: ...`` (containing each of ``must_contain``), no traceback. Returns the line."""
    assert not isinstance(res.exception, Exception), f"uncaught {res.exception!r}\n{res.output}"
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and lines[0][7:].strip(), res.stderr
    for text in must_contain:
        assert text in lines[0], lines[0]
    return lines[0]


class EntryPoint:
    """``lt_data.cli.main`` (the console script: click's usage errors become one line) in the shape of a
    click command, for ``click.testing.CliRunner().invoke(EntryPoint(), argv)``."""

    name = "lt-data"

    def main(self, args=None, prog_name=None, **extra):
        from lt_data.cli import main

        main(list(args or ()))
