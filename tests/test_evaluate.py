"""`lt-data evaluate --pred`: any framework's PNG predictions against the split, equal to set counting;
BucketIoU (streaming, on the device) equal to the offline evaluation, also across 2 gloo processes."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from lt_data.entry.cli import app
from lt_data.training.evaluate import evaluate_predictions
from lt_data.data.layouts import get_layout
from lt_data.training.metrics import BucketIoU
from lt_data.data.stats import run_stats

K = 11


@pytest.fixture(scope="module")
def predictions(camvid_root, tmp_path_factory):
    """Predictions written from the true labels with 20% of pixels replaced by random classes, named
    after the images as mmseg's format_only names them; and the (label, prediction) pairs."""
    out = tmp_path_factory.mktemp("pred")
    rng = np.random.default_rng(0)
    pairs = []
    for f in sorted((camvid_root / "valannot").glob("*.png")):
        y = np.array(Image.open(f))
        p = np.where(y == 11, rng.integers(0, K, y.shape), y)  # void pixels get some prediction too
        noise = rng.random(y.shape) < 0.2
        p = np.where(noise, rng.integers(0, K, y.shape), p).astype(np.uint8)
        Image.fromarray(p).save(out / f.name)
        pairs.append((np.where(y == 11, 255, y), p))
    return out, pairs


def _set_counting_iou(pairs) -> dict[int, float]:
    inter, union = [0] * K, [0] * K
    for y, p in pairs:
        keep = y != 255
        for c in range(K):
            a, b = (y == c) & keep, (p == c) & keep
            inter[c] += int((a & b).sum())
            union[c] += int((a | b).sum())
    return {c: inter[c] / union[c] for c in range(K) if union[c]}


def test_pred_equals_set_counting(camvid_val_work, predictions):
    pred_dir, pairs = predictions
    m = evaluate_predictions(pred_dir, camvid_val_work, workers=2, progress=False)
    want = _set_counting_iou(pairs)
    got = {c["id"]: c["iou"] for c in m["per_class"]}
    for c, v in want.items():
        assert abs(got[c] - v) < 1e-12, (c, got[c], v)
    assert abs(m["miou"] - np.mean(list(want.values()))) < 1e-12
    assert m["split"]["images"] == len(pairs) and m["skipped"] == []


def test_cli_pred_with_buckets_and_json(camvid_val_work, camvid_work, predictions, tmp_path):
    from lt_data.data.buckets import write_buckets

    train = tmp_path / "train"
    shutil.copytree(camvid_work, train)
    write_buckets(train)
    pred_dir, pairs = predictions
    r = CliRunner().invoke(app, ["evaluate", "--pred", str(pred_dir), "--work", str(camvid_val_work), "--buckets-from",
                                 str(train), "--out", str(tmp_path / "m.json"), "--json", "-q"])
    assert r.exit_code == 0, r.output
    m = json.loads(r.stdout)
    tail = [2, 6, 7, 9, 10]
    want = _set_counting_iou(pairs)
    assert abs(m["miou_tail"] - np.mean([want[c] for c in tail])) < 1e-12
    assert json.loads((tmp_path / "m.json").read_text())["miou"] == m["miou"]


def _copy(pred_dir, tmp_path) -> Path:
    dst = tmp_path / "p"
    shutil.copytree(pred_dir, dst)
    return dst


def test_shifted_missing_and_extra_predictions_are_named(camvid_val_work, predictions, tmp_path):
    pred_dir = _copy(predictions[0], tmp_path)
    files = sorted(pred_dir.glob("*.png"))
    shifted, gone = files[3], files[7]
    Image.fromarray(np.array(Image.open(shifted))[1:]).save(shifted)  # one row short
    gone.unlink()
    (pred_dir / "not_an_image_of_the_split.png").write_bytes(files[0].read_bytes())
    r = CliRunner().invoke(app, ["evaluate", "--pred", str(pred_dir), "--work", str(camvid_val_work), "-q"])
    assert r.exit_code == 2 and "Traceback" not in r.output
    line = r.output.strip()
    assert "\n" not in line and shifted.name in line and "480x359" in line
    assert gone.name in line and "missing prediction" in line and "not_an_image_of_the_split.png" in line
    m = evaluate_predictions(pred_dir, camvid_val_work, skip_bad=True, progress=False)
    assert m["split"]["images"] == len(files) - 2 and len(m["skipped"]) == 3


def test_values_outside_the_classes_say_raw_ids(camvid_val_work, predictions, tmp_path):
    pred_dir = _copy(predictions[0], tmp_path)
    f = sorted(pred_dir.glob("*.png"))[0]
    a = np.array(Image.open(f))
    y, x = np.argwhere(predictions[1][0][0] != 255)[0]  # a labelled pixel
    a[y, x] = 33
    Image.fromarray(a).save(f)
    r = CliRunner().invoke(app, ["evaluate", "--pred", str(pred_dir), "--work", str(camvid_val_work), "-q"])
    assert r.exit_code == 2 and f.name in r.output and "[33]" in r.output and "--pred-ids raw" in r.output


def test_raw_label_ids_as_cityscapes_metric_writes_them(cityscapes_fixture_root, tmp_path):
    work = tmp_path / "w"
    run_stats(get_layout("cityscapes", cityscapes_fixture_root, "val"), work, workers=1, progress=False)
    pred = tmp_path / "pred"
    pred.mkdir()
    for f in (cityscapes_fixture_root / "gtFine" / "val").rglob("*_gtFine_labelIds.png"):
        name = f.name.replace("_gtFine_labelIds.png", "_leftImg8bit.png")
        lab = np.array(Image.open(f))
        lab = np.where(np.isin(lab, [7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33]), lab, 7)
        Image.fromarray(lab.astype(np.uint8)).save(pred / name)  # labelIds, void predicted as road
    m = evaluate_predictions(pred, work, pred_ids="raw", workers=1, progress=False)
    present = [c for c in m["per_class"] if not c.get("absent")]
    assert present and all(c["iou"] == 1.0 for c in present if c["id"] != 0)
    with pytest.raises(Exception, match="--pred-ids raw"):
        evaluate_predictions(pred, work, pred_ids="train", workers=1, progress=False)


def test_bucket_iou_equals_the_offline_evaluation(camvid_val_work, predictions):
    pred_dir, pairs = predictions
    offline = evaluate_predictions(pred_dir, camvid_val_work, workers=1, progress=False)
    metric = BucketIoU.from_work(camvid_val_work)
    for y, p in pairs:
        logits = torch.nn.functional.one_hot(torch.from_numpy(p).long(), K).permute(2, 0, 1)[None].float()
        metric.update({"out": logits}, torch.from_numpy(y.astype(np.int64))[None, None])  # torchvision-style output
    online = metric.compute()
    assert online["miou"] == pytest.approx(offline["miou"], abs=1e-12)
    assert [c["iou"] for c in online["per_class"]] == pytest.approx([c["iou"] for c in offline["per_class"]])


def _ddp_worker(rank: int, world: int, init: str, pairs_file: str, out_file: str):
    torch.distributed.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    data = np.load(pairs_file)
    metric = BucketIoU(K, names=[str(i) for i in range(K)])
    for j in range(rank, len(data["y"]), world):  # each rank sees half of the images
        metric.update(torch.from_numpy(data["p"][j])[None], torch.from_numpy(data["y"][j].astype(np.int64))[None])
    m = metric.compute()
    if rank == 0:
        Path(out_file).write_text(json.dumps(m))
    torch.distributed.destroy_process_group()


def test_bucket_iou_all_reduces_across_two_gloo_processes(predictions, tmp_path):
    import torch.multiprocessing as tmp

    _, pairs = predictions
    pairs = pairs[:12]
    np.savez(tmp_path / "pairs.npz", y=np.stack([y for y, _ in pairs]), p=np.stack([p for _, p in pairs]))
    out = tmp_path / "m.json"
    init = f"file://{tmp_path / 'rendezvous'}"
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    tmp.spawn(_ddp_worker, args=(2, init, str(tmp_path / "pairs.npz"), str(out)), nprocs=2, join=True)
    want = _set_counting_iou(pairs)
    got = {c["id"]: c["iou"] for c in json.loads(out.read_text())["per_class"]}
    for c, v in want.items():
        assert abs(got[c] - v) < 1e-12
