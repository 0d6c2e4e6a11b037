"""The training Dataset and memory-bank pasting on CamVid train and its bank."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lt_data.training.paste.planners import MemoryBankPaste
from lt_data.training.dataset import SegmentationDataset, apply_paste, make_loader

TAIL = [2, 6, 7, 9, 10]  # Pole, SignSymbol, Fence, Pedestrian, Bicyclist


@pytest.fixture(scope="module")
def bank(camvid_stores):
    from lt_data.stores.bank import TailBank

    return TailBank.open(camvid_stores / "bank.zarr")


def _dataset(work, **kw):
    kw.setdefault("crop_size", (192, 256))
    kw.setdefault("scale_range", (0.5, 1.0))
    return SegmentationDataset(work, **kw)


def test_the_shared_stores_have_the_tail_these_tests_assume(camvid_stores):
    from lt_data.data.buckets import load_buckets

    assert load_buckets(camvid_stores).tail == TAIL and load_buckets(camvid_stores).head == [0, 1, 3]


def test_items_have_the_documented_types(camvid_stores):
    ds = _dataset(camvid_stores)
    it = ds[3]
    assert it["image"].dtype == torch.uint8 and it["image"].shape == (3, 192, 256)
    assert it["label"].dtype == torch.int64 and it["label"].shape == (192, 256)
    vals = set(it["label"].unique().tolist())
    assert vals <= set(range(11)) | {255}
    assert set(np.flatnonzero(it["present"].numpy()).tolist()) == vals - {255}
    ev = SegmentationDataset(camvid_stores, train=False)[3]
    assert ev["image"].shape == (3, 360, 480)


def test_geometry_keeps_image_and_label_aligned(camvid_stores):
    """Flip/scale/crop applied alike: with scale 1 and no crop, a flipped item is the mirrored original."""
    plain = SegmentationDataset(camvid_stores, train=False)[5]
    ds = SegmentationDataset(camvid_stores, scale_range=(1.0, 1.0), flip=1.0, crop_size=None)
    flipped = ds[5]
    assert torch.equal(flipped["label"], plain["label"].flip(-1))
    assert torch.equal(flipped["image"], plain["image"].flip(-1))


def _visible_masks(plan, b, h, w):
    """For each paste, the pixels where it is the last paste (what must show in the output)."""
    owner = -np.ones((b, h, w), np.int64)
    for p in range(len(plan)):
        i = int(plan.image_index[p])
        y, x = plan.offsets[p].tolist()
        m = plan.masks[p].numpy()
        ys, xs = np.nonzero(m)
        ys, xs = ys + y, xs + x
        ok = (ys >= 0) & (ys < h) & (xs >= 0) & (xs < w)
        owner[i, ys[ok], xs[ok]] = p
    return owner


@pytest.mark.parametrize("per_image", [False, True])
def test_memory_bank_paste_semantics(camvid_stores, bank, per_image):
    ds = _dataset(camvid_stores)
    planner = MemoryBankPaste(bank, TAIL, sample_ratio=1.0 if per_image else 0.6, resize_ratio=(0.5, 1.5),
                              per_image=per_image)
    pasted_any = False
    for start in range(0, 40, 4):
        items = [ds[i] for i in range(start, start + 4)]
        images = torch.stack([it["image"] for it in items])
        labels = torch.stack([it["label"] for it in items])
        plan = planner.plan(labels, np.random.default_rng(start))
        with_present = planner.plan(labels, np.random.default_rng(start),
                                    present=torch.stack([it["present"] for it in items]).numpy())
        assert torch.equal(plan.crop_labels, with_present.crop_labels)  # the items' counts agree
        drawn = [int(plan.crop_labels[p][plan.masks[p]][0]) for p in range(len(plan))]
        # the drawn classes are the missing tail classes, ceil(ratio × missing) of them
        present = [set(l.unique().tolist()) for l in labels]
        if per_image:
            for i in range(4):
                missing = [c for c in TAIL if c not in present[i] and bank.count(c) > 0]
                got = [c for c, j in zip(drawn, plan.image_index.tolist()) if j == i]
                assert sorted(got) == sorted(set(got)) and set(got) <= set(missing)
                assert len(got) == math.ceil(1.0 * len(missing))
        else:
            missing = [c for c in TAIL if not any(c in p for p in present) and bank.count(c) > 0]
            assert set(drawn) <= set(missing) and len(drawn) == math.ceil(0.6 * len(missing))
        out_img, out_lab = apply_paste({"images": images, "labels": labels, "plan": plan}, inplace=False)
        owner = _visible_masks(plan, *labels.shape)
        untouched = owner < 0
        # nothing outside the pasted masks changes
        assert torch.equal(out_lab[torch.from_numpy(untouched)], labels[torch.from_numpy(untouched)])
        assert torch.equal(out_img.permute(0, 2, 3, 1)[torch.from_numpy(untouched)],
                           images.permute(0, 2, 3, 1)[torch.from_numpy(untouched)])
        for p, c in enumerate(drawn):
            vis = owner == p
            # pasted label pixels equal the object mask; the class shows unless later pastes cover it
            assert (out_lab.numpy()[vis] == c).all()
            if vis.any():
                assert c in out_lab[int(plan.image_index[p])].unique().tolist()
                pasted_any = True
            # the pasted pixels are the object's pixels under its mask
            i = int(plan.image_index[p])
            y, x = plan.offsets[p].tolist()
            ys, xs = np.nonzero(vis[i])
            crop = plan.crops[p].numpy()
            np.testing.assert_array_equal(out_img[i].numpy()[:, ys, xs], crop[:, ys - y, xs - x])
    assert pasted_any


def _collect(loader, n=3):
    out = []
    for i, b in enumerate(loader):
        im, lab = apply_paste(b)
        out.append((b["indices"].clone(), im.clone(), lab.clone(), len(b["plan"])))
        if i + 1 == n:
            break
    return out


def test_same_seed_same_batches_and_workers_agree(camvid_stores, bank):
    planner = MemoryBankPaste(bank, TAIL, resize_ratio=(0.5, 1.0), per_image=True)
    ds = _dataset(camvid_stores)
    a = _collect(make_loader(ds, batch_size=4, num_workers=0, planner=planner, seed=7))
    b = _collect(make_loader(ds, batch_size=4, num_workers=0, planner=planner, seed=7))
    c = _collect(make_loader(ds, batch_size=4, num_workers=2, planner=planner, seed=7))
    d = _collect(make_loader(ds, batch_size=4, num_workers=0, planner=planner, seed=8))
    assert sum(x[3] for x in a) > 0
    for x, y, z in zip(a, b, c):
        for u, v, w in zip(x, y, z):
            if torch.is_tensor(u):
                assert torch.equal(u, v) and torch.equal(u, w)
    assert not all(torch.equal(x[2], y[2]) for x, y in zip(a, d))


def test_epochs_differ_and_replay(camvid_stores, bank):
    ds = _dataset(camvid_stores)
    loader = make_loader(ds, batch_size=4, seed=3)
    e0 = _first(loader)
    e1 = _first(loader)  # iterating advanced the epoch
    loader.set_epoch(0)
    assert torch.equal(_first(loader), e0) and not torch.equal(e0, e1)


def _first(loader):
    for b in loader:
        return b["labels"]


def test_aucseg_configuration_is_expressible(bank):
    from lt_data.core.classes import load_manifest

    cfg = load_manifest("aucseg")["ade20k"]
    p = MemoryBankPaste(bank, TAIL, sample_ratio=cfg["sample_ratio"], resize_ratio=cfg["resize_ratio"], per_image=True)
    assert p.sample_ratio == 0.05 and p.resize_ratio == 0.4
    with pytest.raises(ValueError):
        MemoryBankPaste(bank, TAIL, sample_ratio=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_paste_equals_cpu(camvid_stores, bank):
    ds = _dataset(camvid_stores)
    planner = MemoryBankPaste(bank, TAIL, per_image=True)
    for b in make_loader(ds, batch_size=4, planner=planner, seed=1):
        cpu = apply_paste(b, inplace=False)
        gpu = apply_paste(b, "cuda")
        assert torch.equal(cpu[1], gpu[1].cpu()) and torch.equal(cpu[0], gpu[0].cpu())
        break


def test_tail_cutmix_paste(camvid_stores):
    from lt_data.training.paste.planners import TailCutmixPaste
    from lt_data.stores.cutmix import TailCutmix

    cm = TailCutmix.open(camvid_stores / "cutmix.zarr")
    ds = _dataset(camvid_stores)
    items = [ds[i] for i in range(4)]
    images = torch.stack([it["image"] for it in items])
    labels = torch.stack([it["label"] for it in items])
    seen_levels = set()
    for seed in range(6):
        planner = TailCutmixPaste(cm, TAIL, prob=1.0)
        plan = planner.plan(labels, np.random.default_rng(seed))
        assert len(plan) == 4
        out_img, out_lab = apply_paste({"images": images, "labels": labels, "plan": plan}, inplace=False)
        for p in range(len(plan)):
            i = int(plan.image_index[p])
            m = plan.masks[p].numpy()
            ys, xs = np.nonzero(m)
            rect = m[: ys.max() + 1, : xs.max() + 1].all()  # level >= 1: the whole crop box
            written = plan.crop_labels[p][plan.masks[p]]
            if rect and len(set(written.tolist())) > 1:
                seen_levels.add("crop")
            else:  # level 0: only the class-b pixels are written, all with class b
                seen_levels.add("mask")
                assert int(written[0]) in TAIL and (written == written[0]).all()
        # untouched outside all masks, written labels equal the crops (single paste per image)
        for p in range(len(plan)):
            i = int(plan.image_index[p])
            y, x = plan.offsets[p].tolist()
            m = plan.masks[p]
            h, w = m.shape
            region = out_lab[i, y:y + h, x:x + w]
            assert torch.equal(region[m[:region.shape[0], :region.shape[1]]],
                               plan.crop_labels[p][:region.shape[0], :region.shape[1]][m[:region.shape[0], :region.shape[1]]])
            outside = torch.ones_like(labels[i], dtype=torch.bool)
            outside[y:y + h, x:x + w] &= ~m[:region.shape[0], :region.shape[1]]
            assert torch.equal(out_lab[i][outside], labels[i][outside])
    assert seen_levels == {"crop", "mask"}
