"""Paste kernels: pure tensor functions that write object crops into a batch, on any device.

A paste plan is data (drawn once in a DataLoader worker, applied once on the device)::

    crops        (P, C, h, w)  same dtype as the images; object pixels, top-left aligned, padded
    crop_labels  (P, h, w)     uint8 or int64 label of each crop pixel
    masks        (P, h, w)     bool; True = this pixel belongs to the object (False in the padding)
    image_index  (P,)          int64 batch image that receives paste p
    offsets      (P, 2)        int64 (y, x) of the crop's top-left corner in that image

Semantics, whatever the strategy: pixel (i, y, x) takes the value of the *last* paste p (in plan
order) with ``image_index[p] == i`` whose mask covers it; pixels no mask covers are unchanged;
mask pixels that fall outside the image are dropped. The planner keeps crops inside the image, the
kernel does not rely on it.

Two strategies give identical results: ``"loop"`` (a Python loop over objects, each a box-local
``torch.where``: measured fastest on the CPU, where a few slicing ops per object cost microseconds)
and ``"scatter"`` (one batched scatter over all crop pixels, with a deterministic "last paste wins"
rule: no per-object Python, for devices where launch overhead dominates). ``"auto"`` picks ``loop``
on the CPU and ``scatter`` elsewhere; ``scripts/bench_paste.py`` measures both.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal

import torch

Strategy = Literal["auto", "loop", "scatter"]  # loop on the CPU, scatter on accelerators (auto)


@dataclass
class PastePlan:
    """What to paste where (see the module docstring for shapes).

    >>> import torch
    >>> crop = torch.full((1, 3, 2, 2), 200, dtype=torch.uint8)            # one 2x2 crop (P, C, h, w)
    >>> mask = torch.tensor([[[True, True], [True, False]]])               # its object: 3 pixels
    >>> plan = PastePlan(crop, torch.full((1, 2, 2), 7), mask, image_index=torch.tensor([0]),
    ...                  offsets=torch.tensor([[1, 2]]))                    # into image 0 at (y 1, x 2)
    >>> len(plan), len(PastePlan.empty())
    (1, 0)
    """

    crops: torch.Tensor
    crop_labels: torch.Tensor
    masks: torch.Tensor
    image_index: torch.Tensor
    offsets: torch.Tensor
    classes: torch.Tensor | None = None  # (P,) int64: the class each paste was drawn for (information only)

    def __len__(self) -> int:
        return int(self.image_index.shape[0])

    def to(self, device, non_blocking: bool = False) -> "PastePlan":
        return PastePlan(**{f.name: None if getattr(self, f.name) is None else
                            getattr(self, f.name).to(device, non_blocking=non_blocking) for f in fields(self)})

    def pin_memory(self) -> "PastePlan":
        return PastePlan(**{f.name: None if getattr(self, f.name) is None else getattr(self, f.name).pin_memory()
                            for f in fields(self)})

    def __reduce__(self):
        # A DataLoader worker sends every tensor through its own shared-memory segment, which costs
        # more than the copy: travel as two tensors (pixels+labels+mask planes, and the index columns).
        if self.crops.dtype == torch.uint8 and self.crop_labels.dtype == torch.uint8 and self.crops.device.type == "cpu":
            planes = torch.cat([self.crops, self.crop_labels[:, None], self.masks.view(torch.uint8)[:, None]], 1)
            classes = self.classes if self.classes is not None else torch.full_like(self.image_index, -1)
            meta = torch.cat([self.image_index[:, None], self.offsets, classes[:, None]], 1)
            return (_unpack_plan, (planes, meta, self.classes is not None))
        return (PastePlan, tuple(getattr(self, f.name) for f in fields(self)))

    @staticmethod
    def empty(channels: int = 3, dtype: torch.dtype = torch.uint8) -> "PastePlan":
        return PastePlan(torch.zeros(0, channels, 1, 1, dtype=dtype), torch.zeros(0, 1, 1, dtype=torch.int64),
                         torch.zeros(0, 1, 1, dtype=torch.bool), torch.zeros(0, dtype=torch.int64),
                         torch.zeros(0, 2, dtype=torch.int64), torch.zeros(0, dtype=torch.int64))


def _unpack_plan(planes: torch.Tensor, meta: torch.Tensor, has_classes: bool) -> PastePlan:
    c = planes.shape[1] - 2
    return PastePlan(planes[:, :c], planes[:, c], planes[:, c + 1].view(torch.bool), meta[:, 0], meta[:, 1:3],
                     meta[:, 3] if has_classes else None)


def paste(images: torch.Tensor, labels: torch.Tensor, plan: PastePlan, *, strategy: Strategy = "auto",
          inplace: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply a paste plan to ``images (B, C, H, W)`` and ``labels (B, H, W)``; returns the new pair.

    >>> import torch
    >>> crop = torch.full((1, 3, 2, 2), 200, dtype=torch.uint8)            # one 2x2 crop (P, C, h, w)
    >>> mask = torch.tensor([[[True, True], [True, False]]])               # its object: 3 pixels
    >>> plan = PastePlan(crop, torch.full((1, 2, 2), 7), mask, image_index=torch.tensor([0]),
    ...                  offsets=torch.tensor([[1, 2]]))                    # into image 0 at (y 1, x 2)
    >>> images, labels = torch.zeros(1, 3, 4, 4), torch.zeros(1, 4, 4, dtype=torch.long)
    >>> images, labels = paste(images, labels, plan)                        # new tensors (inplace=False)
    >>> labels[0].tolist()                                                  # the mask's pixels got class 7
    [[0, 0, 0, 0], [0, 0, 7, 7], [0, 0, 7, 0], [0, 0, 0, 0]]
    >>> float(images[0, 0, 1, 2]), float(images[0, 0, 2, 3])                # pixels too; outside the mask: kept
    (200.0, 0.0)
    """
    if images.dim() != 4 or labels.dim() != 3 or images.shape[0] != labels.shape[0] \
            or images.shape[2:] != labels.shape[1:]:
        raise ValueError(f"expected images (B, C, H, W) and labels (B, H, W), got {tuple(images.shape)} "
                         f"and {tuple(labels.shape)}")
    if not inplace:
        images, labels = images.clone(), labels.clone()
    if len(plan) == 0:
        return images, labels
    plan = plan.to(images.device)
    plan.crop_labels = plan.crop_labels.to(labels.dtype)
    crops = plan.crops.to(images.dtype)
    if strategy == "auto":
        strategy = "loop" if images.device.type == "cpu" else "scatter"
    if strategy == "loop":
        _paste_loop(images, labels, crops, plan)
    elif strategy == "scatter":
        _paste_scatter(images, labels, crops, plan)
    else:
        raise ValueError(f"strategy must be auto, loop or scatter, not {strategy!r}")
    return images, labels


def pasted_mask(plan: PastePlan, shape: tuple[int, int, int], *, device=None, ignore_index: int = 255,
                strategy: Strategy = "auto") -> torch.Tensor:
    """(B, H, W) bool: the pixels whose final label a paste of ``plan`` set to a class (not ignore),
    for a batch of ``shape`` (B, H, W). The same kernel as :func:`paste`, on a one-channel plane.

    >>> import torch
    >>> crop = torch.full((1, 3, 2, 2), 200, dtype=torch.uint8)            # one 2x2 crop (P, C, h, w)
    >>> mask = torch.tensor([[[True, True], [True, False]]])               # its object: 3 pixels
    >>> plan = PastePlan(crop, torch.full((1, 2, 2), 7), mask, image_index=torch.tensor([0]),
    ...                  offsets=torch.tensor([[1, 2]]))                    # into image 0 at (y 1, x 2)
    >>> int(pasted_mask(plan, (1, 4, 4)).sum())
    3
    """
    b, h, w = shape
    device = plan.image_index.device if device is None else torch.device(device)
    plane = torch.zeros((b, 1, h, w), dtype=torch.uint8, device=device)
    marks = torch.zeros((b, h, w), dtype=torch.uint8, device=device)
    if len(plan):
        labelled = (plan.crop_labels.to(device) != ignore_index) & plan.masks.to(device)
        flag = labelled.to(torch.uint8)
        mark_plan = PastePlan(flag[:, None], flag, plan.masks.to(device), plan.image_index.to(device),
                              plan.offsets.to(device))
        paste(plane, marks, mark_plan, strategy=strategy, inplace=True)
    return marks.bool()


def paste_figures(labels: torch.Tensor, plan: PastePlan | None, *, ignore_index: int = 255) -> dict:
    """What a paste did to a batch, from its labels after pasting ``(B, H, W)`` and its plan:

    - ``pasted_share``: 0-dim float tensor (on the labels' device, no host sync): the fraction of
      the batch's labelled pixels whose label a paste set;
    - ``pasted_objects``: float, pastes per image (mean over the batch).

    >>> import torch
    >>> crop = torch.full((1, 3, 2, 2), 200, dtype=torch.uint8)            # one 2x2 crop (P, C, h, w)
    >>> mask = torch.tensor([[[True, True], [True, False]]])               # its object: 3 pixels
    >>> plan = PastePlan(crop, torch.full((1, 2, 2), 7), mask, image_index=torch.tensor([0]),
    ...                  offsets=torch.tensor([[1, 2]]))                    # into image 0 at (y 1, x 2)
    >>> labels = torch.zeros(1, 4, 4, dtype=torch.long)
    >>> figures = paste_figures(paste(torch.zeros(1, 3, 4, 4), labels, plan)[1], plan)
    >>> float(figures["pasted_share"]), figures["pasted_objects"]           # 3 of 16 labelled pixels, 1 paste
    (0.1875, 1.0)
    """
    b = labels.shape[0]
    if plan is None or not len(plan):
        return {"pasted_share": torch.zeros((), device=labels.device), "pasted_objects": 0.0}
    covered = pasted_mask(plan, tuple(labels.shape), device=labels.device, ignore_index=ignore_index)
    labelled = (labels != ignore_index).sum().clamp_min(1)
    return {"pasted_share": covered.sum() / labelled, "pasted_objects": len(plan) / max(b, 1)}


def _paste_loop(images, labels, crops, plan: PastePlan) -> None:
    _, _, hh, ww = images.shape
    ph, pw = plan.masks.shape[1:]
    # One host transfer for all offsets, then pure slicing: no sync inside the loop.
    idx = plan.image_index.tolist()
    offs = plan.offsets.tolist()
    for p, (i, (y, x)) in enumerate(zip(idx, offs)):
        y0, x0 = max(y, 0), max(x, 0)
        y1, x1 = min(y + ph, hh), min(x + pw, ww)
        if y1 <= y0 or x1 <= x0:
            continue
        cy, cx = y0 - y, x0 - x
        m = plan.masks[p, cy:cy + y1 - y0, cx:cx + x1 - x0]
        img = images[i, :, y0:y1, x0:x1]
        img.copy_(torch.where(m, crops[p, :, cy:cy + y1 - y0, cx:cx + x1 - x0], img))
        lab = labels[i, y0:y1, x0:x1]
        lab.copy_(torch.where(m, plan.crop_labels[p, cy:cy + y1 - y0, cx:cx + x1 - x0], lab))


def _paste_scatter(images, labels, crops, plan: PastePlan) -> None:
    b, c, hh, ww = images.shape
    p, ph, pw = plan.masks.shape
    dev = images.device
    ys = plan.offsets[:, 0, None, None] + torch.arange(ph, device=dev)[None, :, None]
    xs = plan.offsets[:, 1, None, None] + torch.arange(pw, device=dev)[None, None, :]
    inside = plan.masks & (ys >= 0) & (ys < hh) & (xs >= 0) & (xs < ww)
    dump = b * hh * ww  # out-of-image and non-mask pixels all land on one extra slot
    dest = torch.where(inside, (plan.image_index[:, None, None] * hh + ys) * ww + xs, torch.full_like(ys, dump))
    order = torch.arange(p, device=dev)[:, None, None].expand(p, ph, pw)
    # "last paste wins", deterministically: each destination keeps only its highest paste index
    winner = torch.full((dump + 1,), -1, dtype=torch.int64, device=dev)
    winner.scatter_reduce_(0, dest.reshape(-1), order.reshape(-1), reduce="amax")
    write = inside & (winner[dest] == order)
    dest = torch.where(write, dest, torch.full_like(dest, dump)).reshape(-1)
    lab_flat = torch.cat([labels.reshape(-1), labels.new_zeros(1)])
    lab_flat.scatter_(0, dest, plan.crop_labels.reshape(-1))
    labels.copy_(lab_flat[:-1].view_as(labels))
    # images: channel-major flat index so one scatter writes every channel
    img_flat = torch.cat([images.permute(1, 0, 2, 3).reshape(c, -1), images.new_zeros(c, 1)], 1)
    img_flat.scatter_(1, dest[None].expand(c, -1), crops.permute(1, 0, 2, 3).reshape(c, -1))
    images.copy_(img_flat[:, :-1].reshape(c, b, hh, ww).permute(1, 0, 2, 3))
