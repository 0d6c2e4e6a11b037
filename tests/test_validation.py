"""Hand-edited artifacts and odd input files are refused in one line naming the file and the key:
bucket lists and store class lists out of range or not lists, classes.txt with a repeated name, two
images for one label, control characters in file names; evaluate takes every class count stats
accepts (254 and 255 against an independent confusion matrix); Markdown tables escape class names."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from builders import copy_work, make_folder_dataset, make_small_blocks, stats_of
from builders import one_error_line as _one_error_line
from lt_data.core.classes import ClassTable, class_ids_problem, manifest_path
from lt_data.entry.cli import app
from lt_data.core.errors import ArtifactError, BadInput, DataError, LtDataError, show_path

runner = CliRunner()  # keeps stderr apart from stdout: result.stderr


def _stats(root: Path, out: Path, *extra: str):
    return runner.invoke(app, ["stats", str(root), "--layout", "folder", "--out", str(out), "-q", "-j", "1", *extra])


@pytest.fixture(scope="module")
def block_work(tmp_path_factory) -> Path:
    """Statistics, buckets (tail: bike), a bank and cutmix subsets of :func:`builders.make_small_blocks`;
    copy to edit."""
    from lt_data.stores.bank import build_bank
    from lt_data.data.buckets import write_buckets
    from lt_data.stores.cutmix import build_cutmix

    base = tmp_path_factory.mktemp("blocks")
    work = stats_of("folder", make_small_blocks(base / "ds"), base / "work")
    write_buckets(work, "list", head_classes="road", tail_classes="bike")
    build_bank(work, min_area=4, progress=False, workers=1)
    build_cutmix(work, levels=2, workers=1, progress=False)
    return work


@pytest.fixture
def block_copy(block_work, tmp_path) -> Path:
    return copy_work(block_work, tmp_path / "work")


# ---- 1. buckets.json ----------------------------------------------------------------------------

def _edit_json(path: Path, edit) -> None:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


BUCKET_EDITS = {
    "out_of_range": (lambda b: b.update(tail=[40]), '"tail" holds class 40, outside 0..2'),
    "negative": (lambda b: b.update(tail=[-1]), '"tail" holds class -1, outside 0..2'),
    "not_a_list": (lambda b: b.update(tail="all"), "\"tail\" must be a list of class ids, got 'all'"),
    "string_id": (lambda b: b.update(head=["0"]), "\"head\" holds '0', not a class id"),
    "float_id": (lambda b: b.update(middle=[1.0]), '"middle" holds 1.0, not a class id'),
    "bool_id": (lambda b: b.update(tail=[True]), '"tail" holds True, not a class id'),
    "twice_in_a_list": (lambda b: b.update(tail=[2, 2]), '"tail" holds class 2 twice'),
    "in_two_buckets": (lambda b: b.update(tail=[1, 2]), 'class 1 is both in "middle" and in "tail"'),
    "in_two_buckets_no_middle": (lambda b: (b.pop("middle"), b.update(head=[0, 2])),
                                 'class 2 is both in "head" and in "tail"'),
}


@pytest.mark.parametrize("case", BUCKET_EDITS, ids=str)
def test_a_hand_edited_buckets_file_is_refused_naming_the_file_and_the_key(block_copy, case):
    from lt_data.data.buckets import load_buckets

    edit, problem = BUCKET_EDITS[case]
    path = block_copy / "buckets.json"
    _edit_json(path, edit)
    with pytest.raises(ArtifactError) as err:
        load_buckets(block_copy)
    text = str(err.value)
    assert text.startswith(f"{path}: {problem}") and text.endswith(f"; re-run `lt-data buckets {block_copy}`")
    # the commands that read buckets: one line, no traceback
    _one_error_line(runner.invoke(app, ["report", str(block_copy)]), str(path), problem)
    _one_error_line(runner.invoke(app, ["bank", "build", str(block_copy), "--classes", "tail", "-q"]), problem)


def test_buckets_files_lt_data_writes_still_load(block_copy):
    from lt_data.data.buckets import load_buckets, write_buckets

    for rule in ("share", "list"):
        params = {"head_classes": "road", "tail_classes": "bike"} if rule == "list" else {}
        path = write_buckets(block_copy, rule, **params)
        written = json.loads(path.read_text())
        loaded = load_buckets(block_copy)
        for name in ("head", "middle", "tail"):  # the lists agree with the per-class records
            assert loaded.ids(name) == [c["id"] for c in written["classes"] if c["bucket"] == name]


def test_a_buckets_file_without_middle_gets_the_rest(block_copy):
    from lt_data.data.buckets import load_buckets

    _edit_json(block_copy / "buckets.json", lambda b: (b.pop("middle"), b.update(head=[0], tail=[2])))
    assert load_buckets(block_copy).middle == [1]


def test_class_ids_problem():
    assert class_ids_problem([0, 2, 1], 3) is None and class_ids_problem([], 3) is None
    assert class_ids_problem([3], 3) == "holds class 3, outside 0..2"
    assert class_ids_problem({"a": 1}, 3) == "must be a list of class ids, got {'a': 1}"
    assert class_ids_problem(None, 3) == "must be a list of class ids, got None"


# ---- 2. the stores' class lists ---------------------------------------------------------------------

STORE_EDITS = {
    "out_of_range": ([40], 'attribute "classes" in zarr.json holds class 40, outside 0..2'),
    "negative": ([-1], 'attribute "classes" in zarr.json holds class -1, outside 0..2'),
    "not_a_list": ("all", "attribute \"classes\" in zarr.json must be a list of class ids, got 'all'"),
    "string_id": (["2"], "attribute \"classes\" in zarr.json holds '2', not a class id"),
    "repeated": ([2, 2], 'attribute "classes" in zarr.json holds class 2 twice'),
}


def _edit_store_classes(store: Path, value) -> None:
    _edit_json(store / "zarr.json", lambda z: z["attributes"].update(classes=value))


@pytest.mark.parametrize("case", STORE_EDITS, ids=str)
def test_a_bank_with_an_edited_class_list_is_refused_at_open(block_copy, case):
    from lt_data.stores import open_store
    from lt_data.stores.bank import TailBank

    value, problem = STORE_EDITS[case]
    store = block_copy / "bank.zarr"
    _edit_store_classes(store, value)
    with pytest.raises(ArtifactError) as err:
        TailBank.open(store)
    text = str(err.value)
    assert text.startswith(f"{store}: {problem}") and "(the store's class table 'ds')" in text
    assert "re-run `lt-data bank build WORK`" in text
    with pytest.raises(ArtifactError, match=re.escape(problem)):
        open_store("bank", block_copy)  # what train and preview open
    _one_error_line(runner.invoke(app, ["bank", "info", str(block_copy)]), str(store), problem)


@pytest.mark.parametrize("case", ["out_of_range", "not_a_list"])
def test_a_cutmix_store_with_an_edited_class_list_is_refused_at_open(block_copy, case):
    from lt_data.stores import open_store
    from lt_data.stores.cutmix import TailCutmix

    value, problem = STORE_EDITS[case]
    store = block_copy / "cutmix.zarr"
    _edit_store_classes(store, value)
    with pytest.raises(ArtifactError, match=re.escape(f"{store}: {problem}")):
        TailCutmix.open(store)
    with pytest.raises(ArtifactError, match=re.escape(problem)):
        open_store("cutmix", block_copy)


def test_unedited_stores_open(block_work):
    from lt_data.stores.bank import TailBank
    from lt_data.stores.cutmix import TailCutmix

    assert TailBank.open(block_work / "bank.zarr", work=block_work).classes == [2]
    assert TailCutmix.open(block_work / "cutmix.zarr", work=block_work).classes == [2]


# ---- 3. classes.txt ------------------------------------------------------------------------------

@pytest.mark.parametrize("text, where", [
    ("road\ncar\nroad\n", "'road' on lines 1 and 3"),
    ("road\ncar\nbike\nCar\n", "'car' on line 2 and 'Car' on line 4"),  # names are looked up ignoring case
], ids=["same", "case"])
def test_a_repeated_class_name_is_refused_with_its_lines(tmp_path, text, where):
    from lt_data.data.layouts import get_layout

    root = make_folder_dataset(tmp_path / "ds")
    (root / "classes.txt").write_text(text)
    with pytest.raises(DataError) as err:
        get_layout("folder", root, "train")
    assert err.value.path == str(root / "classes.txt")
    assert where in err.value.problem
    _one_error_line(_stats(root, tmp_path / "work"), str(root / "classes.txt"), where)


def test_class_tables_from_names_refuse_a_repeated_name():
    with pytest.raises(ValueError, match="'sky' is given to train ids 1 and 2"):
        ClassTable.from_names(["road", "sky", "Sky"])
    assert ClassTable.from_names(["road", "sky"]).names == ("road", "sky")


# ---- 4. two images for one label -------------------------------------------------------------------

def test_two_images_for_one_label_are_a_bad_sample_naming_both(tmp_path):
    from lt_data.data.layouts import get_layout
    from lt_data.data.stats import compute_stats

    root = make_folder_dataset(tmp_path / "ds")
    img = root / "images" / "train"
    Image.new("RGB", (16, 12)).save(img / "s1.jpg")  # beside s1.png
    samples, bad = get_layout("folder", root, "train").scan()
    assert [s.id for s in samples] == ["s0", "s2"]
    assert len(bad) == 1 and bad[0].path == str(img / "s1.jpg")
    assert f"{img / 's1.jpg'} and {img / 's1.png'}" in bad[0].problem
    assert str(root / "labels" / "train" / "s1.png") in bad[0].problem
    line = _one_error_line(_stats(root, tmp_path / "work"), str(img / "s1.jpg"), str(img / "s1.png"))
    assert f"2 images for one label ({root / 'labels' / 'train' / 's1.png'}): " in line
    stats = compute_stats(get_layout("folder", root, "train"), skip_bad=True, workers=1, progress=False)
    assert [s.id for s in stats.samples] == ["s0", "s2"] and [b.path for b in stats.skipped] == [str(img / "s1.jpg")]


def test_file_index_lists_every_clash(tmp_path):
    from lt_data.data.layouts.base import IMAGE_EXTS, index_files

    for name in ("a.png", "a.jpg", "a.JPEG", "b.png", "c.jpg"):
        (tmp_path / name).write_bytes(b"")
    index = index_files(tmp_path, "*", exts=IMAGE_EXTS)
    assert sorted(index) == ["a", "b", "c"]
    assert {k: sorted(p.name for p in v) for k, v in index.clashes.items()} == {"a": ["a.JPEG", "a.jpg", "a.png"]}


# ---- 5. control characters in file names -----------------------------------------------------------

def test_error_strings_escape_control_characters_in_paths():
    forged = "/data/a\nerror: all good.png"
    for err in (DataError(forged, "missing label"), BadInput(forged, "missing label")):
        text = str(err)
        assert "\n" not in text and text == f"{forged!r}: missing label"
    assert str(DataError("/data/x\x1b[2J.png", "bad")) == "'/data/x\\x1b[2J.png': bad"
    assert str(DataError("/data/a b_é.png", "bad")) == "/data/a b_é.png: bad"  # ordinary paths unchanged
    assert BadInput(forged, "p").to_json() == {"path": forged, "problem": "p"}  # machines get the name itself
    assert DataError(forged, "p").path == forged
    assert str(ArtifactError("/w/x\ny/bank.zarr: incomplete")) == "/w/x\\ny/bank.zarr: incomplete"
    assert show_path(Path("/a\tb")) == "'/a\\tb'" and show_path("/a/b") == "/a/b"


def test_a_file_name_with_a_newline_cannot_forge_an_error_line(tmp_path):
    root = make_folder_dataset(tmp_path / "ds")
    name = "s9\nerror: nothing is wrong.png"
    Image.new("RGB", (16, 12)).save(root / "images" / "train" / name, format="PNG")  # no label for it
    line = _one_error_line(_stats(root, tmp_path / "work"), "missing label for this image")
    assert repr(str(root / "images" / "train" / name)) in line
    assert repr(str(root / "labels" / "train" / name)) in line  # the expected label, quoted the same way


def test_paths_the_user_types_are_escaped_too(tmp_path):
    given = tmp_path / "run\nerror: fine"
    _one_error_line(runner.invoke(app, ["compare", str(given), str(tmp_path / "b"), "--out", str(tmp_path / "c")]),
                    f"{str(given)!r}: no such file or directory")
    iou = tmp_path / "iou\x1b[31m.json"
    iou.write_text("{}")
    from lt_data.data.buckets import read_iou

    with pytest.raises(LtDataError, match=re.escape(f"{str(iou)!r}: expected")):
        read_iou(iou, ["a"])


# ---- 6. evaluate: every class count stats accepts ------------------------------------------------------

def _many_class_dataset(root: Path, k: int, rng) -> tuple[Path, list[np.ndarray]]:
    """Two 40x32 labels using every class id 0..k-1 and 255 (ignored)."""
    (root / "images" / "train").mkdir(parents=True)
    (root / "labels" / "train").mkdir(parents=True)
    (root / "classes.txt").write_text("".join(f"c{i}\n" for i in range(k)))
    values = np.array(list(range(k)) + [255])
    labels = []
    for i in range(2):
        label = values[rng.permutation(np.resize(np.arange(len(values)), 40 * 32))].reshape(32, 40).astype(np.uint8)
        Image.fromarray(label).save(root / "labels" / "train" / f"s{i}.png")
        Image.new("RGB", (40, 32)).save(root / "images" / "train" / f"s{i}.png")
        labels.append(label)
    return root, labels


@pytest.mark.parametrize("k", [254, 255])
def test_evaluate_takes_254_and_255_classes(tmp_path, k):
    from lt_data.training.evaluate import evaluate_predictions
    from lt_data.data.layouts import get_layout
    from lt_data.data.stats import run_stats

    rng = np.random.default_rng(k)
    root, labels = _many_class_dataset(tmp_path / "ds", k, rng)
    work = tmp_path / "work"
    run_stats(get_layout("folder", root, "train"), work, workers=1, progress=False)
    pred_dir = tmp_path / "pred"
    pred_dir.mkdir()
    expected = np.zeros((k, k), np.int64)
    for i, label in enumerate(labels):
        pred = rng.integers(0, k, label.shape).astype(np.uint8)
        Image.fromarray(pred).save(pred_dir / f"s{i}.png")
        valid = label != 255
        np.add.at(expected, (label[valid].astype(np.int64), pred[valid].astype(np.int64)), 1)
    out = evaluate_predictions(pred_dir, work, workers=1, progress=False)
    assert np.array_equal(np.array(out["confusion_matrix"]), expected)
    assert out["split"]["images"] == 2

    bad = labels[0].copy()  # a prediction that is no class: the last columns of the pair histogram
    Image.fromarray(np.full(bad.shape, k if k < 255 else 255, np.uint8)).save(pred_dir / "s0.png")
    with pytest.raises(DataError, match="outside the class ids"):
        evaluate_predictions(pred_dir, work, workers=1, progress=False)


def test_evaluate_finds_unknown_label_values_at_254_classes(tmp_path):
    from lt_data.training.evaluate import evaluate_predictions
    from lt_data.data.layouts import get_layout
    from lt_data.data.stats import run_stats

    root, labels = _many_class_dataset(tmp_path / "ds", 254, np.random.default_rng(0))
    work = tmp_path / "work"
    run_stats(get_layout("folder", root, "train"), work, workers=1, progress=False)
    pred_dir = tmp_path / "pred"
    pred_dir.mkdir()
    for i, label in enumerate(labels):
        Image.fromarray(np.zeros_like(label)).save(pred_dir / f"s{i}.png")
    broken = labels[1].copy()
    broken[0, 0] = 254  # no class of a 254-class table (0..253, 255 ignored): the top row of the histogram
    Image.fromarray(broken).save(root / "labels" / "train" / "s1.png")
    with pytest.raises(DataError, match="label values not in the .* class table: 254"):
        evaluate_predictions(pred_dir, work, workers=1, progress=False)


def test_unknown_label_values_are_found_at_255_classes(tmp_path):
    """A 255-class table whose raw values 0..254 are the classes: 255 is unknown, found apart."""
    from lt_data.training.evaluate import _pair_task, label_lut

    table = ClassTable.from_manifest({"dataset": "t", "ignore_index": 255,
                                      "classes": [{"id": i, "name": f"c{i}"} for i in range(255)],
                                      "raw": [{"value": i, "train_id": i} for i in range(255)]})
    label = (np.arange(32 * 40) % 255).astype(np.uint8).reshape(32, 40)

    class Layout:  # the two readers _pair_task uses
        def __init__(self, raw):
            self.table, self.raw = table, raw

        def read_raw_label(self, sample):
            return self.raw

        def label_path(self, sample):
            return tmp_path / "label.png"

    pred = tmp_path / "pred.png"
    Image.fromarray(label).save(pred)
    state = {"samples": [None], "k": 255, "pred_lut": None, "label_lut": label_lut(table)}
    cells, counts = _pair_task(state | {"layout": Layout(label)}, (0, str(pred)))
    assert cells.tolist() == [c * 255 + c for c in range(255)]  # prediction = label: the diagonal
    assert counts.tolist() == np.bincount(label.ravel(), minlength=255).tolist()
    broken = label.copy()
    broken[3, 3] = 255
    with pytest.raises(DataError, match="class table: 255"):
        _pair_task(state | {"layout": Layout(broken)}, (0, str(pred)))


def test_pair_histogram_counts_exactly_past_float32():
    """cv2.calcHist counts in float32: 4097² pixels of one value come out as 4097² - 1."""
    from lt_data.training.evaluate import _histogram

    cells = np.zeros((4097, 4097), np.uint16)
    assert int(_histogram(cells, 256)[0]) == 4097 * 4097


# ---- 7. Markdown ------------------------------------------------------------------------------------

_UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


def _tables(md: str) -> list[list[str]]:
    """The Markdown tables of a document: runs of lines starting with ``|``."""
    out, cur = [], []
    for line in md.splitlines() + [""]:
        if line.startswith("|"):
            cur.append(line)
        elif cur:
            out.append(cur)
            cur = []
    return out


def _assert_well_formed(md: str) -> None:
    tables = _tables(md)
    assert tables
    for t in tables:  # every row of a table has its header's number of cells
        assert len({len(_UNESCAPED_PIPE.findall(line)) for line in t}) == 1, t


def test_escape_makes_syntax_literal_and_leaves_ordinary_names():
    from lt_data.core.markdown import escape, table

    assert escape("a|b") == "a\\|b" and escape("*car*") == "\\*car\\*" and escape("`x`") == "\\`x\\`"
    assert escape("<b>") == "\\<b>" and escape("_bike_") == "\\_bike\\_" and escape("[x](y)") == "\\[x\\](y)"
    assert escape("a\nb") == "a<br>b" and escape("a\\b") == "a\\\\b" and escape("R&D") == "R\\&D"
    assert escape("traffic_light") == "traffic_light"  # intraword: no emphasis, nothing to escape
    names = [c["name"] for f in ("cityscapes", "ade20k", "coco_stuff164k", "camvid")
             for c in json.loads(manifest_path(f"{f}.json").read_text())["classes"]]
    assert [escape(n) for n in names] == names
    assert table(["id", "class"], [["0", "road"], [1, "wall-other"]]) == \
        "| id | class |\n|---|---|\n| 0 | road |\n| 1 | wall-other |"


ODD_NAMES = ["road|lane", "*car*", "_bike_", "<b>sign</b>", "`pole`"]


def test_report_markdown_escapes_class_names(tmp_path):
    from lt_data.data.buckets import compute_buckets
    from lt_data.data.layouts import get_layout
    from lt_data.views.report import render_markdown, report_data
    from lt_data.data.stats import run_stats

    root = tmp_path / "ds"
    (root / "images" / "train").mkdir(parents=True)
    (root / "labels" / "train").mkdir(parents=True)
    (root / "classes.txt").write_text("\n".join(ODD_NAMES) + "\n")
    for i in range(3):
        label = (np.arange(12 * 16) % 5).reshape(12, 16).astype(np.uint8)
        label[: 6 + i] = 0  # road dominates: head; the others tail
        Image.fromarray(label).save(root / "labels" / "train" / f"s{i}.png")
        Image.new("RGB", (16, 12)).save(root / "images" / "train" / f"s{i}.png")
    work = tmp_path / "work"
    stats = run_stats(get_layout("folder", root, "train"), work, workers=1, progress=False)
    md = render_markdown(report_data(stats, compute_buckets(stats)), {})
    _assert_well_formed(md)
    for escaped in ("road\\|lane", "\\*car\\*", "\\_bike\\_", "\\<b>sign\\</b>", "\\`pole\\`"):
        assert f"| {escaped} |" in md, escaped
    for raw in ODD_NAMES[1:]:
        assert f"| {raw} |" not in md


def test_compare_markdown_escapes_names(tmp_path):
    from lt_data.views.compare import write_comparison

    names = ODD_NAMES + ["two\nlines"]
    paths = []
    for run, ious in (("a", [0.9, 0.5, 0.4, 0.3, 0.2, 0.1]), ("b", [0.8, 0.6, 0.5, 0.2, 0.1, 0.3])):
        buckets = ["head", "middle", "middle", "tail", "tail", "tail"]
        per_class = [{"id": i, "name": n, "iou": x, "acc": x, "gt_pixels": 100, "pred_pixels": 100, "bucket": b}
                     for i, (n, x, b) in enumerate(zip(names, ious, buckets))]
        metrics = {"per_class": per_class, "miou": float(np.mean(ious)), "miou_head": ious[0],
                   "miou_middle": float(np.mean(ious[1:3])), "miou_tail": float(np.mean(ious[3:])),
                   "pixel_accuracy": 0.9, "mean_accuracy": 0.8}
        paths.append(tmp_path / f"{run}_*run*.json")
        paths[-1].write_text(json.dumps(metrics))
    write_comparison(paths, tmp_path / "cmp")
    md = (tmp_path / "cmp" / "compare.md").read_text()
    _assert_well_formed(md)
    assert "| two<br>lines |" in md and "| \\*car\\* |" in md and "| road\\|lane |" in md
