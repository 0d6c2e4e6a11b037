"""What real segmenters return, made into what the losses and metrics take.

Models return logits in several shapes: a tensor ``(B, K, h, w)`` (our reference models, mmseg's
decode heads), an object with ``.logits`` (Hugging Face ``SemanticSegmenterOutput``, at 1/4 of the
input resolution for SegFormer), or a dict with ``"out"`` (torchvision's segmentation models). Labels
come as ``(B, H, W)`` or ``(B, 1, H, W)`` (mmseg's ``gt_sem_seg``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def logits_of(output) -> torch.Tensor:
    """The ``(B, K, h, w)`` logits of a model's output: a tensor, ``output.logits`` or ``output["out"]``."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, dict) or hasattr(output, "keys"):
        for key in ("out", "logits"):
            if key in output:
                return output[key]
    if getattr(output, "logits", None) is not None:
        return output.logits
    raise TypeError(f"cannot find logits in a model output of type {type(output).__name__}: expected a tensor, "
                    f"an object with .logits (Hugging Face) or a dict with 'out' (torchvision)")


def labels_2d(labels: torch.Tensor) -> torch.Tensor:
    """``(B, H, W)`` labels from ``(B, H, W)`` or ``(B, 1, H, W)``."""
    if labels.dim() == 4 and labels.shape[1] == 1:
        return labels[:, 0]
    if labels.dim() != 3:
        raise ValueError(f"labels must be (B, H, W) or (B, 1, H, W), got shape {tuple(labels.shape)}")
    return labels


def match(output, labels: torch.Tensor, align_corners: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits (B, K, H, W) at the labels' resolution, labels (B, H, W)) from any model output.

    Logits at another resolution are resized bilinearly, as mmseg's decode heads and Hugging Face's
    SegFormer examples do before their losses.
    """
    logits, labels = logits_of(output), labels_2d(labels)
    if logits.dim() != 4:
        raise ValueError(f"logits must be (B, K, H, W), got shape {tuple(logits.shape)}")
    if logits.shape[0] != labels.shape[0]:
        raise ValueError(f"{logits.shape[0]} logit maps for {labels.shape[0]} label maps")
    if logits.shape[2:] != labels.shape[1:]:
        logits = F.interpolate(logits, size=labels.shape[1:], mode="bilinear", align_corners=align_corners)
    return logits, labels


__all__ = ["labels_2d", "logits_of", "match"]
