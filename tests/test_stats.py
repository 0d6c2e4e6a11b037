"""Statistics on real data: counts equal an independent numpy computation, artifacts are complete."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lt_data.core.errors import ArtifactError
from lt_data.data.layouts import get_layout
from lt_data.data.stats import compute_stats, load_stats, run_stats, write_stats

# Cityscapes label id → train id, written out from cityscapesScripts' labels table.
CITYSCAPES_ID_TO_TRAIN = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11,
                          25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}


def _independent_counts(label_files, to_train, k):
    """Per-image per-class pixel counts computed directly from the pixels."""
    rows, ignored = [], []
    for f in label_files:
        raw = np.array(Image.open(f))
        train = to_train(raw)
        valid = train < k
        rows.append(np.bincount(train[valid].ravel(), minlength=k))
        ignored.append(int((~valid).sum()))
    return np.array(rows, dtype=np.int64), np.array(ignored)


def _check_artifacts(work: Path, expected: np.ndarray, expected_ignored: np.ndarray, names):
    counts = np.load(work / "pixel_counts.npy")  # the documented format: plain .npy, no lt_data needed
    assert counts.dtype == np.int64
    np.testing.assert_array_equal(counts, expected)
    np.testing.assert_array_equal(np.load(work / "ignored_pixels.npy"), expected_ignored)
    cs = json.loads((work / "class_stats.json").read_text())
    assert cs["num_images"] == len(expected)
    assert cs["ignored_pixels"] == int(expected_ignored.sum())
    assert cs["total_pixels"] == int(expected.sum() + expected_ignored.sum())
    total = expected.sum()
    for k, c in enumerate(cs["classes"]):
        assert c["id"] == k and c["name"] == names[k]
        assert c["pixels"] == int(expected[:, k].sum())
        assert c["images"] == int((expected[:, k] > 0).sum())
        assert c["pixel_share"] == pytest.approx(expected[:, k].sum() / total)
        assert c["image_share"] == pytest.approx((expected[:, k] > 0).mean())
    samples = [json.loads(line) for line in (work / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == len(expected)
    assert set(samples[0]) == {"id", "image", "label", "height", "width"}


def test_camvid_train_counts_match_numpy(camvid_root, tmp_path):
    layout = get_layout("camvid", camvid_root, "train")
    run_stats(layout, tmp_path, workers=2, progress=False)
    files = sorted((camvid_root / "trainannot").glob("*.png"))
    assert len(files) == len(list((camvid_root / "train").glob("*.png"))) > 0  # real: 367
    expected, ignored = _independent_counts(files, lambda raw: np.where(raw == 11, 255, raw), 11)
    names = ["Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol", "Fence", "Car", "Pedestrian",
             "Bicyclist"]
    _check_artifacts(tmp_path, expected, ignored, names)
    # the largest class (real CamVid's README: Road) is the one the files say
    cs = json.loads((tmp_path / "class_stats.json").read_text())
    shares = {c["name"]: c["pixel_share"] for c in cs["classes"]}
    assert max(shares, key=shares.get) == names[int(np.argmax(expected.sum(axis=0)))]
    samples = [json.loads(line) for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    assert {(s["height"], s["width"]) for s in samples} == {(360, 480)}


def test_camvid_one_worker_equals_two(camvid_root, tmp_path):
    layout = get_layout("camvid", camvid_root, "val")
    a = compute_stats(layout, workers=1, progress=False)
    b = compute_stats(layout, workers=2, progress=False)
    np.testing.assert_array_equal(a.counts, b.counts)
    assert [s.id for s in a.samples] == [s.id for s in b.samples]


def test_cityscapes_label_ids_map_to_train_ids(cityscapes_fixture_root, tmp_path):
    layout = get_layout("cityscapes", cityscapes_fixture_root, "val")
    run_stats(layout, tmp_path, workers=1, progress=False)
    files = sorted(cityscapes_fixture_root.glob("gtFine/val/*/*_gtFine_labelIds.png"))
    lut = np.full(256, 255, dtype=np.uint8)
    for i, t in CITYSCAPES_ID_TO_TRAIN.items():
        lut[i] = t
    expected, ignored = _independent_counts(files, lambda raw: lut[raw], 19)
    names = ["road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
             "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle",
             "bicycle"]
    _check_artifacts(tmp_path, expected, ignored, names)
    # The shipped labelTrainIds (downscaled separately) holds the same classes.
    shipped = np.array(Image.open(files[0].with_name(files[0].name.replace("labelIds", "labelTrainIds"))))
    assert set(np.flatnonzero(expected[0])) == set(np.unique(shipped[shipped < 19]).tolist())


def test_cityscapes_train_id_labels(cityscapes_fixture_root, tmp_path):
    layout = get_layout("cityscapes", cityscapes_fixture_root, "val", train_ids=True)
    stats = compute_stats(layout, workers=1, progress=False)
    files = sorted(cityscapes_fixture_root.glob("gtFine/val/*/*_gtFine_labelTrainIds.png"))
    expected, _ = _independent_counts(files, lambda raw: raw, 19)
    np.testing.assert_array_equal(stats.counts, expected)


def _ade_root(ade_fixture_dir: Path, tmp_path: Path) -> Path:
    """The three real ADE20K validation samples arranged in the official layout (symlinks, no copies)."""
    root = tmp_path / "ADEChallengeData2016"
    for kind in ("images", "annotations"):
        d = root / kind / "validation"
        d.mkdir(parents=True)
        for f in (ade_fixture_dir / "sampleData" / kind).iterdir():
            (d / f.name).symlink_to(f)
    return root


def test_ade20k_counts_reduce_zero_label(ade_fixture_dir, tmp_path):
    root = _ade_root(ade_fixture_dir, tmp_path)
    layout = get_layout("ade20k", tmp_path, "val")  # the parent of ADEChallengeData2016 works too
    run_stats(layout, tmp_path / "work", workers=2, progress=False)
    files = sorted((root / "annotations" / "validation").glob("*.png"))
    assert len(files) == 3
    expected, ignored = _independent_counts(
        files, lambda raw: np.where(raw == 0, 255, raw.astype(np.int64) - 1), 150)
    _check_artifacts(tmp_path / "work", expected, ignored, layout.table.names)  # names: test_manifests
    assert ignored.sum() > 0  # "other objects" pixels exist in these samples


# ---- COCO-Stuff ----------------------------------------------------------------------------------

def _decode_compressed_rle(counts: str, h: int, w: int) -> np.ndarray:
    """COCO's compressed RLE string → (h, w) bool, written from the format's description (not pycocotools)."""
    runs, p = [], 0
    while p < len(counts):
        x, k, more = 0, 0, True
        while more:
            c = ord(counts[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(runs) > 2:
            x += runs[-2]
        runs.append(x)
    flat = np.zeros(h * w, dtype=bool)
    pos, val = 0, False
    for r in runs:
        flat[pos:pos + r] = val
        pos += r
        val = not val
    return flat.reshape(w, h).T  # column-major


def _coco_root(coco_fixture_dir: Path, tmp_path: Path, with_instances: bool) -> tuple[Path, dict, dict | None]:
    stuff_path = coco_fixture_dir / "cocostuffapi" / "annotations" / "stuff_examples.json"
    stuff = json.loads(stuff_path.read_text())
    root = tmp_path / "coco"
    (root / "annotations").mkdir(parents=True)
    (root / "images" / "train2017").mkdir(parents=True)
    (root / "annotations" / "stuff_train2017.json").symlink_to(stuff_path)
    for im in stuff["images"]:  # the images are not in the fixtures: blank JPEGs of the right size
        Image.new("RGB", (im["width"], im["height"])).save(root / "images" / "train2017" / im["file_name"])
    instances = None
    if with_instances:
        im = stuff["images"][0]
        h, w = im["height"], im["width"]
        # One crowd "person" (id 1) as uncompressed RLE, covering the stuff JSON's "other" (183) region
        # of this image, as real thing annotations do.
        other = [a for a in stuff["annotations"] if a["image_id"] == im["id"] and a["category_id"] == 183]
        mask = _decode_compressed_rle(other[0]["segmentation"]["counts"], h, w)
        flat = mask.T.ravel()
        change = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
        bounds = np.concatenate([[0], change, [flat.size]])
        counts = np.diff(bounds).tolist()
        if flat[0]:
            counts = [0] + counts
        instances = {"images": stuff["images"], "categories": [{"id": 1, "name": "person"}],
                     "annotations": [{"id": 1, "image_id": im["id"], "category_id": 1, "iscrowd": 1,
                                      "segmentation": {"counts": counts, "size": [h, w]}}]}
        (root / "annotations" / "instances_train2017.json").write_text(json.dumps(instances))
    return root, stuff, instances


def _coco_raw_to_train():
    used = [v for v in range(182) if v not in {11, 25, 28, 29, 44, 65, 67, 68, 70, 82, 90}]
    lut = np.full(256, 255, dtype=np.uint8)
    lut[used] = np.arange(171)
    return lut


@pytest.mark.parametrize("with_instances", [False, True])
def test_coco_stuff_json_counts(coco_fixture_dir, tmp_path, with_instances):
    root, stuff, instances = _coco_root(coco_fixture_dir, tmp_path, with_instances)
    layout = get_layout("coco_stuff164k", root, "train")
    assert layout.source == "json"
    stats = compute_stats(layout, workers=1, progress=False)
    lut = _coco_raw_to_train()
    expected = []
    for im in sorted(stuff["images"], key=lambda r: r["file_name"]):
        h, w = im["height"], im["width"]
        raw = np.full((h, w), 255, dtype=np.uint8)
        if instances:
            for a in instances["annotations"]:
                if a["image_id"] == im["id"]:
                    runs, flat, pos, val = a["segmentation"]["counts"], np.zeros(h * w, bool), 0, False
                    for r in runs:
                        flat[pos:pos + r] = val
                        pos += r
                        val = not val
                    raw[flat.reshape(w, h).T] = a["category_id"] - 1
        for a in stuff["annotations"]:
            if a["image_id"] == im["id"] and a["category_id"] != 183:
                m = _decode_compressed_rle(a["segmentation"]["counts"], h, w)
                assert m.sum() == a["area"]
                raw[m] = a["category_id"] - 1
        train = lut[raw]
        expected.append(np.bincount(train[train < 171], minlength=171))
    np.testing.assert_array_equal(stats.counts, np.array(expected))
    person = instances["annotations"][0]["segmentation"]["counts"][1::2] if instances else [0]
    assert stats.counts[:, 0].sum() == sum(person) > (0 if with_instances else -1)  # person: instances only
    assert bool(layout.warnings) != with_instances


def test_coco_stuff_png_routes(tmp_path):
    root = tmp_path / "coco"
    (root / "images" / "val2017").mkdir(parents=True)
    (root / "annotations" / "val2017").mkdir(parents=True)
    raw = np.full((20, 30), 255, dtype=np.uint8)
    raw[:10] = 0      # person
    raw[10:, :5] = 181  # wood, the last class
    raw[10:, 5:7] = 12  # stop sign: train id 11 (value 11 is unused)
    Image.new("RGB", (30, 20)).save(root / "images" / "val2017" / "000000000001.jpg")
    Image.fromarray(raw).save(root / "annotations" / "val2017" / "000000000001.png")
    stats = compute_stats(get_layout("coco_stuff164k", root, "val"), workers=1, progress=False)
    assert stats.dataset["options"]["source"] == "png"
    expected = np.zeros(171, dtype=np.int64)
    expected[0], expected[170], expected[11] = 300, 50, 20
    np.testing.assert_array_equal(stats.counts[0], expected)
    assert stats.ignored[0] == 600 - 370
    # mmsegmentation's converted labels are picked first when present
    Image.fromarray(_coco_raw_to_train()[raw]).save(root / "annotations" / "val2017" / "000000000001_labelTrainIds.png")
    layout = get_layout("coco_stuff164k", root, "val")
    assert layout.source == "trainids"
    np.testing.assert_array_equal(compute_stats(layout, workers=1, progress=False).counts[0], expected)


def test_folder_layout_reduce_zero_label_and_ignore(tmp_path):
    root = tmp_path / "ds"
    (root / "images" / "train").mkdir(parents=True)
    (root / "labels" / "train").mkdir(parents=True)
    (root / "classes.txt").write_text("background\ncat\ndog\n")
    lab = np.zeros((8, 8), dtype=np.uint8)
    lab[:2], lab[2:3], lab[7] = 1, 2, 250
    Image.fromarray(lab).save(root / "labels" / "train" / "a.png")
    Image.new("RGB", (8, 8)).save(root / "images" / "train" / "a.jpg")
    s = compute_stats(get_layout("folder", root, "train", reduce_zero_label=True, ignore_index=250),
                      workers=1, progress=False)
    assert s.table.names == ("cat", "dog")
    np.testing.assert_array_equal(s.counts[0], [16, 8])
    assert s.ignored[0] == 64 - 24
    s = compute_stats(get_layout("folder", root, "train", ignore_index=250), workers=1, progress=False)
    np.testing.assert_array_equal(s.counts[0], [32, 16, 8])


def test_interrupted_write_is_not_complete(camvid_root, tmp_path, monkeypatch):
    layout = get_layout("camvid", camvid_root, "val")
    stats = compute_stats(layout, workers=1, progress=False)
    write_stats(stats, tmp_path)
    assert load_stats(tmp_path).num_images == len(list((camvid_root / "val").glob("*.png")))

    import lt_data.data.stats as st

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(st, "atomic_save_npy", boom)
    with pytest.raises(KeyboardInterrupt):
        write_stats(stats, tmp_path)
    with pytest.raises(ArtifactError, match="no complete statistics"):
        load_stats(tmp_path)


def test_altered_artifact_is_refused(camvid_root, tmp_path):
    stats = compute_stats(get_layout("camvid", camvid_root, "val"), workers=1, progress=False)
    write_stats(stats, tmp_path)
    counts = np.load(tmp_path / "pixel_counts.npy")
    counts[0, 0] += 1
    np.save(tmp_path / "pixel_counts.npy", counts)
    with pytest.raises(ArtifactError, match="changed since"):
        load_stats(tmp_path)
