"""What every dataset layout shares: samples, pairing images with labels, reading label files.

A layout turns ``root + split`` into plain sample records and knows how to read one sample's raw
label values; the class table's lookup turns raw values into train ids.
"""

from __future__ import annotations

import glob
import struct
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
from PIL import Image

from ..classes import ClassTable
from ..errors import BadInput, DataError

IMAGE_EXTS = (".jpg", ".jpeg", ".png")


@dataclass
class Sample:
    """One image/label pair. Paths are relative to the layout root; height/width come from the label."""

    id: str
    image: str
    label: str
    height: int = 0
    width: int = 0

    def to_json(self) -> dict:
        return asdict(self)


class Layout:
    """Base class. Subclasses set ``name`` and ``table`` and implement :meth:`scan`."""

    name = "base"
    table: ClassTable

    def __init__(self, root: str | Path, split: str):
        self.root = Path(root).expanduser().resolve()
        self.split = split
        if not self.root.is_dir():
            raise DataError(self.root, "dataset root does not exist or is not a directory")

    # ---- to implement -------------------------------------------------------------------------
    def scan(self) -> tuple[list[Sample], list[BadInput]]:
        """All samples of the split, sorted by id, and the files that could not be paired."""
        raise NotImplementedError

    def options(self) -> dict:
        """Layout options worth recording in dataset.json."""
        return {}

    # ---- reading ------------------------------------------------------------------------------
    def image_path(self, sample: Sample) -> Path:
        return self.root / sample.image

    def label_path(self, sample: Sample) -> Path:
        return self.root / sample.label

    def raw_histogram(self, sample: Sample) -> tuple[np.ndarray, int, int]:
        """256-bin histogram of the raw label values, and the label's (height, width).

        Pillow decodes and counts in C in one pass, faster than decoding to numpy and counting.
        """
        path = self.label_path(sample)
        im = _open_label(path)
        try:
            hist = np.asarray(im.histogram(), dtype=np.int64)
        except (OSError, SyntaxError, ValueError) as e:
            raise DataError(path, f"unreadable or truncated label file ({e})") from None
        return hist, im.height, im.width

    def read_raw_label(self, sample: Sample) -> np.ndarray:
        """Raw label values (H, W) uint8, as stored in the file."""
        path = self.label_path(sample)
        im = _open_label(path)
        try:
            return np.asarray(im, dtype=np.uint8)
        except (OSError, SyntaxError, ValueError) as e:
            raise DataError(path, f"unreadable or truncated label file ({e})") from None

    def read_label(self, sample: Sample) -> np.ndarray:
        """Train-id label map (H, W) uint8, ``table.ignore_index`` for void. Unknown values raise."""
        raw = self.read_raw_label(sample)
        bad = ~self.table.known[raw]
        if bad.any():
            values = sorted(set(np.unique(raw[bad]).tolist()))
            raise DataError(self.label_path(sample), unknown_values_problem(self.table, values))
        return self.table.lut[raw]

    def read_image(self, sample: Sample) -> np.ndarray:
        """RGB image (H, W, 3) uint8."""
        path = self.image_path(sample)
        try:
            with Image.open(path) as im:
                return np.asarray(im.convert("RGB"))
        except FileNotFoundError:
            raise DataError(path, "image file is missing") from None
        except (OSError, SyntaxError, ValueError) as e:
            raise DataError(path, f"unreadable or truncated image ({e})") from None

    def image_size(self, sample: Sample) -> tuple[int, int]:
        """(height, width) of the image from its file header, without decoding pixels."""
        path = self.image_path(sample)
        try:
            size = _png_size(path)
            if size is None:
                with Image.open(path) as im:
                    w, h = im.size
                size = (h, w)
        except FileNotFoundError:
            raise DataError(path, "image file is missing") from None
        except (OSError, SyntaxError, ValueError) as e:
            raise DataError(path, f"unreadable image ({e})") from None
        return size

    def describe(self) -> dict:
        return {"layout": self.name, "root": str(self.root), "split": self.split, "options": self.options()}


def _png_size(path: Path) -> tuple[int, int] | None:
    """(height, width) from a PNG's IHDR chunk; None when the file is not a PNG."""
    with open(path, "rb") as f:
        head = f.read(24)
    if len(head) == 24 and head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        w, h = struct.unpack(">II", head[16:24])
        return h, w
    return None


def _open_label(path: Path) -> Image.Image:
    try:
        im = Image.open(path)
    except FileNotFoundError:
        raise DataError(path, "label file is missing") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise DataError(path, f"unreadable label file ({e})") from None
    if im.mode not in ("L", "P"):
        raise DataError(path, f"label must be an 8-bit single-channel PNG (mode L or P), got mode {im.mode}")
    return im


def unknown_values_problem(table: ClassTable, values: Iterable[int]) -> str:
    values = list(values)
    named = ", ".join(f"{v} ({table.raw_names[v]}, unused)" if v in table.raw_names else str(v) for v in values[:10])
    known = np.flatnonzero(table.known)
    return (f"label values not in the {table.dataset} class table: {named}"
            f"{' ...' if len(values) > 10 else ''} (known values: {_ranges(known)})")


def _ranges(values: np.ndarray) -> str:
    out, start, prev = [], None, None
    for v in values.tolist():
        if start is None:
            start = prev = v
        elif v == prev + 1:
            prev = v
        else:
            out.append(f"{start}" if start == prev else f"{start}..{prev}")
            start = prev = v
    if start is not None:
        out.append(f"{start}" if start == prev else f"{start}..{prev}")
    return ", ".join(out)


def pair_files(root: Path, images: dict[str, Path], labels: dict[str, Path],
               *, expected_label: callable = None, expected_image: callable = None
               ) -> tuple[list[Sample], list[BadInput]]:
    """Pair image and label files by key. A file without its partner is a bad input naming both paths."""
    samples, bad = [], []
    for key in sorted(images.keys() | labels.keys()):
        img, lab = images.get(key), labels.get(key)
        if img is not None and lab is not None:
            samples.append(Sample(id=key, image=_rel(img, root), label=_rel(lab, root)))
        elif img is not None:
            hint = f" (expected {expected_label(img)})" if expected_label else ""
            bad.append(BadInput(str(img), f"missing label for this image{hint}"))
        else:
            hint = f" (expected {expected_image(lab)})" if expected_image else ""
            bad.append(BadInput(str(lab), f"missing image for this label{hint}"))
    return samples, bad


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def index_files(directory: Path, pattern: str, strip: str = "", exts: tuple[str, ...] | None = None
                ) -> dict[str, Path]:
    """``{key: path}`` for files matching ``pattern`` under ``directory``; key = name minus ``strip``/ext.

    A pattern with a sub-directory part (``"*/*_labelIds.png"``) keys files as ``"sub/key"``.
    """
    out: dict[str, Path] = {}
    if not directory.is_dir():
        return out
    base = str(directory).rstrip("/") + "/"
    for s in glob.glob(base + pattern):  # string glob: ~5x faster than Path.glob on big splits
        rel = s[len(base):]
        sub, _, name = rel.rpartition("/")
        if name.startswith("."):
            continue
        stem, dot, ext = name.rpartition(".")
        if exts is not None and f".{ext.lower()}" not in exts:
            continue
        key = name[: -len(strip)] if strip and name.endswith(strip) else (stem if dot else name)
        out[f"{sub}/{key}" if sub else key] = Path(s)
    return out


def require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise DataError(path, f"{what} directory not found")
    return path
