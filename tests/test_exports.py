"""Exports: DAFormer's files equal an independent computation from the label PNGs; class weights have
the documented values on hand-made counts."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from lt_data.classes import ClassTable
from lt_data.cli import app
from lt_data.exports import (CLASS_WEIGHTS_FILE, DEFAULT_BETA, SAMPLE_CLASS_STATS_DICT_FILE, SAMPLE_CLASS_STATS_FILE,
                             SAMPLES_WITH_CLASS_FILE, class_weights, class_weights_of, daformer_sample_class_stats,
                             write_exports)
from lt_data.layouts import get_layout
from lt_data.layouts.base import Sample
from lt_data.stats import ClassStats, load_stats, run_stats, stats_fingerprint


@pytest.fixture(scope="module")
def camvid_exports(camvid_root, tmp_path_factory):
    work = tmp_path_factory.mktemp("camvid_exports")
    run_stats(get_layout("camvid", camvid_root, "train"), work, workers=2, progress=False)
    out = write_exports(work)
    return work, out


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
    files = [camvid_root.resolve() / s["label"] for s in samples]
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
    # rarer classes weigh more in every scheme, road (the most frequent) least
    rare, road = w["names"].index("Bicyclist"), w["names"].index("Road")
    for scheme in ("inverse_frequency", "class_balanced", "blv_nu"):
        assert np.argmax(w[scheme]) == rare and np.argmin(w[scheme]) == road
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
