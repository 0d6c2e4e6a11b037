"""Where a class sits in the frame (lt_data.data.spatial) and the bank paste that places objects there."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lt_data.training.paste.planners import MemoryBankPaste, work_planner
from lt_data.core.errors import LtDataError
from lt_data.data.spatial import cell_shares, choose_images, draw_centres, spatial_prior


def test_spatial_prior_matches_block_means_on_camvid(camvid_work):
    """CamVid's 360x480 frames split into 8x8 blocks of 45x60 pixels: the prior is, per class, the sum
    over the images read of each block's class share, each image normalised, then normalised."""
    from lt_data.data.stats import load_stats, open_layout

    prior = spatial_prior(camvid_work, grid=8, per_class=4)
    stats, layout = load_stats(camvid_work), open_layout(camvid_work)
    k = stats.table.num_classes
    chosen = choose_images(stats.counts, 4)
    for c in range(k):  # every class is read from at least min(4, images holding it) images
        assert len(set(chosen) & set(np.flatnonzero(stats.counts[:, c] > 0))) >= min(4, (stats.counts[:, c] > 0).sum())
    expected = np.zeros((k, 8, 8))
    for i in chosen:
        lab = layout.read_label(stats.samples[i])
        for c in np.flatnonzero(stats.counts[i] > 0):
            block = (lab == c).reshape(8, 45, 8, 60).mean(axis=(1, 3))
            expected[c] += block / block.sum()
    expected /= expected.sum(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(prior.density, expected, atol=1e-12)
    names = list(stats.table.names)
    rows = prior.rows()
    assert rows[names.index("Sky"), :4].sum() > 0.6 and rows[names.index("Road"), -4:].sum() > 0.6


def test_cell_shares_with_uneven_cells():
    lab = np.full((5, 7), 255, np.uint8)
    lab[0, 0] = 1
    lab[4, 6] = 0
    s = cell_shares(lab, 2, 2)  # rows 0-2 | 3-4, columns 0-3 | 4-6
    assert s[1, 0, 0] == pytest.approx(1 / 12) and s[0, 1, 1] == pytest.approx(1 / 6)
    assert s.sum() == pytest.approx(1 / 12 + 1 / 6)


def test_draw_centres_stays_in_the_drawn_cell():
    rng = np.random.default_rng(0)
    d = np.zeros((4, 4))
    d[3, 1] = 1.0
    pts = np.array([draw_centres(d, rng) for _ in range(200)])
    assert (pts[:, 0] >= 0.75).all() and (pts[:, 0] < 1).all() and (pts[:, 1] >= 0.25).all() and (pts[:, 1] < 0.5).all()
    pts = np.array([draw_centres(np.zeros((4, 4)), rng) for _ in range(400)])  # no data: uniform
    assert pts.min() < 0.1 and pts.max() > 0.9


def test_prior_placement_puts_objects_where_the_prior_says(tiny_copy):
    bank_planner = work_planner("bank", tiny_copy, derive=False)
    k = bank_planner.num_classes
    density = np.zeros((k, 4, 4))
    density[:, 3, 0] = 1.0  # every class only in the bottom-left cell
    planner = MemoryBankPaste(bank_planner.bank, bank_planner.tail, resize_ratio=0.2, per_image=True,
                              placement="prior", prior=density)
    labels = torch.zeros(4, 200, 240, dtype=torch.int64)
    plan = planner.plan(labels, np.random.default_rng(0))
    assert len(plan) > 0
    h, w = labels.shape[1:]
    for p in range(len(plan)):
        y, x = plan.offsets[p].tolist()
        nh, nw = plan.masks[p].shape
        mh, mw = int(plan.masks[p].any(1).nonzero().max()) + 1, int(plan.masks[p].any(0).nonzero().max()) + 1
        cy, cx = y + mh / 2, x + mw / 2  # the object's own box (the crop is padded to the plan's largest)
        assert 0.75 * h - mh / 2 - 1 <= cy <= h and 0 <= cx <= 0.5 * w + mw / 2 + 1, (cy, cx, mh, mw)
    uniform = MemoryBankPaste(bank_planner.bank, bank_planner.tail, resize_ratio=0.2, per_image=True)
    ys = [int(o[0]) for o in uniform.plan(labels, np.random.default_rng(1)).offsets]
    assert min(ys) < 0.6 * h  # uniform placement lands elsewhere too


def test_placement_options_are_checked(tiny_copy):
    with pytest.raises(LtDataError, match="placement"):
        work_planner("bank", tiny_copy, placement="top")
    bank = work_planner("bank", tiny_copy, derive=False).bank
    with pytest.raises(ValueError, match="prior densities"):
        MemoryBankPaste(bank, placement="prior")
    planner = work_planner("bank", tiny_copy, placement="prior")
    assert planner.prior.shape[0] == planner.num_classes and planner.dose.args["placement"] == "prior"
    assert "placement=prior (explicit)" in planner.dose.describe()


def test_cell_shares_of_an_image_smaller_than_the_grid_have_no_nan():
    s = cell_shares(np.zeros((8, 20), np.uint8), 3, 16)
    assert np.isfinite(s).all() and s[0].max() == 1.0 and s[1:].sum() == 0


def test_bad_priors_and_options_are_one_short_line(tiny_copy):
    bank = work_planner("bank", tiny_copy, derive=False).bank
    k = bank.table.num_classes
    for bad in (np.full((k, 2, 2), -1.0), np.full((k, 2, 2), np.nan)):
        with pytest.raises(ValueError, match="finite, non-negative"):
            MemoryBankPaste(bank, placement="prior", prior=bad)
    with pytest.raises(LtDataError) as e:
        work_planner("bank", tiny_copy, placement="prior", bogus=1)
    assert "bogus" in str(e.value) and "density" not in str(e.value) and "\n" not in str(e.value)
    assert len(str(e.value)) < 300
