"""Losses against independent transcriptions of their formulas."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from lt_data.training.losses import (AUC_STRATEGY, auc_loss, balanced_softmax_loss, blv_loss, build_loss, class_balanced_loss, cross_entropy,
                            focal_loss, ldam_loss, pat_loss, WeightedSum)


def _random_batch(b=2, k=5, h=4, w=5, absent=(3,), ignore_frac=0.2, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(b, k, h, w, generator=g, dtype=torch.float64)
    labels = torch.randint(0, k, (b, h, w), generator=g)
    for a in absent:
        labels[labels == a] = (a + 1) % k
    labels[torch.rand(b, h, w, generator=g) < ignore_frac] = 255
    return logits, labels


def _auc_brute_force(logits, labels, margin=1.0):
    """The pairwise definition, pixel pair by pixel pair (O(n²))."""
    k = logits.shape[1]
    s = torch.sigmoid(logits).permute(0, 2, 3, 1).reshape(-1, k)
    y = labels.reshape(-1)
    keep = y != 255
    s, y = s[keep], y[keep]
    present = sorted(set(y.tolist()))
    kb = len(present)
    if kb < 2:
        return 0.0
    total = 0.0
    for i, c in itertools.permutations(present, 2):
        pos, neg = s[y == i, i], s[y == c, i]
        acc = 0.0
        for a in pos.tolist():
            for b in neg.tolist():
                acc += (margin - (a - b)) ** 2
        total += acc / (len(pos) * len(neg))
    return total / (2 * kb * (kb - 1))


def _auc_pairwise(logits, labels, margin=1.0, ignore_index=255):
    """The pairwise definition as tensors (O(n²) pixel pairs, float64), differentiable: an independent
    route to the value and, through autograd, to the gradient."""
    k = logits.shape[1]
    s = torch.sigmoid(logits.double()).permute(0, 2, 3, 1).reshape(-1, k)
    y = labels.reshape(-1).long()
    keep = (y != ignore_index) & (y >= 0) & (y < k)
    s, y = s[keep], y[keep]
    present = sorted(set(y.tolist()))
    kb = len(present)
    total = s.sum() * 0
    for i, c in itertools.permutations(present, 2):
        pos, neg = s[y == i, i], s[y == c, i]
        total = total + ((margin - (pos[:, None] - neg[None, :])) ** 2).mean()
    return total / max(2 * kb * (kb - 1), 1)


# Every way auc_loss can walk the pixels on the CPU: the default; many spans with a short last one;
# one span cut into tiles with a remainder (the GPU's way); spans cut into tiles.
STRATEGIES = {
    "default": None,
    "spans": {"chunk": 7 * 5, "tile": 0},
    "tiles": {"chunk": 0, "tile": 7},
    "both": {"chunk": 2 * 5 * 9, "tile": 4},
}


@pytest.fixture(params=list(STRATEGIES))
def strategy(request, monkeypatch):
    if STRATEGIES[request.param] is not None:
        monkeypatch.setitem(AUC_STRATEGY, "cpu", STRATEGIES[request.param])
    return request.param


@pytest.mark.parametrize("seed", range(4))
def test_auc_equals_brute_force(seed, strategy):
    logits, labels = _random_batch(seed=seed, absent=(seed % 5,))
    got = auc_loss(logits, labels).item()
    assert got == pytest.approx(_auc_brute_force(logits, labels), rel=1e-9)


def test_auc_margin_and_float32(strategy):
    logits, labels = _random_batch(seed=7)
    assert auc_loss(logits, labels, margin=0.5).item() == pytest.approx(_auc_brute_force(logits, labels, 0.5), rel=1e-9)
    assert auc_loss(logits.float(), labels).item() == pytest.approx(_auc_brute_force(logits, labels), rel=1e-6)


@pytest.mark.parametrize("seed", range(3))
def test_auc_gradient_equals_pairwise_autograd(seed, strategy):
    b, k, h, w = [(2, 5, 4, 5), (3, 7, 3, 6), (1, 3, 5, 5)][seed]
    logits, labels = _random_batch(b, k, h, w, absent=(1,) if k > 3 else (), seed=seed)
    for margin in (1.0, 0.3):
        z = logits.clone().requires_grad_(True)
        ref_z = logits.clone().requires_grad_(True)
        loss = auc_loss(z, labels, margin=margin)
        ref = _auc_pairwise(ref_z, labels, margin)
        (g,) = torch.autograd.grad(loss, z)
        (ref_g,) = torch.autograd.grad(ref, ref_z)
        assert loss.item() == pytest.approx(ref.item(), rel=1e-9)
        torch.testing.assert_close(g, ref_g, rtol=1e-7, atol=1e-12)
        assert g[(labels == 255)[:, None].expand_as(g)].abs().max() == 0  # ignored pixels: no gradient


def test_auc_float32_gradient_and_scaled_loss(strategy):
    logits, labels = _random_batch(2, 6, 8, 9, seed=11)
    z = logits.float().requires_grad_(True)
    ref_z = logits.clone().requires_grad_(True)
    (4 * auc_loss(z, labels)).backward()
    (4 * _auc_pairwise(ref_z, labels)).backward()  # the weight of AUCSeg's ADE20K recipe
    torch.testing.assert_close(z.grad.double(), ref_z.grad, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("fill", [2, 255])
def test_auc_finite_with_one_class_or_none(fill, strategy):
    logits = torch.randn(2, 4, 3, 3, requires_grad=True)
    labels = torch.full((2, 3, 3), fill)
    loss = auc_loss(logits, labels)
    assert torch.isfinite(loss) and loss.item() == 0.0
    loss.backward()
    assert torch.equal(logits.grad, torch.zeros_like(logits))


@pytest.mark.parametrize("name", ["default", "spans", "both"])
def test_auc_gradient_matches_finite_differences(name, monkeypatch):
    if STRATEGIES[name] is not None:
        monkeypatch.setitem(AUC_STRATEGY, "cpu", STRATEGIES[name])
    logits, labels = _random_batch(b=2, k=4, h=3, w=3, seed=3)
    logits.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda z: auc_loss(z, labels), (logits,), eps=1e-6, atol=1e-6)
    assert torch.autograd.gradcheck(lambda z: auc_loss(z, labels, margin=0.25), (logits,), eps=1e-6, atol=1e-6)


def test_auc_channels_last_and_half_precision(strategy):
    logits, labels = _random_batch(2, 6, 8, 9, seed=12)
    ref_z = logits.clone().requires_grad_(True)
    _auc_pairwise(ref_z, labels).backward()
    z = logits.float().contiguous(memory_format=torch.channels_last).requires_grad_(True)
    loss = auc_loss(z, labels)
    loss.backward()
    assert loss.item() == pytest.approx(_auc_brute_force(logits, labels), rel=1e-6)
    assert z.grad.is_contiguous(memory_format=torch.channels_last)  # the gradient keeps the logits' layout
    torch.testing.assert_close(z.grad.double(), ref_z.grad, rtol=1e-4, atol=1e-7)
    for dtype in (torch.bfloat16, torch.float16):
        zh = logits.to(dtype).requires_grad_(True)
        loss = auc_loss(zh, labels)
        loss.backward()
        assert loss.dtype == dtype and zh.grad.dtype == dtype
        # computed in float32 from the rounded logits: equal to the pairwise sum on those
        ref_h = zh.detach().double().requires_grad_(True)
        ref = _auc_pairwise(ref_h, labels)
        ref.backward()
        assert loss.item() == pytest.approx(ref.item(), rel=1e-2)
        torch.testing.assert_close(zh.grad.double(), ref_h.grad, rtol=2e-2, atol=1e-4)


def test_auc_label_handling():
    logits, labels = _random_batch(2, 5, 4, 6, seed=13, ignore_frac=0.1)
    base = auc_loss(logits, labels).item()
    odd = labels.clone()
    odd[0, 0, :3] = torch.tensor([-1, 5, 77])  # out of range: ignored like 255
    odd[labels == 255] = 255
    assert auc_loss(logits, odd).item() == pytest.approx(_auc_brute_force(logits, torch.where(
        (odd < 0) | (odd >= 5), torch.full_like(odd, 255), odd)), rel=1e-9)
    assert auc_loss(logits, labels.to(torch.uint8)).item() == pytest.approx(base, rel=1e-12)
    # an ignore index inside the class range drops that class
    as_ignored = torch.where(labels == 2, torch.full_like(labels, 255), labels)
    assert auc_loss(logits, labels, ignore_index=2).item() == pytest.approx(
        auc_loss(logits, as_ignored).item(), rel=1e-12)
    with pytest.raises(ValueError, match="expected logits"):
        auc_loss(logits[0], labels)


def test_auc_no_grad_retain_graph_and_weighted_sum():
    logits, labels = _random_batch(2, 5, 4, 6, seed=14)
    with torch.no_grad():
        plain = auc_loss(logits, labels)
    z = logits.clone().requires_grad_(True)
    loss = auc_loss(z, labels)
    assert loss.item() == plain.item()
    loss.backward(retain_graph=True)
    once = z.grad.clone()
    loss.backward()  # a retained graph runs its backward again, with the same result
    torch.testing.assert_close(z.grad, 2 * once)
    z.grad = None
    build_loss("4*auc+ce")(z, labels).backward()
    ref_z = logits.clone().requires_grad_(True)
    (4 * _auc_pairwise(ref_z, labels) + F.cross_entropy(ref_z, labels, ignore_index=255)).backward()
    torch.testing.assert_close(z.grad, ref_z.grad, rtol=1e-7, atol=1e-12)


def _pat_direct(logits, labels, T=20.0, eps=1e-6):
    """Eq. 4–5 transcribed with loops over images, pixels and classes."""
    b, k, h, w = logits.shape
    p = torch.softmax(logits, 1)
    total = 0.0
    for i in range(b):
        sizes = {l: int((labels[i] == l).sum()) for l in range(k)}
        for y0, x0 in itertools.product(range(h), range(w)):
            t = int(labels[i, y0, x0])
            for l in range(k):
                yl = 1.0 if l == t else 0.0
                if yl == 0:
                    continue
                pl = float(p[i, l, y0, x0])
                beta = 1.0 / math.exp((pl - 1 + eps) / T)
                total += beta * yl / sizes[l] * math.log(pl)
    return -total / b


@pytest.mark.parametrize("T", [1.0, 20.0])
def test_pat_equals_equations(T):
    logits, labels = _random_batch(seed=5)
    assert pat_loss(logits, labels, temperature=T).item() == pytest.approx(_pat_direct(logits, labels, T), rel=1e-6)


def test_pat_hand_made():
    # one image, two pixels of class 0 with p = 0.5 each, one ignored pixel
    logits = torch.zeros(1, 2, 1, 3, dtype=torch.float64)
    labels = torch.tensor([[[0, 0, 255]]])
    beta = 1 / math.exp((0.5 - 1 + 1e-6) / 20)
    expected = -(2 * beta * 0.5 * math.log(0.5))  # Σ_j β/S · log p, S = 2
    assert pat_loss(logits, labels).item() == pytest.approx(expected, rel=1e-9)
    assert beta > 1  # low confidence gets the higher weight (Eq. 5)


def test_cross_entropy_and_focal():
    logits, labels = _random_batch(seed=1)
    valid = labels != 255
    logp = torch.log_softmax(logits, 1).permute(0, 2, 3, 1)[valid]
    y = labels[valid]
    lp = logp[torch.arange(len(y)), y]
    assert cross_entropy(logits, labels).item() == pytest.approx((-lp).mean().item(), rel=1e-9)
    assert cross_entropy(logits, labels).item() == pytest.approx(F.cross_entropy(logits, labels, ignore_index=255).item(), rel=1e-9)
    fl = (-(1 - lp.exp()) ** 2 * lp).mean().item()
    assert focal_loss(logits, labels).item() == pytest.approx(fl, rel=1e-9)
    assert focal_loss(logits, labels, gamma=0).item() == pytest.approx((-lp).mean().item(), rel=1e-9)


def test_class_balanced_ldam_blv_balanced_softmax():
    logits, labels = _random_batch(seed=2, absent=())
    counts = torch.tensor([1000.0, 200.0, 50.0, 10.0, 3.0], dtype=torch.float64)
    valid = labels != 255
    y = labels[valid]
    flat = logits.permute(0, 2, 3, 1)[valid]
    # class-balanced, beta 0.99
    w = (1 - 0.99) / (1 - 0.99 ** counts)
    w = w * 5 / w.sum()
    lp = torch.log_softmax(flat, 1)[torch.arange(len(y)), y]
    assert class_balanced_loss(logits, labels, counts, beta=0.99).item() == pytest.approx((-w[y] * lp).mean().item(), rel=1e-6)
    # LDAM
    d = counts ** -0.25
    d = d * 0.5 / d.max()
    z = flat.clone()
    z[torch.arange(len(y)), y] -= d[y]
    ref = F.cross_entropy(z * 30, y).item()
    assert ldam_loss(logits, labels, counts).item() == pytest.approx(ref, rel=1e-6)
    # BLV: at evaluation plain CE; in training, offsets in [0, nu/max nu], the rarest class up to +1
    assert blv_loss(logits, labels, counts, training=False).item() == pytest.approx(cross_entropy(logits, labels).item())
    g = torch.Generator().manual_seed(0)
    eps = torch.randn(logits.shape, generator=g, dtype=logits.dtype) * 4
    nu = torch.log(counts.sum()) - torch.log(counts)
    ref = cross_entropy(logits + eps.clamp(-1, 1).abs() * (nu / nu.max())[None, :, None, None], labels).item()
    got = blv_loss(logits, labels, counts, generator=torch.Generator().manual_seed(0)).item()
    assert got == pytest.approx(ref, rel=1e-6)
    # balanced softmax
    ref = F.cross_entropy(flat + torch.log(counts), y).item()
    assert balanced_softmax_loss(logits, labels, counts).item() == pytest.approx(ref, rel=1e-6)


def test_build_loss_specs():
    logits, labels = _random_batch(seed=4)
    loss = build_loss("4*auc+ce")
    assert isinstance(loss, WeightedSum)
    ref = 4 * auc_loss(logits, labels) + cross_entropy(logits, labels)
    assert loss(logits, labels).item() == pytest.approx(ref.item(), rel=1e-9)
    with pytest.raises(ValueError, match="class counts"):
        build_loss("ldam")
    with pytest.raises(ValueError, match="unknown loss"):
        build_loss("dice")
    assert build_loss({"pat": {"temperature": 5}})(logits, labels).item() == pytest.approx(
        pat_loss(logits, labels, temperature=5).item())


def test_cross_entropy_label_handling_and_layouts():
    logits, labels = _random_batch(2, 5, 4, 6, seed=15)
    odd = labels.clone()
    odd[0, 0, :2] = torch.tensor([-3, 9])  # outside [0, K): ignored
    ref = F.cross_entropy(logits, torch.where((odd < 0) | (odd >= 5), torch.full_like(odd, 255), odd),
                          ignore_index=255)
    assert cross_entropy(logits, odd).item() == pytest.approx(ref.item(), rel=1e-12)
    assert cross_entropy(logits.contiguous(memory_format=torch.channels_last), labels).item() == pytest.approx(
        cross_entropy(logits, labels).item(), rel=1e-12)
    # weighted: Σ w_y·nll over the valid pixels, divided by their number (not by Σ w_y)
    w = torch.tensor([1.0, 2.0, 0.5, 3.0, 1.5], dtype=torch.float64)
    valid = labels != 255
    nll = -torch.log_softmax(logits, 1).permute(0, 2, 3, 1)[valid][torch.arange(int(valid.sum())), labels[valid]]
    assert cross_entropy(logits, labels, weight=w).item() == pytest.approx((w[labels[valid]] * nll).mean().item(),
                                                                           rel=1e-12)
    z = logits.clone().requires_grad_(True)
    loss = cross_entropy(z, torch.full_like(labels, 255))  # nothing valid: 0, with a gradient path
    loss.backward()
    assert loss.item() == 0.0 and torch.equal(z.grad, torch.zeros_like(z))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("cuda_strategy", ["default", "spans"])
def test_cuda_losses_equal_cpu(cuda_strategy, monkeypatch):
    """Every loss gives the same value and gradient on CUDA as on the CPU (float32, 1e-5), with the
    GPU's one-step AUC strategy and with spans; BLV's noise comes from each device's own generator,
    so it is compared at evaluation (plain CE)."""
    if cuda_strategy == "spans":
        monkeypatch.setitem(AUC_STRATEGY, "cuda", {"chunk": 7 * 3000, "tile": 1000})
    counts = [5000.0, 1200.0, 300.0, 60.0, 9.0, 1.0, 2.0]
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 7, 67, 45, generator=g) * 2  # odd sizes: spans and tiles with remainders
    labels = torch.multinomial(1 / torch.arange(1.0, 8.0), 3 * 67 * 45, replacement=True, generator=g).view(3, 67, 45)
    labels[:, :3] = 255
    for spec in ["ce", "auc", "pat", "focal", "cb", "ldam", "blv", "balanced_softmax", "4*auc+ce"]:
        results = []
        for device in ("cpu", "cuda"):
            loss_fn = build_loss(spec, class_counts=counts).to(device)
            loss_fn.eval()
            z = logits.clone().to(device).requires_grad_(True)
            loss = loss_fn(z, labels.to(device))
            loss.backward()
            results.append((loss.detach().cpu(), z.grad.cpu()))
        (v0, g0), (v1, g1) = results
        torch.testing.assert_close(v1, v0, rtol=1e-5, atol=1e-7, msg=f"{spec}: values differ")
        torch.testing.assert_close(g1, g0, rtol=1e-5, atol=1e-5 * float(g0.abs().max()), msg=f"{spec}: gradients differ")
    # the fused AUC on CUDA against the pairwise definition, in float64
    z = logits[:1, :, :9, :11].double().cuda().requires_grad_(True)
    lab = labels[:1, :9, :11]
    ref_z = logits[:1, :, :9, :11].double().requires_grad_(True)
    auc_loss(z, lab.cuda()).backward()
    _auc_pairwise(ref_z, lab).backward()
    torch.testing.assert_close(z.grad.cpu(), ref_z.grad, rtol=1e-7, atol=1e-12)


@pytest.mark.parametrize("spec", ["1*auc+ce", "pat", "focal"])
def test_losses_take_what_real_models_return(spec):
    """A Hugging Face output (.logits at 1/4 resolution), a torchvision dict, and (B, 1, H, W) labels."""
    from types import SimpleNamespace

    from lt_data.training.losses import build_loss

    g = torch.Generator().manual_seed(0)
    low = torch.randn(2, 5, 8, 10, generator=g)
    labels = torch.randint(0, 5, (2, 32, 40), generator=g)
    labels[:, :2] = 255
    up = torch.nn.functional.interpolate(low, size=(32, 40), mode="bilinear", align_corners=False)
    loss = build_loss(spec)
    want = loss(up, labels)
    torch.testing.assert_close(loss(SimpleNamespace(logits=low), labels[:, None]), want)
    torch.testing.assert_close(loss({"out": low}, labels), want)
