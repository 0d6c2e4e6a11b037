"""The synthetic street-scene generator behind ``lt-data demo``: layout, determinism and a real long tail."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from lt_data.training.synthetic import STREET_CLASSES, generate_street_scenes

NUM_TRAIN, NUM_VAL, SIZE = 12, 4, (320, 240)
EXPECTED = ("road", "sidewalk", "building", "sky", "vegetation", "car", "pole", "traffic sign", "person", "bicycle")
IDX = {n: i for i, n in enumerate(EXPECTED)}


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _labels(root: Path, split: str) -> list[np.ndarray]:
    return [np.asarray(Image.open(p)) for p in sorted((root / "labels" / split).glob("*.png"))]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("streets")
    assert generate_street_scenes(root, num_train=NUM_TRAIN, num_val=NUM_VAL, size=SIZE, seed=0) == root
    return root


def test_layout(demo: Path):
    assert STREET_CLASSES == EXPECTED
    assert (demo / "classes.txt").read_text(encoding="utf-8").splitlines() == list(EXPECTED)
    for split, n in (("train", NUM_TRAIN), ("val", NUM_VAL)):
        imgs = sorted(p.name for p in (demo / "images" / split).glob("*.png"))
        lbls = sorted(p.name for p in (demo / "labels" / split).glob("*.png"))
        assert len(imgs) == n and imgs == lbls
        for name in imgs:
            with Image.open(demo / "images" / split / name) as im, Image.open(demo / "labels" / split / name) as lb:
                assert im.mode == "RGB" and lb.mode == "L"
                assert im.size == lb.size == SIZE
                values = set(np.unique(np.asarray(lb)).tolist())
                assert values <= set(range(len(EXPECTED))) | {255}, values


def test_deterministic(demo: Path, tmp_path: Path):
    again = generate_street_scenes(tmp_path / "again", num_train=NUM_TRAIN, num_val=NUM_VAL, size=SIZE, seed=0)
    assert _files(again) == _files(demo)

    other = _files(generate_street_scenes(tmp_path / "other", num_train=NUM_TRAIN, num_val=NUM_VAL, size=SIZE,
                                          seed=1))
    ref = _files(demo)
    assert other.keys() == ref.keys()
    pngs = [k for k in ref if k.endswith(".png")]
    assert all(other[k] != ref[k] for k in pngs)


def test_prefix_stable_and_overwrite(demo: Path, tmp_path: Path):
    # image i does not depend on how many images are generated; a smaller rerun drops stale files
    root = tmp_path / "small"
    generate_street_scenes(root, num_train=NUM_TRAIN, num_val=NUM_VAL, size=SIZE, seed=0)
    generate_street_scenes(root, num_train=3, num_val=1, size=SIZE, seed=0)
    small, ref = _files(root), _files(demo)
    assert len([k for k in small if k.startswith("images")]) == 4
    assert all(small[k] == ref[k] for k in small)


def test_long_tail(demo: Path):
    labels = _labels(demo, "train") + _labels(demo, "val")
    hist = sum(np.bincount(a.ravel(), minlength=256) for a in labels)
    share = hist / hist.sum()
    assert share[IDX["road"]] + share[IDX["building"]] + share[IDX["sky"]] > 0.5
    for name in ("pole", "traffic sign", "person", "bicycle"):
        assert 0 < share[IDX[name]] < 0.03, (name, share[IDX[name]])
    for name in ("car", "vegetation"):  # the middle: well below the head, well above the tail
        assert 0.02 < share[IDX[name]] < 0.2, (name, share[IDX[name]])
    assert share[255] < 0.03
    present = {n: sum(bool((a == IDX[n]).any()) for a in labels) for n in EXPECTED}
    assert 0 < present["bicycle"] < present["car"]
    assert present["person"] < len(labels) * 0.7 and present["bicycle"] < len(labels) * 0.5


def test_tail_objects_are_components(demo: Path):
    n_person = 0
    for a in _labels(demo, "train"):
        for name in ("pole", "traffic sign", "person", "bicycle"):
            n, _, stats, _ = cv2.connectedComponentsWithStats((a == IDX[name]).astype(np.uint8), connectivity=8)
            areas = stats[1:, cv2.CC_STAT_AREA]
            assert (areas >= 60).all(), (name, areas)  # every tail object is cut out whole
            if name == "person":
                n_person += int((areas >= 60).sum())
    assert n_person >= 5


def test_image_agrees_with_label(demo: Path):
    # the image is drawn with the label's geometry: sky pixels are bright/blue, road pixels are dark grey
    im = np.asarray(Image.open(demo / "images" / "train" / "train_0000.png")).astype(int)
    lb = np.asarray(Image.open(demo / "labels" / "train" / "train_0000.png"))
    sky, road = im[lb == IDX["sky"]], im[lb == IDX["road"]]
    assert sky[:, 2].mean() > road[:, 2].mean() + 60
    assert im.std() > 20 and im[lb == IDX["road"]].std() > 2  # not flat


def test_bad_size(tmp_path: Path):
    with pytest.raises(ValueError):
        generate_street_scenes(tmp_path, num_train=1, num_val=0, size=(16, 16))


def test_extra_tail_classes_leave_the_base_scene_alone(tmp_path: Path):
    """Street items are drawn from their own generator on top: outside their pixels the labels are
    those of the 10-class dataset; each item class appears, rarer ones in fewer images."""
    base = generate_street_scenes(tmp_path / "base", num_train=24, num_val=0, size=(160, 120), seed=4)
    many = generate_street_scenes(tmp_path / "many", num_train=24, num_val=0, size=(160, 120), seed=4,
                                  extra_tail=12)
    names = (many / "classes.txt").read_text().splitlines()
    assert names[:len(STREET_CLASSES)] == list(STREET_CLASSES) and names[-1] == "item 12" and len(names) == 22
    present = np.zeros(22, int)
    for f in sorted((base / "labels" / "train").glob("*.png")):
        a = np.array(Image.open(f))
        b = np.array(Image.open(many / "labels" / "train" / f.name))
        item = b >= len(STREET_CLASSES)
        item &= b != 255
        assert np.array_equal(a[~item], b[~item])
        present[np.unique(b[b != 255])] += 1
    assert (present[len(STREET_CLASSES):] > 0).sum() >= 10
    assert present[10] > present[21]  # item 01 is the most frequent, item 12 among the rarest
