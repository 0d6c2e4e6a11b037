"""Evaluation: one confusion matrix over a whole split, per-class IoU, and head/middle/tail mIoU.

IoU is computed from the accumulated confusion matrix (not averaged over batches). A class with no
ground-truth pixels in the split is *absent*: its IoU is ``None`` and it is left out of every mean.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ..core.classes import IGNORE_INDEX
from ..core.names import BUCKET_NAMES

MEASURES = ("miou", *(f"miou_{b}" for b in BUCKET_NAMES))  # overall, then per bucket: metrics.json's keys

# torch is imported inside the classes below: the offline evaluation of prediction files
# (lt_data.training.evaluate) uses the numpy functions of this module and must start without it.


class ConfusionMatrix:
    """Accumulates ``(K, K)`` int64 counts on a device, rows = ground truth, columns = prediction.

    ``update`` never synchronises with the host: pixels whose label is ignored or outside the classes
    (and predictions outside them) land in an extra cell that is dropped, and counts are added with
    ``scatter_add_`` (``bincount`` would read the maximum back to size its output).
    """

    def __init__(self, num_classes: int, ignore_index: int = IGNORE_INDEX, device=None):
        import torch

        self.k = int(num_classes)
        self.ignore_index = ignore_index
        self.mat = torch.zeros(self.k * self.k + 1, dtype=torch.int64, device=device or "cpu")

    def update(self, pred, labels) -> None:
        """pred: (B, H, W) class ids, or logits (B, K, h, w) / any model output (resized to the labels,
        then argmax); labels: (B, H, W) or (B, 1, H, W) int, 255 = ignore."""
        import torch

        from ..core.outputs import labels_2d, match

        with torch.no_grad():
            labels = labels_2d(labels)
            if not isinstance(pred, torch.Tensor) or pred.dim() == 4:
                pred = match(pred, labels)[0].argmax(1)
            k = self.k
            y = labels.reshape(-1).to(self.mat.device).long()
            p = pred.reshape(-1).to(self.mat.device).long()
            valid = (y >= 0) & (y < k) & (p >= 0) & (p < k)
            cell = torch.where(valid, y * k + p, torch.full_like(y, k * k))
            self.mat.scatter_add_(0, cell, torch.ones_like(cell))

    def merge(self, other: "ConfusionMatrix") -> None:
        self.mat += other.mat.to(self.mat.device)

    def reset(self) -> None:
        self.mat.zero_()

    @property
    def matrix(self) -> np.ndarray:
        """(K, K) int64 on the host (one transfer)."""
        return self.mat[: self.k * self.k].view(self.k, self.k).cpu().numpy()


class BucketIoU(ConfusionMatrix):
    """A streaming metric for any training loop: overall / head / middle / tail mIoU.

    ``metric = BucketIoU.from_work("work/camvid", device="cuda")``; every step
    ``metric.update(model_output_or_predictions, labels)`` (on the device, no host sync); at the end
    ``metric.compute()`` sums the matrices of all ranks under ``torch.distributed`` (all-reduce) and
    returns the content of ``metrics.json`` (:func:`evaluate_confusion`), buckets from the work
    directory's ``buckets.json`` (checked against its statistics).
    """

    def __init__(self, num_classes: int, *, names: Sequence[str] | None = None, buckets: dict | None = None,
                 ignore_index: int = IGNORE_INDEX, device=None):
        super().__init__(num_classes, ignore_index, device)
        self.names = list(names) if names is not None else [str(i) for i in range(num_classes)]
        if len(self.names) != self.k:
            raise ValueError(f"{len(self.names)} class names for {self.k} classes")
        self.buckets = buckets

    @classmethod
    def from_work(cls, work: str | Path, *, device=None, ignore_index: int = IGNORE_INDEX) -> "BucketIoU":
        """Classes from the statistics of ``work`` (the training work directory), buckets from its
        ``buckets.json`` when there is one."""
        from ..data.workdir import WorkDir

        wd = WorkDir.of(work)
        table, buckets = wd.table, wd.buckets_or_none()
        return cls(table.num_classes, names=table.names, buckets=buckets.lists if buckets else None, ignore_index=ignore_index, device=device)

    def compute(self) -> dict:
        """``metrics.json``'s content over everything seen since the last ``reset``, on every rank."""
        import torch

        mat = self.mat
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            mat = mat.clone()
            torch.distributed.all_reduce(mat)
        return evaluate_confusion(mat[: self.k * self.k].view(self.k, self.k).cpu().numpy(), self.names,
                                  self.buckets)


def iou_from_confusion(mat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class IoU (K,) float (NaN for absent classes) and the present mask (K,) bool."""
    mat = np.asarray(mat, dtype=np.int64)
    tp = np.diag(mat).astype(np.float64)
    gt = mat.sum(1).astype(np.float64)
    pr = mat.sum(0).astype(np.float64)
    present = gt > 0
    union = gt + pr - tp
    iou = np.full(len(tp), np.nan)
    iou[present] = tp[present] / union[present]
    return iou, present


def evaluate_confusion(mat: np.ndarray, names: Sequence[str], buckets: dict | None = None) -> dict:
    """The content of ``metrics.json``: per-class IoU, overall and per-bucket mIoU, accuracies."""
    mat = np.asarray(mat, dtype=np.int64)
    iou, present = iou_from_confusion(mat)
    tp, gt = np.diag(mat), mat.sum(1)
    acc = np.where(present, tp / np.maximum(gt, 1), np.nan)
    per_class = []
    for k, name in enumerate(names):
        entry = {"id": k, "name": name, "iou": None if np.isnan(iou[k]) else float(iou[k]),
                 "acc": None if np.isnan(acc[k]) else float(acc[k]), "gt_pixels": int(gt[k]),
                 "pred_pixels": int(mat[:, k].sum())}
        if not present[k]:
            entry["absent"] = True
        if buckets:
            entry["bucket"] = next((b for b in BUCKET_NAMES if k in set(buckets.get(b, []))), None)
        per_class.append(entry)

    def mean_of(ids) -> float | None:
        vals = [iou[i] for i in ids if present[i]]
        return float(np.mean(vals)) if vals else None

    out = {
        "per_class": per_class,
        "miou": mean_of(range(len(names))),
        "pixel_accuracy": float(tp.sum() / max(gt.sum(), 1)),
        "mean_accuracy": float(np.nanmean(acc)) if present.any() else None,
        "num_present": int(present.sum()),
        "absent": [names[k] for k in range(len(names)) if not present[k]],
    }
    if buckets:
        for b in BUCKET_NAMES:
            out[f"miou_{b}"] = mean_of(buckets.get(b, []))
    return out


def format_metrics(metrics: dict) -> str:
    """A table like AUCSeg's: overall / head / middle / tail mIoU, then per-class IoU."""
    def pct(v):
        return "  n/a" if v is None else f"{100 * v:5.2f}"

    head = ["overall", *BUCKET_NAMES]
    vals = [metrics.get("miou")] + [metrics.get(f"miou_{b}") for b in head[1:]]
    lines = ["  ".join(f"{h:>8}" for h in head), "  ".join(f"{pct(v):>8}" for v in vals), ""]
    width = max(len(c["name"]) for c in metrics["per_class"])
    for c in metrics["per_class"]:
        tag = "absent" if c.get("absent") else pct(c["iou"])
        lines.append(f"{c['id']:>4}  {c['name']:<{width}}  {c.get('bucket') or '':<6}  {tag:>6}")
    lines.append(f"pixel accuracy {pct(metrics['pixel_accuracy'])}, mean accuracy {pct(metrics['mean_accuracy'])}")
    return "\n".join(lines)
