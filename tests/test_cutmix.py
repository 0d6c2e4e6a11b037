"""Multi-level tail cutmix subsets: level boxes equal paper 003's formulas (hand-computed cases, exact
rational arithmetic on real data), subsets equal the images that contain each class."""

from __future__ import annotations

import math
import pickle
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import zarr
from PIL import Image

from builders import copy_work
from lt_data.data.buckets import write_buckets
from lt_data.stores.cutmix import TailCutmix, build_cutmix, class_rects, level_boxes
from lt_data.core.errors import ArtifactError, LtDataError
from lt_data.data.layouts import get_layout
from lt_data.data.stats import run_stats

CAMVID_TAIL = [2, 6, 7, 9, 10]


@pytest.fixture(scope="module")
def camvid_cutmix(camvid_work, tmp_path_factory) -> Path:
    """CamVid train statistics (the session's, copied), listed buckets and a cutmix store of paper 003's
    r = 0.5, s = 1.5 (not the defaults)."""
    work = copy_work(camvid_work, tmp_path_factory.mktemp("camvid_cutmix") / "work")
    write_buckets(work, "list", head_classes=[0, 1, 3, 4, 5, 8], tail_classes=CAMVID_TAIL)
    build_cutmix(work, levels=3, ratio=0.5, step=1.5, workers=2, progress=False)
    return work


# ---- the formulas, by hand ----------------------------------------------------------------------

def test_level_boxes_hand_computed():
    # image 100 (H) x 200 (W); class rectangle rows 40..49, columns 50..69: y0=40, x0=50, h=10, w=20
    boxes = level_boxes([[40, 50, 50, 70]], [[100, 200]], levels=3, ratio=0.5, step=1.5)
    assert boxes.shape == (1, 4, 4)
    assert boxes[0, 0].tolist() == [0, 0, 100, 200]  # level 0: the whole image
    assert boxes[0, 1].tolist() == [40, 50, 50, 70]  # level 1: the minimum rectangle
    # level 2: r + s·t = 0.5 + 3 = 3.5 → y0 = 40 − 35 = 5, h = 10 + 70 → y1 = 85;
    #          x0 = 50 − 70 = −20 → clipped to 0, w = 20 + 140 → x1 = −20 + 160 = 140
    assert boxes[0, 2].tolist() == [5, 0, 85, 140]
    # level 3: 0.5 + 4.5 = 5 → y0 = −10 → 0, y1 = 40 − 50 + 110 = 100 (= H); x0 = −50 → 0, x1 = 170
    assert boxes[0, 3].tolist() == [0, 0, 100, 170]


def test_level_boxes_fractions_round_outward_and_float_noise_adds_nothing():
    # r + s·2 = 0.1 + 2.2 = 2.3 (2.3000000000000003 in floats): 2.3 · 10 = 23 exactly → y0 = 17, y1 = 73
    b = level_boxes([[40, 50, 50, 70]], [[100, 200]], levels=2, ratio=0.1, step=1.1)
    assert b[0, 2].tolist() == [40 - 23, 50 - 46, 50 + 23, 70 + 46]
    # h = 3: 2.3 · 3 = 6.9 → y0 = floor(10 − 6.9) = 3, y1 = ceil(13 + 6.9) = 20; w = 1: x0 = floor(10 − 2.3)
    # = 7, x1 = ceil(11 + 2.3) = 14
    b = level_boxes([[10, 10, 13, 11]], [[100, 200]], levels=2, ratio=0.1, step=1.1)
    assert b[0, 2].tolist() == [3, 7, 20, 14]


def test_level_boxes_clip_at_every_border():
    # a rectangle in the bottom-right corner of a 50 x 60 image: rows 45..49, columns 50..59
    b = level_boxes([[45, 50, 50, 60]], [[50, 60]], levels=2, ratio=0.5, step=1.5)
    # level 2: 3.5 · 5 = 17.5 → y0 = floor(27.5) = 27, y1 = ceil(67.5) = 68 → 50; 3.5 · 10 = 35 → x0 = 15, x1 → 60
    assert b[0, 2].tolist() == [27, 15, 50, 60]
    # top-left corner, one pixel
    b = level_boxes([[0, 0, 1, 1]], [[50, 60]], levels=3, ratio=0.5, step=1.5)
    assert b[0, 2].tolist() == [0, 0, 5, 5]  # 1 + 3.5 = 4.5 → ceil 5
    assert b[0, 3].tolist() == [0, 0, 6, 6]  # 1 + 5 = 6


@pytest.mark.parametrize("levels,ratio,step,msg", [(3, 0.0, 1.5, "0 < r < 1"), (3, 1.0, 1.5, "0 < r < 1"),
                                                   (3, 0.5, 1.0, "s > 1"), (0, 0.5, 1.5, "levels")])
def test_parameters_are_validated(levels, ratio, step, msg):
    with pytest.raises(LtDataError, match=msg):
        level_boxes([[0, 0, 1, 1]], [[2, 2]], levels=levels, ratio=ratio, step=step)


def test_class_rects():
    label = np.full((6, 8), 255, np.uint8)
    label[1, 2] = 3
    label[4, 6] = 3
    label[2:4, 0:2] = 5
    assert class_rects(label, [3, 5, 7]).tolist() == [[1, 2, 5, 7], [2, 0, 4, 2], [0, 0, 0, 0]]


# ---- CamVid -------------------------------------------------------------------------------------

def _exact_level(rect, size, t, r, s):
    """Paper 003's level-t box in exact rational arithmetic, outward to integers, clipped."""
    y0, x0, y1, x1 = rect
    h, w = y1 - y0, x1 - x0
    f = Fraction(r) + Fraction(s) * t
    ny0, nx0 = y0 - f * h, x0 - f * w
    ny1, nx1 = ny0 + h + 2 * f * h, nx0 + w + 2 * f * w
    H, W = size
    return [min(max(math.floor(ny0), 0), H), min(max(math.floor(nx0), 0), W),
            min(max(math.ceil(ny1), 0), H), min(max(math.ceil(nx1), 0), W)]


def test_camvid_subsets_and_boxes_equal_independent_computation(camvid_cutmix, camvid_root):
    cm = TailCutmix.open(camvid_cutmix, work=camvid_cutmix)
    assert cm.classes == CAMVID_TAIL and cm.levels == 3
    ids = [s["id"] for s in cm.samples]
    files = sorted((camvid_root / "trainannot").glob("*.png"))
    labels = {f.stem: np.array(Image.open(f)) for f in files}
    for b in CAMVID_TAIL:
        expected = [sid for sid, lab in labels.items() if (lab == b).any()]
        subset = [ids[i] for i in cm.subset(b)]
        assert subset == expected and cm.count(b) == len(expected)
        boxes = cm.boxes(b)
        for i, sid in enumerate(subset):
            ys, xs = np.nonzero(labels[sid] == b)
            rect = [ys.min(), xs.min(), ys.max() + 1, xs.max() + 1]
            assert boxes[i, 0].tolist() == [0, 0, 360, 480]
            assert boxes[i, 1].tolist() == rect
            for t in (2, 3):
                assert boxes[i, t].tolist() == _exact_level(rect, (360, 480), t, Fraction(1, 2), Fraction(3, 2))
        assert cm.class_pixels(b).tolist() == [int((labels[s] == b).sum()) for s in subset]


def test_camvid_crops_are_source_slices(camvid_cutmix, camvid_root):
    cm = TailCutmix.open(camvid_cutmix)
    for b, i in ((10, 0), (9, 5)):
        sid = cm.samples[int(cm.subset(b)[i])]["id"]
        image = np.array(Image.open(camvid_root / "train" / f"{sid}.png").convert("RGB"))
        label = np.array(Image.open(camvid_root / "trainannot" / f"{sid}.png"))
        label = np.where(label == 11, 255, label)
        crops = cm.crops(b, i)
        assert len(crops) == 4
        for t, (p, lab) in enumerate(crops):
            y0, x0, y1, x1 = cm.box(b, i, t)
            np.testing.assert_array_equal(p, image[y0:y1, x0:x1])
            np.testing.assert_array_equal(lab, label[y0:y1, x0:x1])
        p1, l1 = cm.crop(b, i, 1)
        assert (l1 == b).any() and (l1[0] == b).any() and (l1[-1] == b).any()  # level 1 is tight around b
    with pytest.raises(IndexError):
        cm.box(10, 0, 4)


def test_sample_and_pickle(camvid_cutmix):
    cm = TailCutmix.open(camvid_cutmix)
    cls, pos = cm.sample([10, 0, 2], np.random.default_rng(0))
    assert cls.tolist() == [10, 2]  # Sky is not a cutmix class: skipped
    assert 0 <= pos[0] < cm.count(10) and 0 <= pos[1] < cm.count(2)
    again = pickle.loads(pickle.dumps(cm))
    assert len(pickle.dumps(cm)) < 1000
    np.testing.assert_array_equal(again.boxes(10), cm.boxes(10))


def test_incomplete_store_refused_and_params_validated(camvid_cutmix, tmp_path):
    out = build_cutmix(camvid_cutmix, classes="10", levels=2, workers=1, progress=False, out=tmp_path / "c.zarr")
    assert TailCutmix.open(out).params["ratio"] == 0.1
    zarr.open_group(out, mode="r+").attrs["complete"] = False
    with pytest.raises(ArtifactError, match="incomplete store"):
        TailCutmix.open(out)
    with pytest.raises(ArtifactError, match="not an lt-data/tail-cutmix store"):
        TailCutmix.open(_a_bank(camvid_cutmix, tmp_path))  # a bank is not a cutmix store
    build_cutmix(camvid_cutmix, classes="10", levels=2, workers=1, progress=False, out=out)
    assert TailCutmix.open(out).count(10) > 0

    from typer.testing import CliRunner

    from lt_data.entry.cli import app

    res = CliRunner().invoke(app, ["cutmix", "build", str(camvid_cutmix), "--ratio", "1.5", "--out", str(out)])
    assert res.exit_code == 2 and "0 < r < 1" in res.output
    res = CliRunner().invoke(app, ["cutmix", "build", str(camvid_cutmix), "--levels", "2", "--classes", "10", "-j", "1",
                                   "-q", "--out", str(tmp_path / "cli.zarr")])
    assert res.exit_code == 0, res.output
    assert TailCutmix.open(tmp_path / "cli.zarr").levels == 2


def _a_bank(work, tmp_path):
    from lt_data.stores.bank import build_bank

    return build_bank(work, classes="10", min_area=2000, workers=1, progress=False, out=tmp_path / "bank.zarr")


def test_cityscapes_fixture_rects(cityscapes_fixture_root, tmp_path):
    run_stats(get_layout("cityscapes", cityscapes_fixture_root, "val"), tmp_path, workers=1, progress=False)
    out = build_cutmix(tmp_path, classes="4,5,7,11,13,18", levels=2, ratio=0.5, step=1.5, workers=1, progress=False)
    cm = TailCutmix.open(out, work=tmp_path)
    f = sorted(cityscapes_fixture_root.glob("gtFine/val/*/*_gtFine_labelIds.png"))[0]
    raw = np.array(Image.open(f))
    label_ids = {4: 13, 5: 17, 7: 20, 11: 24, 13: 26}  # train id → Cityscapes label id
    for b, lid in label_ids.items():
        assert cm.count(b) == 1
        ys, xs = np.nonzero(raw == lid)
        rect = [ys.min(), xs.min(), ys.max() + 1, xs.max() + 1]
        assert cm.box(b, 0, 1) == tuple(rect)
        assert list(cm.box(b, 0, 2)) == _exact_level(rect, raw.shape, 2, Fraction(1, 2), Fraction(3, 2))
    assert cm.count(18) == 0  # bicycle: not in the frame, an empty subset
    assert cm.sample([18, 18], np.random.default_rng(0))[0].size == 0
