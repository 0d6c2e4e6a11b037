"""What every dataset layout shares: samples, pairing images with labels, reading label files.

A layout turns ``root + split`` into plain sample records and knows how to read one sample's raw
label values; the class table's lookup turns raw values into train ids.
"""

from __future__ import annotations

import glob
import io
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
from PIL import Image, ImageFile, JpegImagePlugin, PngImagePlugin

from ...core.classes import ClassTable
from ...core.errors import BadInput, DataError, show_path
from ...core.fs import FsPath, as_path, check_location, is_local

IMAGE_EXTS = (".jpg", ".jpeg", ".png")

MAX_PIXELS = 1 << 30
"""Largest image or label file read, in pixels: 1 Gpx is 1 GiB as an 8-bit label and 4 GiB in Pillow's RGB.

Pillow refuses files over ~179 Mpx (``Image.MAX_IMAGE_PIXELS`` × 2, a warning from ~89 Mpx) as possible
decompression bombs: a guard for programs that open pictures from strangers. A dataset is the user's own,
and aerial, satellite or pathology tiles legitimately pass that size (a 14000×13000 orthophoto is 182 Mpx),
so PNG and JPEG dataset files are read up to this memory bound instead, without touching Pillow's global
limit. A file over it is a :class:`DataError` naming its size."""

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_SIGNATURE = b"\xff\xd8\xff"
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the IEND chunk every complete PNG ends with


@dataclass
class Sample:
    """One image/label pair. Paths are relative to the layout root; height/width come from the label."""

    id: str
    image: str
    label: str
    height: int = 0
    width: int = 0

    def to_json(self) -> dict:  # asdict's deep copy cost a third of writing samples.jsonl
        return {"id": self.id, "image": self.image, "label": self.label, "height": self.height, "width": self.width}


class Layout:
    """Base class. Subclasses set ``name`` and ``table`` and implement :meth:`scan`."""

    name = "base"
    table: ClassTable
    # the `lt-data stats` options that apply to this layout: option name → keyword of __init__
    cli_options: dict[str, str] = {}

    def __init__(self, root: str | Path | FsPath, split: str):
        if not isinstance(root, FsPath):
            check_location(root, "dataset root")
        root = as_path(root)
        # absolute but not resolved: a root typed through a symlink is shown and recorded as typed
        # (an FsPath, a URL given to get_layout, stays as it is)
        self.root = root.expanduser().resolve() if isinstance(root, FsPath) else Path(os.path.abspath(root.expanduser()))
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
        h, w = im.height, im.width
        try:
            hist = np.asarray(im.histogram(), dtype=np.int64)
        except (OSError, SyntaxError, ValueError) as e:
            raise DataError(path, f"unreadable or truncated label file ({e})") from None
        finally:
            im.close()
        _refuse_partial_label(path)
        return hist, h, w

    def read_raw_label(self, sample: Sample) -> np.ndarray:
        """Raw label values (H, W) uint8, as stored in the file."""
        path = self.label_path(sample)
        im = _open_label(path)
        try:
            raw = np.asarray(im, dtype=np.uint8)
        except (OSError, SyntaxError, ValueError) as e:
            raise DataError(path, f"unreadable or truncated label file ({e})") from None
        finally:
            im.close()
        _refuse_partial_label(path)
        return raw

    def read_label(self, sample: Sample) -> np.ndarray:
        """Train-id label map (H, W) uint8, ``table.ignore_index`` for void. Unknown values raise."""
        raw = self.read_raw_label(sample)
        bad = ~self.table.known[raw]
        if bad.any():
            values = sorted(set(np.unique(raw[bad]).tolist()))
            raise DataError(self.label_path(sample), unknown_values_problem(self.table, values))
        return self.table.lut[raw]

    def read_image(self, sample: Sample) -> np.ndarray:
        """RGB image (H, W, 3) uint8. Images may be lossy (JPEG); a truncated one is a DataError unless
        the program set Pillow's ``ImageFile.LOAD_TRUNCATED_IMAGES``, which images respect and labels don't."""
        path = self.image_path(sample)
        with open_image_file(path, "image") as im:
            try:
                return np.asarray(im.convert("RGB"))
            except (OSError, SyntaxError, ValueError) as e:
                raise DataError(path, f"unreadable or truncated image ({e})") from None

    def image_size(self, sample: Sample) -> tuple[int, int]:
        """(height, width) of the image from its file header, without decoding pixels."""
        path = self.image_path(sample)
        try:
            size = _png_size(path)
        except FileNotFoundError:
            raise DataError(path, "image file is missing") from None
        except OSError as e:
            raise DataError(path, f"unreadable image ({e.strerror or e})") from None
        if size is None:
            with open_image_file(path, "image") as im:
                size = (im.height, im.width)
        return size

    def describe(self) -> dict:
        return {"layout": self.name, "root": str(self.root), "split": self.split, "options": self.options()}


def _png_size(path: Path | FsPath) -> tuple[int, int] | None:
    """(height, width) from a PNG's IHDR chunk; None when the file is not a PNG."""
    with path.open("rb") as f:
        head = f.read(24)
    if len(head) == 24 and head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        w, h = struct.unpack(">II", head[16:24])
        return h, w
    return None


def open_image_file(path: Path, what: str = "image") -> Image.Image:
    """Open an image (``what="image"``) or label (``"label"``) file, reading its header only.

    Every failure is a :class:`DataError` naming ``path``: missing, unreadable, not an image, over
    :data:`MAX_PIXELS`; a label must be a PNG: a JPEG named ``.png`` is refused, since JPEG's lossy
    compression changes label values. PNG and JPEG files are opened by their Pillow plugin directly,
    which skips Pillow's decompression-bomb limit (see :data:`MAX_PIXELS`); other formats go through
    ``Image.open`` and keep it.
    """
    try:
        if is_local(path):
            source = path
            with open(path, "rb") as f:
                head = f.read(16)
        else:  # one request for the whole (small) file instead of one for the header and one for the pixels
            source = io.BytesIO(path.read_bytes())
            head = source.getvalue()[:16]
    except FileNotFoundError:
        raise DataError(path, f"{what} file is missing") from None
    except OSError as e:
        raise DataError(path, f"unreadable {what} file ({e.strerror or e})") from None
    if what == "label" and not head.startswith(_PNG_SIGNATURE):
        raise DataError(path, _not_png_problem(path, head))
    if not head:
        raise DataError(path, f"unreadable {what} file (empty file)")
    try:
        if head.startswith(_PNG_SIGNATURE):
            im = PngImagePlugin.PngImageFile(source)
        elif head.startswith(_JPEG_SIGNATURE):
            im = JpegImagePlugin.JpegImageFile(source)
        else:
            im = Image.open(source)
    except Image.DecompressionBombError as e:
        raise DataError(path, f"{what} is too large for Pillow to open as a {_format_of(path)} file ({e}); "
                              f"convert it to PNG") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise DataError(path, f"unreadable {what} file ({e})") from None
    w, h = im.size
    if w * h > MAX_PIXELS:
        im.close()
        raise DataError(path, f"{what} is {w}x{h} pixels ({w * h / 1e6:.0f} megapixels), over lt-data's limit of "
                              f"{MAX_PIXELS / 1e6:.0f} megapixels per file (lt_data.data.layouts.base.MAX_PIXELS); "
                              f"tile it into smaller files")
    return im


def _not_png_problem(path: Path, head: bytes) -> str:
    if head.startswith(_JPEG_SIGNATURE):
        return "is a JPEG file, not PNG; label maps must be lossless (JPEG changes label values)"
    if not head:
        return "unreadable label file (empty file)"
    fmt = _format_of(path)
    if fmt is None:
        return "unreadable label file (not a PNG file, nor any image format Pillow knows)"
    return f"is a {fmt} file, not PNG; label maps must be PNG files"


def _format_of(path: Path) -> str | None:
    """Pillow's name for the file's format, or None; for error messages only."""
    try:
        with Image.open(path if is_local(path) else io.BytesIO(path.read_bytes())) as im:
            return im.format
    except Exception:  # noqa: BLE001 - any failure means "unknown", the caller reports the file
        return None


def _open_label(path: Path) -> Image.Image:
    im = open_image_file(path, "label")
    if im.mode not in ("L", "P"):
        im.close()
        raise DataError(path, f"label must be an 8-bit single-channel PNG (mode L or P), got mode {im.mode}")
    return im


def _refuse_partial_label(path: Path) -> None:
    """With Pillow's global ``ImageFile.LOAD_TRUNCATED_IMAGES`` on (a common training-script recipe for
    broken web images), a truncated PNG decodes without error and its missing rows read as 0, a real
    class. A label is never accepted half-read: when the flag is on, the file must end with IEND."""
    if not ImageFile.LOAD_TRUNCATED_IMAGES:
        return  # Pillow itself raises on truncated data
    try:
        with path.open("rb") as f:
            f.seek(max(0, f.seek(0, 2) - len(_PNG_END)))
            tail = f.read()
    except OSError as e:
        raise DataError(path, f"unreadable label file ({e.strerror or e})") from None
    if tail != _PNG_END:
        raise DataError(path, "truncated label file (it does not end with the PNG IEND chunk)")


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
    """Pair image and label files by key. A file without its partner is a bad input naming both paths;
    so is a key that names several images (``a.jpg`` and ``a.png``) or labels (see :class:`FileIndex`):
    which one belongs to the sample is not for lt-data to guess."""
    samples, bad = [], []
    image_clashes, label_clashes = getattr(images, "clashes", {}), getattr(labels, "clashes", {})
    for key in sorted(images.keys() | labels.keys()):
        img, lab = images.get(key), labels.get(key)
        if key in image_clashes or key in label_clashes:
            bad.append(_clash(image_clashes.get(key), label_clashes.get(key), img, lab))
        elif img is not None and lab is not None:
            samples.append(Sample(id=key, image=_rel(img, root), label=_rel(lab, root)))
        elif img is not None:
            hint = f" (expected {show_path(expected_label(img))})" if expected_label else ""
            bad.append(BadInput(str(img), f"missing label for this image{hint}"))
        else:
            hint = f" (expected {show_path(expected_image(lab))})" if expected_image else ""
            bad.append(BadInput(str(lab), f"missing image for this label{hint}"))
    return samples, bad


def _clash(images: list[Path] | None, labels: list[Path] | None, img: Path | None, lab: Path | None) -> BadInput:
    """The bad input of a sample whose key is shared by several image (or label) files."""
    if images:
        files, what = images, f"images for one label ({show_path(lab)})" if lab is not None else \
            "images with one name and no label"
    else:
        files, what = labels, f"labels for one image ({show_path(img)})" if img is not None else \
            "labels with one name and no image"
    listed = " and ".join(show_path(p) for p in files)
    return BadInput(str(files[0]), f"{len(files)} {what}: {listed}; keep one and remove or rename the others "
                                   f"(lt-data does not guess which is meant)")


def _rel(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` as a string (``Path.relative_to`` lexically; the string prefix first,
    which is what it finds for every file of a scan, at a tenth of the cost)."""
    text, base = str(path), str(root)
    if base not in ("", ".", "/") and text.startswith(base + "/") and "/../" not in text:
        return text[len(base) + 1:]
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


class FileIndex(dict):
    """``{key: path}`` as :func:`index_files` builds it, plus ``clashes``: ``{key: [paths]}`` for the
    keys that name several files (``a.jpg`` and ``a.png``), paths sorted; ``self[key]`` is one of them."""

    def __init__(self):
        super().__init__()
        self.clashes: dict[str, list] = {}


def index_files(directory: Path, pattern: str, strip: str = "", exts: tuple[str, ...] | None = None
                ) -> FileIndex:
    """``{key: path}`` for files matching ``pattern`` under ``directory``; key = name minus ``strip``/ext.

    A pattern with a sub-directory part (``"*/*_labelIds.png"``) keys files as ``"sub/key"``. Files that
    share a key are listed in the result's ``clashes`` (:func:`pair_files` refuses them).
    """
    out = FileIndex()
    if not directory.is_dir():
        return out
    if isinstance(directory, FsPath):  # one listing request per folder level, not one per file
        base = directory.path.rstrip("/") + "/"
        found = directory.glob_paths(pattern)
        wrap = directory._new
    else:
        base = str(directory).rstrip("/") + "/"
        found = glob.glob(base + pattern)  # string glob: ~5x faster than Path.glob on big splits
        wrap = Path
    for s in sorted(found):  # sorted: the same file stands for a clashing key on every machine
        rel = s[len(base):]
        sub, _, name = rel.rpartition("/")
        if name.startswith("."):
            continue
        stem, dot, ext = name.rpartition(".")
        if exts is not None and f".{ext.lower()}" not in exts:
            continue
        key = name[: -len(strip)] if strip and name.endswith(strip) else (stem if dot else name)
        key = f"{sub}/{key}" if sub else key
        path = wrap(s)
        if key in out:
            out.clashes.setdefault(key, [out[key]]).append(path)
        else:
            out[key] = path
    return out


def require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise DataError(path, f"{what} directory not found")
    return path
