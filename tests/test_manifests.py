"""The shipped class tables (``manifests/*.json``) checked against independent sources.

Every check that needs real data reads the fixture or reference file itself (CSV, TXT, PNG, JSON) and
compares with what ``load_class_table`` / ``load_manifest`` return, never with the manifest's own output.
Tests that read the real reference files are marked ``real_data`` (deselected without ``../shared``).
"""

from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest
from PIL import Image

from lt_data.core.classes import ClassTable, load_class_table, load_manifest

DATASETS = ("cityscapes", "ade20k", "coco_stuff164k", "camvid")
NUM_CLASSES = {"cityscapes": 19, "ade20k": 150, "coco_stuff164k": 171, "camvid": 11}

# Cityscapes label id -> trainId, written out by hand from cityscapesScripts' labels.py
# (datasets.md §1.2); every other 8-bit value maps to 255.
CITYSCAPES_ID_TO_TRAINID = {
    0: 255, 1: 255, 2: 255, 3: 255, 4: 255, 5: 255, 6: 255, 7: 0, 8: 1, 9: 255, 10: 255, 11: 2, 12: 3,
    13: 4, 14: 255, 15: 255, 16: 255, 17: 5, 18: 255, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11, 25: 12,
    26: 13, 27: 14, 28: 15, 29: 255, 30: 255, 31: 16, 32: 17, 33: 18,
}

CITYSCAPES_FRAME = "gtFine/val/frankfurt/frankfurt_000000_000294_gtFine_{}.png"

# mmseg's ADE20K names are objectInfo150's first synonym, except where mmseg picked another synonym.
ADE_NOT_FIRST_SYNONYM = {89: "television receiver"}  # objectInfo150: "television, television receiver, ..."


def _md_table(text: str, header_start: str) -> list[list[str]]:
    """Rows of the markdown table whose header line starts with ``header_start``."""
    lines = text.splitlines()
    i = next(k for k, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[i + 2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


def _rgb(s: str) -> list[int]:
    return [int(x) for x in s.strip("()").split(",")]


# ---- every table: schema and internal consistency (no ../shared needed) ------------------------------------
@pytest.mark.parametrize("dataset", DATASETS)
def test_manifest_schema(dataset):
    m = load_manifest(dataset)
    assert m["dataset"] == dataset
    assert m["ignore_index"] == 255
    assert isinstance(m["source"], str) and len(m["source"]) > 40
    assert [c["id"] for c in m["classes"]] == list(range(NUM_CLASSES[dataset]))
    for c in m["classes"]:
        assert isinstance(c["name"], str) and c["name"] == c["name"].strip() and c["name"]
        assert len(c["color"]) == 3 and all(isinstance(x, int) and 0 <= x <= 255 for x in c["color"])
    values = [r["value"] for r in m["raw"]]
    assert len(values) == len(set(values)), "a raw value is listed twice"

    table = load_class_table(dataset)
    assert table.num_classes == NUM_CLASSES[dataset]
    assert table.colors.shape == (NUM_CLASSES[dataset], 3)
    # every train id is reachable from at least one raw value; ignore stays ignore
    assert set(table.lut[table.known].tolist()) == set(range(table.num_classes)) | {255}
    assert table.lut[255] == 255


@pytest.mark.parametrize("dataset", DATASETS)
def test_fold_histogram_matches_pixelwise_lut(dataset):
    table = load_class_table(dataset)
    rng = np.random.default_rng(12345)
    hist = rng.integers(0, 40, size=256)
    hist[rng.random(256) < 0.3] = 0
    pixels = np.repeat(np.arange(256, dtype=np.uint8), hist)
    rng.shuffle(pixels)
    mapped = table.lut[pixels]
    counts = np.bincount(mapped, minlength=256)

    per_class, ignored = table.fold_histogram(hist)
    assert per_class.dtype == np.int64 and per_class.shape == (table.num_classes,)
    np.testing.assert_array_equal(per_class, counts[: table.num_classes])
    assert ignored == counts[255]
    assert per_class.sum() + ignored == hist.sum()
    # the histogram of the pixels themselves gives the same folding
    per_class2, ignored2 = table.fold_histogram(np.bincount(pixels, minlength=256))
    np.testing.assert_array_equal(per_class2, per_class)
    assert ignored2 == ignored


# ---- Cityscapes -------------------------------------------------------------------------------------------
def test_cityscapes_lut_equals_handwritten_table():
    table = load_class_table("cityscapes")
    expected = np.full(256, 255, dtype=np.uint8)
    for label_id, train_id in CITYSCAPES_ID_TO_TRAINID.items():
        expected[label_id] = train_id
    np.testing.assert_array_equal(table.lut, expected)
    assert set(np.flatnonzero(table.known).tolist()) == set(CITYSCAPES_ID_TO_TRAINID)
    assert table.names == ("road", "sidewalk", "building", "wall", "fence", "pole", "traffic light",
                           "traffic sign", "vegetation", "terrain", "sky", "person", "rider", "car", "truck",
                           "bus", "train", "motorcycle", "bicycle")


@pytest.mark.real_data
def test_cityscapes_raw_table_equals_reference(shared):
    rows = _md_table((shared / "reference" / "datasets.md").read_text(), "| name | id | trainId |")
    assert len(rows) == 35
    raw = {r["value"]: r for r in load_manifest("cityscapes")["raw"]}
    assert len(raw) == 35
    classes = load_manifest("cityscapes")["classes"]
    for name, label_id, train_id, cat, cat_id, inst, ign, color in rows:
        r = raw[int(label_id)]
        tid = int(train_id)
        assert r["name"] == name
        assert r["train_id"] == (255 if tid < 0 else tid)
        assert (r["category"], r["cat_id"]) == (cat, int(cat_id))
        assert r["has_instances"] is (inst == "True") and r["ignore_in_eval"] is (ign == "True")
        assert r["color"] == _rgb(color)
        if 0 <= tid < 255:  # train classes carry the official colour
            assert classes[tid]["name"] == name and classes[tid]["color"] == _rgb(color)
    assert raw[-1]["name"] == "license plate" and raw[-1]["train_id"] == 255


@pytest.mark.real_data
def test_cityscapes_fixture_label_ids_map_to_shipped_train_ids(cityscapes_fixture_root):
    label_ids = np.array(Image.open(cityscapes_fixture_root / CITYSCAPES_FRAME.format("labelIds")))
    train_ids = np.array(Image.open(cityscapes_fixture_root / CITYSCAPES_FRAME.format("labelTrainIds")))
    assert label_ids.dtype == np.uint8 and train_ids.dtype == np.uint8
    table = load_class_table("cityscapes")
    assert table.unknown_values(np.bincount(label_ids.ravel(), minlength=256)) == []
    mapped = table.lut[label_ids]
    # the two fixture PNGs were downscaled separately: compare class sets, not pixels
    assert set(np.unique(mapped).tolist()) == set(np.unique(train_ids).tolist())
    # and the train-id file itself is legal for the train-id view of the table
    tt = table.with_train_id_labels()
    assert tt.unknown_values(np.bincount(train_ids.ravel(), minlength=256)) == []


# ---- ADE20K -----------------------------------------------------------------------------------------------
def _object_info_csv(ade_fixture_dir) -> list[dict]:
    with open(ade_fixture_dir / "objectInfo150.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 150
    return rows


@pytest.mark.real_data
def test_ade20k_classes_equal_object_info_csv(ade_fixture_dir):
    rows = _object_info_csv(ade_fixture_dir)
    classes = load_manifest("ade20k")["classes"]
    for c, row in zip(classes, rows, strict=True):
        assert int(row["Idx"]) == c["id"] + 1
        assert c["full_name"] == row["Name"]
        synonyms = row["Name"].split(";")
        words = c["name"].split(" ")
        # the name's words appear contiguously in the ';'-joined synonym list (the CSV turned spaces into ';')
        assert any(synonyms[k:k + len(words)] == words for k in range(len(synonyms))), (c["id"], c["name"])
        if c["id"] not in ADE_NOT_FIRST_SYNONYM:
            assert synonyms[: len(words)] == words, (c["id"], c["name"], row["Name"])
        assert c["ratio"] == pytest.approx(float(row["Ratio"]), abs=0)
        assert c["train_images"] == int(row["Train"])
        assert c["val_images"] == int(row["Val"])
        assert c["stuff"] is bool(int(row["Stuff"]))
    assert sum(c["stuff"] for c in classes) == 35


@pytest.mark.real_data
def test_ade20k_names_equal_object_info_txt_synonyms(ade_fixture_dir):
    lines = (ade_fixture_dir / "objectInfo150.txt").read_text().splitlines()[1:]
    assert len(lines) == 150
    table = load_class_table("ade20k")
    for i, (name, line) in enumerate(zip(table.names, lines, strict=True)):
        idx, *_, full = line.split("\t")
        assert int(idx) == i + 1
        synonyms = [s.strip() for s in full.split(",")]
        expected = ADE_NOT_FIRST_SYNONYM.get(i, synonyms[0])
        assert expected in synonyms
        assert name == expected


def test_ade20k_lut_and_sample_annotations(ade_fixture_dir):
    table = load_class_table("ade20k")
    expected = np.full(256, 255, dtype=np.uint8)
    expected[1:151] = np.arange(150)
    np.testing.assert_array_equal(table.lut, expected)
    assert table.raw_names[0] == "other objects" and table.lut[0] == 255
    assert set(np.flatnonzero(table.known).tolist()) == set(range(151))  # 255 never occurs in ADE PNGs
    for png in sorted((ade_fixture_dir / "sampleData" / "annotations").glob("*.png")):
        ann = np.array(Image.open(png))
        assert ann.ndim == 2 and ann.dtype == np.uint8
        assert table.unknown_values(np.bincount(ann.ravel(), minlength=256)) == []


@pytest.mark.real_data
def test_ade20k_palette_equals_reference(shared):
    rows = _md_table((shared / "reference" / "datasets.md").read_text(), "| PNG value | train idx")
    rows = [r for r in rows if r[0] != "0"]
    table = load_class_table("ade20k")
    assert len(rows) == 150
    for r in rows:
        t = int(r[1])
        assert table.names[t] == r[2].strip("'").strip()
        assert table.colors[t].tolist() == _rgb(r[3])


# ---- COCO-Stuff 164k --------------------------------------------------------------------------------------
def _coco_labels(coco_fixture_dir) -> dict[int, str]:
    out = {}
    for line in (coco_fixture_dir / "cocostuff" / "labels.txt").read_text().splitlines():
        k, name = line.split(": ", 1)
        out[int(k)] = name
    assert sorted(out) == list(range(183))
    return out


def _coco_removed_ids(coco_fixture_dir) -> set[int]:
    """1-based ids that labels.md marks 'Removed from COCO.'."""
    ids = set()
    for line in (coco_fixture_dir / "cocostuff" / "labels.md").read_text().splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) >= 4 and cells[0].isdigit() and cells[-1] == "Removed from COCO.":
            ids.add(int(cells[0]))
    return ids


@pytest.mark.real_data
def test_coco_stuff_names_equal_labels_txt(coco_fixture_dir):
    labels = _coco_labels(coco_fixture_dir)
    table = load_class_table("coco_stuff164k")
    for coco_id in range(1, 183):
        assert table.raw_names[coco_id - 1] == labels[coco_id], coco_id
    for c in load_manifest("coco_stuff164k")["classes"]:
        assert labels[c["coco_id"]] == c["name"]
        assert c["kind"] == ("thing" if c["coco_id"] <= 91 else "stuff")
    assert table.lut[255] == 255 and table.known[255]


@pytest.mark.real_data
def test_coco_stuff_used_values_and_train_ids(coco_fixture_dir):
    removed = _coco_removed_ids(coco_fixture_dir)
    assert len(removed) == 11
    documented = {11, 25, 28, 29, 44, 65, 67, 68, 70, 82, 90}  # 0-based PNG values
    assert {i - 1 for i in removed} == documented

    m = load_manifest("coco_stuff164k")
    unused = {r["value"] for r in m["raw"] if r.get("unused")}
    assert unused == documented
    table = load_class_table("coco_stuff164k")
    used = [v for v in range(182) if table.known[v]]
    assert len(used) == 171
    assert set(range(182)) - set(used) == documented
    # train ids are the rank among used values, i.e. contiguous 0..170 in raw-value order
    assert table.lut[used].tolist() == list(range(171))
    assert (table.lut[sorted(documented)] == 255).all()
    assert not table.known[182:255].any()
    # labels.txt order with the removed ids dropped gives the class names
    labels = _coco_labels(coco_fixture_dir)
    assert list(table.names) == [labels[i] for i in range(1, 183) if i not in removed]
    assert [c["coco_id"] for c in m["classes"]] == [v + 1 for v in used]
    assert sum(c["kind"] == "thing" for c in m["classes"]) == 80


@pytest.mark.real_data
def test_coco_stuff_names_equal_coco_category_jsons(fixtures_dir):
    """Things against panopticapi's category list, stuff against the cocostuffapi stuff JSON."""
    classes = {c["coco_id"]: c for c in load_manifest("coco_stuff164k")["classes"]}
    pan = json.loads((fixtures_dir / "cocodataset" / "panopticapi" / "panoptic_coco_categories.json").read_text())
    things = {c["id"]: c["name"] for c in pan if c["isthing"]}
    assert len(things) == 80
    assert {k: v["name"] for k, v in classes.items() if v["kind"] == "thing"} == things
    stuff_json = fixtures_dir / "nightrome" / "cocostuffapi" / "annotations" / "stuff_examples.json"
    cats = {c["id"]: c["name"] for c in json.loads(stuff_json.read_text())["categories"] if c["id"] != 183}
    assert len(cats) == 91
    assert {k: v["name"] for k, v in classes.items() if v["kind"] == "stuff"} == cats


# ---- CamVid -----------------------------------------------------------------------------------------------
@pytest.mark.real_data
def test_camvid_names_equal_readme_order(camvid_root):
    text = (camvid_root / "README.md").read_text()
    para = " ".join(text[text.index("Label values:"):].split("\n\n")[0].split())
    pairs = re.findall(r"(\d+) (\w+)", para)
    names = {int(k): v for k, v in pairs}
    assert sorted(names) == list(range(12)) and names[11] == "void"
    table = load_class_table("camvid")
    assert list(table.names) == [names[i] for i in range(11)]
    assert table.raw_names[11] == "void" and table.lut[11] == 255
    expected = np.full(256, 255, dtype=np.uint8)
    expected[:11] = np.arange(11)
    np.testing.assert_array_equal(table.lut, expected)


@pytest.mark.real_data
def test_camvid_colors_equal_palette_png(camvid_root):
    # palette11.png is a 256x1 strip; pixel i is the colour of label value i (11.. = void, black)
    im = Image.open(camvid_root / "palette11.png").convert("RGB")
    strip = np.array(im).reshape(-1, 3)
    assert strip.shape[0] >= 12
    table = load_class_table("camvid")
    np.testing.assert_array_equal(table.colors, strip[:11])
    assert (strip[11:] == 0).all()
    assert len({tuple(c) for c in table.colors.tolist()}) == 11


def test_camvid_labels_are_known(camvid_root):
    table = load_class_table("camvid")
    files = sorted((camvid_root / "trainannot").glob("*.png"))[:5]
    assert files
    hist = sum(np.bincount(np.array(Image.open(f)).ravel(), minlength=256) for f in files)
    assert table.unknown_values(hist) == []


# ---- AUCSeg -----------------------------------------------------------------------------------------------
@pytest.mark.real_data
def test_aucseg_preset_equals_published_configs(shared):
    ref = json.loads((shared / "reference" / "aucseg_configs.json").read_text())
    ours = load_manifest("aucseg")
    assert isinstance(ours["source"], str) and "AUCSeg" in ours["source"]
    assert set(ours) - {"source"} == {"cityscapes", "ade20k", "coco_stuff164k"}
    for ds, cfg in ours.items():
        if ds == "source":
            continue
        r = ref[ds]
        assert cfg["tail"] == r["tail_train_ids"]
        for key in ("memory_size", "sample_ratio", "resize_ratio", "auc_loss_weight", "ce_loss_weight"):
            assert cfg[key] == r[key] and type(cfg[key]) is type(r[key]), (ds, key)
        if "num_classes" in cfg:
            assert cfg["num_classes"] == r["num_classes"]


def test_aucseg_tail_ids_fit_class_tables():
    ours = load_manifest("aucseg")
    for ds in ("cityscapes", "ade20k", "coco_stuff164k"):
        tail = ours[ds]["tail"]
        assert tail == sorted(set(tail))
        assert 0 <= min(tail) and max(tail) < load_class_table(ds).num_classes


def test_class_table_round_trip():
    for ds in DATASETS:
        t = load_class_table(ds)
        t2 = ClassTable.from_manifest(t.to_json())
        assert t2.fingerprint() == t.fingerprint()
