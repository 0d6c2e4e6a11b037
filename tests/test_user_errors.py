"""A user's mistake ends the command with ONE line on stderr (``error: ...``) and exit code 2.

Covers the COCO-Stuff JSON route, huge labels, JPEG files posing as PNG labels, truncated or
unreadable files, operating-system errors on the outputs, and a walk over every wrong input we
could think of for stats / buckets / report / export / run.
"""

from __future__ import annotations

import errno
import json
import os
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile
from click.testing import CliRunner as ClickRunner
from typer.testing import CliRunner

from builders import EntryPoint, make_folder_dataset
from builders import one_error_line as _one_error_line
from lt_data.entry.cli import app
from lt_data.core.errors import DataError
from lt_data.data.layouts import get_layout
from lt_data.data.layouts.base import Sample

runner = CliRunner()  # keeps stderr apart from stdout: result.stderr


# ---- small generated datasets --------------------------------------------------------------------


def _stats(root: Path, out: Path, *extra: str, layout: str = "folder"):
    return runner.invoke(app, ["stats", str(root), "--layout", layout, "--out", str(out), "-q", "-j", "1", *extra])


@pytest.fixture(scope="module")
def folder_work(tmp_path_factory) -> tuple[Path, Path]:
    """A folder dataset and its statistics + buckets, computed once; tests must not write into them."""
    base = tmp_path_factory.mktemp("folder")
    root, work = make_folder_dataset(base / "ds"), base / "work"
    assert _stats(root, work).exit_code == 0
    assert runner.invoke(app, ["buckets", str(work), "-q"]).exit_code == 0
    return root, work


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
    root = make_folder_dataset(tmp_path / "ds", n=1)
    label = _zeros_png(root / "labels" / "train" / "s0.png", 14000, 13000)
    assert 14000 * 13000 > 2 * Image.MAX_IMAGE_PIXELS and label.stat().st_size < 1 << 20
    lay = get_layout("folder", root, "train")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hist, h, w = lay.raw_histogram(Sample("s0", "images/train/s0.png", "labels/train/s0.png"))
    assert (h, w) == (13000, 14000) and hist[0] == 14000 * 13000 and hist.sum() == hist[0]


def test_a_label_over_our_memory_limit_is_one_line_with_its_size(tmp_path):
    root = make_folder_dataset(tmp_path / "ds", n=2)
    label = _zeros_png(root / "labels" / "train" / "s1.png", 40000, 40000, header_only=True)  # 1.6 Gpx
    line = _one_error_line(_stats(root, tmp_path / "work"), str(label), "40000x40000", "1600 megapixels")
    assert "limit" in line


def test_images_over_pillows_bomb_limit_are_read(tmp_path, monkeypatch):
    """Images (JPEG and PNG) follow the same rule as labels; Pillow's limit is lowered so the files stay small."""
    root = make_folder_dataset(tmp_path / "ds", n=2)
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
    root = make_folder_dataset(tmp_path / "ds")
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
    root = make_folder_dataset(tmp_path / "ds", n=1)
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
    root = make_folder_dataset(tmp_path / "ds")
    label = root / "labels" / "train" / "s1.png"
    _truncate(label)
    _one_error_line(_stats(root, tmp_path / "work"), str(label), "truncated")


# ---- 5. operating-system errors on the outputs -----------------------------------------------------

def test_out_is_an_existing_file(tmp_path, folder_work):
    root, work = folder_work
    blocker = tmp_path / "taken"
    blocker.write_text("mine\n")
    _one_error_line(_stats(root, blocker), str(blocker))
    _one_error_line(runner.invoke(app, ["export", str(work), "--out", str(blocker / "exports")]), str(blocker))
    assert blocker.read_text() == "mine\n"


def test_permission_denied_names_the_path(tmp_path, folder_work, monkeypatch):
    """Tests may run as root, where chmod denies nothing: the OS's answer is simulated."""
    root, _ = folder_work
    out = tmp_path / "ro" / "work"
    real_mkdir = Path.mkdir

    def mkdir(self, *args, **kwargs):
        if str(self).startswith(str(tmp_path / "ro")):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    _one_error_line(_stats(root, out), str(tmp_path / "ro"), "Permission denied")


def test_disk_full_names_the_output_and_leaves_nothing_half_written(tmp_path, folder_work, monkeypatch):
    _, work = folder_work
    out = tmp_path / "exports"
    assert runner.invoke(app, ["export", str(work), "--out", str(out)]).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # as write()/fsync() report it: no file name

    monkeypatch.setattr(os, "fsync", full)
    _one_error_line(runner.invoke(app, ["export", str(work), "--out", str(out), "--beta", "0.5"]),
                    str(out), "No space left on device")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # no temporary file, nothing half-written


def test_interrupt_is_exit_130_and_bugs_stay_tracebacks(folder_work, monkeypatch):
    _, work = folder_work
    import lt_data.data.exports

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(lt_data.data.exports, "write_exports", interrupted)
    res = runner.invoke(app, ["export", str(work)])
    assert res.exit_code == 130 and res.stderr.startswith("interrupted")

    def bug(*a, **k):  # an OSError without a file and without an environmental errno is our bug
        raise OSError("internal: bad file descriptor state")

    monkeypatch.setattr(lt_data.data.exports, "write_exports", bug)
    res = runner.invoke(app, ["export", str(work)])
    assert isinstance(res.exception, OSError) and res.exit_code == 1


def test_real_process_prints_one_line(tmp_path):
    """The console script itself, not the test runner: stderr is exactly one line, exit code 2."""
    import subprocess
    import sys

    exe = Path(sys.executable).with_name("lt-data")
    if not exe.exists():
        pytest.skip("lt-data console script not installed next to this Python")
    proc = subprocess.run([str(exe), "stats", str(tmp_path), "-l", "no-such-layout", "-o", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: ") and "no-such-layout" in proc.stderr


# ---- 6. every command with obviously wrong inputs ---------------------------------------------------

def _bad_toml(tmp: Path, text: str) -> str:
    p = tmp / "pipe.toml"
    p.write_text(text)
    return str(p)


def _pipeline(tmp: Path, root: Path, extra: str = "", dataset: str | None = None) -> str:
    ds = dataset if dataset is not None else f'layout = "folder"\nroot = "{root}"\nsplit = "train"\n'
    return _bad_toml(tmp, f'name = "t"\nwork = "{tmp / "pw"}"\n[dataset]\n{ds}\n{extra}')


def _file(tmp: Path, name: str, data: bytes) -> str:
    p = tmp / name
    p.write_bytes(data)
    return str(p)


# id: (args builder (tmp, dataset root, work) -> argv, substrings of the one line; {tmp} = tmp)
WRONG = {
    # stats
    "stats_missing_root": (lambda t, r, w: ["stats", str(t / "nope"), "-l", "folder", "-o", str(t / "o")],
                           ["nope", "does not exist"]),
    "stats_root_is_file": (lambda t, r, w: ["stats", str(r / "classes.txt"), "-l", "folder", "-o", str(t / "o")],
                           ["classes.txt", "not a directory"]),
    "stats_unknown_layout": (lambda t, r, w: ["stats", str(r), "-l", "pascal", "-o", str(t / "o")],
                             ["'pascal'", "cityscapes"]),
    "stats_url_root": (lambda t, r, w: ["stats", "file:///nonexistent/camvid", "-l", "camvid", "-o", str(t / "o")],
                       ["/nonexistent/camvid", "does not exist"]),
    "stats_s3_root": (lambda t, r, w: ["stats", "s3:/bucket/ade", "-l", "ade20k", "-o", str(t / "o")],
                      ["s3:/bucket/ade", "looks like a URL but is not one"]),
    "stats_classes_missing": (lambda t, r, w: ["stats", str(r), "-l", "folder", "-o", str(t / "o"),
                                               "--classes", str(t / "nope.txt")], ["nope.txt", "not found"]),
    "stats_classes_binary": (lambda t, r, w: ["stats", str(r), "-l", "folder", "-o", str(t / "o"),
                                              "--classes", _file(t, "c.txt", b"\xff\xfe\x00r\x00o")],
                             ["c.txt", "UTF-8"]),
    "stats_classes_is_dir": (lambda t, r, w: ["stats", str(r), "-l", "folder", "-o", str(t / "o"),
                                              "--classes", str(t)], ["{tmp}", "classes file"]),
    "stats_bad_source": (lambda t, r, w: ["stats", str(r), "-l", "coco_stuff164k", "-o", str(t / "o"),
                                          "--source", "xml"], ["'xml'", "'auto', 'trainids', 'png', 'json'"]),
    "stats_ignore_index_300": (lambda t, r, w: ["stats", str(r), "-l", "folder", "-o", str(t / "o"),
                                                "--ignore-index", "300"], ["ignore index 300", "0..255"]),
    "stats_missing_split": (lambda t, r, w: ["stats", str(r), "-l", "folder", "-s", "val", "-o", str(t / "o")],
                            ["val", "directory not found"]),
    "stats_out_is_file": (lambda t, r, w: ["stats", str(r), "-l", "folder", "-o", str(r / "classes.txt")],
                          ["classes.txt"]),
    # buckets
    "buckets_missing_work": (lambda t, r, w: ["buckets", str(t / "nope")], ["nope", "lt-data stats"]),
    "buckets_work_is_file": (lambda t, r, w: ["buckets", str(r / "classes.txt")], ["classes.txt"]),
    "buckets_bad_rule": (lambda t, r, w: ["buckets", str(w), "--rule", "median"], ["'median'"]),
    "buckets_bad_share": (lambda t, r, w: ["buckets", str(w), "--head-share", "3"], ["head share", "3"]),
    "buckets_bad_preset": (lambda t, r, w: ["buckets", str(w), "--rule", "preset", "--preset", "x"], ["'x'"]),
    "buckets_refine_missing": (lambda t, r, w: ["buckets", str(w), "--refine", str(t / "iou.json")],
                               ["iou.json", "no such file"]),
    "buckets_refine_url": (lambda t, r, w: ["buckets", str(w), "--refine", "file:///x/iou.json"],
                           ["file:///x/iou.json", "URL"]),
    "buckets_refine_malformed": (lambda t, r, w: ["buckets", str(w), "--refine", _file(t, "iou.json", b"{per_class")],
                                 ["iou.json", "invalid JSON"]),
    "buckets_refine_wrong_shape": (lambda t, r, w: ["buckets", str(w), "--refine", _file(t, "iou.json", b"[0.5]")],
                                   ["iou.json", "per_class"]),
    "buckets_refine_is_dir": (lambda t, r, w: ["buckets", str(w), "--refine", str(t)], ["{tmp}"]),
    # report
    "report_missing_work": (lambda t, r, w: ["report", str(t / "nope")], ["nope", "lt-data stats"]),
    "report_bad_top": (lambda t, r, w: ["report", str(w), "--top", "-3"], ["--top", "-3"]),
    # export
    "export_missing_work": (lambda t, r, w: ["export", str(t / "nope")], ["nope", "lt-data stats"]),
    "export_beta_1": (lambda t, r, w: ["export", str(w), "--beta", "1"], ["--beta", "[0, 1)"]),
    "export_beta_negative": (lambda t, r, w: ["export", str(w), "--beta", "-0.5"], ["--beta"]),
    "export_beta_nan": (lambda t, r, w: ["export", str(w), "--beta", "nan"], ["--beta", "nan"]),
    "export_out_is_file": (lambda t, r, w: ["export", str(w), "--out", str(r / "classes.txt")], ["classes.txt"]),
    # run
    "run_missing": (lambda t, r, w: ["run", str(t / "nope.toml")], ["nope.toml", "not found"]),
    "run_url": (lambda t, r, w: ["run", "https://example.org/p.toml"], ["https://example.org/p.toml", "URL"]),
    "run_is_dir": (lambda t, r, w: ["run", str(t)], ["{tmp}"]),
    "run_binary": (lambda t, r, w: ["run", _file(t, "p.toml", b"\xff\xfe\xfa")], ["p.toml", "UTF-8"]),
    "run_syntax_error": (lambda t, r, w: ["run", _bad_toml(t, 'name = "x\n[dataset\n')], ["pipe.toml", "TOML"]),
    "run_unknown_stage": (lambda t, r, w: ["run", _pipeline(t, r, "[statz]\n")], ["pipe.toml", "statz"]),
    "run_unknown_stage_key": (lambda t, r, w: ["run", _pipeline(t, r, "[buckets]\nhead_shar = 0.5\n")],
                              ["pipe.toml", "[buckets]", "head_shar"]),
    "run_unknown_stats_key": (lambda t, r, w: ["run", _pipeline(t, r, "[stats]\nworker = 2\n")],
                              ["pipe.toml", "[stats]", "worker"]),
    "run_unknown_top_key": (lambda t, r, w: ["run", _bad_toml(t, f'nme = "t"\n[dataset]\nlayout = "folder"\n'
                                                                   f'root = "{r}"\nsplit = "train"\n')],
                            ["pipe.toml", "nme"]),
    "run_stage_not_a_table": (lambda t, r, w: ["run", _bad_toml(t, f'report = 3\n[dataset]\nlayout = "folder"\n'
                                                                   f'root = "{r}"\nsplit = "train"\n')],
                              ["pipe.toml", "report"]),
    "run_work_not_a_string": (lambda t, r, w: ["run", _bad_toml(t, f'work = 3\n[dataset]\nlayout = "folder"\n'
                                                                   f'root = "{r}"\nsplit = "train"\n')],
                              ["pipe.toml", "work"]),
    "run_dataset_no_layout": (lambda t, r, w: ["run", _pipeline(t, r, dataset=f'root = "{r}"\nsplit = "train"\n')],
                              ["pipe.toml", "layout"]),
    "run_dataset_unknown_layout": (lambda t, r, w: ["run", _pipeline(t, r, dataset=f'layout = "voc"\nroot = "{r}"\n'
                                                                                  'split = "train"\n')], ["'voc'"]),
    "run_dataset_unknown_option": (lambda t, r, w: ["run", _pipeline(t, r, dataset=f'layout = "folder"\nroot = "{r}"\n'
                                                                                   'split = "train"\n[dataset.options]\n'
                                                                                   'zero_label = true\n')],
                                   ["zero_label", "reduce_zero_label"]),
    "run_unknown_stages_flag": (lambda t, r, w: ["run", _pipeline(t, r), "--stages", "stats,bukets"], ["bukets"]),
}


@pytest.mark.parametrize("case", WRONG, ids=str)
def test_wrong_input_is_one_line(tmp_path, folder_work, case):
    root, work = folder_work
    build, expected = WRONG[case]
    res = ClickRunner().invoke(EntryPoint(), build(tmp_path, root, work))  # as the console script runs
    _one_error_line(res, *(e.replace("{tmp}", str(tmp_path)) for e in expected))
    assert not (tmp_path / "pw").exists()  # a refused pipeline ran no stage
