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
from typing import Literal

import numpy as np

from ...core.classes import load_class_table
from ...core.errors import BadInput, DataError, LtDataError
from .base import IMAGE_EXTS, Layout, Sample, index_files, pair_files, require_dir

SPLITS = {"train": "train2017", "val": "val2017"}
SOURCES = ("auto", "trainids", "png", "json")
TRAIN_IDS_SUFFIX = "_labelTrainIds.png"
STUFF_OTHER = 183
UNLABELED = 255


class COCOStuffLayout(Layout):
    name = "coco_stuff164k"
    cli_options = {"source": "source"}

    def __init__(self, root: str | Path, split: str = "train2017", *, source: Literal["auto", "trainids", "png", "json"] = "auto"):
        super().__init__(root, split)
        self.folder = SPLITS.get(split, split)
        if source not in SOURCES:
            raise LtDataError(f"COCO-Stuff source must be auto, trainids, png or json, not {source!r}")
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
        images = _images(stuff, self.stuff_json)
        anns: dict[int, list[dict]] = defaultdict(list)
        if self.instances_json.is_file():
            for a in _annotations(_load_json(self.instances_json), self.instances_json):
                anns[a["image_id"]].append({"segmentation": a["segmentation"], "category_id": a["category_id"],
                                            "order": 0})
        else:
            msg = (f"{self.instances_json}: not found; thing pixels (stuff category 183 'other') "
                   f"are left unlabeled (ignored)")
            self.warnings.append(msg)
            warnings.warn(msg, stacklevel=2)
        for a in _annotations(stuff, self.stuff_json):
            if a["category_id"] != STUFF_OTHER:
                anns[a["image_id"]].append({"segmentation": a["segmentation"], "category_id": a["category_id"],
                                            "order": 1})
        self._anns = dict(anns)
        samples, bad = [], []
        label_ref = str(self.stuff_json.relative_to(self.root))
        # one listing of the image folder instead of a request per image (118k on train2017)
        present = {str(p.relative_to(img_dir)) for p in index_files(img_dir, "*", exts=IMAGE_EXTS).values()}
        for im in sorted(images, key=lambda r: r["file_name"]):
            img = img_dir / im["file_name"]
            s = Sample(id=Path(im["file_name"]).stem, image=str(img.relative_to(self.root)),
                       label=f"{label_ref}#{im['id']}", height=im["height"], width=im["width"])
            if im["file_name"] in present or img.is_file():
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
        with path.open("r", encoding="utf-8") as f:
            doc = json.load(f)
    except FileNotFoundError:
        raise DataError(path, "annotation file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(path, f"not valid JSON ({e})") from None
    except OSError as e:
        raise DataError(path, f"unreadable annotation file ({e.strerror or e})") from None
    if not isinstance(doc, dict):
        raise DataError(path, f"expected a JSON object with 'images' and 'annotations', got {_kind(doc)}")
    return doc


# ---- checking the JSON: every record the layout uses, before any pixel is painted -----------------

def _kind(value) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number")


def _records(doc: dict, key: str, path: Path, needs: tuple[str, ...]) -> list[dict]:
    """``doc[key]``: a list of objects that each hold every key in ``needs``."""
    if key not in doc:
        raise DataError(path, f"no {key!r} list at the top level (a COCO annotation file holds 'images', "
                              f"'annotations' and 'categories')")
    records = doc[key]
    if not isinstance(records, list):
        raise DataError(path, f"{key!r} must be a list, got {_kind(records)}")
    for i, r in enumerate(records):
        if not isinstance(r, dict):
            raise DataError(path, f"{key}[{i}] must be an object, got {_kind(r)}")
        for k in needs:
            if k not in r:
                raise DataError(path, f"{key}[{i}] has no {k!r}")
    return records


def _int_field(path: Path, where: str, record: dict, key: str, low: int, high: int | None = None) -> int:
    v = record[key]
    if isinstance(v, bool) or not isinstance(v, int) or v < low or (high is not None and v > high):
        expected = f"an integer in {low}..{high}" if high is not None else f"an integer >= {low}"
        raise DataError(path, f"{where} has {key!r} {v!r}; expected {expected}")
    return v


def _images(doc: dict, path: Path) -> list[dict]:
    out = []
    for i, r in enumerate(_records(doc, "images", path, ("id", "file_name", "height", "width"))):
        where = f"images[{i}]"
        if not isinstance(r["file_name"], str) or not r["file_name"]:
            raise DataError(path, f"{where} has 'file_name' {r['file_name']!r}; expected a file name")
        out.append({"id": _int_field(path, where, r, "id", 0), "file_name": r["file_name"],
                    "height": _int_field(path, where, r, "height", 1), "width": _int_field(path, where, r, "width", 1)})
    return out


def _annotations(doc: dict, path: Path) -> list[dict]:
    """The annotations with ``image_id`` and ``category_id`` checked. A label map is uint8 holding
    ``category_id - 1`` and 255 for unlabeled, so a category id must lie in 1..255."""
    records = _records(doc, "annotations", path, ("image_id", "category_id", "segmentation"))
    for i, a in enumerate(records):
        where = f"annotations[{i}]"
        _int_field(path, where, a, "image_id", 0)
        c = a["category_id"]
        if isinstance(c, bool) or not isinstance(c, int):
            raise DataError(path, f"{where} has category_id {c!r}; expected an integer")
        if not 1 <= c <= UNLABELED:
            raise DataError(path, f"{where} has category_id {c}, which does not fit an 8-bit (uint8) label map: "
                                  f"it holds category_id - 1, so ids must lie in 1..255")
    return records
