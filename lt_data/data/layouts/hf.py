"""A Hugging Face ``datasets`` dataset as a layout: one image column, one label-map column, rows as samples.

``ROOT`` is one of:

- a folder written by ``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk`` (``state.json`` or
  ``dataset_dict.json`` inside; the split picks the DatasetDict's member);
- a folder of Parquet or Arrow files as the hub stores them (``data/train-00000-of-00002.parquet``;
  the files of a split are those whose name starts with ``SPLIT-`` or ``SPLIT.``, or that sit in a
  folder named ``SPLIT``);
- ``hf://datasets/OWNER/NAME``: ``datasets.load_dataset("OWNER/NAME", split=SPLIT)``, downloaded into
  the ``datasets`` cache (each process loads it from there; the hub's revision is not pinned, so a
  dataset changed on the hub between stages would be read as changed: save it with ``save_to_disk``
  for work that must stay fixed).

The label column holds label maps as images (the ``Image`` feature, PNG bytes or paths), for example
``scene_parse_150``'s ``annotation`` (ADE20K: 0 = other, 1..150 the classes: ``--reduce-zero-label``).
Class names come from ``classes_file`` (one per line; line k names label value k), else from
``ROOT/classes.txt``. ``id_map`` maps raw label values to train ids (``{"7": 0, "8": 1, "0": 255, ...}``;
255 makes a value void; a value the map does not name is refused, as every layout refuses unknown
values), ``reduce_zero_label`` makes 0 void and k → k − 1, ``ignore_index`` is the raw
void value. A sample is a row: its image and label are ``COLUMN#ROW``; the rows are decoded where
they are read (in the worker processes of stats, bank build and training), from the Arrow table each
process opens itself (memory-mapped for save_to_disk folders and the hub cache).

Needs the ``datasets`` package (``pip install 'lt-data[datasets]'``).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

from ...core.classes import IGNORE_INDEX, ClassTable, default_palette
from ...core.errors import BadInput, DataError, LtDataError
from .base import Layout, Sample
from .folder import read_class_names

HUB = "hf://datasets/"
_INTEGER_MODES = {"L", "P", "1"}


def _need_datasets():
    try:
        import datasets
    except ImportError as e:
        raise LtDataError(f"the hf layout needs the datasets package ({e}): `pip install 'lt-data[datasets]'` "
                          f"(or `pip install datasets`)") from None
    return datasets


class HFLayout(Layout):
    name = "hf"
    cli_options = {"reduce_zero_label": "reduce_zero_label", "ignore_index": "ignore_index", "classes": "classes_file",
                   "image_column": "image_column", "label_column": "label_column", "id_map": "id_map"}

    def __init__(self, root, split: str = "train", *, image_column: str = "image", label_column: str = "annotation",
                 classes_file: str | Path | None = None, reduce_zero_label: bool = False, ignore_index: int = 255,
                 id_map: dict | str | None = None):
        text = str(root)
        self.hub = text.startswith(HUB)
        if self.hub:
            self.root, self.split = text.rstrip("/"), split
            if not self.root[len(HUB):]:
                raise LtDataError(f"{text}: name the dataset, hf://datasets/NAME")
        else:
            super().__init__(root, split)
        if isinstance(ignore_index, bool) or not isinstance(ignore_index, int) or not 0 <= ignore_index <= 255:
            raise LtDataError(f"ignore index {ignore_index!r} is not an 8-bit label value (0..255)")
        self.image_column, self.label_column = str(image_column), str(label_column)
        self.reduce_zero_label, self.ignore_index = bool(reduce_zero_label), ignore_index
        self.id_map = _read_id_map(id_map)
        if classes_file:
            self.classes_file = Path(classes_file)
        elif not self.hub:
            self.classes_file = self.root / "classes.txt"
        else:
            raise LtDataError(f"{self.root}: give the class names with --classes FILE (one per line; line k names "
                              f"label value k, or train id k with --id-map)")
        names = read_class_names(self.classes_file)
        if reduce_zero_label and not self.id_map:
            names = names[1:]
        if len(names) > 255:
            raise DataError(self.classes_file, f"{len(names)} classes do not fit 8-bit train ids (at most 255)")
        self.table = self._class_table(names)
        self._rows = None
        columns = self.rows().column_names
        for what, col in (("image", self.image_column), ("label", self.label_column)):
            if col not in columns:
                raise DataError(self.where, f"no {what} column {col!r}; the columns are {', '.join(columns)} "
                                            f"(--{what}-column NAME)")

    def _class_table(self, names: list[str]) -> ClassTable:
        where = self.classes_file
        try:
            if not self.id_map:
                return ClassTable.from_names(names, dataset=self.dataset_name, raw_ignore=self.ignore_index,
                                             reduce_zero_label=self.reduce_zero_label)
            if self.reduce_zero_label:
                raise LtDataError("--id-map and --reduce-zero-label together: the map says what 0 becomes "
                                  "(\"0\": 255 makes it void)")
            stray = sorted(v for v, t in self.id_map.items() if len(names) <= t != IGNORE_INDEX)
            if stray:
                raise DataError(where, f"--id-map sends raw value {stray[0]} to train id {self.id_map[stray[0]]}, "
                                       f"but there are {len(names)} classes (0..{len(names) - 1}; 255: void)")
            colors = default_palette(len(names))
            classes = [{"id": i, "name": n, "color": [int(x) for x in colors[i]]} for i, n in enumerate(names)]
            raw = [{"value": v, "train_id": t if t < len(names) else IGNORE_INDEX,
                    "name": names[t] if t < len(names) else "ignore"} for v, t in sorted(self.id_map.items())]
            if self.ignore_index not in self.id_map:
                raw.append({"value": self.ignore_index, "train_id": IGNORE_INDEX, "name": "ignore"})
            return ClassTable.from_manifest({"dataset": self.dataset_name, "ignore_index": IGNORE_INDEX,
                                             "classes": classes, "raw": raw})
        except ValueError as e:
            raise DataError(where, str(e)) from None

    @property
    def dataset_name(self) -> str:
        return self.root[len(HUB):] if self.hub else self.root.name

    @property
    def where(self) -> str:
        return f"{self.root} [{self.split}]"

    def options(self) -> dict:
        return {"image_column": self.image_column, "label_column": self.label_column,
                "classes_file": str(self.classes_file), "reduce_zero_label": self.reduce_zero_label,
                "ignore_index": self.ignore_index,
                "id_map": {str(k): v for k, v in sorted(self.id_map.items())} if self.id_map else None}

    # ---- the rows ---------------------------------------------------------------------------------
    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_rows"] = None  # each process opens the table itself (memory-mapped), never a pickled copy
        return state

    def rows(self):
        """The split's rows as a pyarrow Table (opened once per process)."""
        if self._rows is None:
            self._rows = self._open()
        return self._rows

    def _open(self):
        datasets = _need_datasets()
        if self.hub:
            name = self.root[len(HUB):]  # OWNER/NAME (or a bare NAME)
            unreachable = _hub_unreachable()
            if unreachable:
                raise LtDataError(f"{self.root}: cannot reach the Hugging Face hub ({unreachable}); with a copy in "
                                  f"the datasets cache set HF_HUB_OFFLINE=1, or save the dataset with `save_to_disk` "
                                  f"where there is network and give that folder")
            try:
                ds = datasets.load_dataset(name, split=self.split)
            except Exception as e:  # no network, no such dataset, no such split: one line
                first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
                raise LtDataError(f"{self.root}: cannot load split {self.split!r} from the Hugging Face hub "
                                  f"({type(e).__name__}: {first}); without network access, save it with "
                                  f"`save_to_disk` where there is some and give that folder") from None
            return ds.data.table
        root = Path(self.root)
        try:
            if (root / "dataset_dict.json").is_file():
                dd = datasets.load_from_disk(str(root))
                if self.split not in dd:
                    raise DataError(root, f"no split {self.split!r} in this DatasetDict; its splits are "
                                          f"{', '.join(dd)}")
                return dd[self.split].data.table
            if (root / "state.json").is_file():
                return datasets.load_from_disk(str(root)).data.table
        except (OSError, ValueError) as e:
            raise DataError(root, f"unreadable save_to_disk folder ({e})") from None
        return self._open_files(root)

    def _open_files(self, root: Path):
        import pyarrow as pa
        import pyarrow.parquet as pq

        files = sorted(p for p in root.rglob("*") if p.suffix in (".parquet", ".arrow") and p.is_file())
        mine = [p for p in files if p.name.startswith((f"{self.split}-", f"{self.split}.", f"{self.split}_"))
                or p.parent.name == self.split]
        if not mine:
            raise DataError(root, f"no save_to_disk folder (state.json, dataset_dict.json) and no Parquet or Arrow "
                                  f"files of split {self.split!r} (SPLIT-*.parquet, SPLIT/*.parquet)"
                                  + (f"; found {', '.join(p.name for p in files[:4])}" if files else ""))
        tables = []
        for p in mine:
            try:
                if p.suffix == ".parquet":
                    tables.append(pq.read_table(p))
                else:
                    with pa.memory_map(str(p)) as source:
                        try:
                            tables.append(pa.ipc.open_stream(source).read_all())
                        except pa.ArrowInvalid:
                            tables.append(pa.ipc.open_file(source).read_all())
            except (OSError, pa.ArrowException) as e:
                raise DataError(p, f"unreadable {p.suffix[1:]} file ({e})") from None
        return pa.concat_tables(tables) if len(tables) > 1 else tables[0]

    def _cell(self, column: str, row: int):
        value = self.rows().column(column)[row].as_py()
        where = f"{self.where} row {row} ({column})"
        if isinstance(value, dict) and (value.get("bytes") or value.get("path")):
            data = value.get("bytes")
            source = io.BytesIO(data) if data else value["path"]
            try:
                return Image.open(source), where
            except (OSError, ValueError) as e:
                raise DataError(where, f"unreadable image ({e})") from None
        if isinstance(value, (bytes, bytearray)):
            return Image.open(io.BytesIO(value)), where
        raise DataError(where, f"holds {type(value).__name__}, not an image (the Image feature: PNG/JPEG bytes or a "
                               f"path)")

    # ---- the layout's interface ------------------------------------------------------------------
    def scan(self) -> tuple[list[Sample], list[BadInput]]:
        samples, bad = [], []
        for i in range(self.rows().num_rows):
            try:
                im, where = self._cell(self.label_column, i)
                w, h = im.size
            except DataError as e:
                bad.append(e.bad)
                continue
            samples.append(Sample(id=f"{i:08d}", image=f"{self.image_column}#{i}", label=f"{self.label_column}#{i}",
                                  height=h, width=w))
        return samples, bad

    def image_path(self, sample: Sample) -> str:
        return f"{self.where} row {int(sample.image.rsplit('#', 1)[1])} ({self.image_column})"

    def label_path(self, sample: Sample) -> str:
        return f"{self.where} row {int(sample.label.rsplit('#', 1)[1])} ({self.label_column})"

    def read_raw_label(self, sample: Sample) -> np.ndarray:
        im, where = self._cell(self.label_column, int(sample.label.rsplit("#", 1)[1]))
        if im.mode not in _INTEGER_MODES:
            raise DataError(where, f"label map is a {im.mode} image, not 8-bit class ids (an 'L' or 'P' PNG): "
                                   f"colour-coded or float labels must be converted to class ids first")
        try:
            return np.asarray(im, dtype=np.uint8)
        except (OSError, ValueError) as e:
            raise DataError(where, f"unreadable or truncated label ({e})") from None

    def raw_histogram(self, sample: Sample) -> tuple[np.ndarray, int, int]:
        raw = self.read_raw_label(sample)
        return np.bincount(raw.ravel(), minlength=256).astype(np.int64), raw.shape[0], raw.shape[1]

    def read_image(self, sample: Sample) -> np.ndarray:
        im, where = self._cell(self.image_column, int(sample.image.rsplit("#", 1)[1]))
        try:
            return np.asarray(im.convert("RGB"))
        except (OSError, ValueError) as e:
            raise DataError(where, f"unreadable or truncated image ({e})") from None

    def image_size(self, sample: Sample) -> tuple[int, int]:
        im, _ = self._cell(self.image_column, int(sample.image.rsplit("#", 1)[1]))
        return im.height, im.width


def _hub_unreachable(timeout: float = 5.0) -> str | None:
    """Why the hub (``HF_ENDPOINT``, default huggingface.co) cannot be reached, or None: one quick TCP
    connection instead of huggingface_hub's retries (about 25 s of them) when there is no network.
    Offline mode (``HF_HUB_OFFLINE`` / ``HF_DATASETS_OFFLINE``) reads the cache and needs none."""
    import os
    import socket
    from urllib.parse import urlparse

    if any(os.environ.get(k, "").lower() in ("1", "true", "yes") for k in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")):
        return None
    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname, port), timeout=timeout).close()
    except OSError as e:
        return f"{url.hostname}:{port}: {e.strerror or e}"
    return None


def _read_id_map(id_map) -> dict[int, int]:
    """``{raw value: train id}`` from a dict, a JSON object text, or a JSON file."""
    if id_map is None or id_map == {}:
        return {}
    if isinstance(id_map, str):
        text = Path(id_map).read_text() if not id_map.lstrip().startswith("{") and Path(id_map).is_file() else id_map
        try:
            id_map = json.loads(text)
        except ValueError as e:
            raise LtDataError(f"--id-map {id_map!r}: not a JSON object of raw value → train id ({e})") from None
    try:
        out = {int(k): int(v) for k, v in dict(id_map).items()}
    except (TypeError, ValueError):
        raise LtDataError(f"--id-map must map raw label values to train ids, e.g. {{\"7\": 0, \"8\": 1}}; got "
                          f"{id_map!r}") from None
    bad = [k for k, v in out.items() if not 0 <= k <= 255 or not 0 <= v <= 255]
    if bad:
        raise LtDataError(f"--id-map: raw values and train ids are 8-bit (0..255), not {bad[:3]}")
    return out


__all__ = ["HFLayout", "HUB"]
