"""Class tables: names, colours, ignore index and the raw-value → train-id lookup.

A class table is data (``manifests/*.json``, shipped with the package); this module only reads it.
Manifest schema (documented in ``docs/FORMATS.md``)::

    {
      "dataset": "cityscapes",
      "ignore_index": 255,
      "classes": [{"id": 0, "name": "road", "color": [128, 64, 128], ...}, ...],   # train ids 0..K-1
      "raw": [{"value": 7, "train_id": 0, "name": "road", ...}, ...],               # label-file values
      "source": "where the facts come from"
    }

``raw`` lists every value that may appear in the dataset's label files and the train id it maps to
(``ignore_index`` = not a class). A value not listed, or listed with ``"unused": true`` (COCO's 11
empty thing ids), is *unknown*: finding it in a label file is an error, never a silent remap.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Sequence

import numpy as np

IGNORE_INDEX = 255
_RAW_RANGE = 256  # semantic label PNGs are 8-bit


@dataclass(frozen=True, eq=False)
class ClassTable:
    """Train classes of a dataset plus the lookup from label-file values to train ids.

    names: K class names, index = train id.  colors: (K, 3) uint8 palette.
    lut: (256,) uint8, raw label value → train id (``ignore_index`` for void).
    known: (256,) bool, raw values that may legally appear in a label file.
    """

    dataset: str
    names: tuple[str, ...]
    colors: np.ndarray
    lut: np.ndarray
    known: np.ndarray
    ignore_index: int = IGNORE_INDEX
    raw_names: dict[int, str] = field(default_factory=dict)
    manifest: dict = field(default_factory=dict)  # the source manifest, kept whole for to_json

    @property
    def num_classes(self) -> int:
        return len(self.names)

    def __len__(self) -> int:
        return len(self.names)

    # ---- construction -------------------------------------------------------------------------
    @classmethod
    def from_manifest(cls, manifest: dict) -> "ClassTable":
        ignore = int(manifest.get("ignore_index", IGNORE_INDEX))
        classes = sorted(manifest["classes"], key=lambda c: c["id"])
        ids = [c["id"] for c in classes]
        where = f"class table {manifest.get('dataset')!r}"
        if ids != list(range(len(classes))):
            raise ValueError(f"{where}: train ids must be 0..K-1, got {ids[:5]}...")
        if not len(classes) <= ignore < _RAW_RANGE:
            raise ValueError(f"{where}: ignore index {ignore} must lie in {len(classes)}..255 (after the classes)")
        names = tuple(str(c["name"]) for c in classes)
        colors = np.array([c.get("color", (0, 0, 0)) for c in classes], dtype=np.uint8).reshape(-1, 3)
        lut = np.full(_RAW_RANGE, ignore, dtype=np.uint8)
        known = np.zeros(_RAW_RANGE, dtype=bool)
        raw_names: dict[int, str] = {}
        raw = manifest.get("raw")
        if raw is None:  # label files already hold train ids
            raw = [{"value": i, "train_id": i, "name": n} for i, n in enumerate(names)]
            raw.append({"value": ignore, "train_id": ignore, "name": "ignore"})
        seen: set[int] = set()
        for r in raw:
            v = int(r["value"])
            if not 0 <= v < _RAW_RANGE:
                continue  # e.g. Cityscapes' license plate (id -1) never appears in a label file
            if v in seen:
                raise ValueError(f"{where}: raw value {v} is listed twice")
            seen.add(v)
            raw_names[v] = str(r.get("name", v))
            if r.get("unused"):
                continue
            t = int(r["train_id"])
            if t != ignore and not 0 <= t < len(names):
                raise ValueError(f"{where}: raw value {v} maps to train id {t}, outside 0..{len(names) - 1}")
            lut[v] = t
            known[v] = True
        return cls(dataset=str(manifest.get("dataset", "custom")), names=names, colors=colors, lut=lut,
                   known=known, ignore_index=ignore, raw_names=raw_names, manifest=manifest)

    @classmethod
    def from_names(cls, names: list[str], *, dataset: str = "custom", raw_ignore: int = IGNORE_INDEX,
                   reduce_zero_label: bool = False, colors: np.ndarray | None = None) -> "ClassTable":
        """A table whose label files hold train ids (or train id + 1 with ``reduce_zero_label``).

        ``raw_ignore`` is the value that marks void pixels in the files; train-id maps always use 255.
        """
        clash = duplicate_names(names)
        if clash:
            name, ids = clash[0]
            raise ValueError(f"class name {name!r} is given to train ids {' and '.join(map(str, ids))}; names must be "
                             f"unique (ignoring case), since classes are chosen by name")
        if colors is None:
            colors = default_palette(len(names))
        classes = [{"id": i, "name": n, "color": [int(x) for x in colors[i]]} for i, n in enumerate(names)]
        if reduce_zero_label:
            raw = [{"value": 0, "train_id": IGNORE_INDEX, "name": "ignore (reduce_zero_label)"}]
            raw += [{"value": i + 1, "train_id": i, "name": n} for i, n in enumerate(names)]
        else:
            raw = [{"value": i, "train_id": i, "name": n} for i, n in enumerate(names)]
        clash = [r for r in raw if r["value"] == raw_ignore and r["train_id"] != IGNORE_INDEX]
        if clash:
            raise ValueError(f"ignore value {raw_ignore} is also the label value of class {clash[0]['name']!r}")
        if 0 <= raw_ignore < _RAW_RANGE and all(r["value"] != raw_ignore for r in raw):
            raw.append({"value": raw_ignore, "train_id": IGNORE_INDEX, "name": "ignore"})
        return cls.from_manifest({"dataset": dataset, "ignore_index": IGNORE_INDEX, "classes": classes, "raw": raw})

    def with_train_id_labels(self) -> "ClassTable":
        """The same classes, for label files that already hold train ids (``*_labelTrainIds.png``)."""
        manifest = {k: v for k, v in self.manifest.items() if k != "raw"}
        manifest["label_values"] = "train ids"
        return ClassTable.from_manifest(manifest)

    # ---- use ----------------------------------------------------------------------------------
    def map_raw(self, raw: np.ndarray) -> np.ndarray:
        """raw label values (H, W) uint8 → train ids (H, W) uint8, ``ignore_index`` for void."""
        return self.lut[raw]

    def fold_histograms(self, raw_hists: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 256) integer histograms of raw values → (per-class pixel counts (N, K) int64, ignored (N,)).

        Folding histograms through the lookup (one matrix product) costs nothing next to remapping
        every pixel. Unknown values fold into "ignored": check :meth:`unknown_values` first.
        """
        k = self.num_classes
        fold = np.zeros((_RAW_RANGE, k + 1), dtype=np.int64)
        lut = self.lut.astype(np.int64)
        fold[np.arange(_RAW_RANGE), np.where(lut < k, lut, k)] = 1
        folded = np.asarray(raw_hists, dtype=np.int64).reshape(-1, _RAW_RANGE) @ fold
        return folded[:, :k].copy(), folded[:, k].copy()

    def fold_histogram(self, raw_hist: np.ndarray) -> tuple[np.ndarray, int]:
        """One 256-bin histogram → (per-class pixel counts (K,) int64, ignored pixels)."""
        counts, ignored = self.fold_histograms(raw_hist)
        return counts[0], int(ignored[0])

    def unknown_values(self, raw_hist: np.ndarray) -> list[int]:
        """Raw values present in the histogram that the table does not know."""
        return [int(v) for v in np.flatnonzero((raw_hist > 0) & ~self.known)]

    def to_json(self) -> dict:
        """The manifest this table was built from (classes with all their fields, raw values, source)."""
        return dict(self.manifest)

    def fingerprint(self) -> str:
        """Stable hash of names, lookup and ignore index: a bank built for another table is refused."""
        import hashlib

        h = hashlib.sha256()
        h.update("\n".join(self.names).encode())
        h.update(self.lut.tobytes())
        h.update(self.known.tobytes())
        h.update(str(self.ignore_index).encode())
        return h.hexdigest()[:16]


def duplicate_names(names: Sequence[str]) -> list[tuple[str, list[int]]]:
    """Names given to more than one position, compared ignoring case (``--classes road`` and bucket
    lists look names up that way, so only one of them could ever be named): ``[(name, [positions])]``
    in order of first appearance."""
    where: dict[str, list[int]] = {}
    for i, n in enumerate(names):
        where.setdefault(str(n).lower(), []).append(i)
    return [(names[ids[0]], ids) for ids in where.values() if len(ids) > 1]


def class_ids_problem(value, num_classes: int) -> str | None:
    """Why ``value`` (read from a file a user may have edited) is not a list of distinct class ids
    0..num_classes-1, as a phrase that follows the key (``holds class 40, outside 0..10``); None when it is."""
    if not isinstance(value, list):
        return f"must be a list of class ids, got {value!r}"
    seen: set[int] = set()
    for v in value:
        if isinstance(v, bool) or not isinstance(v, int):
            return f"holds {v!r}, not a class id (an integer 0..{num_classes - 1})"
        if not 0 <= v < num_classes:
            return f"holds class {v}, outside 0..{num_classes - 1}"
        if v in seen:
            return f"holds class {v} twice"
        seen.add(v)
    return None


def stray_label(label: np.ndarray, num_classes: int, ignore_index: int = IGNORE_INDEX) -> int | None:
    """The smallest value of ``label`` (any integer array) that is neither a class id
    (``0..num_classes-1``) nor ``ignore_index``, or None. One ``max()`` when all is well (a label
    map holding ignore pixels costs one more pass)."""
    if label.size == 0:
        return None
    top = int(label.max())
    low = int(label.min()) if label.dtype.kind == "i" else 0
    if top < num_classes and low >= 0:
        return None
    stray = (label < 0) | ((label >= num_classes) & (label != ignore_index))
    return int(label[stray].min()) if stray.any() else None


def stray_label_message(value: int, num_classes: int, ignore_index: int = IGNORE_INDEX) -> str:
    """What to tell a user whose label map holds ``value`` (:func:`stray_label`)."""
    return (f"label value {value} is neither a train id of the work directory (0..{num_classes - 1}) nor ignore "
            f"({ignore_index}): raw dataset ids? Convert them to train ids first (lt-data's layouts do it when they "
            f"read Cityscapes, ADE20K, COCO-Stuff and CamVid; in mmseg `reduce_zero_label=True` for ADE20K-style "
            f"labels or a label map; CamVid's void 11 is ignore 255), or pass check_labels=False if the values are "
            f"meant")


def default_palette(n: int) -> np.ndarray:
    """Deterministic, well-separated colours (the PASCAL VOC bit-interleaving scheme)."""
    out = np.zeros((n, 3), dtype=np.uint8)
    for i in range(n):
        c, r, g, b = i + 1, 0, 0, 0
        for bit in range(8):
            r |= ((c >> 0) & 1) << (7 - bit)
            g |= ((c >> 1) & 1) << (7 - bit)
            b |= ((c >> 2) & 1) << (7 - bit)
            c >>= 3
        out[i] = (r, g, b)
    return out


def manifest_path(name: str) -> Path:
    """Path of a shipped manifest file, e.g. ``manifest_path("cityscapes.json")``."""
    return Path(str(resources.files("lt_data.manifests").joinpath(name)))


def load_manifest(name: str) -> dict:
    path = manifest_path(name if name.endswith(".json") else f"{name}.json")
    if not path.is_file():
        raise FileNotFoundError(f"no class table manifest {path.name!r} in {path.parent}")
    return json.loads(path.read_text())


def load_class_table(dataset: str) -> ClassTable:
    """The shipped class table of ``cityscapes``, ``ade20k``, ``coco_stuff164k`` or ``camvid``."""
    return ClassTable.from_manifest(load_manifest(dataset))
