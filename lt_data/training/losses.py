"""Long-tail segmentation losses: AUC (AUCSeg), PAT, and the baselines the papers compare against.

Every loss is a function on ``logits (B, K, H, W)`` float and ``labels (B, H, W)`` int64 (255 =
ignore) plus an ``nn.Module`` wrapper holding its options. Class counts for the frequency-based
baselines come from the statistics stage (``class_counts_from_stats``), never from the batch.
Definitions follow ``SPEC.md`` and ``reference/losses.md``; each docstring says what is averaged.

None of these losses synchronise with the host (no ``.item()``, no boolean indexing whose size
depends on the data, no Python branch on a tensor value), so they never stall a CUDA stream.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..core.classes import IGNORE_INDEX
from ..core.outputs import match


def _check_shapes(logits: torch.Tensor, labels: torch.Tensor) -> None:
    if logits.dim() != 4 or labels.dim() != 3 or logits.shape[0] != labels.shape[0] \
            or logits.shape[2:] != labels.shape[1:]:
        raise ValueError(f"expected logits (B, K, H, W) and labels (B, H, W) of the same size, got "
                         f"{tuple(logits.shape)} and {tuple(labels.shape)}")


def _flatten(logits: torch.Tensor, labels: torch.Tensor, ignore_index: int):
    """(B, K, H, W), (B, H, W) → logits (n, K), labels (n,) with ignore mapped to K, valid (n,) bool."""
    _check_shapes(logits, labels)
    k = logits.shape[1]
    flat = logits.permute(0, 2, 3, 1).reshape(-1, k)
    y = labels.reshape(-1).long()
    valid = (y != ignore_index) & (y >= 0) & (y < k)
    return flat, torch.where(valid, y, torch.full_like(y, k)), valid


def _up(x: torch.Tensor) -> torch.Tensor:
    """Half precision is upcast to float32 for the loss arithmetic; float64 stays float64."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def _masked_mean(values: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean over valid entries; 0 (with a gradient path) when none is valid."""
    v = valid.to(values.dtype)
    return (values * v).sum() / v.sum().clamp_min(1.0)


def _nll(logp: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """−log p of the label for each row; rows labelled K (ignored) read column 0 and must be masked."""
    k = logp.shape[1]
    return -logp.gather(1, y.clamp_max(k - 1).unsqueeze(1)).squeeze(1)


# ---- AUC (AUCSeg) -------------------------------------------------------------------------------

# How auc_loss walks the pixels, by device type (``scripts/bench_loss.py`` times the alternatives):
#   chunk  elements (B·K·pixels) per step of a Python loop over pixel spans, whose scratch buffers are
#          reused from span to span; 0 = all pixels in one step. On the CPU, fresh memory of the size
#          of the logits costs more to page in than the arithmetic on it, and a span that fits the
#          cache is cheaper still; on a GPU the caching allocator makes memory free and every step
#          is a kernel launch, so one step.
#   tile   pixels per accumulator of the per-class sums of one value per pixel (counts, own-class
#          scores; 0 = the step's pixels): a float32 accumulator adds at most a tile's pixels, tiles
#          are summed in float64, and on a GPU the atomic adds spread over B·T·(K+1) addresses
#          instead of piling onto the K+1 classes.
AUC_STRATEGY = {
    "cpu": {"chunk": 1 << 19, "tile": 0},
    "cuda": {"chunk": 0, "tile": 4096},
}


def _spans(pixels: int, per_pixel: int, chunk: int) -> list[tuple[int, int]]:
    if not chunk or pixels == 0:
        return [(0, pixels)]
    step = max(1, chunk // max(per_pixel, 1))
    return [(p0, min(p0 + step, pixels)) for p0 in range(0, pixels, step)]


def _class_sums(x: torch.Tensor, y: torch.Tensor, bins: int, tile: int, per_image: bool = False) -> torch.Tensor:
    """Per-class sums: ``x (B, R, L)`` float, ``y (B, 1, L)`` int64 in [0, bins) → ``(R, bins)``
    float64, ``out[r, c] = Σ_{b, l: y[b, 0, l] = c} x[b, r, l]``, summed in x's dtype within tiles of
    ``tile`` pixels and in float64 across them (``per_image``: ``(B, R, bins)``, not summed over the
    batch)."""
    b, r, n = x.shape
    t, rest = divmod(n, tile) if 0 < tile < n else (1, 0)
    size = n // t
    parts = [(x[..., :t * size].unflatten(2, (t, size)), y[..., :t * size].unflatten(2, (t, size)))]
    if rest:
        parts.append((x[..., t * size:].unsqueeze(2), y[..., t * size:].unsqueeze(2)))
    out = None
    for xs, ys in parts:  # (B, R, T, L), (B, 1, T, L)
        acc = x.new_zeros(b, r, xs.shape[2], bins).scatter_add_(3, ys.expand(xs.shape), xs)
        part = acc.sum(2 if per_image else (0, 2), dtype=torch.float64)
        out = part if out is None else out + part
    return out


class _full_precision_matmul:
    """Turns TF32 off for float32 matrix products on CUDA while inside (TF32 keeps 10 bits of each
    score); restores the setting on exit. No-op elsewhere and when TF32 is off already."""

    def __init__(self, device: torch.device):
        self.flip = device.type == "cuda" and torch.backends.cuda.matmul.allow_tf32

    def __enter__(self):
        if self.flip:
            torch.backends.cuda.matmul.allow_tf32 = False

    def __exit__(self, *exc):
        if self.flip:
            torch.backends.cuda.matmul.allow_tf32 = True


def _sigmoid_into(z: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    if z.dtype == out.dtype:
        return torch.sigmoid(z, out=out)
    return out.copy_(z).sigmoid_()  # half precision: upcast first, then the sigmoid in float32


def _auc_forward(logits: torch.Tensor, labels: torch.Tensor, margin: float, ignore_index: int, strategy: dict,
                 need_grad: bool):
    """The loss in one pass over the logits, and with ``need_grad`` what the one-pass gradient needs.

    Summing the pairwise terms over the partner classes c leaves, per class i (D = 2·K_b·(K_b−1)):

        D·L = Σ_{i present} [(K_b−1)·E_i[(s_i−γ)²] + (A2_i − E_i[s_i²]) − 2·(E_i[s_i] − γ)·(A1_i − E_i[s_i])]

    with A_i = Σ_{c present} E_c[s_i] = Σ_n s_{n,i} / N_{y_n} (and A2 likewise with s²): a weighted
    column sum (one matrix-vector product per span), not a K×K table. Only the own-class scores
    s_{n,y_n} and the counts are summed per class.
    """
    b, k = logits.shape[:2]
    z = logits.flatten(2)  # (B, K, P): a view for contiguous and channels-last logits alike
    pixels = z.shape[2]
    dev = z.device
    dt = torch.float64 if logits.dtype == torch.float64 else torch.float32
    tile = strategy["tile"]
    spans = _spans(pixels, b * k, strategy["chunk"])

    # Labels first (cheap: n integers): classes with ignored pixels in bin K, and the counts N_c.
    lab = labels.reshape(b, 1, pixels)
    y = torch.empty(lab.shape, dtype=torch.int64, device=dev)
    for p0, p1 in spans:
        yc = y[..., p0:p1].copy_(lab[..., p0:p1])
        bad = (yc < 0) | (yc >= k)
        if 0 <= ignore_index < k:
            bad |= yc == ignore_index
        yc.masked_fill_(bad, k)
    count = _class_sums(torch.ones((), dtype=dt, device=dev).expand(b, 1, pixels), y, k + 1, tile)[0, :k]
    present = count > 0
    inv = torch.where(present, 1.0 / count.clamp_min(1.0), torch.zeros_like(count))
    per_pixel_weight = torch.cat([inv, inv.new_zeros(1)]).to(dt)  # 1/N_{y_n}; 0 for ignored pixels

    # One pass over the logits: A1, A2 and the own-class sums.
    buf = torch.empty(b, 2 * k, max(p1 - p0 for p0, p1 in spans), dtype=dt, device=dev)
    own = torch.empty(b, 2, buf.shape[2], dtype=dt, device=dev)
    col_sums, own_sums = None, None
    for p0, p1 in spans:
        n = p1 - p0
        x, o, yc = buf[..., :n], own[..., :n], y[..., p0:p1]
        s = _sigmoid_into(z[..., p0:p1], x[:, :k])
        torch.mul(s, s, out=x[:, k:])
        u = torch.take(per_pixel_weight, yc)  # (B, 1, L)
        with _full_precision_matmul(dev):
            a = torch.bmm(x, u.transpose(1, 2)).sum(0, dtype=torch.float64)[:, 0]  # (2K,)
        cy = yc.clamp_max(k - 1)
        torch.gather(x[:, :k], 1, cy, out=o[:, :1])
        torch.gather(x[:, k:], 1, cy, out=o[:, 1:])
        part = _class_sums(o, yc, k + 1, tile)[:, :k]  # (2, K): Σ_{n in c} s_{n,c}, Σ_{n in c} s_{n,c}²
        col_sums = a if col_sums is None else col_sums + a
        own_sums = part if own_sums is None else own_sums + part
    del buf, own

    pf = present.to(torch.float64)
    kb = pf.sum()
    # 1/D, and exactly 0 without a pair of classes (A1_i − E_i[s_i] is then 0 only up to rounding)
    scale = torch.where(kb > 1, 1.0 / (2 * kb * (kb - 1)).clamp_min(1.0), torch.zeros_like(kb))
    a1, a2 = col_sums[:k], col_sums[k:]
    d1, d2 = own_sums[0] * inv, own_sums[1] * inv  # E_i[s_i], E_i[s_i²]
    per_class = (kb - 1) * (d2 - 2 * margin * d1 + margin * margin) + (a2 - d2) - 2 * (d1 - margin) * (a1 - d1)
    loss = (pf * per_class).sum() * scale
    if not need_grad:
        return loss, None
    # Gradient coefficients (see auc_loss): w_c = 2/(D·N_c) (0 for absent classes and bin K),
    # P_i·(γ − E_i[s_i]), and R_c = Σ_{c' present, ≠ c} E_{c'}[s_c] = A1_c − E_c[s_c].
    col = (1, k, 1)
    rest = pf * (a1 - d1)
    coef = {"w": torch.cat([2 * inv * scale, inv.new_zeros(1)]), "p": pf.to(dt).view(col),
            "pa": (pf * (margin - d1)).to(dt).view(col), "r": torch.cat([rest, rest.new_zeros(1)]).to(dt),
            "kb1": (kb - 1).to(dt)}
    return loss, (y, coef)


class _FusedAUC(torch.autograd.Function):
    """auc_loss with a one-pass gradient: ∂L/∂z_{n,i} depends only on pixel n's own scores and on
    per-class vectors, so the backward recomputes s span by span and writes each logit's gradient
    once. Nothing of the size of the logits is kept between forward and backward."""

    @staticmethod
    def forward(ctx, logits, labels, margin, ignore_index, strategy):
        loss, (y, coef) = _auc_forward(logits, labels, margin, ignore_index, strategy, True)
        ctx.save_for_backward(logits)
        ctx.y, ctx.coef, ctx.margin, ctx.strategy = y, coef, margin, strategy
        return loss.to(logits.dtype)

    @staticmethod
    def backward(ctx, grad_loss):
        (logits,) = ctx.saved_tensors
        y, coef, margin = ctx.y, ctx.coef, ctx.margin
        b, k = logits.shape[:2]
        z = logits.flatten(2)
        grad = torch.empty_like(logits)
        g = grad.flatten(2)
        dt = torch.float64 if logits.dtype == torch.float64 else torch.float32
        w = (coef["w"] * grad_loss.to(torch.float64)).to(dt)
        spans = _spans(z.shape[2], b * k, ctx.strategy["chunk"])
        width = max(p1 - p0 for p0, p1 in spans)
        s_buf = torch.empty(b, k, width, dtype=dt, device=z.device)
        t_buf = None if g.dtype == dt else torch.empty_like(s_buf)  # half precision: work in float32
        for p0, p1 in spans:
            s = _sigmoid_into(z[..., p0:p1], s_buf[..., :p1 - p0])
            t = g[..., p0:p1] if t_buf is None else t_buf[..., :p1 - p0]
            yc = y[..., p0:p1]
            wy = torch.take(w, yc)  # (B, 1, L)
            torch.addcmul(coef["pa"], s, coef["p"], out=t)  # P_i·(s_{n,i} + γ − E_i[s_i])
            t.mul_(wy)
            cy = yc.clamp_max(k - 1)  # the pixel's own column; ignored pixels have w = 0, any column will do
            t.scatter_(1, cy, wy * (coef["kb1"] * (s.gather(1, cy) - margin) - torch.take(coef["r"], yc)))
            torch.ops.aten.sigmoid_backward.grad_input(t, s, grad_input=g[..., p0:p1])  # × s(1 − s)
        return grad, None, None, None, None


def auc_loss(logits: torch.Tensor, labels: torch.Tensor, *, margin: float = 1.0,
             ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """AUCSeg's one-vs-one square-surrogate AUC loss, exact, loop-free, in O(n·K) time.

    With s = sigmoid(logits), N_c pixels of class c in the batch and K_b classes present::

        L = 1/(2·K_b·(K_b−1)) · Σ_{i present} Σ_{c present, c≠i} 1/(N_i·N_c)
            · Σ_{m: y_m=i} Σ_{n: y_n=c} (margin − (s_{m,i} − s_{n,i}))²

    Each (i, c) term equals E_i[(s_i − γ)²] + E_c[s_i²] − 2·E_i[s_i − γ]·E_c[s_i], so sums of the
    scores and of their squares (per class of their own pixels, and over all pixels weighted by
    1/N_{y_n}; ``_auc_forward``) give the pairwise sum exactly, in one pass.
    Differentiating through those means, a pixel n of class c gets (D = 2·K_b·(K_b−1), P_i = 1 if
    class i is present)::

        ∂L/∂s_{n,i} = 2/(D·N_c) · P_i · (s_{n,i} + γ − E_i[s_i])                  (i ≠ c)
        ∂L/∂s_{n,c} = 2/(D·N_c) · ((K_b − 1)·(s_{n,c} − γ) − Σ_{c' present, ≠ c} E_{c'}[s_c])

    which the backward writes in one pass (``_FusedAUC``); ``AUC_STRATEGY`` says how each device
    walks the pixels. Ignored pixels (``ignore_index`` and labels outside [0, K)) are dropped. With
    fewer than two classes present there is no pair: the loss is 0 (finite, with a zero gradient),
    never NaN. No host synchronisation; half-precision logits are computed in float32, float64 in
    float64; contiguous and channels-last logits alike (the gradient keeps their layout).

    >>> import torch
    >>> labels = torch.tensor([[[0, 1], [1, 0]]])                        # (B, H, W)
    >>> flat = torch.zeros(1, 2, 2, 2)                                  # (B, K, H, W): p = 0.5 everywhere
    >>> sure = torch.nn.functional.one_hot(labels, 2).permute(0, 3, 1, 2).float() * 40 - 20
    >>> float(auc_loss(sure, labels))                                    # every pair ranked by the margin
    0.0
    >>> float(auc_loss(flat, labels))                                    # s = 0.5: each pair misses it by 1
    0.5
    """
    _check_shapes(logits, labels)
    strategy = AUC_STRATEGY.get(logits.device.type, AUC_STRATEGY["cuda"])
    with torch.autocast(logits.device.type, enabled=False):
        if torch.is_grad_enabled() and logits.requires_grad:
            return _FusedAUC.apply(logits, labels, float(margin), int(ignore_index), strategy)
        return _auc_forward(logits, labels, float(margin), int(ignore_index), strategy, False)[0].to(logits.dtype)


# ---- PAT ----------------------------------------------------------------------------------------

def pat_loss(logits: torch.Tensor, labels: torch.Tensor, *, temperature: float = 20.0, eps: float = 1e-6,
             ignore_index: int = IGNORE_INDEX, detach_weight: bool = False) -> torch.Tensor:
    """Pixel-wise Adaptive Training loss, Eq. 4–5 of the PAT paper::

        L = −(1/B) Σ_i Σ_j Σ_l β_{i,j}^l · (y_{i,j}^l / S_i^l) · log p_{i,j}^l
        β_{i,j}^l = 1 / exp((p_{i,j}^l − 1 + ε) / T)

    p = softmax(logits); S_i^l = pixels of class l in image i (ignored pixels excluded), so every
    class present in an image weighs the same whatever its mask size. β is larger for low-confidence
    pixels (Eq. 5, Table 2 and the text agree; the values printed in the paper's Table 1 match the
    reciprocal weight and are not what we implement). The authors' public code differs from the
    paper (no S normalisation, T = 1, a factor ½); we follow the paper. β takes part in the gradient
    as written; ``detach_weight=True`` treats it as a constant instead.

    >>> import torch
    >>> labels = torch.tensor([[[0, 1], [1, 0]]])                        # (B, H, W)
    >>> flat = torch.zeros(1, 2, 2, 2)                                  # (B, K, H, W): p = 0.5 everywhere
    >>> beta = torch.exp(torch.tensor(0.5 / 20))                          # p = 0.5, T = 20
    >>> bool(torch.isclose(pat_loss(flat, labels), 2 * beta * torch.log(torch.tensor(2.0))))  # 4 px / S = 2
    True
    """
    b, k = logits.shape[:2]
    flat, y, valid = _flatten(logits, labels, ignore_index)
    logp = F.log_softmax(_up(flat), dim=1)
    logp_y = -_nll(logp, y)
    p_y = logp_y.exp()
    beta = torch.exp(-(p_y - 1.0 + eps) / temperature)
    if detach_weight:
        beta = beta.detach()
    # S_i^l per (image, class), counted like auc_loss's class sums (bincount would sync on CUDA).
    y3 = y.view(b, 1, -1)
    ones = torch.ones((), dtype=logp.dtype, device=flat.device).expand(y3.shape)
    tile = AUC_STRATEGY.get(flat.device.type, AUC_STRATEGY["cuda"])["tile"]
    size = _class_sums(ones, y3, k + 1, tile, per_image=True)[:, 0].to(logp.dtype)  # (B, K + 1)
    cell = torch.arange(b, device=flat.device)[:, None] * (k + 1) + y3[:, 0]
    per_pixel = beta * (-logp_y) / torch.take(size, cell).reshape(-1).clamp_min(1.0)
    per_pixel = torch.where(valid, per_pixel, torch.zeros_like(per_pixel))
    return (per_pixel.sum() / b).to(logits.dtype)


# ---- baselines ----------------------------------------------------------------------------------

def cross_entropy(logits: torch.Tensor, labels: torch.Tensor, *, weight: torch.Tensor | None = None,
                  ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """Mean over non-ignored pixels of −w_y·log p_y (w = 1 without ``weight``). Unlike mmseg's
    default, ignored pixels are not in the denominator (nor is the weight: a weighted sum divided by
    the number of valid pixels, not by Σ w_y as ``F.cross_entropy``'s mean does). Labels outside
    [0, K) count as ignored. Runs ``F.cross_entropy`` on the (B, K, H, W) logits as they are.

    >>> import torch
    >>> labels = torch.tensor([[[0, 1], [1, 0]]])                        # (B, H, W)
    >>> flat = torch.zeros(1, 2, 2, 2)                                  # (B, K, H, W): p = 0.5 everywhere
    >>> round(float(cross_entropy(flat, labels)), 6)                      # log 2
    0.693147
    >>> round(float(cross_entropy(flat, torch.tensor([[[0, 255], [255, 255]]]))), 6)  # ignored: not counted
    0.693147
    """
    _check_shapes(logits, labels)
    z = _up(logits)
    y = labels.long()
    valid = (y != ignore_index) & (y >= 0) & (y < logits.shape[1])
    target = torch.where(valid, y, -100)
    w = None if weight is None else weight.to(device=z.device, dtype=z.dtype)
    total = F.cross_entropy(z, target, weight=w, ignore_index=-100, reduction="sum")
    return (total / valid.sum().clamp_min(1)).to(logits.dtype)


def focal_loss(logits: torch.Tensor, labels: torch.Tensor, *, gamma: float = 2.0,
               ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """Focal loss (Lin et al.): mean over non-ignored pixels of −(1 − p_y)^γ · log p_y.

    >>> import torch
    >>> labels = torch.tensor([[[0, 1], [1, 0]]])                        # (B, H, W)
    >>> flat = torch.zeros(1, 2, 2, 2)                                  # (B, K, H, W): p = 0.5 everywhere
    >>> round(float(focal_loss(flat, labels)), 6)                         # (1 - 0.5)^2 · log 2
    0.173287
    """
    flat, y, valid = _flatten(logits, labels, ignore_index)
    logp_y = -_nll(F.log_softmax(_up(flat), dim=1), y)
    loss = -((1 - logp_y.exp()).clamp_min(0) ** gamma) * logp_y
    return _masked_mean(loss, valid).to(logits.dtype)


def class_balanced_weights(class_counts: torch.Tensor, beta: float = 0.999) -> torch.Tensor:
    """Cui et al.'s effective-number weights w_c = (1 − β)/(1 − β^{n_c}), normalised so Σ_c w_c = K.
    A class with no pixels gets weight 0 (it can never be a label)."""
    n = torch.as_tensor(class_counts, dtype=torch.float64)
    w = torch.where(n > 0, (1 - beta) / (1 - torch.pow(float(beta), n)).clamp_min(1e-300),
                    torch.zeros_like(n))
    return (w * len(n) / w.sum()).float()


def class_balanced_loss(logits: torch.Tensor, labels: torch.Tensor, class_counts: torch.Tensor, *,
                        beta: float = 0.999, ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """Class-balanced CE: mean over non-ignored pixels of −w_y·log p_y with effective-number weights.

    >>> import torch
    >>> labels = torch.tensor([[[0, 1], [1, 0]]])                        # (B, H, W)
    >>> flat = torch.zeros(1, 2, 2, 2)                                  # (B, K, H, W): p = 0.5 everywhere
    >>> round(float(class_balanced_loss(flat, labels, torch.tensor([100.0, 1.0]))), 6)  # Σ w = K: the mean
    0.693147
    """
    w = class_balanced_weights(class_counts, beta).to(logits.device)
    return cross_entropy(logits, labels, weight=w, ignore_index=ignore_index)


def ldam_margins(class_counts: torch.Tensor, max_margin: float = 0.5) -> torch.Tensor:
    """Δ_c ∝ n_c^{−1/4}, scaled so that max Δ = ``max_margin``; counts below 1 are taken as 1."""
    n = torch.as_tensor(class_counts, dtype=torch.float64).clamp_min(1.0)
    d = n.pow(-0.25)
    return (d * (max_margin / d.max())).float()


def ldam_loss(logits: torch.Tensor, labels: torch.Tensor, class_counts: torch.Tensor, *,
              max_margin: float = 0.5, scale: float = 30.0, ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """LDAM (Cao et al.): subtract Δ_y from the true-class logit, multiply all logits by ``scale``,
    then CE (mean over non-ignored pixels).

    >>> import torch
    >>> labels = torch.tensor([[[0, 1], [1, 0]]])                        # (B, H, W)
    >>> flat = torch.zeros(1, 2, 2, 2)                                  # (B, K, H, W): p = 0.5 everywhere
    >>> float(ldam_loss(flat, labels, torch.tensor([100.0, 1.0]))) > float(cross_entropy(flat, labels))
    True
    """
    flat, y, valid = _flatten(logits, labels, ignore_index)
    k = flat.shape[1]
    delta = ldam_margins(class_counts, max_margin).to(flat.device)
    yc = y.clamp_max(k - 1)
    onehot = ((yc[:, None] == torch.arange(k, device=flat.device)) & valid[:, None]).to(flat.dtype)
    z = (_up(flat) - onehot * delta[yc][:, None]) * scale
    return _masked_mean(_nll(F.log_softmax(z, dim=1), y), valid).to(logits.dtype)


def blv_offsets(class_counts: torch.Tensor) -> torch.Tensor:
    """BLV's ν_c = log Σ_k n_k − log n_c, divided by max ν (rare classes get the largest offsets)."""
    n = torch.as_tensor(class_counts, dtype=torch.float64).clamp_min(1.0)
    nu = torch.log(n.sum()) - torch.log(n)
    return (nu / nu.max().clamp_min(1e-12)).float()


def blv_loss(logits: torch.Tensor, labels: torch.Tensor, class_counts: torch.Tensor, *, sigma: float = 4.0,
             training: bool = True, generator: torch.Generator | None = None,
             ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """Balanced Logit Variation (Wang et al., CVPR 2023): while training, add |clamp(ε, −1, 1)|·ν_c/max ν
    to every logit, ε ~ N(0, σ²) per element, drawn on the logits' device; then CE. At evaluation
    (``training=False``) it is plain CE.

    >>> import torch
    >>> labels = torch.tensor([[[0, 1], [1, 0]]])                        # (B, H, W)
    >>> flat = torch.zeros(1, 2, 2, 2)                                  # (B, K, H, W): p = 0.5 everywhere
    >>> counts = torch.tensor([100.0, 1.0])
    >>> float(blv_loss(flat, labels, counts, training=False)) == float(cross_entropy(flat, labels))
    True
    """
    if training:
        nu = blv_offsets(class_counts).to(logits.device, logits.dtype)
        eps = torch.randn(logits.shape, device=logits.device, dtype=logits.dtype, generator=generator) * sigma
        logits = logits + eps.clamp(-1, 1).abs() * nu[None, :, None, None]
    return cross_entropy(logits, labels, ignore_index=ignore_index)


def balanced_softmax_loss(logits: torch.Tensor, labels: torch.Tensor, class_counts: torch.Tensor, *,
                          ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """Balanced softmax: CE on log_softmax(z + log n_c) (counts below 1 taken as 1).

    >>> import torch
    >>> labels = torch.tensor([[[0, 1], [1, 0]]])                        # (B, H, W)
    >>> flat = torch.zeros(1, 2, 2, 2)                                  # (B, K, H, W): p = 0.5 everywhere
    >>> prior = torch.tensor([100.0, 1.0]).log()                          # logits + log n_c, then CE
    >>> shifted = flat + prior[None, :, None, None]
    >>> bool(torch.isclose(balanced_softmax_loss(flat, labels, torch.tensor([100.0, 1.0])), cross_entropy(shifted, labels)))
    True
    """
    logn = torch.log(torch.as_tensor(class_counts, dtype=torch.float32).clamp_min(1.0)).to(logits.device)
    return cross_entropy(logits + logn[None, :, None, None].to(logits.dtype), labels, ignore_index=ignore_index)


# ---- modules ------------------------------------------------------------------------------------

class AUCLoss(nn.Module):
    def __init__(self, margin: float = 1.0, ignore_index: int = IGNORE_INDEX):
        super().__init__()
        self.margin, self.ignore_index = margin, ignore_index

    def forward(self, logits, labels):
        logits, labels = match(logits, labels)  # any model output, at any resolution; labels (B[, 1], H, W)
        return auc_loss(logits, labels, margin=self.margin, ignore_index=self.ignore_index)


class PATLoss(nn.Module):
    def __init__(self, temperature: float = 20.0, eps: float = 1e-6, ignore_index: int = IGNORE_INDEX,
                 detach_weight: bool = False):
        super().__init__()
        self.temperature, self.eps, self.ignore_index, self.detach_weight = temperature, eps, ignore_index, detach_weight

    def forward(self, logits, labels):
        logits, labels = match(logits, labels)  # any model output, at any resolution; labels (B[, 1], H, W)
        return pat_loss(logits, labels, temperature=self.temperature, eps=self.eps, ignore_index=self.ignore_index,
                        detach_weight=self.detach_weight)


class CrossEntropyLoss(nn.Module):
    def __init__(self, weight: torch.Tensor | None = None, ignore_index: int = IGNORE_INDEX):
        super().__init__()
        self.register_buffer("weight", None if weight is None else torch.as_tensor(weight, dtype=torch.float32))
        self.ignore_index = ignore_index

    def forward(self, logits, labels):
        logits, labels = match(logits, labels)  # any model output, at any resolution; labels (B[, 1], H, W)
        return cross_entropy(logits, labels, weight=self.weight, ignore_index=self.ignore_index)


class FocalLoss(nn.Module):
    def __init__(self, gamma: float = 2.0, ignore_index: int = IGNORE_INDEX):
        super().__init__()
        self.gamma, self.ignore_index = gamma, ignore_index

    def forward(self, logits, labels):
        logits, labels = match(logits, labels)  # any model output, at any resolution; labels (B[, 1], H, W)
        return focal_loss(logits, labels, gamma=self.gamma, ignore_index=self.ignore_index)


class _CountsLoss(nn.Module):
    """A loss that needs dataset class counts (held as a buffer so it follows ``.to(device)``)."""

    def __init__(self, class_counts, ignore_index: int = IGNORE_INDEX):
        super().__init__()
        self.register_buffer("class_counts", torch.as_tensor(class_counts, dtype=torch.float64).float())
        self.ignore_index = ignore_index


class ClassBalancedLoss(_CountsLoss):
    def __init__(self, class_counts, beta: float = 0.999, ignore_index: int = IGNORE_INDEX):
        super().__init__(class_counts, ignore_index)
        self.beta = beta

    def forward(self, logits, labels):
        logits, labels = match(logits, labels)  # any model output, at any resolution; labels (B[, 1], H, W)
        return class_balanced_loss(logits, labels, self.class_counts, beta=self.beta, ignore_index=self.ignore_index)


class LDAMLoss(_CountsLoss):
    def __init__(self, class_counts, max_margin: float = 0.5, scale: float = 30.0, ignore_index: int = IGNORE_INDEX):
        super().__init__(class_counts, ignore_index)
        self.max_margin, self.scale = max_margin, scale

    def forward(self, logits, labels):
        logits, labels = match(logits, labels)  # any model output, at any resolution; labels (B[, 1], H, W)
        return ldam_loss(logits, labels, self.class_counts, max_margin=self.max_margin, scale=self.scale,
                         ignore_index=self.ignore_index)


class BLVLoss(_CountsLoss):
    def __init__(self, class_counts, sigma: float = 4.0, ignore_index: int = IGNORE_INDEX):
        super().__init__(class_counts, ignore_index)
        self.sigma = sigma

    def forward(self, logits, labels):
        logits, labels = match(logits, labels)  # any model output, at any resolution; labels (B[, 1], H, W)
        return blv_loss(logits, labels, self.class_counts, sigma=self.sigma, training=self.training,
                        ignore_index=self.ignore_index)


class BalancedSoftmaxLoss(_CountsLoss):
    def forward(self, logits, labels):
        logits, labels = match(logits, labels)  # any model output, at any resolution; labels (B[, 1], H, W)
        return balanced_softmax_loss(logits, labels, self.class_counts, ignore_index=self.ignore_index)


class WeightedSum(nn.Module):
    """Σ w_j · loss_j(logits, labels); AUCSeg trains with ``WeightedSum([(w, AUCLoss()), (1, CrossEntropyLoss())])``,
    w = 4 on ADE20K and 1 on Cityscapes and COCO-Stuff."""

    def __init__(self, terms: Sequence[tuple[float, nn.Module]]):
        super().__init__()
        if not terms:
            raise ValueError("WeightedSum needs at least one (weight, loss) term")
        self.weights = [float(w) for w, _ in terms]
        self.losses = nn.ModuleList([m for _, m in terms])

    def forward(self, logits, labels):
        logits, labels = match(logits, labels)  # any model output, at any resolution; labels (B[, 1], H, W)
        total = None
        for w, loss in zip(self.weights, self.losses):
            term = w * loss(logits, labels)
            total = term if total is None else total + term
        return total


LOSSES = {"ce": CrossEntropyLoss, "auc": AUCLoss, "pat": PATLoss, "focal": FocalLoss, "cb": ClassBalancedLoss,
          "ldam": LDAMLoss, "blv": BLVLoss, "balanced_softmax": BalancedSoftmaxLoss}
NEEDS_COUNTS = {"cb", "ldam", "blv", "balanced_softmax"}


def build_loss(spec: str | dict, class_counts: Sequence[float] | None = None,
               ignore_index: int = IGNORE_INDEX) -> nn.Module:
    """A loss from a short spec: ``"ce"``, ``"pat"``, ``"4*auc+ce"``, or ``{"auc": 4, "ce": 1}``.

    Options of single terms go in a dict form: ``{"pat": {"weight": 1, "temperature": 10}}``.

    >>> import torch
    >>> labels = torch.tensor([[[0, 1], [1, 0]]])                        # (B, H, W)
    >>> flat = torch.zeros(1, 2, 2, 2)                                  # (B, K, H, W): p = 0.5 everywhere
    >>> loss = build_loss("1*auc+ce")                                     # AUCSeg's recipe
    >>> round(float(loss(flat, labels)), 6)                              # 0.5 + log 2
    1.193147
    """
    if isinstance(spec, str):
        terms = {}
        for part in spec.replace(" ", "").split("+"):
            w, _, name = part.rpartition("*")
            terms[name] = float(w) if w else 1.0
        spec = terms
    built = []
    for name, opts in spec.items():
        if name not in LOSSES:
            raise ValueError(f"unknown loss {name!r}; choose from {', '.join(LOSSES)}")
        opts = dict(opts) if isinstance(opts, dict) else {"weight": float(opts)}
        w = float(opts.pop("weight", 1.0))
        if name in NEEDS_COUNTS:
            if class_counts is None:
                raise ValueError(f"loss {name!r} needs the dataset's class counts (class_stats.json)")
            opts["class_counts"] = class_counts
        built.append((w, LOSSES[name](ignore_index=ignore_index, **opts)))
    return built[0][1] if len(built) == 1 and built[0][0] == 1.0 else WeightedSum(built)


def class_counts_from_stats(work: str | Path) -> torch.Tensor:
    """(K,) float64 per-class pixel counts of the training split, from the verified statistics
    (``load_stats``), never from a ``class_stats.json`` that could have been edited by hand."""
    from ..data.workdir import WorkDir

    return torch.as_tensor(WorkDir.of(work).stats().pixels, dtype=torch.float64)
