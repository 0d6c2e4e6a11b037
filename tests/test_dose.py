"""The paste dose: derived from the data, recorded and logged by the trainer, measured honestly, warned about."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from lt_data.dose import OBJECTS_PER_IMAGE, PASTED_SHARE, WARN_SHARE, bank_dose, cutmix_dose, dose_warning, preset_for
from lt_data.paste import PastePlan, paste, paste_figures, pasted_mask


# many_work: a session fixture in conftest.py (40 generated images with 30 extra tail classes)


# ---- the rule --------------------------------------------------------------------------------------

@pytest.mark.parametrize("layout, k, sample, resize", [("cityscapes", 19, 1.0, 1.0), ("ade20k", 150, 0.05, 0.4),
                                                       ("coco_stuff164k", 171, 0.05, 0.1)])
def test_papers_datasets_get_aucseg_published_values(layout, k, sample, resize):
    # values from AUCSeg's configs as SPEC.md restates them, not from our manifest
    name, cfg = preset_for(layout, k)
    assert (name, cfg["sample_ratio"], cfg["resize_ratio"]) == (layout, sample, resize)
    assert preset_for(layout, k + 1) is None  # another class table is another dataset
    assert preset_for("camvid", 11) is None and preset_for("folder", k) is None


def test_cityscapes_work_directory_gets_the_preset(cityscapes_fixture_root, tmp_path):
    from lt_data.bank import build_bank
    from lt_data.buckets import write_buckets
    from lt_data.layouts import get_layout
    from lt_data.stats import run_stats

    run_stats(get_layout("cityscapes", cityscapes_fixture_root, "val"), tmp_path, workers=1, progress=False)
    write_buckets(tmp_path)
    build_bank(tmp_path, min_area=4, progress=False, workers=1)
    d = bank_dose(tmp_path, crop_size=(128, 256))
    assert d.args == {"sample_ratio": 1.0, "resize_ratio": 1.0, "per_image": True}
    assert set(d.source.values()) == {"preset:cityscapes"}
    d = bank_dose(tmp_path, explicit={"resize_ratio": 0.5})
    assert d.args["resize_ratio"] == 0.5 and d.source["resize_ratio"] == "explicit"
    assert d.source["sample_ratio"] == "preset:cityscapes"


def _stats(work):
    from lt_data.stats import load_stats

    return load_stats(work, verify=False)


def test_rule_from_the_statistics(many_work):
    from lt_data.bank import TailBank
    from lt_data.buckets import load_buckets

    d = bank_dose(many_work, crop_size=(96, 128))
    tail = load_buckets(many_work)["tail"]
    bank = TailBank.open(many_work / "bank.zarr")
    classes = [c for c in tail if bank.count(c) > 0]
    assert len(classes) >= 20
    counts = _stats(many_work).counts
    missing = (counts[:, classes] == 0).sum(axis=1)  # independent: per image, tail classes it lacks
    assert d.figures["missing_per_image"] == pytest.approx(missing.mean(), abs=1e-3)
    # independent: each tail class's mean object area (capped at the canvas), averaged over the classes
    area, cls = bank.column("area").astype(float), bank.column("class_id")
    canvas = 96 * 128
    mean_area = np.mean([np.minimum(area[cls == c], canvas).mean() for c in classes])
    wanted = max(OBJECTS_PER_IMAGE, PASTED_SHARE * canvas / mean_area)
    assert d.args["sample_ratio"] == pytest.approx(min(1, wanted / missing.mean()), abs=1e-3)
    objects = np.mean([math.ceil(d.args["sample_ratio"] * m - 1e-9) for m in missing])
    assert d.figures["objects_per_image"] == pytest.approx(objects, abs=1e-3)
    assert objects >= OBJECTS_PER_IMAGE - 0.5
    resize = min(1.0, max(0.1, math.sqrt(PASTED_SHARE * canvas / (objects * mean_area))))
    assert d.args["resize_ratio"] == pytest.approx(resize, abs=1e-3)
    assert d.args["per_image"] is True and set(d.source.values()) == {"rule"}
    assert d.figures["pasted_share"] == pytest.approx(min(PASTED_SHARE, objects * mean_area / canvas), rel=0.02)


def test_many_tail_classes_get_a_smaller_dose_than_few(many_work):
    from lt_data.buckets import load_buckets

    tail = load_buckets(many_work)["tail"]
    assert len(tail) >= 30
    many, few = bank_dose(many_work, crop_size=(96, 128)), bank_dose(many_work, crop_size=(96, 128), tail=tail[:7])
    assert few.figures["tail_classes"] == 7 and many.figures["tail_classes"] >= 28  # with objects in the bank
    assert many.args["sample_ratio"] < few.args["sample_ratio"]
    # the old fixed default (sample 1, resize 1) pastes every missing class: more objects, more pixels
    old = bank_dose(many_work, crop_size=(96, 128), explicit={"sample_ratio": 1.0, "resize_ratio": 1.0})
    assert old.figures["objects_per_image"] > 1.5 * many.figures["objects_per_image"]
    assert old.figures["pasted_share"] > 1.5 * many.figures["pasted_share"]
    assert many.figures["pasted_share"] <= PASTED_SHARE * 1.01 < old.figures["pasted_share"]


def test_camvid_keeps_aucseg_planner(camvid_stores):
    """CamVid's 5 tail classes: an image lacks ~1 of them, so the rule keeps sample 1 and full size."""
    from lt_data.buckets import load_buckets

    assert load_buckets(camvid_stores)["tail"] == [2, 6, 7, 9, 10]
    d = bank_dose(camvid_stores, crop_size=(240, 320))
    assert d.args == {"sample_ratio": 1.0, "resize_ratio": 1.0, "per_image": True}


def test_cutmix_probability_from_the_level_boxes(many_work):
    from lt_data.cutmix import TailCutmix

    d = cutmix_dose(many_work, crop_size=(96, 128))
    cm = TailCutmix.open(many_work / "cutmix.zarr")
    # independent: level 1 box areas over the canvas, shrunk to fit, averaged per class then over classes
    per_class = []
    for c in cm.classes:
        if not cm.count(c):
            continue
        b = cm.boxes(c)[:, 1].astype(float)
        h, w = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
        fit = np.minimum(1, np.minimum(96 / h, 128 / w))
        per_class.append(np.mean(h * w * fit ** 2) / (96 * 128))
    assert d.figures["share_per_level"][1] == pytest.approx(np.mean(per_class), rel=1e-3)
    assert 0 < d.args["prob"] <= 1
    assert d.figures["pasted_share"] == pytest.approx(min(1, d.args["prob"] * d.figures["share_per_paste"]), rel=1e-2)


# ---- the measured share ------------------------------------------------------------------------------

def test_pasted_share_equals_a_count_of_changed_label_pixels():
    b, h, w = 2, 20, 24
    labels = torch.zeros((b, h, w), dtype=torch.int64)
    labels[1, :4] = 255                                    # an ignore band, pasted over in part
    masks = torch.zeros((3, 8, 8), dtype=torch.bool)
    masks[0, 1:7, 1:7] = True
    masks[1, :, :5] = True
    masks[2, 2:8, 2:8] = True
    crop_labels = torch.full((3, 8, 8), 5, dtype=torch.int64)
    crop_labels[1] = 7
    crop_labels[2, 2:4] = 255                              # a cutmix crop may carry ignore labels
    plan = PastePlan(torch.zeros((3, 3, 8, 8), dtype=torch.uint8), crop_labels, masks,
                     torch.tensor([0, 0, 1]), torch.tensor([[2, 2], [4, 20], [-2, 3]]))  # overlap, right edge, top edge
    images = torch.zeros((b, 3, h, w), dtype=torch.uint8)
    _, after = paste(images, labels, plan)
    changed = (after != labels) & (after != 255)           # every pasted class differs from the 0 below
    expected = changed.sum().item() / (after != 255).sum().item()
    fig = paste_figures(after, plan)
    assert float(fig["pasted_share"]) == pytest.approx(expected, abs=1e-7)
    assert fig["pasted_objects"] == 1.5
    for strategy in ("loop", "scatter"):
        assert torch.equal(pasted_mask(plan, (b, h, w), strategy=strategy), changed)


def test_apply_paste_figures_on_real_bank_batches(tiny_work):
    """Per-image missing classes are pasted into images that lack them, so every pixel a paste labels
    changes: the share equals the changed labelled pixels over the labelled pixels after pasting."""
    from lt_data.augment import work_planner
    from lt_data.dataset import SegmentationDataset, apply_paste, make_loader

    work, _ = tiny_work
    planner = work_planner("bank", work, sample_ratio=1.0, resize_ratio=1.0, per_image=True)
    loader = make_loader(SegmentationDataset(work, crop_size=(48, 64)), batch_size=4, planner=planner, seed=3)
    seen = 0
    for batch in loader:
        before = batch["labels"].clone()
        _, after = apply_paste(batch, figures=True)
        changed = ((after != before) & (after != 255)).sum().item() / (after != 255).sum().item()
        assert float(batch["pasted_share"]) == pytest.approx(changed, abs=1e-7)
        assert batch["pasted_objects"] == len(batch["plan"]) / 4
        seen += len(batch["plan"])
    assert seen > 0


# ---- training records and logs the dose ------------------------------------------------------------

def _train(work, run, **kw):
    from lt_data.train import TrainConfig, train

    cfg = dict(work=str(work), run=str(run), model="deeplabv3plus_small", model_args={"base": 8}, loss="ce",
               paste="bank", crop_size=(96, 128), batch_size=4, steps=6, warmup=1, workers=0, log_every=2,
               checkpoint_every=100, threads=1)
    cfg.update(kw)
    train(TrainConfig(**cfg), progress=False)
    return [json.loads(line) for line in (Path(run) / "log.jsonl").read_text().splitlines()]


def test_default_run_on_many_tail_classes_logs_a_moderate_dose(many_work, tmp_path, capsys):
    log = _train(many_work, tmp_path / "run")
    shares = [r["pasted_share"] for r in log if "pasted_share" in r]
    assert len(shares) == 3 and all("pasted_objects" in r for r in log if "loss" in r)
    assert 0.002 <= np.mean(shares) <= 0.15
    record = json.loads((tmp_path / "run" / "config.json").read_text())
    assert set(record["paste"]["args"]) == {"sample_ratio", "resize_ratio", "per_image"}
    assert set(record["paste"]["source"].values()) == {"rule"}
    assert record["paste"]["args"]["sample_ratio"] < 0.5
    assert "warning" not in capsys.readouterr().err


def test_an_overdose_is_warned_about_in_one_line(many_work, tmp_path, capsys):
    log = _train(many_work, tmp_path / "run", steps=2, paste_args={"sample_ratio": 1.0, "resize_ratio": 4.0})
    assert log[-1]["pasted_share"] > WARN_SHARE
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning")]
    assert len(err) == 1 and "sample_ratio and resize_ratio" in err[0] and "paste_args" in err[0]
    record = json.loads((tmp_path / "run" / "config.json").read_text())
    assert record["paste"]["source"]["resize_ratio"] == "explicit"


def test_dose_warning_threshold(many_work):
    d = bank_dose(many_work)
    assert dose_warning(d, WARN_SHARE) is None and dose_warning(d, WARN_SHARE + 0.01).startswith("warning: ")


def test_resume_refuses_another_dose(many_work, tmp_path):
    from lt_data.errors import ArtifactError

    _train(many_work, tmp_path / "run", steps=2)
    _train(many_work, tmp_path / "run", steps=4)  # same dose: resumes
    with pytest.raises(ArtifactError, match="paste"):
        _train(many_work, tmp_path / "run", steps=6, paste_args={"resize_ratio": 0.5})


def test_preview_prints_the_dose_and_the_measured_share(many_work, tmp_path):
    from lt_data.preview import write_preview

    lines: list[str] = []
    write_preview(many_work, tmp_path / "p.png", batches=1, batch_size=2, echo=lines.append)
    assert lines[0].startswith("bank paste dose: sample_ratio=") and "(rule)" in lines[0]
    assert "pasted_share" in lines[1] and len(lines) == 2
    lines.clear()
    write_preview(many_work, tmp_path / "p.png", batches=1, batch_size=2, echo=lines.append,
                  paste_args={"sample_ratio": 1.0, "resize_ratio": 4.0})
    assert lines[-1].startswith("warning: ")


def test_a_bank_of_an_earlier_tail_is_refused_in_one_line(tiny_copy, capsys):
    """After `buckets --refine` (or any rewrite) moves a class out of the tail, training and preview
    refuse the bank built for the old tail instead of pasting the old classes."""
    from lt_data.buckets import load_buckets
    from lt_data.dose import open_store
    from lt_data.errors import ArtifactError
    from lt_data.io import atomic_write_json

    open_store("bank", tiny_copy)  # as built: fine
    buckets = load_buckets(tiny_copy)
    moved = buckets["tail"][0]
    buckets["tail"] = buckets["tail"][1:]
    buckets["middle"] = sorted(buckets["middle"] + [moved])
    atomic_write_json(tiny_copy / "buckets.json", buckets)
    with pytest.raises(ArtifactError, match=r"bank.zarr: built for the tail classes .* is now .*lt-data bank build"):
        open_store("bank", tiny_copy)
