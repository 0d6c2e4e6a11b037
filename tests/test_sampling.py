"""Rare class sampling and repeat factors: the published formulas, reproducible orders, disjoint ranks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from typer.testing import CliRunner

from lt_data.entry.cli import app
from lt_data.training.dataset import SegmentationDataset, make_loader
from lt_data.data.sampling import RareClassSampler, RepeatFactorSampler, epoch_exposure, repeat_factors

CHI2_999 = {10: 29.588}  # chi-square 99.9% quantile for 10 degrees of freedom (tables)


def _counts(work):
    return np.load(work / "pixel_counts.npy")


def test_rcs_class_frequencies_follow_daformer(camvid_work):
    counts = _counts(camvid_work)
    n = 200_000
    sampler = RareClassSampler(counts, temperature=0.05, num_samples=n, seed=3, rank=0, world_size=1)
    idx, cls = sampler.epoch_indices()
    # independent: P(c) = exp((1 - f_c)/T) / sum, f_c the pixel share of the classes present
    totals = [int(v) for v in counts.sum(axis=0)]
    total = sum(totals)
    weights = {c: math.exp((1 - t / total) / 0.05) for c, t in enumerate(totals) if t > 0}
    z = sum(weights.values())
    observed = np.bincount(cls, minlength=counts.shape[1])
    chi2 = sum((observed[c] - n * w / z) ** 2 / (n * w / z) for c, w in weights.items())
    assert len(weights) == 11 and chi2 < CHI2_999[10], (chi2, observed)
    # every drawn image holds more than min_pixels of its class (any pixel, for a class no image holds
    # that much of: none in real CamVid)
    enough = (counts > 3000).any(axis=0)
    assert np.where(enough[cls], counts[idx, cls] > 3000, counts[idx, cls] > 0).all() and enough.sum() >= 8


def test_rcs_defaults_are_daformers(camvid_work):
    s = RareClassSampler.from_work(camvid_work)
    assert (s.temperature, s.min_pixels, s.min_crop_ratio) == (0.01, 3000, 0.5)
    assert len(s) == len(_counts(camvid_work))


@pytest.mark.parametrize("by", ["images", "pixels"])
def test_rfs_repeat_factors_equal_the_formula(camvid_work, by):
    counts = _counts(camvid_work)
    t = 0.9 if by == "images" else 0.02
    n, k = counts.shape
    if by == "images":
        f = [sum(1 for i in range(n) if counts[i, c] > 0) / n for c in range(k)]
    else:
        f = [counts[:, c].sum() / counts.sum() for c in range(k)]
    r_c = [max(1.0, math.sqrt(t / fc)) if fc > 0 else 1.0 for fc in f]
    want = [max(r_c[c] for c in range(k) if counts[i, c] > 0) for i in range(n)]
    got = repeat_factors(counts, t, by)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert got.max() > 1, "the threshold makes some images repeat"
    s = RepeatFactorSampler(counts, threshold=t, by=by, seed=0, rank=0, world_size=1)
    reps = np.mean([len(s.epoch_indices()[0]) for s.epoch in range(20)])
    assert abs(reps - sum(want)) < 0.05 * sum(want), "stochastic rounding keeps the expected length"


@pytest.mark.parametrize("make", [lambda c, r: RareClassSampler(c, seed=1, rank=r, world_size=2),
                                  lambda c, r: RepeatFactorSampler(c, threshold=0.9, seed=1, rank=r, world_size=2),
                                  lambda c, r: RareClassSampler(c, seed=1, rank=r, world_size=3)],
                         ids=["rcs", "rfs", "rcs-3"])
def test_ranks_never_share_an_index_within_an_epoch(camvid_work, make):
    counts = _counts(camvid_work)
    world = 3 if make(counts, 0).world_size == 3 else 2
    for epoch in range(3):
        shares = []
        for r in range(world):
            s = make(counts, r)
            s.set_epoch(epoch)
            shares.append(s.epoch_indices()[0])
        assert len({len(x) for x in shares}) == 1, "every rank runs the same number of steps"
        sets = [set(x.tolist()) for x in shares]
        for a in range(world):
            for b in range(a + 1, world):
                assert not sets[a] & sets[b]
        one = make(counts, 0)
        one.world_size = 1
        one.set_epoch(epoch)
        assert set().union(*sets) == set(one.epoch_indices()[0].tolist()), "the ranks cover the epoch's draws"


def test_same_seed_same_order_with_0_and_2_workers(tiny_work):
    work = tiny_work[0]
    orders = []
    for workers in (0, 2):
        ds = SegmentationDataset(work, crop_size=(48, 64))
        loader = make_loader(ds, batch_size=2, num_workers=workers, seed=5, sampler="rcs",
                             sampler_args={"min_pixels": 10, "focus_crop": True})
        orders.append([(b["indices"].tolist(), b["labels"].sum().item()) for epoch in range(2) for b in loader])
    assert orders[0] == orders[1]
    assert orders[0][:4] != orders[0][4:8], "epochs differ"


def test_focus_crop_holds_the_drawn_class(tiny_work):
    work = tiny_work[0]
    counts = _counts(work)
    c = int(np.argmin(np.where(counts.sum(0) > 0, counts.sum(0), np.inf)))  # the rarest class present
    i = int(np.argmax(counts[:, c]))
    ds = SegmentationDataset(work, crop_size=(24, 32), scale_range=(1.0, 1.0))
    ds.focus_pixels = 0
    hits_focus = sum(int((ds[(i, c)]["label"] == c).sum() > 0) for ds.epoch in range(30))
    hits_plain = sum(int((ds[i]["label"] == c).sum() > 0) for ds.epoch in range(30))
    assert hits_focus >= hits_plain and hits_focus >= 25, (hits_focus, hits_plain)


def test_uniform_exposure_is_the_split_and_paste_adds_tail_pixels(tiny_work):
    from lt_data.training.paste.planners import work_planner

    work = tiny_work[0]
    counts = _counts(work)
    e = epoch_exposure(work)
    np.testing.assert_array_equal(e["pixels"], counts.sum(axis=0))
    np.testing.assert_array_equal(e["images"], (counts > 0).sum(axis=0))
    planner = work_planner("bank", work)
    p = epoch_exposure(work, planner=planner, batch_size=2)
    tail = planner.tail
    assert p["pasted_objects"] > 0 and p["pixels"][tail].sum() > e["pixels"][tail].sum()
    assert (p["pixels"] >= e["pixels"]).all()


def test_train_with_a_sampler_and_its_errors(tiny_copy, tmp_path):
    ok = CliRunner().invoke(app, ["train", "--work", str(tiny_copy), "--sampler", "rcs", "--steps", "2", "-q",
                                  "--set", "batch_size=2", "--set", "workers=0", "--set", "crop_size=[48,64]",
                                  "--set", 'sampler_args={"min_pixels": 10, "focus_crop": true}'])
    assert ok.exit_code == 0, ok.output
    assert (tiny_copy / "runs" / "deeplabv3plus_small-ce-none-rcs" / "checkpoint.pt").is_file()
    bad = CliRunner().invoke(app, ["train", "--work", str(tiny_copy), "--sampler", "nope", "--steps", "1", "-q"])
    assert bad.exit_code == 2 and "'nope' is not one of 'uniform', 'rcs', 'rfs'" in bad.output
    bad = CliRunner().invoke(app, ["train", "--work", str(tiny_copy), "--sampler", "rfs", "--steps", "1", "-q",
                                   "--set", 'sampler_args={"by": "boxes"}'])
    assert bad.exit_code == 2 and "by must be 'images' or 'pixels'" in bad.output


def test_report_shows_what_training_sees(work_copy):
    from lt_data.data.buckets import load_buckets, write_buckets
    from lt_data.views.report import exposure_rows

    write_buckets(work_copy)
    buckets = load_buckets(work_copy)
    rows = exposure_rows(work_copy, buckets)
    counts = _counts(work_copy)
    total = counts.sum()
    uniform = rows[0]
    for b in ("head", "middle", "tail"):
        assert abs(uniform[b] - counts[:, buckets.ids(b)].sum() / total) < 1e-12
    rcs = next(r for r in rows if "rare class" in r["method"])
    assert rcs["tail"] > uniform["tail"], "rare class sampling shows the tail more"
    assert all(abs(r["head"] + r["middle"] + r["tail"] - 1) < 1e-9 for r in rows)
