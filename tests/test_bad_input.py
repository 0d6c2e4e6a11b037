"""Every bad input errors with the file and the problem; --skip-bad turns it into a counted warning."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from builders import make_folder_dataset
from lt_data.entry.cli import app

runner = CliRunner()


def _stats(root: Path, out: Path, *extra: str):
    return runner.invoke(app, ["stats", str(root), "--layout", "folder", "--out", str(out), "-q", *extra])


def _break_missing_image(root):
    (root / "images" / "train" / "s1.png").unlink()
    return root / "labels" / "train" / "s1.png", "missing image"


def _break_missing_label(root):
    (root / "labels" / "train" / "s1.png").unlink()
    return root / "images" / "train" / "s1.png", "missing label"


def _break_truncated_label(root):
    p = root / "labels" / "train" / "s1.png"
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    return p, "truncated"


def _break_garbage_label(root):
    p = root / "labels" / "train" / "s1.png"
    p.write_bytes(b"this is not a png at all")
    return p, "unreadable"


def _break_unknown_value(root):
    p = root / "labels" / "train" / "s1.png"
    lab = np.array(Image.open(p))
    lab[0, 0] = 7
    Image.fromarray(lab).save(p)
    return p, "label values not in the"


def _break_size_mismatch(root):
    Image.new("RGB", (20, 12)).save(root / "images" / "train" / "s1.png")
    return root / "images" / "train" / "s1.png", "is 20x12 but its label"


def _break_rgb_label(root):
    p = root / "labels" / "train" / "s1.png"
    Image.new("RGB", (16, 12)).save(p)
    return p, "8-bit single-channel"


BREAKERS = [_break_missing_image, _break_missing_label, _break_truncated_label, _break_garbage_label,
            _break_unknown_value, _break_size_mismatch, _break_rgb_label]


@pytest.mark.parametrize("breaker", BREAKERS, ids=lambda f: f.__name__[7:])
def test_bad_input_fails_with_file_and_problem(tmp_path, breaker):
    root = make_folder_dataset(tmp_path / "ds", n=4)
    path, problem = breaker(root)
    out = tmp_path / "work"
    res = _stats(root, out)
    assert res.exit_code != 0
    assert str(path) in res.output and problem in res.output, res.output
    assert not (out / "class_stats.json").exists()


@pytest.mark.parametrize("breaker", BREAKERS, ids=lambda f: f.__name__[7:])
def test_skip_bad_counts_and_lists_the_files(tmp_path, breaker):
    root = make_folder_dataset(tmp_path / "ds", n=4)
    path, problem = breaker(root)
    out = tmp_path / "work"
    res = _stats(root, out, "--skip-bad")
    assert res.exit_code == 0, res.output
    assert "1 skipped" in res.output and str(path) in res.output
    dataset = json.loads((out / "dataset.json").read_text())
    assert [b["path"] for b in dataset["skipped"]] == [str(path)]
    assert problem in dataset["skipped"][0]["problem"]
    cs = json.loads((out / "class_stats.json").read_text())
    assert cs["num_images"] == 3
    assert np.load(out / "pixel_counts.npy").shape == (3, 3)


def test_empty_split_fails(tmp_path):
    root = tmp_path / "ds"
    (root / "images" / "train").mkdir(parents=True)
    (root / "labels" / "train").mkdir(parents=True)
    (root / "classes.txt").write_text("a\nb\n")
    for extra in ((), ("--skip-bad",)):
        res = _stats(root, tmp_path / "work", *extra)
        assert res.exit_code != 0
        assert "empty split" in res.output and str(root) in res.output


def test_all_bad_is_an_empty_split(tmp_path):
    root = make_folder_dataset(tmp_path / "ds", n=2)
    for i in range(2):
        (root / "labels" / "train" / f"s{i}.png").write_bytes(b"junk")
    res = _stats(root, tmp_path / "work", "--skip-bad")
    assert res.exit_code != 0 and "empty split" in res.output


def test_missing_root_and_classes(tmp_path):
    res = _stats(tmp_path / "nope", tmp_path / "work")
    assert res.exit_code != 0 and "does not exist" in res.output
    (tmp_path / "ds").mkdir()
    res = _stats(tmp_path / "ds", tmp_path / "work")
    assert res.exit_code != 0 and "classes.txt" in res.output


def test_option_for_another_layout_is_refused(tmp_path, camvid_root):
    res = runner.invoke(app, ["stats", str(camvid_root), "-l", "camvid", "-o", str(tmp_path), "--source", "json"])
    assert res.exit_code != 0 and "do not apply" in res.output


def test_a_failed_rerun_keeps_nothing_marked_complete(tmp_path):
    root = make_folder_dataset(tmp_path / "ds", n=4)
    out = tmp_path / "work"
    assert _stats(root, out).exit_code == 0
    _break_truncated_label(root)
    assert _stats(root, out).exit_code != 0
    # the earlier, complete statistics are still intact: nothing was overwritten by the failed run
    cs = json.loads((out / "class_stats.json").read_text())
    assert cs["num_images"] == 4
