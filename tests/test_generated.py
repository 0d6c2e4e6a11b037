"""The generated stand-ins of tests/generated.py: in the official layouts, deterministic, and with
CamVid's buckets, so the tests that use them where ../shared is missing check what they claim."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image

from generated import camvid_tree, cityscapes_tree
from lt_data.data.buckets import compute_buckets
from lt_data.data.layouts import get_layout
from lt_data.data.stats import compute_stats

CAMVID_HEAD, CAMVID_TAIL = [0, 1, 3], [2, 6, 7, 9, 10]  # Sky, Building, Road; Pole, SignSymbol, Fence, Ped., Bic.


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.png")):
        h.update(str(p.relative_to(root)).encode() + p.read_bytes())
    return h.hexdigest()


def test_camvid_tree_has_camvids_layout_ids_and_buckets(camvid_root, tmp_path):
    small = camvid_tree(tmp_path / "small", {"train": 12, "val": 6, "test": 3}, size=(240, 180))
    assert _digest(small) == _digest(camvid_tree(tmp_path / "again", {"train": 12, "val": 6, "test": 3},
                                                 size=(240, 180)))
    for split, n in (("train", 12), ("val", 6), ("test", 3)):
        names = sorted(p.name for p in (small / split).glob("*.png"))
        assert len(names) == n and names == sorted(p.name for p in (small / f"{split}annot").glob("*.png"))
        for name in names[:2]:
            label = np.array(Image.open(small / f"{split}annot" / name))
            image = np.array(Image.open(small / split / name))
            assert label.dtype == np.uint8 and label.shape == (180, 240) and image.shape == (180, 240, 3)
            assert set(np.unique(label).tolist()) <= set(range(12)) and (label == 11).any()  # void frame
    # the tree the suite uses (real or generated): every class present, the default buckets of train are
    # CamVid's (real CamVid's val has other buckets: Tree is head there)
    stats = compute_stats(get_layout("camvid", camvid_root, "train"), workers=1, progress=False)
    assert (stats.counts.sum(axis=0) > 0).all()
    b = compute_buckets(stats)
    assert (b.head, b.tail) == (CAMVID_HEAD, CAMVID_TAIL)


def test_cityscapes_tree_frame_holds_the_fixtures_classes(tmp_path):
    root = cityscapes_tree(tmp_path / "cs")
    gt = root / "gtFine" / "val" / "frankfurt"
    ids = np.array(Image.open(gt / "frankfurt_000000_000294_gtFine_labelIds.png"))
    train = np.array(Image.open(gt / "frankfurt_000000_000294_gtFine_labelTrainIds.png"))
    # fence 13, pole 17, traffic sign 20, person 24, car 26 (cityscapesScripts' label ids), no bicycle 33
    assert {13, 17, 20, 24, 26} <= set(np.unique(ids).tolist()) and 33 not in ids
    assert set(np.unique(train[ids == 13]).tolist()) == {4} and set(np.unique(train[ids == 0]).tolist()) == {255}
    layout = get_layout("cityscapes", root, "val")
    samples, bad = layout.scan()
    assert len(samples) == 1 and not bad
