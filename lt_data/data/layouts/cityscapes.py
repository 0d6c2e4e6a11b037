"""Cityscapes: ``leftImg8bit/SPLIT/CITY/*_leftImg8bit.png`` + ``gtFine/SPLIT/CITY/*_gtFine_labelIds.png``.

The 35 label ids map to the 19 train ids through the official table (others → 255). With
``train_ids=True`` the layout reads ``*_gtFine_labelTrainIds.png`` instead (made by cityscapesScripts
or mmsegmentation's converter), which already hold train ids.
"""

from __future__ import annotations

from pathlib import Path

from ...core.classes import load_class_table
from .base import Layout, index_files, pair_files, require_dir

IMAGE_SUFFIX = "_leftImg8bit.png"


class CityscapesLayout(Layout):
    name = "cityscapes"
    cli_options = {"train_ids": "train_ids"}

    def __init__(self, root: str | Path, split: str = "train", *, train_ids: bool = False):
        super().__init__(root, split)
        self.train_ids = train_ids
        table = load_class_table("cityscapes")
        self.table = table.with_train_id_labels() if train_ids else table
        self.label_suffix = "_gtFine_labelTrainIds.png" if train_ids else "_gtFine_labelIds.png"

    def options(self) -> dict:
        return {"train_ids": self.train_ids}

    def scan(self):
        img_dir = require_dir(self.root / "leftImg8bit" / self.split, "Cityscapes image")
        lab_dir = require_dir(self.root / "gtFine" / self.split, "Cityscapes gtFine label")
        images = index_files(img_dir, f"*/*{IMAGE_SUFFIX}", strip=IMAGE_SUFFIX)
        labels = index_files(lab_dir, f"*/*{self.label_suffix}", strip=self.label_suffix)
        return pair_files(
            self.root, images, labels,
            expected_label=lambda p: lab_dir / p.parent.name / p.name.replace(IMAGE_SUFFIX, self.label_suffix),
            expected_image=lambda p: img_dir / p.parent.name / p.name.replace(self.label_suffix, IMAGE_SUFFIX),
        )
