"""ADE20K scene parsing: ``ADEChallengeData2016/{images,annotations}/{training,validation}``.

Label value 0 ("other objects") is ignored and k = 1..150 becomes train id k − 1 (mmsegmentation's
``reduce_zero_label``). ``root`` may be the ``ADEChallengeData2016`` folder or its parent; the split
may be ``training``/``validation`` or ``train``/``val``.
"""

from __future__ import annotations

from pathlib import Path

from ...core.classes import load_class_table
from .base import IMAGE_EXTS, Layout, index_files, pair_files, require_dir

SPLITS = {"train": "training", "val": "validation", "training": "training", "validation": "validation"}


class ADE20KLayout(Layout):
    name = "ade20k"

    def __init__(self, root: str | Path, split: str = "training"):
        super().__init__(root, split)
        if (self.root / "ADEChallengeData2016").is_dir():
            self.root = self.root / "ADEChallengeData2016"
        self.folder = SPLITS.get(split, split)
        self.table = load_class_table("ade20k")

    def scan(self):
        img_dir = require_dir(self.root / "images" / self.folder, "ADE20K image")
        lab_dir = require_dir(self.root / "annotations" / self.folder, "ADE20K annotation")
        images = index_files(img_dir, "*", exts=IMAGE_EXTS)
        labels = index_files(lab_dir, "*.png")
        return pair_files(self.root, images, labels,
                          expected_label=lambda p: lab_dir / (p.stem + ".png"),
                          expected_image=lambda p: img_dir / (p.stem + ".jpg"))
