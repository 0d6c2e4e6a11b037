"""Paste kernels: both strategies equal a plain numpy reference; nothing outside masks changes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lt_data.training.paste.kernels import PastePlan, paste


def _random_plan(b=3, h=40, w=50, p=12, ph=15, pw=18, seed=0, dtype=torch.uint8):
    g = torch.Generator().manual_seed(seed)
    crops = torch.randint(0, 256, (p, 3, ph, pw), generator=g).to(dtype)
    masks = torch.rand(p, ph, pw, generator=g) > 0.4
    crop_labels = torch.randint(0, 20, (p, ph, pw), generator=g)
    image_index = torch.randint(0, b, (p,), generator=g)
    # some offsets hang over the borders on purpose: the kernel must clip
    offsets = torch.stack([torch.randint(-5, h - 5, (p,), generator=g), torch.randint(-5, w - 5, (p,), generator=g)], 1)
    images = torch.randint(0, 256, (b, 3, h, w), generator=g).to(dtype)
    labels = torch.randint(0, 20, (b, h, w), generator=g)
    labels[:, :2] = 255
    return images, labels, PastePlan(crops, crop_labels, masks, image_index, offsets)


def _reference(images, labels, plan):
    img, lab = images.numpy().copy(), labels.numpy().copy()
    _, _, h, w = img.shape
    for p in range(len(plan)):
        i = int(plan.image_index[p])
        oy, ox = plan.offsets[p].tolist()
        for cy, cx in zip(*np.nonzero(plan.masks[p].numpy())):
            y, x = oy + cy, ox + cx
            if 0 <= y < h and 0 <= x < w:
                img[i, :, y, x] = plan.crops[p, :, cy, cx].numpy()
                lab[i, y, x] = int(plan.crop_labels[p, cy, cx])
    return img, lab


@pytest.mark.parametrize("strategy", ["loop", "scatter"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_strategies_equal_reference(strategy, seed):
    images, labels, plan = _random_plan(seed=seed)
    ref_img, ref_lab = _reference(images, labels, plan)
    out_img, out_lab = paste(images, labels, plan, strategy=strategy)
    np.testing.assert_array_equal(out_img.numpy(), ref_img)
    np.testing.assert_array_equal(out_lab.numpy(), ref_lab)
    # inputs untouched unless inplace
    assert not torch.equal(out_lab, labels)


def test_float_images_and_outside_masks_unchanged():
    images, labels, plan = _random_plan(seed=3, dtype=torch.float32)
    out_img, out_lab = paste(images, labels, plan, strategy="scatter")
    covered = torch.zeros_like(labels, dtype=torch.bool)
    _, _, h, w = images.shape
    for p in range(len(plan)):
        i = int(plan.image_index[p])
        oy, ox = plan.offsets[p].tolist()
        ys, xs = torch.nonzero(plan.masks[p], as_tuple=True)
        ys, xs = ys + oy, xs + ox
        ok = (ys >= 0) & (ys < h) & (xs >= 0) & (xs < w)
        covered[i, ys[ok], xs[ok]] = True
    assert torch.equal(out_lab[~covered], labels[~covered])
    assert torch.equal(out_img.permute(0, 2, 3, 1)[~covered], images.permute(0, 2, 3, 1)[~covered])


def test_empty_plan_and_bad_shapes():
    images, labels, _ = _random_plan()
    out_img, out_lab = paste(images, labels, PastePlan.empty())
    assert torch.equal(out_img, images) and torch.equal(out_lab, labels)
    with pytest.raises(ValueError):
        paste(images[0], labels, PastePlan.empty())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_equals_cpu():
    images, labels, plan = _random_plan(seed=4)
    a = paste(images, labels, plan)
    b = paste(images.cuda(), labels.cuda(), plan.to("cuda"))
    assert torch.equal(a[0], b[0].cpu()) and torch.equal(a[1], b[1].cpu())


def test_plan_survives_pickling_unchanged():
    import pickle

    _, _, plan = _random_plan(seed=6)
    plan.crop_labels = plan.crop_labels.to(torch.uint8)
    plan.classes = torch.arange(len(plan))
    back = pickle.loads(pickle.dumps(plan))
    for name in ("crops", "crop_labels", "masks", "image_index", "offsets", "classes"):
        a, b = getattr(plan, name), getattr(back, name)
        assert a.dtype == b.dtype and torch.equal(a, b), name
