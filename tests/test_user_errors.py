"""A user's mistake ends the command with ONE line on stderr (``error: ...``) and exit code 2.

Covers the COCO-Stuff JSON route, huge labels, JPEG files posing as PNG labels, truncated or
unreadable files.
"""

from __future__ import annotations

import json
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile
from typer.testing import CliRunner

from lt_data.cli import app
from lt_data.errors import DataError
from lt_data.layouts import get_layout
from lt_data.layouts.base import Sample

runner = CliRunner()  # keeps stderr apart from stdout: result.stderr


def _one_error_line(res, *must_contain: str) -> str:
    """The command failed as a user's mistake: exit 2, exactly one stderr line ``error: ...``."""
    assert not isinstance(res.exception, Exception), f"uncaught {res.exception!r}\n{res.output}"
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and lines[0][7:].strip(), res.stderr
    for text in must_contain:
        assert text in lines[0], lines[0]
    return lines[0]


# ---- small generated datasets --------------------------------------------------------------------

def _make_folder(root: Path, n: int = 3) -> Path:
    (root / "images" / "train").mkdir(parents=True)
    (root / "labels" / "train").mkdir(parents=True)
    (root / "classes.txt").write_text("road\ncar\nbike\n")
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 3, (12, 16), dtype=np.uint8)).save(root / "labels" / "train" / f"s{i}.png")
        Image.new("RGB", (16, 12)).save(root / "images" / "train" / f"s{i}.png")
    return root


def _stats(root: Path, out: Path, *extra: str, layout: str = "folder"):
    return runner.invoke(app, ["stats", str(root), "--layout", layout, "--out", str(out), "-q", "-j", "1", *extra])


def _zeros_png(path: Path, width: int, height: int, *, header_only: bool = False) -> Path:
    """An 8-bit grey PNG of zeros, written row block by row block: 182 megapixels cost ~0.5 s and 180 KB.

    ``header_only`` writes no pixel data (an empty IDAT): enough for anything that must not decode.
    """
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)))
        if header_only:
            f.write(chunk(b"IDAT", b"") + chunk(b"IEND", b""))
            return path
        z, row = zlib.compressobj(6), bytes(1 + width)  # filter byte 0 + the row's pixels
        per = max(1, (1 << 22) // len(row))
        parts = [z.compress(row * min(per, height - y)) for y in range(0, height, per)]
        f.write(chunk(b"IDAT", b"".join(parts) + z.flush()) + chunk(b"IEND", b""))
    return path


# ---- 1. COCO-Stuff JSON route ----------------------------------------------------------------------

H, W = 6, 8


def _rle(mask: np.ndarray) -> dict:
    from pycocotools import mask as mask_utils

    r = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in r["size"]], "counts": r["counts"].decode("ascii")}


def _ann(mask: np.ndarray, category: int, ann_id: int, image_id: int = 934) -> dict:
    ys, xs = np.nonzero(mask)
    return {"segmentation": _rle(mask), "area": float(mask.sum()), "iscrowd": 0, "image_id": image_id,
            "bbox": [float(xs.min()), float(ys.min()), float(np.ptp(xs) + 1), float(np.ptp(ys) + 1)],
            "category_id": category, "id": ann_id}


def _coco_jsons() -> tuple[dict, dict]:
    """A stuff and an instances JSON shaped like the real ``stuff_examples.json`` (nightrome), 1 image."""
    top = np.zeros((H, W), bool)
    top[:2] = True
    person = np.zeros((H, W), bool)
    person[3:, :3] = True
    image = {"license": 5, "file_name": "000000000934.jpg", "coco_url": "http://images.cocodataset.org/x.jpg",
             "height": H, "width": W, "date_captured": "2013-11-18 05:33:39", "id": 934}
    stuff = {"info": {"description": "COCO 2017 Stuff Dataset", "version": "1.0", "year": 2017},
             "images": [image], "licenses": [{"url": "http://creativecommons.org/licenses/by/2.0/", "id": 5,
                                              "name": "Attribution License"}],
             "categories": [{"supercategory": "textile", "id": 92, "name": "banner"},
                            {"supercategory": "other", "id": 183, "name": "other"}],
             "annotations": [_ann(top, 92, 10000000), _ann(~top & ~person, 105, 10000001),
                             _ann(person, 183, 10000002)]}
    instances = {"images": [dict(image)], "categories": [{"supercategory": "person", "id": 1, "name": "person"}],
                 "annotations": [_ann(person, 1, 1)]}
    return stuff, instances


def _coco_root(tmp_path: Path, stuff, instances) -> Path:
    root = tmp_path / "coco"
    (root / "annotations").mkdir(parents=True)
    (root / "images" / "train2017").mkdir(parents=True)
    Image.new("RGB", (W, H)).save(root / "images" / "train2017" / "000000000934.jpg")
    (root / "annotations" / "stuff_train2017.json").write_text(json.dumps(stuff))
    if instances is not None:
        (root / "annotations" / "instances_train2017.json").write_text(json.dumps(instances))
    return root


def _drop(d: dict, key: str) -> None:
    del d[key]


def _stuff_ann(s, i, key, value=None, *, drop=False):
    if drop:
        del s["annotations"][i][key]
    else:
        s["annotations"][i][key] = value


COCO_BREAKS = {
    # id: (which file, how to break it, what the one line must say besides the file name)
    "category_300": ("stuff", lambda s: _stuff_ann(s, 0, "category_id", 300), ["300", "8-bit"]),
    "category_256": ("stuff", lambda s: _stuff_ann(s, 0, "category_id", 256), ["256", "8-bit"]),
    "category_0": ("stuff", lambda s: _stuff_ann(s, 0, "category_id", 0), ["category_id 0"]),
    "category_string": ("stuff", lambda s: _stuff_ann(s, 0, "category_id", "92"), ["category_id", "'92'"]),
    "no_annotations": ("stuff", lambda s: _drop(s, "annotations"), ["'annotations'"]),
    "no_images": ("stuff", lambda s: _drop(s, "images"), ["'images'"]),
    "annotations_not_a_list": ("stuff", lambda s: s.update(annotations={}), ["'annotations'", "list"]),
    "top_level_list": ("stuff", lambda s: [s], ["JSON object"]),
    "ann_no_segmentation": ("stuff", lambda s: _stuff_ann(s, 1, "segmentation", drop=True),
                            ["annotations[1]", "'segmentation'"]),
    "ann_no_category_id": ("stuff", lambda s: _stuff_ann(s, 1, "category_id", drop=True),
                           ["annotations[1]", "'category_id'"]),
    "ann_no_image_id": ("stuff", lambda s: _stuff_ann(s, 2, "image_id", drop=True), ["annotations[2]", "'image_id'"]),
    "image_no_file_name": ("stuff", lambda s: _drop(s["images"][0], "file_name"), ["images[0]", "'file_name'"]),
    "image_no_height": ("stuff", lambda s: _drop(s["images"][0], "height"), ["images[0]", "'height'"]),
    "image_no_width": ("stuff", lambda s: _drop(s["images"][0], "width"), ["images[0]", "'width'"]),
    "image_no_id": ("stuff", lambda s: _drop(s["images"][0], "id"), ["images[0]", "'id'"]),
    "image_height_text": ("stuff", lambda s: s["images"][0].update(height="480px"), ["images[0]", "'height'"]),
    "instances_category_300": ("instances", lambda s: _stuff_ann(s, 0, "category_id", 300), ["300", "8-bit"]),
    "instances_no_annotations": ("instances", lambda s: _drop(s, "annotations"), ["'annotations'"]),
    "instances_ann_no_segmentation": ("instances", lambda s: _stuff_ann(s, 0, "segmentation", drop=True),
                                      ["annotations[0]", "'segmentation'"]),
}


def test_coco_json_fixture_is_valid(tmp_path):
    """The generated JSONs are good input, so each break below is the only fault."""
    stuff, instances = _coco_jsons()
    res = _stats(_coco_root(tmp_path, stuff, instances), tmp_path / "work", "--source", "json",
                 layout="coco_stuff164k")
    assert res.exit_code == 0, res.output
    cs = json.loads((tmp_path / "work" / "class_stats.json").read_text())
    assert cs["ignored_pixels"] == 0 and cs["labelled_pixels"] == H * W


@pytest.mark.parametrize("case", COCO_BREAKS, ids=str)
def test_coco_json_bad_content_names_the_file_and_the_key(tmp_path, case):
    which, breaker, expected = COCO_BREAKS[case]
    stuff, instances = _coco_jsons()
    doc = stuff if which == "stuff" else instances
    replaced = breaker(doc)  # breaks the document in place, or returns a new one
    if replaced is not None:
        doc = replaced
    if which == "stuff":
        stuff = doc
    else:
        instances = doc
    root = _coco_root(tmp_path, stuff, instances)
    res = _stats(root, tmp_path / "work", "--source", "json", layout="coco_stuff164k")
    _one_error_line(res, str(root / "annotations" / f"{which}_train2017.json"), *expected)
    assert not (tmp_path / "work" / "class_stats.json").exists()


# ---- 2. huge labels ------------------------------------------------------------------------------

def test_a_label_over_pillows_bomb_limit_is_read(tmp_path):
    """182 Mpx (e.g. a 14000x13000 aerial tile) is over Pillow's decompression-bomb limit (2 x 89.5 Mpx):
    a dataset the user owns is read, without a DecompressionBombWarning/Error."""
    root = _make_folder(tmp_path / "ds", n=1)
    label = _zeros_png(root / "labels" / "train" / "s0.png", 14000, 13000)
    assert 14000 * 13000 > 2 * Image.MAX_IMAGE_PIXELS and label.stat().st_size < 1 << 20
    lay = get_layout("folder", root, "train")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hist, h, w = lay.raw_histogram(Sample("s0", "images/train/s0.png", "labels/train/s0.png"))
    assert (h, w) == (13000, 14000) and hist[0] == 14000 * 13000 and hist.sum() == hist[0]


def test_a_label_over_our_memory_limit_is_one_line_with_its_size(tmp_path):
    root = _make_folder(tmp_path / "ds", n=2)
    label = _zeros_png(root / "labels" / "train" / "s1.png", 40000, 40000, header_only=True)  # 1.6 Gpx
    line = _one_error_line(_stats(root, tmp_path / "work"), str(label), "40000x40000", "1600 megapixels")
    assert "limit" in line


def test_images_over_pillows_bomb_limit_are_read(tmp_path, monkeypatch):
    """Images (JPEG and PNG) follow the same rule as labels; Pillow's limit is lowered so the files stay small."""
    root = _make_folder(tmp_path / "ds", n=2)
    Image.new("RGB", (16, 12), (10, 20, 30)).save(root / "images" / "train" / "s0.jpg")
    (root / "images" / "train" / "s0.png").unlink()
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50)  # 192 pixels is "a bomb" now
    lay = get_layout("folder", root, "train")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name, ext in (("s0", "jpg"), ("s1", "png")):
            s = Sample(name, f"images/train/{name}.{ext}", f"labels/train/{name}.png")
            assert lay.image_size(s) == (12, 16)
            assert lay.read_image(s).shape == (12, 16, 3)
            assert lay.read_label(s).shape == (12, 16)
    res = _stats(root, tmp_path / "work")
    assert res.exit_code == 0, res.output


# ---- 3. a JPEG file named .png -------------------------------------------------------------------

def test_a_jpeg_label_named_png_is_refused_but_a_jpeg_image_is_not(tmp_path):
    root = _make_folder(tmp_path / "ds")
    # A uniform label survives JPEG exactly, so today nothing notices and its pixels are counted.
    label = root / "labels" / "train" / "s1.png"
    Image.new("L", (16, 12), 1).save(label, format="JPEG")
    image = root / "images" / "train" / "s2.png"
    Image.new("RGB", (16, 12), (90, 120, 30)).save(image, format="JPEG")  # images may be lossy
    res = _stats(root, tmp_path / "work")
    _one_error_line(res, f"{label}: is a JPEG file, not PNG; label maps must be lossless (JPEG changes label values)")
    res = _stats(root, tmp_path / "work", "--skip-bad")
    assert res.exit_code == 0, res.output
    dataset = json.loads((tmp_path / "work" / "dataset.json").read_text())
    assert [b["path"] for b in dataset["skipped"]] == [str(label)]
    lay = get_layout("folder", root, "train")
    assert lay.read_image(Sample("s2", "images/train/s2.png", "labels/train/s2.png"))[0, 0].tolist() != [0, 0, 0]
    with pytest.raises(DataError, match="is a JPEG file"):
        lay.read_label(Sample("s1", "images/train/s1.png", "labels/train/s1.png"))


# ---- 4. truncated or unreadable files, as training reads them --------------------------------------

def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _jpeg_image(path: Path) -> None:
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)).save(path, format="JPEG")


UNREADABLE = {
    "truncated_png": lambda p: _truncate(p),
    "truncated_jpeg": lambda p: (_jpeg_image(p), _truncate(p)),
    "garbage": lambda p: p.write_bytes(b"GIF89a but not really" * 3),
    "empty": lambda p: p.write_bytes(b""),
    "directory": lambda p: (p.unlink(), p.mkdir()),
}


@pytest.mark.parametrize("case,kind", [(c, k) for c in UNREADABLE for k in ("image", "label")
                                       if (c, k) != ("truncated_jpeg", "label")])  # that one: test above
def test_readers_raise_data_error_for_unreadable_files(tmp_path, case, kind, monkeypatch):
    """What a DataLoader worker calls: read_image / read_label raise DataError naming the file. Also
    when a training script set Pillow's LOAD_TRUNCATED_IMAGES (a common recipe for web images):
    a half-decoded label would silently turn the missing rows into class 0."""
    if case.startswith("truncated") and kind == "label":
        monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    root = _make_folder(tmp_path / "ds", n=1)
    s = Sample("s0", "images/train/s0.png", "labels/train/s0.png")
    path = root / ("images" if kind == "image" else "labels") / "train" / "s0.png"
    UNREADABLE[case](path)
    lay = get_layout("folder", root, "train")
    readers = [lay.read_image] if kind == "image" else [lay.read_label, lay.raw_histogram]
    for read in readers:
        with pytest.raises(DataError) as err:
            read(s)
        assert err.value.path == str(path) and err.value.problem


def test_a_truncated_label_is_refused_even_with_load_truncated_images(tmp_path, monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    root = _make_folder(tmp_path / "ds")
    label = root / "labels" / "train" / "s1.png"
    _truncate(label)
    _one_error_line(_stats(root, tmp_path / "work"), str(label), "truncated")
