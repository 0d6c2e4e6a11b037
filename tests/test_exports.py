"""Exports: DAFormer's files equal an independent computation from the label PNGs; class weights have
the documented values on hand-made counts."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from builders import copy_work
from lt_data.core.classes import ClassTable
from lt_data.entry.cli import app
from lt_data.data.exports import (CLASS_WEIGHTS_FILE, DEFAULT_BETA, SAMPLE_CLASS_STATS_DICT_FILE, SAMPLE_CLASS_STATS_FILE,
                             SAMPLES_WITH_CLASS_FILE, class_weights, class_weights_of, daformer_sample_class_stats,
                             write_exports)
from lt_data.data.layouts import get_layout
from lt_data.data.layouts.base import Sample
from lt_data.data.stats import ClassStats, load_stats, run_stats, stats_fingerprint


@pytest.fixture(scope="module")
def camvid_exports(camvid_work, tmp_path_factory):
    """(work, exports): a copy of the session's CamVid train statistics with the default exports written."""
    work = copy_work(camvid_work, tmp_path_factory.mktemp("camvid_exports") / "work")
    return work, write_exports(work)


def _daformer_by_hand(label_files, k):
    """What DAFormer's converters compute: for each label file, for c in range(K), the pixels equal to c
    when there are any; then the class -> [[file, n], ...] index in file order."""
    stats_list = []
    for f in label_files:
        label = np.asarray(Image.open(f))
        entry = {}
        for c in range(k):
            n = int(np.sum(label == c))
            if n > 0:
                entry[str(c)] = n
        entry["file"] = str(f)
        stats_list.append(entry)
    with_class: dict[str, list] = {}
    for entry in stats_list:
        for c, n in entry.items():
            if c != "file":
                with_class.setdefault(c, []).append([entry["file"], n])
    return stats_list, with_class


def test_daformer_exports_equal_an_independent_computation(camvid_root, camvid_exports):
    work, out = camvid_exports
    samples = [json.loads(line) for line in (work / "samples.jsonl").read_text().splitlines()]
    files = [Path(os.path.abspath(camvid_root)) / s["label"] for s in samples]  # the root as typed, made absolute
    assert all(f.is_file() for f in files)
    expected_stats, expected_with_class = _daformer_by_hand(files, 11)  # CamVid labels hold 0..10, 11 = void

    got = json.loads((out / SAMPLE_CLASS_STATS_FILE).read_text())
    assert got == expected_stats
    assert list(got[0])[-1] == "file"  # as DAFormer writes it: class counts, then the file
    got_with_class = json.loads((out / SAMPLES_WITH_CLASS_FILE).read_text())
    assert got_with_class == expected_with_class
    assert list(got_with_class) == sorted(got_with_class, key=int)
    got_dict = json.loads((out / SAMPLE_CLASS_STATS_DICT_FILE).read_text())
    assert got_dict == {e["file"]: {c: n for c, n in e.items() if c != "file"} for e in expected_stats}
    # the Python-object form equals the file
    assert daformer_sample_class_stats(load_stats(work)) == got


def test_daformer_reader_semantics(camvid_exports):
    """What DAFormer's rare class sampling reads back: every class's total equals class_stats.json, and the
    min_pixels filter it applies at load time still has every image with the class to filter from."""
    work, out = camvid_exports
    totals: dict[int, int] = {}
    for s in json.loads((out / SAMPLE_CLASS_STATS_FILE).read_text()):
        s.pop("file")
        for c, n in s.items():
            totals[int(c)] = totals.get(int(c), 0) + n
    cs = json.loads((work / "class_stats.json").read_text())
    assert totals == {c["id"]: c["pixels"] for c in cs["classes"] if c["pixels"] > 0}
    with_class = json.loads((out / SAMPLES_WITH_CLASS_FILE).read_text())
    assert {int(c): len(v) for c, v in with_class.items()} == {c["id"]: c["images"] for c in cs["classes"]}
    assert min(n for v in with_class.values() for _, n in v) < 3000, "no min_pixels threshold at write time"


def test_class_weights_file(camvid_exports):
    work, out = camvid_exports
    w = json.loads((out / CLASS_WEIGHTS_FILE).read_text())
    assert w["source"]["stats"] == stats_fingerprint(work)
    assert w["beta"] == DEFAULT_BETA and w["zero_classes"] == []
    pixels = np.array(w["pixels"], dtype=np.float64)
    assert np.isclose(np.mean(w["inverse_frequency"]), 1.0)
    assert np.isclose(sum(w["class_balanced"]), 11)
    np.testing.assert_allclose(w["blv_nu"], np.log(pixels.sum()) - np.log(pixels))
    # rarer classes weigh more in every scheme, the most frequent (CamVid: Road) least
    rare, common = int(np.argmin(pixels)), int(np.argmax(pixels))
    for scheme in ("inverse_frequency", "class_balanced", "blv_nu"):
        assert np.argmax(w[scheme]) == rare and np.argmin(w[scheme]) == common
    # median frequency balancing with f_c over the images that contain c, checked from the raw arrays
    counts, ignored = np.load(work / "pixel_counts.npy"), np.load(work / "ignored_pixels.npy")
    f = [counts[:, c].sum() / sum(counts[i].sum() + ignored[i] for i in range(len(counts)) if counts[i, c] > 0)
         for c in range(11)]
    np.testing.assert_allclose(w["median_frequency"], np.median(f) / np.array(f))


def test_class_weights_known_values():
    # 3 images of 10 pixels, 4 classes; class 3 never occurs; image 2 has 2 ignored pixels
    counts = np.array([[6, 4, 0, 0], [5, 0, 5, 0], [8, 0, 0, 0]])
    ignored = np.array([0, 0, 2])
    table = ClassTable.from_names(["a", "b", "c", "d"])
    stats = ClassStats(table=table, samples=[Sample(str(i), f"{i}.png", f"{i}.png", 1, 10) for i in range(3)],
                       counts=counts, ignored=ignored, dataset={"root": "/r"})
    w = class_weights_of(stats, beta=0.9)
    n = np.array([19.0, 4.0, 5.0])
    # inverse frequency, mean 1 over the 3 classes with pixels
    inv = (1 / n) * 3 / (1 / n).sum()
    np.testing.assert_allclose(w["inverse_frequency"], [*inv, 0.0])
    # f_a = 19 / 30 (all three images, ignore included), f_b = 4 / 10, f_c = 5 / 10; median 0.5
    f = np.array([19 / 30, 0.4, 0.5])
    np.testing.assert_allclose(w["median_frequency"], [*(0.5 / f), 0.0])
    # class balanced with beta 0.9, computed directly; sum = 3 classes with pixels
    cb = (1 - 0.9) / (1 - 0.9 ** n)
    np.testing.assert_allclose(w["class_balanced"], [*(cb * 3 / cb.sum()), 0.0])
    np.testing.assert_allclose(w["effective_number"], [*((1 - 0.9 ** n) / 0.1), 0.0])
    np.testing.assert_allclose(w["blv_nu"], [math.log(28 / 19), math.log(28 / 4), math.log(28 / 5), 0.0])
    assert w["zero_classes"] == [3] and w["zero_class_names"] == ["d"]


def test_class_balanced_beta_close_to_one_is_exact():
    # 1 - beta**n loses every digit in floating point for beta = 1 - 1e-12; the effective number must not
    w = class_weights(np.array([10, 1000]), np.array([100, 1000]), beta=1 - 1e-12)
    np.testing.assert_allclose(w["effective_number"], [10, 1000], rtol=1e-6)
    w0 = class_weights(np.array([10, 1000]), np.array([100, 1000]), beta=0.0)
    np.testing.assert_allclose(w0["class_balanced"], [1.0, 1.0])  # beta 0: no re-weighting
    with pytest.raises(ValueError, match="beta"):
        class_weights(np.array([1]), np.array([1]), beta=1.0)


def test_cli_export(camvid_exports, tmp_path):
    work, _ = camvid_exports
    r = CliRunner().invoke(app, ["export", str(work), "--beta", "0.99", "--out", str(tmp_path / "ex")])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "ex" / CLASS_WEIGHTS_FILE).read_text())["beta"] == 0.99
    for name in (SAMPLE_CLASS_STATS_FILE, SAMPLES_WITH_CLASS_FILE, SAMPLE_CLASS_STATS_DICT_FILE):
        assert (tmp_path / "ex" / name).is_file()
    r = CliRunner().invoke(app, ["export", str(work), "--beta", "1.5", "--out", str(tmp_path / "ex2")])
    assert r.exit_code == 2 and "--beta" in r.output


# ---- DAFormer's rare class sampling finds every exported file ------------------------------------------

def _daformer_rcs_lookups(export_dir, dataset_seg_maps: list[str], is_cityscapes: bool, min_pixels: int = 0,
                          temperature: float = 0.01) -> tuple[list, int]:
    """DAFormer's ``UDADataset`` set-up, rewritten from reading ``mmseg/datasets/uda_dataset.py``: class
    frequencies from sample_class_stats.json (the 'file' key dropped), classes sorted by pixel count,
    probabilities softmax((1 - f) / T); samples_with_class.json filtered to pixels > min_pixels and
    keyed by the file's base name; the source dataset indexed by its seg_map (base name for
    Cityscapes). Returns (rcs classes, number of sampled files that the index does not hold)."""
    import torch

    scs = json.loads((export_dir / "sample_class_stats.json").read_text())
    overall: dict[int, int] = {}
    for s in scs:
        s.pop("file")
        for c, n in s.items():
            overall[int(c)] = overall.get(int(c), 0) + n
    overall = dict(sorted(overall.items(), key=lambda kv: kv[1]))
    freq = torch.tensor(list(overall.values()), dtype=torch.float64)
    prob = torch.softmax((1 - freq / freq.sum()) / temperature, dim=-1)
    assert abs(float(prob.sum()) - 1) < 1e-9
    classes = list(overall)
    swc = {int(k): v for k, v in json.loads((export_dir / "samples_with_class.json").read_text()).items()
           if int(k) in classes}
    file_to_idx = {(m.split("/")[-1] if is_cityscapes else m): i for i, m in enumerate(dataset_seg_maps)}
    missing, looked_up = 0, 0
    for c in classes:  # DAFormer samples only files with more than min_pixels of the class
        files = [f.split("/")[-1] for f, n in swc[c] if n > min_pixels]
        looked_up += len(files)
        missing += sum(f not in file_to_idx for f in files)
    assert looked_up, "no class has a sample above min_pixels"
    return classes, missing


def test_daformer_finds_every_cityscapes_file_by_its_train_id_name(cityscapes_fixture_root, tmp_path):
    run_stats(get_layout("cityscapes", cityscapes_fixture_root, "val"), tmp_path / "w", workers=1, progress=False)
    out = write_exports(tmp_path / "w", out=tmp_path / "root")
    # mmseg's CityscapesDataset: images leftImg8bit/val/CITY/*_leftImg8bit.png, seg_map = the image's
    # path below img_dir with the suffix replaced by _gtFine_labelTrainIds.png
    img_dir = cityscapes_fixture_root / "leftImg8bit" / "val"
    seg_maps = [str(p.relative_to(img_dir)).replace("_leftImg8bit.png", "_gtFine_labelTrainIds.png")
                for p in sorted(img_dir.glob("*/*_leftImg8bit.png"))]
    classes, missing = _daformer_rcs_lookups(out, seg_maps, is_cityscapes=True)
    assert classes and missing == 0
    for entry in json.loads((out / "sample_class_stats.json").read_text()):
        assert entry["file"].endswith("_gtFine_labelTrainIds.png") and Path(entry["file"]).is_file()


def test_daformer_finds_every_camvid_file(camvid_exports, camvid_root):
    _, out = camvid_exports
    # an mmseg CustomDataset over CamVid: img_dir=train, ann_dir=trainannot, both suffixes .png
    seg_maps = [p.name for p in sorted((camvid_root / "train").glob("*.png"))]
    classes, missing = _daformer_rcs_lookups(out, seg_maps, is_cityscapes=False, min_pixels=3000)
    assert len(classes) == 11 and missing == 0


def test_coco_stuff_files_are_named_as_mmseg_converts_them():
    from lt_data.data.exports import training_label_file

    for label in ("annotations/train2017/000000000009.png", "annotations/stuff_train2017.json#9",
                  "annotations/train2017/000000000009_labelTrainIds.png"):
        s = Sample(id="000000000009", image="images/train2017/000000000009.jpg", label=label)
        got = training_label_file({"layout": "coco_stuff164k", "root": "/data/coco", "split": "train"}, s)
        assert got == "/data/coco/annotations/train2017/000000000009_labelTrainIds.png"


def test_class_weights_in_the_forms_mmseg_reads(camvid_exports):
    _, out = camvid_exports
    full = json.loads((out / CLASS_WEIGHTS_FILE).read_text())
    for scheme in ("inverse_frequency", "median_frequency", "class_balanced", "blv_nu"):
        listed = json.loads((out / f"class_weight_{scheme}.json").read_text())
        assert isinstance(listed, list) and len(listed) == 11 and listed == full[scheme]
        arr = np.load(out / f"class_weight_{scheme}.npy")
        assert arr.dtype == np.float32 and arr.shape == (11,)
        np.testing.assert_allclose(arr, full[scheme], rtol=1e-6)


def test_export_never_overwrites_files_it_did_not_write(camvid_exports, tmp_path):
    work, _ = camvid_exports
    root = tmp_path / "root"
    root.mkdir()
    (root / "sample_class_stats.json").write_text("[]  # DAFormer's own converter output\n")
    result = CliRunner().invoke(app, ["export", str(work), "--out", str(root)])
    assert result.exit_code == 2 and "was not written by lt-data export; --force" in result.output
    assert (root / "sample_class_stats.json").read_text().startswith("[]  # DAFormer")
    assert CliRunner().invoke(app, ["export", str(work), "--out", str(root), "--force"]).exit_code == 0
    assert CliRunner().invoke(app, ["export", str(work), "--out", str(root)]).exit_code == 0, "its own files: replaced"
