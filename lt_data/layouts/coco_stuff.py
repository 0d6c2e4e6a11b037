"""COCO-Stuff 164K: ``images/{train2017,val2017}`` + ``annotations/{train2017,val2017}``.

Three label sources, chosen with ``source``:

- ``trainids``: ``*_labelTrainIds.png`` from mmsegmentation's converter (values 0..170, 255 ignore);
- ``png``: the official ``stuffthingmaps_trainval2017`` PNGs (value = COCO category id − 1, 0..181,
  255 unlabeled), mapped to the 171 contiguous classes; the 11 unused COCO ids are unknown values;
- ``json``: ``annotations/stuff_SPLIT.json`` (+ ``annotations/instances_SPLIT.json`` when present),
  decoded with pycocotools into the same raw values: start unlabeled, paint things, then stuff
  (stuff category 183 "other" marks thing pixels and is not painted). Without the instances file
  thing pixels stay unlabeled (ignored), and the layout says so.

``auto`` (default) picks the first that exists in that order.
"""

from __future__ import annotations

import json
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..classes import load_class_table
from ..errors import BadInput, DataError
from .base import IMAGE_EXTS, Layout, Sample, index_files, pair_files, require_dir

SPLITS = {"train": "train2017", "val": "val2017"}
TRAIN_IDS_SUFFIX = "_labelTrainIds.png"
STUFF_OTHER = 183
UNLABELED = 255


class COCOStuffLayout(Layout):
    name = "coco_stuff164k"

    def __init__(self, root: str | Path, split: str = "train2017", *, source: str = "auto"):
        super().__init__(root, split)
        self.folder = SPLITS.get(split, split)
        if source not in ("auto", "trainids", "png", "json"):
            raise ValueError(f"source must be auto, trainids, png or json, not {source!r}")
        self.source = self._pick_source() if source == "auto" else source
        table = load_class_table("coco_stuff164k")
        self.table = table.with_train_id_labels() if self.source == "trainids" else table
        self._anns: dict[int, list[dict]] | None = None
        self.warnings: list[str] = []

    @property
    def stuff_json(self) -> Path:
        return self.root / "annotations" / f"stuff_{self.folder}.json"

    @property
    def instances_json(self) -> Path:
        return self.root / "annotations" / f"instances_{self.folder}.json"

    def _pick_source(self) -> str:
        lab_dir = self.root / "annotations" / self.folder
        if lab_dir.is_dir():
            if any(lab_dir.glob(f"*{TRAIN_IDS_SUFFIX}")):
                return "trainids"
            if any(lab_dir.glob("*.png")):
                return "png"
        if self.stuff_json.is_file():
            return "json"
        raise DataError(self.root / "annotations",
                        f"no COCO-Stuff labels for {self.folder}: expected annotations/{self.folder}/*.png "
                        f"(stuffthingmaps or *{TRAIN_IDS_SUFFIX}) or annotations/stuff_{self.folder}.json")

    def options(self) -> dict:
        return {"source": self.source}

    # ---- scanning -----------------------------------------------------------------------------
    def scan(self):
        img_dir = require_dir(self.root / "images" / self.folder, "COCO image")
        if self.source == "json":
            return self._scan_json(img_dir)
        lab_dir = require_dir(self.root / "annotations" / self.folder, "COCO-Stuff annotation")
        images = index_files(img_dir, "*", exts=IMAGE_EXTS)
        if self.source == "trainids":
            labels = index_files(lab_dir, f"*{TRAIN_IDS_SUFFIX}", strip=TRAIN_IDS_SUFFIX)
            suffix = TRAIN_IDS_SUFFIX
        else:
            labels = {k: p for k, p in index_files(lab_dir, "*.png").items() if not k.endswith("_labelTrainIds")}
            suffix = ".png"
        return pair_files(self.root, images, labels,
                          expected_label=lambda p: lab_dir / (p.stem + suffix),
                          expected_image=lambda p: img_dir / (p.name.replace(suffix, "") + ".jpg"))

    def _scan_json(self, img_dir: Path):
        stuff = _load_json(self.stuff_json)
        anns: dict[int, list[dict]] = defaultdict(list)
        if self.instances_json.is_file():
            things = _load_json(self.instances_json)
            for a in things.get("annotations", []):
                anns[a["image_id"]].append({"segmentation": a["segmentation"], "category_id": a["category_id"],
                                            "order": 0})
        else:
            msg = (f"{self.instances_json}: not found; thing pixels (stuff category 183 'other') "
                   f"are left unlabeled (ignored)")
            self.warnings.append(msg)
            warnings.warn(msg, stacklevel=2)
        for a in stuff.get("annotations", []):
            if a["category_id"] != STUFF_OTHER:
                anns[a["image_id"]].append({"segmentation": a["segmentation"], "category_id": a["category_id"],
                                            "order": 1})
        self._anns = dict(anns)
        samples, bad = [], []
        label_ref = str(self.stuff_json.relative_to(self.root))
        for im in sorted(stuff.get("images", []), key=lambda r: r["file_name"]):
            img = img_dir / im["file_name"]
            s = Sample(id=Path(im["file_name"]).stem, image=str(img.relative_to(self.root)),
                       label=f"{label_ref}#{im['id']}", height=int(im["height"]), width=int(im["width"]))
            if img.is_file():
                samples.append(s)
            else:
                bad.append(BadInput(str(img), f"missing image for annotations of image id {im['id']} in {label_ref}"))
        return samples, bad

    # ---- reading ------------------------------------------------------------------------------
    def label_path(self, sample: Sample) -> Path:
        return self.root / sample.label.split("#")[0]

    def read_raw_label(self, sample: Sample) -> np.ndarray:
        if self.source != "json":
            return super().read_raw_label(sample)
        if self._anns is None:
            self.scan()
        from pycocotools import mask as mask_utils

        image_id = int(sample.label.rsplit("#", 1)[1])
        h, w = sample.height, sample.width
        raw = np.full((h, w), UNLABELED, dtype=np.uint8)
        for a in sorted(self._anns.get(image_id, []), key=lambda a: a["order"]):
            seg = a["segmentation"]
            try:
                if isinstance(seg, list):  # polygons
                    rle = mask_utils.merge(mask_utils.frPyObjects(seg, h, w))
                elif isinstance(seg.get("counts"), list):  # uncompressed RLE (crowd)
                    rle = mask_utils.frPyObjects(seg, h, w)
                else:
                    rle = seg
                m = mask_utils.decode(rle).astype(bool)
            except Exception as e:  # pycocotools raises bare Exceptions on malformed input
                raise DataError(f"{self.label_path(sample)}#{image_id}",
                                f"cannot decode the segmentation of category {a['category_id']} ({e})") from None
            if m.shape != (h, w):
                raise DataError(f"{self.label_path(sample)}#{image_id}",
                                f"mask size {m.shape} differs from the image size {(h, w)}")
            raw[m] = a["category_id"] - 1
        return raw

    def raw_histogram(self, sample: Sample):
        if self.source != "json":
            return super().raw_histogram(sample)
        raw = self.read_raw_label(sample)
        return np.bincount(raw.ravel(), minlength=256).astype(np.int64), raw.shape[0], raw.shape[1]


def _load_json(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise DataError(path, "annotation file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(path, f"not valid JSON ({e})") from None
