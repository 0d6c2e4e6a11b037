"""Evaluation: one confusion matrix over a whole split, per-class IoU, and head/middle/tail mIoU.

IoU is computed from the accumulated confusion matrix (not averaged over batches). A class with no
ground-truth pixels in the split is *absent*: its IoU is ``None`` and it is left out of every mean.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from .classes import IGNORE_INDEX


class ConfusionMatrix:
    """Accumulates ``(K, K)`` int64 counts, rows = ground truth, columns = prediction."""

    def __init__(self, num_classes: int, ignore_index: int = IGNORE_INDEX, device: torch.device | str = "cpu"):
        self.k = num_classes
        self.ignore_index = ignore_index
        self.mat = torch.zeros(num_classes * num_classes, dtype=torch.int64, device=device)

    @torch.no_grad()
    def update(self, pred: torch.Tensor, labels: torch.Tensor) -> None:
        """pred: (B, H, W) class ids or (B, K, H, W) logits; labels: (B, H, W) int64, 255 = ignore."""
        if pred.dim() == 4:
            pred = pred.argmax(1)
        k = self.k
        y = labels.reshape(-1).to(self.mat.device).long()
        p = pred.reshape(-1).to(self.mat.device).long()
        valid = (y >= 0) & (y < k) & (p >= 0) & (p < k)
        # invalid pixels go to an extra bin that is dropped: no data-dependent indexing, no host sync
        cell = torch.where(valid, y * k + p, torch.full_like(y, k * k))
        self.mat += torch.bincount(cell, minlength=k * k + 1)[: k * k]

    def merge(self, other: "ConfusionMatrix") -> None:
        self.mat += other.mat.to(self.mat.device)

    @property
    def matrix(self) -> np.ndarray:
        return self.mat.view(self.k, self.k).cpu().numpy()


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
            entry["bucket"] = next((b for b in ("head", "middle", "tail") if k in set(buckets.get(b, []))), None)
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
        for b in ("head", "middle", "tail"):
            out[f"miou_{b}"] = mean_of(buckets.get(b, []))
    return out


def format_metrics(metrics: dict) -> str:
    """A table like AUCSeg's: overall / head / middle / tail mIoU, then per-class IoU."""
    def pct(v):
        return "  n/a" if v is None else f"{100 * v:5.2f}"

    head = ["overall", "head", "middle", "tail"]
    vals = [metrics.get("miou")] + [metrics.get(f"miou_{b}") for b in head[1:]]
    lines = ["  ".join(f"{h:>8}" for h in head), "  ".join(f"{pct(v):>8}" for v in vals), ""]
    width = max(len(c["name"]) for c in metrics["per_class"])
    for c in metrics["per_class"]:
        tag = "absent" if c.get("absent") else pct(c["iou"])
        lines.append(f"{c['id']:>4}  {c['name']:<{width}}  {c.get('bucket') or '':<6}  {tag:>6}")
    lines.append(f"pixel accuracy {pct(metrics['pixel_accuracy'])}, mean accuracy {pct(metrics['mean_accuracy'])}")
    return "\n".join(lines)
