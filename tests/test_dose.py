"""The paste dose: derived from the data, recorded and logged by the trainer, measured honestly, warned about."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from lt_data.training.paste.dose import OBJECTS_PER_IMAGE, PASTED_SHARE, WARN_SHARE, bank_dose, cutmix_dose, dose_warning, preset_for
from lt_data.training.paste.kernels import PastePlan, paste, paste_figures, pasted_mask


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
    from lt_data.stores.bank import build_bank
    from lt_data.data.buckets import write_buckets
    from lt_data.data.layouts import get_layout
    from lt_data.data.stats import run_stats

    run_stats(get_layout("cityscapes", cityscapes_fixture_root, "val"), tmp_path, workers=1, progress=False)
    write_buckets(tmp_path)
    build_bank(tmp_path, min_area=4, progress=False, workers=1)
    d = bank_dose(tmp_path, crop_size=(128, 256))
    assert d.args == {"sample_ratio": 1.0, "resize_ratio": 1.0, "per_image": True}
    assert set(d.source.values()) == {"preset:cityscapes"}
    d = bank_dose(tmp_path, {"resize_ratio": 0.5})
    assert d.args["resize_ratio"] == 0.5 and d.source["resize_ratio"] == "explicit"
    assert d.source["sample_ratio"] == "preset:cityscapes"


def _stats(work):
    from lt_data.data.stats import load_stats

    return load_stats(work, verify=False)


def test_rule_from_the_statistics(many_work):
    """Whole images (no crop): the rule's inputs come from the statistics, and the derived resize
    ratio is the one whose expected share is the target."""
    from lt_data.stores.bank import TailBank
    from lt_data.data.buckets import load_buckets

    d = bank_dose(many_work)
    tail = load_buckets(many_work).tail
    bank = TailBank.open(many_work / "bank.zarr")
    classes = [c for c in tail if bank.count(c) > 0]
    assert len(classes) >= 20
    counts = _stats(many_work).counts
    missing = (counts[:, classes] == 0).sum(axis=1)  # independent: per image, tail classes it lacks
    assert d.figures["missing_per_image"] == pytest.approx(missing.mean(), abs=1e-3)
    assert d.figures["crops"] == len(counts)
    # independent: each tail class's mean object area (capped at the canvas), averaged over the classes
    area, cls = bank.column("area").astype(float), bank.column("class_id")
    h, w = d.figures["canvas"]
    assert (h, w) == (120, 160)
    canvas = h * w
    mean_area = np.mean([np.minimum(area[cls == c], canvas).mean() for c in classes])
    wanted = max(OBJECTS_PER_IMAGE, PASTED_SHARE * canvas / mean_area)
    assert d.args["sample_ratio"] == pytest.approx(min(1, wanted / missing.mean()), abs=1e-3)
    objects = np.mean([math.ceil(d.args["sample_ratio"] * m) for m in missing])
    assert d.figures["objects_per_image"] == pytest.approx(objects, abs=1e-3)
    assert objects >= OBJECTS_PER_IMAGE - 0.5
    assert d.args["per_image"] is True and set(d.source.values()) == {"rule"}
    # full size covers less than the target here, so the objects are not shrunk
    assert d.args["resize_ratio"] == 1.0 and d.figures["pasted_share"] < PASTED_SHARE
    # every missing class (an explicit sample ratio): full size covers more, and the derived resize
    # ratio is the one whose expected share is the target; the share grows with the ratio around it
    e = bank_dose(many_work, {"sample_ratio": 1.0}, crop_size=(48, 64))
    assert e.source == {"sample_ratio": "explicit", "resize_ratio": "rule", "per_image": "rule"}
    assert 0.1 < e.args["resize_ratio"] < 1 and e.figures["pasted_share"] == pytest.approx(PASTED_SHARE, rel=0.02)
    lo = bank_dose(many_work, {"sample_ratio": 1.0, "resize_ratio": e.args["resize_ratio"] * 0.8}, crop_size=(48, 64))
    hi = bank_dose(many_work, {"sample_ratio": 1.0, "resize_ratio": e.args["resize_ratio"] * 1.2}, crop_size=(48, 64))
    assert lo.figures["pasted_share"] < PASTED_SHARE < hi.figures["pasted_share"]


def _measured(work, dose_args: dict, mode: str = "bank", *, crop, scale=(0.5, 1.5), epochs=3, batch_size=4):
    """Mean pasted_share and pasted_objects over ``epochs`` of the training loader, as the trainer logs them."""
    from lt_data.training.paste.planners import work_planner
    from lt_data.training.dataset import SegmentationDataset, apply_paste, make_loader

    planner = work_planner(mode, work, crop_size=crop, scale_range=scale, **dose_args)
    loader = make_loader(SegmentationDataset(work, crop_size=crop, scale_range=scale), batch_size=batch_size,
                         planner=planner, seed=1)
    shares, objects = [], []
    for _ in range(epochs):
        for batch in loader:
            apply_paste(batch, figures=True)
            shares.append(float(batch["pasted_share"]))
            objects.append(batch["pasted_objects"])
    return planner.dose, float(np.mean(shares)), float(np.mean(objects))


@pytest.mark.parametrize("dose_args", [{}, {"sample_ratio": 1.0, "resize_ratio": 1.0}, {"resize_ratio": (0.3, 0.9)}],
                         ids=["derived", "full", "range"])
def test_expected_share_is_what_training_measures(many_work, dose_args):
    """The dose is computed on the crops training draws (a crop lacks more tail classes than its
    image): the expected share and objects per image agree with what the loader's batches measure."""
    dose, share, objects = _measured(many_work, dose_args, crop=(64, 96))
    assert dose.figures["missing_per_image"] > bank_dose(many_work).figures["missing_per_image"] + 1  # crops lack more
    assert share == pytest.approx(dose.figures["pasted_share"], rel=0.2)
    assert objects == pytest.approx(dose.figures["objects_per_image"], rel=0.1)
    if not dose_args:  # the target, or less when even full-size objects cover less
        if dose.args["resize_ratio"] < 1:
            assert dose.figures["pasted_share"] == pytest.approx(PASTED_SHARE, rel=0.02)
        else:
            assert dose.figures["pasted_share"] <= PASTED_SHARE * 1.01


def test_expected_cutmix_share_is_what_training_measures(many_work):
    dose, share, objects = _measured(many_work, {}, "cutmix", crop=(64, 96))
    assert objects == 1.0
    assert share == pytest.approx(dose.figures["pasted_share"], rel=0.2)


def test_crop_draws_are_fixed_by_the_work_directory(many_work):
    """The dose's crops do not depend on the training seed or on who asks: one draw per version."""
    from lt_data.training.paste.dose import crop_draws

    a = crop_draws(many_work, (64, 96), (0.5, 1.5))
    assert a is crop_draws(many_work, (64, 96), (0.5, 1.5))  # read once
    b = crop_draws(many_work, (64, 96), (1.0, 1.0))
    assert a.present.shape == b.present.shape and len(a) == 4 * 40  # 40 images, 4 crops each
    assert (a.pixels == 64 * 96).all() and (a.labelled <= a.pixels).all()
    whole = crop_draws(many_work)
    assert (whole.present == (_stats(many_work).counts > 0)).all()


def test_many_tail_classes_get_a_smaller_dose_than_few(many_work):
    from lt_data.data.buckets import load_buckets

    tail = load_buckets(many_work).tail
    assert len(tail) >= 30
    many, few = bank_dose(many_work, crop_size=(48, 64)), bank_dose(many_work, {"tail": tail[:7]}, crop_size=(48, 64))
    assert few.figures["tail_classes"] == 7 and many.figures["tail_classes"] >= 28  # with objects in the bank
    assert many.args["sample_ratio"] < few.args["sample_ratio"]
    # the old fixed default (sample 1, resize 1) pastes every missing class: more objects, more pixels
    old = bank_dose(many_work, {"sample_ratio": 1.0, "resize_ratio": 1.0}, crop_size=(48, 64))
    assert old.figures["objects_per_image"] > 1.5 * many.figures["objects_per_image"]
    assert old.figures["pasted_share"] > 1.5 * many.figures["pasted_share"]
    assert many.figures["pasted_share"] <= PASTED_SHARE * 1.01 < old.figures["pasted_share"]


def test_camvid_keeps_aucseg_planner(camvid_stores):
    """CamVid's 5 tail classes: a crop lacks ~2 of them, so the rule keeps sample 1 and full size,
    and the share it expects is the share training's batches measure."""
    from lt_data.data.buckets import load_buckets

    assert load_buckets(camvid_stores).tail == [2, 6, 7, 9, 10]
    d = bank_dose(camvid_stores, crop_size=(240, 320))
    assert d.args == {"sample_ratio": 1.0, "resize_ratio": 1.0, "per_image": True}
    dose, share, objects = _measured(camvid_stores, {}, crop=(176, 240), epochs=1, batch_size=8)
    assert dose.args == d.args and share == pytest.approx(dose.figures["pasted_share"], rel=0.2)
    assert objects == pytest.approx(dose.figures["objects_per_image"], rel=0.1)


def test_cutmix_probability_from_the_level_boxes(many_work):
    from lt_data.stores.cutmix import TailCutmix

    d = cutmix_dose(many_work)  # whole images: the canvas is the median image, 120x160
    cm = TailCutmix.open(many_work / "cutmix.zarr")
    # independent: level 1 box areas over the canvas, shrunk to fit, averaged per class then over classes
    per_class = []
    for c in cm.classes:
        if not cm.count(c):
            continue
        b = cm.boxes(c)[:, 1].astype(float)
        h, w = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
        fit = np.minimum(1, np.minimum(120 / h, 160 / w))
        per_class.append(np.mean(h * w * fit ** 2) / (120 * 160))
    assert d.figures["share_per_level"][1] == pytest.approx(np.mean(per_class), rel=1e-3)
    assert 0 < d.args["prob"] <= 1
    # one paste per image covers its area once; the share is of the labelled pixels after the paste
    stats = _stats(many_work)
    labelled = stats.counts.sum(axis=1).astype(float)
    pixels = labelled + stats.ignored
    covered = d.args["prob"] * np.minimum(d.figures["share_per_paste"] * 120 * 160, pixels)
    share = covered.sum() / (labelled + covered * (1 - labelled / pixels)).sum()
    assert d.figures["pasted_share"] == pytest.approx(share, rel=1e-3)


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
    from lt_data.training.paste.planners import work_planner
    from lt_data.training.dataset import SegmentationDataset, apply_paste, make_loader

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
    from lt_data.training.train import TrainConfig, train

    cfg = dict(work=str(work), run=str(run), model="deeplabv3plus_small", model_args={"base": 8}, loss="ce",
               paste="bank", crop_size=(96, 128), batch_size=4, steps=6, warmup=1, workers=0, log_every=2,
               checkpoint_every=100, threads=1)
    cfg.update(kw)
    train(TrainConfig(**cfg), progress=False)
    return [json.loads(line) for line in (Path(run) / "log.jsonl").read_text().splitlines()]


def test_default_run_on_many_tail_classes_logs_a_moderate_dose(many_work, tmp_path, capsys):
    log = _train(many_work, tmp_path / "run", crop_size=(48, 64))
    shares = [r["pasted_share"] for r in log if "pasted_share" in r]
    assert len(shares) == 3 and all("pasted_objects" in r for r in log if "loss" in r)
    assert 0.002 <= np.mean(shares) <= 1.5 * PASTED_SHARE < WARN_SHARE * 1.5
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
    from lt_data.core.errors import ArtifactError

    _train(many_work, tmp_path / "run", steps=2)
    _train(many_work, tmp_path / "run", steps=4)  # same dose: resumes
    with pytest.raises(ArtifactError, match="paste"):
        _train(many_work, tmp_path / "run", steps=6, paste_args={"resize_ratio": 0.5})


def test_preview_prints_the_dose_and_the_measured_share(many_work, tmp_path):
    from lt_data.views.preview import write_preview

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
    from lt_data.data.buckets import load_buckets
    from lt_data.stores import open_store
    from lt_data.core.errors import ArtifactError
    from lt_data.core.io import atomic_write_json

    open_store("bank", tiny_copy)  # as built: fine
    buckets = load_buckets(tiny_copy).to_json()  # buckets.json, edited by hand below
    moved = buckets["tail"][0]
    buckets["tail"] = buckets["tail"][1:]
    buckets["middle"] = sorted(buckets["middle"] + [moved])
    atomic_write_json(tiny_copy / "buckets.json", buckets)
    with pytest.raises(ArtifactError, match=r"bank.zarr: built for the tail classes .* is now .*lt-data bank build"):
        open_store("bank", tiny_copy)


def test_expected_share_at_half_the_images_is_what_training_measures(many_work):
    dose, share, objects = _measured(many_work, {"prob": 0.5}, "cutmix", crop=(64, 96), epochs=6)
    assert objects == pytest.approx(0.5, abs=0.1)
    assert share == pytest.approx(dose.figures["pasted_share"], rel=0.2)
    dose, share, _ = _measured(many_work, {"sample_ratio": 1.0, "receive_prob": 0.5}, crop=(64, 96), epochs=6)
    assert share == pytest.approx(dose.figures["pasted_share"], rel=0.2)


def test_a_mistyped_planner_option_names_the_valid_ones(many_work):
    from lt_data.training.paste.planners import work_planner
    from lt_data.core.errors import LtDataError

    with pytest.raises(LtDataError, match=r"unknown 'sample_ratoi'; the bank planner takes sample_ratio, resize_ratio"):
        work_planner("bank", many_work, sample_ratoi=0.5)
    with pytest.raises(LtDataError, match=r"unknown 'probability'; the cutmix planner takes prob, levels, per_image, tail"):
        work_planner("cutmix", many_work, probability=0.5)


def test_planners_read_as_what_they_paste(many_work):
    from lt_data.training.paste.planners import work_planner

    bank = work_planner("bank", many_work, sample_ratio=0.25, resize_ratio=0.5)
    text = repr(bank)
    assert text.startswith("MemoryBankPaste(") and "bank.zarr" in text and "sample_ratio=0.25" in text
    assert "resize_ratio=0.5" in text and f"tail={bank.tail.tolist()}" in text
    assert repr(work_planner("cutmix", many_work, prob=0.5)).startswith("TailCutmixPaste(")
    assert "prob=0.5" in repr(work_planner("cutmix", many_work, prob=0.5))


def test_paste_args_are_the_planners_keywords_and_the_configs_check():
    import inspect

    from lt_data.training.config import TrainConfig, option_help

    help_line = next(line for line in option_help().splitlines() if line.startswith("paste_args "))
    from lt_data.core.errors import LtDataError
    from lt_data.training.paste import BankPasteArgs, CutmixPasteArgs, MemoryBankPaste, TailCutmixPaste

    for args, planner in ((BankPasteArgs, MemoryBankPaste), (CutmixPasteArgs, TailCutmixPaste)):
        params = inspect.signature(planner.__init__).parameters
        keyword_only = [n for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY]
        assert sorted(args.planner_keys()) == sorted(keyword_only) and "tail" in params
    assert set(BankPasteArgs.keys()) == {"sample_ratio", "resize_ratio", "per_image", "max_per_image", "receive_prob",
                                         "placement", "tail"}  # prior: Python callers only, not JSON
    assert "placement (uniform | prior), tail; cutmix: prob, levels, per_image, tail;" in help_line
    with pytest.raises(LtDataError, match=r"unknown 'resize'; the bank planner takes sample_ratio, .*, tail$"):
        TrainConfig.from_dict({"work": "w", "paste": "bank", "paste_args": {"resize": 0.5}})
    cfg = TrainConfig.from_dict({"work": "w", "paste": "none", "paste_args": {"resize": 0.5}})  # no planner: not read
    assert cfg.paste_args == {"resize": 0.5}
    a = BankPasteArgs.from_dict({"tail": [], "resize_ratio": [0.5, 1]})
    assert a.tail is None and a.resize_ratio == (0.5, 1) and a.given() == {"resize_ratio": (0.5, 1)}
    assert a.with_defaults(resize_ratio=1.0, sample_ratio=0.2).given() == {"sample_ratio": 0.2, "resize_ratio": (0.5, 1)}


def test_typed_and_dict_options_give_the_same_planner(many_work):
    from lt_data.training.paste import BankPasteArgs, CutmixPasteArgs, work_planner

    tail = sorted(work_planner("bank", many_work, derive=False).tail.tolist())[:5]
    typed = work_planner("bank", many_work, BankPasteArgs(sample_ratio=0.25, tail=tuple(tail)), crop_size=(48, 64))
    plain = work_planner("bank", many_work, {"sample_ratio": 0.25, "tail": tail}, crop_size=(48, 64))
    assert repr(typed) == repr(plain) and typed.tail.tolist() == tail
    assert typed.dose.args == plain.dose.args and typed.dose.source["sample_ratio"] == "explicit"
    assert typed.dose.source["resize_ratio"] == "rule" and "tail" not in typed.dose.args  # tail: a field, not a key
    cut = work_planner("cutmix", many_work, CutmixPasteArgs(levels=(1, 2)), prob=0.5)  # keywords set over args
    assert cut.levels == [1, 2] and cut.prob == 0.5 and cut.dose.args == {"prob": 0.5, "levels": (1, 2)}


def test_every_default_rescale_is_the_one_the_dose_assumes():
    """The dose is computed for TRAIN_SCALE_RANGE; a Dataset built with its defaults (the README's loop)
    must draw the same rescale, or its measured share drifts from the expected one."""
    import inspect

    from lt_data.config import TrainConfig
    from lt_data.data.geometry import TRAIN_SCALE_RANGE, draw_geometry, train_geometry
    from lt_data.dataset import SegmentationDataset
    from lt_data.paste import bank_dose, crop_draws, cutmix_dose, work_planner

    assert TRAIN_SCALE_RANGE == (0.5, 1.5) and TrainConfig.scale_range == TRAIN_SCALE_RANGE
    for f in (SegmentationDataset.__init__, draw_geometry, train_geometry, work_planner, bank_dose, cutmix_dose,
              crop_draws):
        assert inspect.signature(f).parameters["scale_range"].default == TRAIN_SCALE_RANGE, f.__qualname__
