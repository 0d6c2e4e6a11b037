"""Hugging Face `datasets` as a layout (``--layout hf``): a save_to_disk folder, a Parquet folder, the
scene_parse_150 schema; the same statistics as the same PNGs in a folder layout; bank, training, errors."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

datasets = pytest.importorskip("datasets")

from lt_data.data.layouts import get_layout  # noqa: E402
from lt_data.data.stats import load_stats, run_stats  # noqa: E402


@pytest.fixture(scope="module")
def hf_trees(tiny_work, tmp_path_factory):
    """The tiny generated set three ways: its folder layout; a DatasetDict saved to disk; the same rows
    as one Parquet file per split under data/ (as the hub stores them)."""
    work, _ = tiny_work
    root = Path(json.loads((work / "dataset.json").read_text())["root"])
    base = tmp_path_factory.mktemp("hf")
    splits = {}
    for split in ("train", "val"):
        imgs = sorted((root / "images" / split).glob("*.png"))
        labs = sorted((root / "labels" / split).glob("*.png"))
        d = datasets.Dataset.from_dict({"image": [str(p) for p in imgs], "annotation": [str(p) for p in labs]})
        splits[split] = d.cast_column("image", datasets.Image()).cast_column("annotation", datasets.Image())
    datasets.DatasetDict(splits).save_to_disk(str(base / "disk"))
    (base / "pq" / "data").mkdir(parents=True)
    for split, d in splits.items():
        d.to_parquet(str(base / "pq" / "data" / f"{split}-00000-of-00001.parquet"))
    for tree in ("disk", "pq"):
        shutil.copy(root / "classes.txt", base / tree / "classes.txt")
    return root, base


def _same_stats(a, b):
    sa, sb = load_stats(a), load_stats(b)
    assert np.array_equal(sa.counts, sb.counts) and np.array_equal(sa.ignored, sb.ignored)
    ja, jb = (json.loads((w / "class_stats.json").read_text()) for w in (a, b))
    for j in (ja, jb):
        for key in ("seconds", "artifacts", "fingerprint"):
            j.pop(key, None)
    assert ja == jb


@pytest.mark.parametrize("tree", ["disk", "pq"])
def test_stats_equal_the_folder_layouts(hf_trees, tmp_path, tree):
    root, base = hf_trees
    folder = run_stats(get_layout("folder", root, "train"), tmp_path / "folder", workers=1, progress=False)
    hf = run_stats(get_layout("hf", base / tree, "train"), tmp_path / "hf", workers=2, progress=False)  # decoded in 2 processes
    assert folder.num_images == hf.num_images == 8
    _same_stats(tmp_path / "folder", tmp_path / "hf")


def test_scene_parse_150_schema_with_reduce_zero_label(hf_trees, tmp_path):
    """ADE20K's schema as scene_parse_150 ships it: image, annotation (0 = other, k = class k - 1), scene_category."""
    root, base = hf_trees
    ade = tmp_path / "ade"
    (ade / "images" / "train").mkdir(parents=True)
    (ade / "labels" / "train").mkdir(parents=True)
    rows = {"image": [], "annotation": [], "scene_category": []}
    for p in sorted((root / "labels" / "train").glob("*.png")):
        lab = np.asarray(Image.open(p))
        raw = np.where(lab == 255, 0, lab.astype(np.int64) + 1).astype(np.uint8)  # void → "other" 0
        Image.fromarray(raw).save(ade / "labels" / "train" / p.name)
        shutil.copy(root / "images" / "train" / p.name, ade / "images" / "train" / p.name)
        rows["image"].append(str(ade / "images" / "train" / p.name))
        rows["annotation"].append(str(ade / "labels" / "train" / p.name))
        rows["scene_category"].append(3)
    names = ["other"] + (root / "classes.txt").read_text().splitlines()
    (ade / "classes.txt").write_text("\n".join(names) + "\n")
    d = datasets.Dataset.from_dict(rows).cast_column("image", datasets.Image()).cast_column("annotation", datasets.Image())
    d.save_to_disk(str(tmp_path / "sp150"))
    run_stats(get_layout("folder", ade, "train", reduce_zero_label=True), tmp_path / "w_folder", workers=1, progress=False)
    run_stats(get_layout("hf", tmp_path / "sp150", "train", reduce_zero_label=True, classes_file=ade / "classes.txt"),
              tmp_path / "w_hf", workers=1, progress=False)
    _same_stats(tmp_path / "w_folder", tmp_path / "w_hf")
    # and equal to the train-id labels' counts: the mapping is reduce_zero_label's
    run_stats(get_layout("folder", root, "train"), tmp_path / "w_ids", workers=1, progress=False)
    assert np.array_equal(load_stats(tmp_path / "w_ids").counts, load_stats(tmp_path / "w_hf").counts)


def test_an_id_map(hf_trees, tmp_path):
    root, base = hf_trees
    k = len((base / "disk" / "classes.txt").read_text().splitlines())
    swap = {"0": 1, "1": 0, **{str(v): v for v in range(2, k)}, "200": 255}  # two classes swapped, 200 void
    lay = get_layout("hf", base / "disk", "train", id_map=json.dumps(swap))
    run_stats(lay, tmp_path / "swapped", workers=1, progress=False)
    run_stats(get_layout("hf", base / "disk", "train"), tmp_path / "plain", workers=1, progress=False)
    a, b = load_stats(tmp_path / "swapped").counts, load_stats(tmp_path / "plain").counts
    assert np.array_equal(a[:, 0], b[:, 1]) and np.array_equal(a[:, 1], b[:, 0]) and np.array_equal(a[:, 2:], b[:, 2:])
    # a value the map does not name is refused by name, never silently void
    from lt_data.core.errors import LtDataError

    with pytest.raises(LtDataError, match="label values not in"):
        run_stats(get_layout("hf", base / "disk", "train", id_map='{"0": 0}'), tmp_path / "partial", workers=1,
                  progress=False)


def test_pickles_without_its_rows(hf_trees):
    _, base = hf_trees
    lay = get_layout("hf", base / "pq", "train")
    sample = lay.scan()[0][0]
    back = pickle.loads(pickle.dumps(lay))
    assert len(pickle.dumps(lay)) < 20_000  # the table is reopened in each process, never sent
    assert np.array_equal(back.read_label(sample), lay.read_label(sample))
    assert back.read_image(sample).shape == (64, 96, 3)


def _cli(*args, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "lt_data", *args], capture_output=True, text=True, timeout=timeout,
                          env=env)


def test_bank_build_and_three_steps_of_training(hf_trees, tmp_path):
    _, base = hf_trees
    work = tmp_path / "w"
    for cmd in (["stats", str(base / "disk"), "-l", "hf", "--split", "train", "--out", str(work), "-q"],
                ["buckets", str(work)], ["bank", "build", str(work), "-q"],
                ["train", "--work", str(work), "--steps", "3", "--paste", "bank", "--loss", "1*auc+ce", "-q",
                 "--set", "crop_size=[48,64]", "--set", "batch_size=2", "--set", "warmup=1", "--set", "workers=2",
                 "--set", 'model_args={"base": 8}', "--run-dir", str(tmp_path / "run")]):
        res = _cli(*cmd)
        assert res.returncode == 0, (cmd, res.stderr[-2000:])
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 3 and "pasted_share" in log[-1]


def test_bad_inputs_are_one_line(hf_trees, tmp_path):
    _, base = hf_trees
    res = _cli("stats", str(base / "disk"), "-l", "hf", "--label-column", "mask", "--out", str(tmp_path / "a"))
    assert res.returncode == 2 and res.stderr.count("\n") == 1
    assert "no label column 'mask'; the columns are image, annotation" in res.stderr
    res = _cli("stats", str(base / "disk"), "-l", "hf", "--split", "test", "--out", str(tmp_path / "b"))
    assert res.returncode == 2 and "no split 'test' in this DatasetDict; its splits are train, val" in res.stderr
    # a colour label map (RGB) is not class ids
    rgb = datasets.Dataset.from_dict({"image": [str(p) for p in sorted((base / "pq").rglob("*.parquet"))][:0]})
    d = datasets.Dataset.from_dict({"image": [np.zeros((8, 8, 3), np.uint8)], "annotation": [np.zeros((8, 8, 3), np.uint8)]})
    d = d.cast_column("image", datasets.Image()).cast_column("annotation", datasets.Image())
    d.save_to_disk(str(tmp_path / "rgb"))
    shutil.copy(base / "disk" / "classes.txt", tmp_path / "rgb" / "classes.txt")
    res = _cli("stats", str(tmp_path / "rgb"), "-l", "hf", "--out", str(tmp_path / "c"))
    assert res.returncode == 2 and "label map is a RGB image, not 8-bit class ids" in res.stderr and "row 0" in res.stderr
    del rgb
    # the hub, unreachable: at once, in one line
    env = dict(os.environ, HF_ENDPOINT="http://127.0.0.1:9")
    res = _cli("stats", "hf://datasets/someone/scene_parse_150", "-l", "hf", "--classes", str(base / "disk" / "classes.txt"),
               "--out", str(tmp_path / "d"), env=env, timeout=60)
    assert res.returncode == 2 and res.stderr.count("\n") == 1
    assert "cannot reach the Hugging Face hub (127.0.0.1:9" in res.stderr and "save_to_disk" in res.stderr
