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
