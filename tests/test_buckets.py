"""Bucket rules and IoU refinement: hand-made counts with known answers, CamVid train, ADE20K's published
frequencies, AUCSeg's published tail lists."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from lt_data.data.buckets import (BUCKET_NAMES, BUCKETS_FILE, compute_buckets, load_buckets, read_iou, refine_buckets,
                             parse_class_ids, split_by_rank, split_by_share, split_classes, write_buckets)
from lt_data.core.classes import ClassTable, load_class_table
from lt_data.entry.cli import app
from lt_data.core.errors import LtDataError
from lt_data.data.layouts.base import Sample
from lt_data.data.stats import ClassStats, stats_fingerprint

CAMVID = ("Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol", "Fence", "Car", "Pedestrian",
          "Bicyclist")


def _ids(labels: np.ndarray, bucket: int) -> list[int]:
    return np.flatnonzero(labels == bucket).tolist()


def _stats_from(counts, names=None, table: ClassTable | None = None) -> ClassStats:
    """A ClassStats over hand-made per-image counts (N, K)."""
    counts = np.asarray(counts, dtype=np.int64)
    n, k = counts.shape
    table = table or ClassTable.from_names(list(names or [f"c{i}" for i in range(k)]))
    samples = [Sample(id=str(i), image=f"img/{i}.png", label=f"lbl/{i}.png", height=1, width=int(counts[i].sum()))
               for i in range(n)]
    return ClassStats(table=table, samples=samples, counts=counts, ignored=np.zeros(n, dtype=np.int64),
                      dataset={"layout": "folder", "root": "/nowhere", "split": "train"})


def _check_partition(b, k: int) -> None:
    ids = sorted(b.head + b.middle + b.tail)
    assert ids == list(range(k)), "every class in exactly one bucket, and nothing else (no ignore index)"
    for c in b.classes:
        assert c["id"] in b.ids(c["bucket"])


# ---- share rule on hand-made counts -------------------------------------------------------------------------
# Shares (%) 50, 25, 10, 8, 4, 2, 1, 0: head holds the first 70% -> the classes starting before 70%: 0 (at 0%),
# 1 (at 50%); class 2 starts at 75%. Tail holds at most 5%: 7 (0), 6 (1), 5 (1+2=3); 4 would make 7.
HAND = np.array([50, 25, 10, 8, 4, 2, 1, 0])


def test_share_rule_known_answer():
    labels = split_by_share(HAND, 0.7, 0.05)
    assert _ids(labels, 0) == [0, 1]
    assert _ids(labels, 1) == [2, 3, 4]
    assert _ids(labels, 2) == [5, 6, 7]


def test_share_rule_thresholds_are_exact_at_the_boundary():
    # class 2 starts exactly at 75%: "the first 75%" ends before it; class 4 makes the tail exactly 7%: included
    labels = split_by_share(HAND, 0.75, 0.07)
    assert _ids(labels, 0) == [0, 1]
    assert _ids(labels, 2) == [4, 5, 6, 7]
    labels = split_by_share(HAND, 0.7501, 0.0699)
    assert _ids(labels, 0) == [0, 1, 2]
    assert _ids(labels, 2) == [5, 6, 7]


def test_share_rule_order_ties_and_overlap():
    # equal counts: the lower id is "more frequent"; ids are not sorted by frequency
    labels = split_by_share(np.array([1, 5, 5, 89]), 0.9, 0.05)
    assert _ids(labels, 0) == [1, 3] and _ids(labels, 1) == [2] and _ids(labels, 2) == [0]
    # head wins when the thresholds overlap; every class still in one bucket
    labels = split_by_share(HAND, 1.0, 0.9)
    assert _ids(labels, 0) == [0, 1, 2, 3, 4, 5, 6] and _ids(labels, 2) == [7]
    with pytest.raises(LtDataError, match="head share"):
        split_by_share(HAND, 0.0, 0.05)
    with pytest.raises(LtDataError, match="no labelled pixels"):
        split_by_share(np.zeros(3), 0.7, 0.05)


def test_zero_pixel_classes_are_tail_and_said():
    stats = _stats_from([[60, 30, 10, 0, 0]])
    b = compute_buckets(stats, "rank", head=1, tail=1)
    assert b.tail == [3, 4] and b.head == [0] and b.middle == [1, 2]
    assert any("no pixels" in n and "c3 (3)" in n and "c4 (4)" in n for n in b.notes)
    b = compute_buckets(stats)  # share
    assert 3 in b.tail and 4 in b.tail
    assert any("no pixels" in n for n in b.notes)
    # explicit lists keep what they say, and warn
    b = compute_buckets(stats, "list", head_classes="c3", tail_classes=[4])
    assert b.head == [3]
    assert any("keeps c3 out of tail" in n for n in b.notes)


def test_rank_rule_known_answer_and_errors():
    labels = split_by_rank(HAND, 2, 3)
    assert _ids(labels, 0) == [0, 1] and _ids(labels, 1) == [2, 3, 4] and _ids(labels, 2) == [5, 6, 7]
    assert _ids(split_by_rank(HAND, 0, 0), 1) == list(range(8))
    with pytest.raises(LtDataError, match="at most the 8 classes"):
        split_by_rank(HAND, 5, 4)
    with pytest.raises(LtDataError, match="--head N and --tail M"):
        split_classes(HAND, "rank", head=2)


def test_images_rule_uses_image_counts():
    # class 0 has most pixels in one image; class 2 has few pixels in every image
    counts = [[900, 10, 1, 0], [0, 10, 1, 0], [0, 10, 1, 5], [0, 10, 1, 0]]
    stats = _stats_from(counts)
    by_pixels = compute_buckets(stats, "rank", head=1, tail=1)
    by_images = compute_buckets(stats, "images", head=1, tail=1)
    assert by_pixels.head == [0] and by_pixels.tail == [2]
    # image counts 1, 4, 4, 1: ties by id -> head 1, tail 3
    assert by_images.head == [1] and by_images.tail == [3]
    # share variant: occurrences 1, 4, 4, 1 of 10 -> head = first 50%: 1 (0%), 2 (40%); tail <= 10%: 3
    b = compute_buckets(stats, "images", head_share=0.5, tail_share=0.1)
    assert b.head == [1, 2] and b.tail == [3] and b.rule["on"] == "images"
    with pytest.raises(LtDataError, match="either"):
        compute_buckets(stats, "images", head=1, tail_share=0.1)


def test_list_rule_names_and_ids():
    names = list(CAMVID)
    assert parse_class_ids("3, building,SKY", names) == [0, 1, 3]
    assert parse_class_ids([10, "Pole"], names) == [2, 10]
    with pytest.raises(LtDataError, match=r"'Bus'.*'42'"):
        parse_class_ids("Bus,42", names, "--tail-classes")
    stats = _stats_from([[5] * 11], names=CAMVID)
    b = compute_buckets(stats, "list", head_classes="Road,Sky", tail_classes="9,Bicyclist")
    assert b.head == [0, 3] and b.tail == [9, 10] and len(b.middle) == 7
    with pytest.raises(LtDataError, match="both as head and as tail"):
        compute_buckets(stats, "list", head_classes="Road", tail_classes="3")
    with pytest.raises(LtDataError, match="do not apply to the list rule"):
        compute_buckets(stats, "list", tail_classes="Road", head=2)
    with pytest.raises(LtDataError, match="unknown bucket rule"):
        compute_buckets(stats, "frequency")


# ---- presets: AUCSeg's published lists ------------------------------------------------------------------------
@pytest.mark.real_data
@pytest.mark.parametrize("dataset", ["cityscapes", "ade20k", "coco_stuff164k"])
def test_presets_equal_aucseg_published_lists(dataset, shared):
    # the reference file was extracted from AUCSeg's configs independently of manifests/aucseg.json
    published = json.loads((shared / "reference" / "aucseg_configs.json").read_text())[dataset]["tail_train_ids"]
    table = load_class_table(dataset)
    rng = np.random.default_rng(0)
    stats = _stats_from(rng.integers(1, 1000, size=(3, table.num_classes)), table=table)
    for name in ("aucseg", f"aucseg:{dataset}"):
        b = compute_buckets(stats, "preset", preset=name)
        assert b.tail == sorted(published)
        assert b.rule["preset"] == f"aucseg:{dataset}"
        _check_partition(b, table.num_classes)
    if dataset == "cityscapes":
        assert b.tail == [6, 12, 14, 15, 16, 17, 18]  # traffic light, rider, truck, bus, train, motorcycle, bicycle
        assert [table.names[i] for i in b.tail][:2] == ["traffic light", "rider"]


def test_preset_for_another_class_table_is_refused():
    stats = _stats_from([[5] * 11], names=CAMVID)
    with pytest.raises(LtDataError, match="19 classes but .* has 11"):
        compute_buckets(stats, "preset", preset="aucseg:cityscapes")
    with pytest.raises(LtDataError, match="not 'custom'"):
        compute_buckets(stats, "preset")
    with pytest.raises(LtDataError, match="unknown preset"):
        compute_buckets(stats, "preset", preset="lvis")


# ---- real frequencies -----------------------------------------------------------------------------------------
@pytest.mark.real_data
def test_share_rule_on_ade20k_published_frequencies(ade_fixture_dir):
    rows = list(csv.DictReader(open(ade_fixture_dir / "objectInfo150.csv")))
    ratio = np.array([float(r["Ratio"]) for r in rows])  # share of all pixels; class 0 "other" holds the rest
    labels, rule, notes = split_classes(ratio, "share")
    assert rule == {"name": "share", "head_share": 0.7, "tail_share": 0.05, "on": "pixels"}
    # objectInfo150 lists classes by decreasing ratio, so the documented buckets are id ranges
    assert _ids(labels, 0) == list(range(0, 13))    # wall ... person: the first 12 hold 69.4% < 70%
    assert _ids(labels, 1) == list(range(13, 70))   # earth ... bench
    assert _ids(labels, 2) == list(range(70, 150))  # countertop ... shower: 4.86% of the pixels
    names = [r["Name"].split(";")[0] for r in rows]
    assert names[12] == "person" and names[13] == "earth" and names[69] == "bench" and names[70] == "countertop"
    share = ratio / ratio.sum()
    assert share[70:].sum() <= 0.05 < share[69:].sum()
    assert share[:12].sum() < 0.7 <= share[:13].sum()
    assert notes == []


@pytest.mark.real_data
def test_camvid_train_rules(camvid_work):  # CamVid's own buckets under each rule; the rules: tests above
    from lt_data.data.stats import load_stats

    stats = load_stats(camvid_work)
    names = stats.table.names
    b = compute_buckets(stats)
    _check_partition(b, 11)
    assert [names[i] for i in b.head] == ["Sky", "Building", "Road"]
    assert [names[i] for i in b.middle] == ["Pavement", "Tree", "Car"]
    assert [names[i] for i in b.tail] == ["Pole", "SignSymbol", "Fence", "Pedestrian", "Bicyclist"]
    assert b.summary["head"]["names"] == ["Road", "Building", "Sky"]  # frequency order
    assert 0.70 < b.summary["head"]["pixel_share"] < 0.75 and b.summary["tail"]["pixel_share"] < 0.05
    assert {c["name"]: c["rank"] for c in b.classes}["Road"] == 1

    b = compute_buckets(stats, "rank", head=2, tail=3)
    _check_partition(b, 11)
    assert [names[i] for i in b.head] == ["Building", "Road"]
    assert [names[i] for i in b.tail] == ["Pole", "Pedestrian", "Bicyclist"]

    b = compute_buckets(stats, "images", head=2, tail=2)  # image counts: Road 367, Sky 366 = Pole 366, ...
    assert [names[i] for i in b.head] == ["Sky", "Road"]
    assert [names[i] for i in b.tail] == ["Fence", "Bicyclist"]  # 173 and 201 of 367 images
    b = compute_buckets(stats, "images")
    _check_partition(b, 11)
    assert [names[i] for i in b.tail] == ["Fence"]

    b = compute_buckets(stats, "list", tail_classes="Pole,SignSymbol,Pedestrian,Bicyclist")
    _check_partition(b, 11)
    assert b.head == [] and len(b.middle) == 7


# ---- refinement (paper 003) -----------------------------------------------------------------------------------
def _hand_buckets():
    stats = _stats_from([[50, 25, 10, 8, 4, 2, 1]])
    return compute_buckets(stats)  # head 0,1; middle 2,3,4; tail 5,6


def test_refine_moves_exactly_the_right_classes():
    b = _hand_buckets()
    assert (b.head, b.middle, b.tail) == ([0, 1], [2, 3, 4], [5, 6])
    iou = {0: 0.1, 1: 0.9, 2: 0.39, 3: 0.4, 4: 0.7, 5: 0.61, 6: None}
    r = refine_buckets(b, iou, low=0.4, high=0.6)
    # 2: middle, 0.39 < 0.4 -> tail; 3: exactly low stays; 5: tail, 0.61 > 0.6 -> middle; 6: unscored stays;
    # 0: head with a poor IoU never moves
    assert (r.head, r.middle, r.tail) == ([0, 1], [3, 4, 5], [2, 6])
    assert [(m["id"], m["from"], m["to"]) for m in r.refine["moves"]] == [(2, "middle", "tail"), (5, "tail", "middle")]
    assert "0.3900 < low 0.4" in r.refine["moves"][0]["reason"]
    assert r.refine["unjudged"] == [6]
    assert r.refine["before"] == {"head": [0, 1], "middle": [2, 3, 4], "tail": [5, 6]}
    assert {c["id"]: c["bucket"] for c in r.classes}[2] == "tail"
    assert b.tail == [5, 6], "the input is not modified"
    # refining refined buckets starts from the rule's buckets: no compounding
    again = refine_buckets(r, {**iou, 5: 0.5}, low=0.4, high=0.6)
    assert (again.middle, again.tail) == ([3, 4], [2, 5, 6])
    assert [m["id"] for m in again.refine["moves"]] == [2]


def test_refine_needs_every_middle_and_tail_class():
    b = _hand_buckets()
    with pytest.raises(LtDataError, match=r"no IoU for class\(es\) c4 \(4\), c6 \(6\)"):
        refine_buckets(b, {2: 0.5, 3: 0.5, 5: 0.5})
    with pytest.raises(LtDataError, match="low 0.7 is above high 0.6"):
        refine_buckets(b, {k: 0.5 for k in range(7)}, low=0.7, high=0.6)


@pytest.mark.parametrize("content, message", [
    ('{"classes": []}', "no per_class list"),
    ('{"per_class": [{"iou": 0.5}]}', r"per_class\[0\] needs an 'id' and an 'iou'"),
    ('{"per_class": [{"id": 11, "iou": 0.5}]}', "has id 11; class ids are 0..10"),
    ('{"per_class": [{"id": 1, "iou": 0.5}, {"id": 1, "iou": 0.2}]}', "class id 1 is listed twice"),
    ('{"per_class": [{"id": 1, "iou": 55.0}]}', "percentages"),
    ('{"per_class": [{"id": 1, "name": "wall", "iou": 0.5}]}', "call it 'Building'"),
    ('{"per_class": [', "invalid JSON"),
])
def test_read_iou_errors_name_the_file(tmp_path, content, message):
    path = tmp_path / "iou.json"
    path.write_text(content)
    with pytest.raises(LtDataError, match=message) as e:
        read_iou(path, CAMVID)
    assert str(path) in str(e.value)


def test_read_iou_accepts_null_and_nan(tmp_path):
    path = tmp_path / "iou.json"
    path.write_text('{"per_class": [{"id": 0, "iou": null}, {"id": 1, "iou": NaN}, {"id": 2, "name": "pole", "iou": 1}]}')
    assert read_iou(path, CAMVID) == {0: None, 1: None, 2: 1.0}


# ---- the stage and the command ---------------------------------------------------------------------------------
def test_write_buckets_artifact(work_copy):
    path = write_buckets(work_copy)
    doc = json.loads(path.read_text())
    b = load_buckets(work_copy)
    assert path.name == BUCKETS_FILE and doc == b.to_json() and list(doc) == [
        "rule", "head", "middle", "tail", "num_classes", "ignore_index", "num_images", "classes", "summary", "notes",
        "refine", "source"]
    assert doc["source"]["stats"] == b.stats == stats_fingerprint(work_copy)
    assert doc["source"]["split"] == "train" and doc["source"]["dataset"] == "camvid"
    assert doc["rule"]["name"] == "share" and doc["refine"] is None and b.refine is None
    assert set(doc["classes"][0]) >= {"id", "name", "bucket", "pixels", "pixel_share", "image_share"}
    assert doc["ignore_index"] == 255 and 255 not in doc["head"] + doc["middle"] + doc["tail"]
    _check_partition(b, 11)


def test_cli_buckets_refine_and_errors(work_copy):
    runner = CliRunner()
    r = runner.invoke(app, ["buckets", str(work_copy), "--rule", "rank", "--head", "3", "--tail", "4"])
    assert r.exit_code == 0, r.output
    pixels = np.load(work_copy / "pixel_counts.npy").sum(axis=0)
    top3 = ", ".join(CAMVID[i] for i in np.argsort(-pixels, kind="stable")[:3])  # real CamVid: Road, Building, Sky
    assert "wrote" in r.output and f"head       3 classes" in r.output and top3 in r.output

    # baseline IoU: Car (middle) segmented poorly, Pole (tail) well; every middle and tail class given
    iou = {"Sky": 0.9, "Building": 0.8, "Road": 0.95, "Tree": 0.7, "Car": 0.2, "Pavement": 0.75, "SignSymbol": 0.5,
           "Fence": 0.5, "Pole": 0.8, "Pedestrian": 0.3, "Bicyclist": 0.1}
    iou_file = work_copy / "iou.json"
    iou_file.write_text(json.dumps({"per_class": [{"id": CAMVID.index(n), "iou": v} for n, v in iou.items()]}))
    r = runner.invoke(app, ["buckets", str(work_copy), "--refine", str(iou_file), "--low", "0.35", "--high", "0.6"])
    assert r.exit_code == 0, r.output
    b = load_buckets(work_copy)
    assert b.rule["name"] == "rank" and b.rule["head"] == 3, "--refine alone keeps the existing rule"
    names = {c["id"]: c["name"] for c in b.classes}
    assert sorted((names[m["id"]], m["to"]) for m in b.refine["moves"]) == [("Car", "tail"), ("Pole", "middle")]
    assert b.refine["source"]["path"] == str(iou_file.resolve())
    assert "moved Car (8) middle -> tail" in r.output

    r = runner.invoke(app, ["buckets", str(work_copy), "--rule", "list", "--tail-classes", "Bus,Road"])
    assert r.exit_code == 2 and "'Bus'" in r.output
    r = runner.invoke(app, ["buckets", str(work_copy), "--rule", "share", "--head", "3"])
    assert r.exit_code == 2 and "do not apply to the share rule" in r.output
    r = runner.invoke(app, ["buckets", str(work_copy), "--low", "0.3"])
    assert r.exit_code == 2 and "only apply with --refine" in r.output
    bad = work_copy / "bad.json"
    bad.write_text('{"per_class": [{"id": 0, "iou": 0.5}]}')
    r = runner.invoke(app, ["buckets", str(work_copy), "--rule", "share", "--refine", str(bad)])
    assert r.exit_code == 2 and "no IoU for class(es)" in r.output
    r = runner.invoke(app, ["buckets", str(work_copy / "missing")])
    assert r.exit_code == 2 and "no complete statistics" in r.output
    assert set(BUCKET_NAMES) <= set(load_buckets(work_copy).lists)
