"""WorkDir: the artifact paths of a work directory (the names docs/FORMATS.md gives), and statistics and
buckets read once per version of their files: a rewrite or a hand edit after a read is seen."""

from __future__ import annotations

import json
import os
import pickle
import time

import numpy as np
import pytest

from builders import make_folder_dataset, stats_of
from lt_data.core.errors import ArtifactError
from lt_data.data.workdir import WorkDir


@pytest.fixture
def work(tmp_path):
    root = make_folder_dataset(tmp_path / "data", n=3)
    return stats_of("folder", root, tmp_path / "work")


def test_paths_are_the_documented_names(tmp_path):
    w = WorkDir(tmp_path / "w")
    expected = {w.stats_file: "class_stats.json", w.dataset_file: "dataset.json", w.buckets_file: "buckets.json",
                w.bank: "bank.zarr", w.cutmix: "cutmix.zarr", w.report: "report", w.exports: "exports",
                w.store("bank"): "bank.zarr", w.store("cutmix"): "cutmix.zarr", w.eval_split("val"): "eval-val",
                w.preview("bank"): "preview_bank.png"}
    for path, name in expected.items():
        assert path == tmp_path / "w" / name
    assert w.run("r1") == tmp_path / "w" / "runs" / "r1"
    assert sorted(p.name for p in w.stats_files) == sorted(
        ["samples.jsonl", "dataset.json", "pixel_counts.npy", "ignored_pixels.npy", "class_stats.json"])


def test_a_path_everywhere_a_path_goes(tmp_path):
    w = WorkDir.of(tmp_path)
    assert os.fspath(w) == str(tmp_path) and str(w) == str(tmp_path) and w / "x" == tmp_path / "x"
    assert WorkDir.of(w) is w and WorkDir.of(str(tmp_path)) is w  # one object per folder in a process
    back = pickle.loads(pickle.dumps(w))
    assert back == w and back._memo == {}  # a worker gets the path, not the parent's cache


def test_read_once_until_the_files_change(work):
    w = WorkDir(work)
    s1 = w.stats()
    assert w.stats() is s1 and w.stats(verify=False) is s1  # the verified read serves an unverified ask
    counts = np.load(work / "pixel_counts.npy")
    assert (s1.counts == counts).all() and s1.num_images == 3
    fp = json.loads((work / "class_stats.json").read_text())["fingerprint"]
    assert w.fingerprint == fp

    # the same statistics written again (a new file by rename): read again, equal content
    from lt_data.data.stats import write_stats

    time.sleep(0.01)
    write_stats(s1, work)
    s2 = w.stats()
    assert s2 is not s1 and (s2.counts == s1.counts).all() and w.fingerprint == fp


def test_a_hand_edit_after_a_read_is_refused(work):
    w = WorkDir(work)
    w.stats()
    time.sleep(0.01)  # the edit comes later than the read, as a person's does
    counts = np.load(work / "pixel_counts.npy")
    counts[0, 0] += 1
    np.save(work / "pixel_counts.npy", counts)  # rewritten in place: same inode, same size
    with pytest.raises(ArtifactError, match="pixel_counts.npy: changed since class_stats.json"):
        w.stats()


def test_buckets_follow_their_file(work):
    from lt_data.data.buckets import write_buckets

    w = WorkDir(work)
    assert not w.has_buckets and w.buckets_or_none() is None
    write_buckets(work, "rank", head=1, tail=1)
    b = w.buckets()
    pixels = np.load(work / "pixel_counts.npy").sum(axis=0)
    order = sorted(range(len(pixels)), key=lambda k: (-pixels[k], k))  # frequency order, ties by id
    assert b.head == [order[0]] and b.tail == [order[-1]] and b.middle == sorted(order[1:-1])
    assert b.lists == {"head": b.head, "middle": b.middle, "tail": b.tail} and b.num_classes == len(pixels)
    assert w.buckets() is b and w.tail() == b.tail
    time.sleep(0.01)
    write_buckets(work, "rank", head=2, tail=0)
    assert w.buckets().head == sorted(order[:2]) and w.buckets().tail == []
