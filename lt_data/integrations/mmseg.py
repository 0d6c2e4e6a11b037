"""AUCSeg's AUC loss and the PAT loss as mmsegmentation loss modules.

In an mmseg config (0.x or 1.x)::

    custom_imports = dict(imports=["lt_data.integrations.mmseg"], allow_failed_imports=False)
    model = dict(decode_head=dict(loss_decode=[
        dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=1.0),
        dict(type="LtDataAUCLoss", loss_weight=1.0),          # AUCSeg: 1 (Cityscapes, COCO-Stuff), 4 (ADE20K)
    ]))

Importing this module registers ``LtDataAUCLoss`` and ``LtDataPATLoss`` in mmseg's registry
(``mmseg.registry.MODELS`` in 1.x, ``mmseg.models.builder.LOSSES`` in 0.x) when mmseg is importable;
without mmseg the classes are plain ``torch.nn.Module`` s with the same call.

The call is the one mmseg's decode heads make (``BaseDecodeHead.loss_by_feat`` in 1.x, ``losses`` in
0.x): the logits already resized to the labels, the labels squeezed to ``(B, H, W)``, then
``loss(seg_logits, seg_label, weight=seg_weight, ignore_index=self.ignore_index)``; the head sums
the returned tensors of losses that share a ``loss_name``, which must start with ``loss_`` for mmseg
to count it in the total. ``weight`` is what mmseg's pixel samplers (OHEM) return, a 0/1 mask of
the hard pixels: pixels of weight 0 are ignored (the AUC and PAT losses are sums over pairs or
classes, not per-pixel means, so other weights have no meaning for them and are refused). Logits at
another resolution, or labels ``(B, 1, H, W)``, are accepted too (:func:`lt_data.outputs.match`).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..classes import IGNORE_INDEX
from ..losses import auc_loss, pat_loss
from ..outputs import match


class _MMSegLoss(nn.Module):
    default_name = "loss_lt"

    def __init__(self, loss_weight: float = 1.0, loss_name: str | None = None):
        super().__init__()
        name = loss_name or self.default_name
        if not name.startswith("loss_"):
            raise ValueError(f"loss_name must start with 'loss_' (mmseg adds only such entries to the total), "
                             f"got {name!r}")
        self.loss_weight = float(loss_weight)
        self._loss_name = name

    @property
    def loss_name(self) -> str:
        return self._loss_name

    def _value(self, logits: torch.Tensor, labels: torch.Tensor, ignore_index: int) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, cls_score: torch.Tensor, label: torch.Tensor, weight: torch.Tensor | None = None,
                ignore_index: int = IGNORE_INDEX, **kwargs) -> torch.Tensor:
        logits, labels = match(cls_score, label)
        if weight is not None:
            if weight.shape != labels.shape:
                raise ValueError(f"weight of shape {tuple(weight.shape)} does not match labels {tuple(labels.shape)}")
            if not bool(((weight == 0) | (weight == 1)).all()):
                raise ValueError(f"{type(self).__name__} takes a 0/1 pixel mask as weight (mmseg's OHEM sampler), "
                                 f"not general pixel weights")
            labels = torch.where(weight > 0, labels, torch.full_like(labels, ignore_index))
        return self.loss_weight * self._value(logits, labels, ignore_index)


class LtDataAUCLoss(_MMSegLoss):
    """AUCSeg's one-vs-one square AUC loss (:func:`lt_data.losses.auc_loss`), mmseg's loss convention."""

    default_name = "loss_auc"

    def __init__(self, loss_weight: float = 1.0, margin: float = 1.0, loss_name: str | None = None):
        super().__init__(loss_weight, loss_name)
        self.margin = float(margin)

    def _value(self, logits, labels, ignore_index):
        return auc_loss(logits, labels, margin=self.margin, ignore_index=ignore_index)


class LtDataPATLoss(_MMSegLoss):
    """The PAT loss, Eq. 4–5 (:func:`lt_data.losses.pat_loss`), mmseg's loss convention."""

    default_name = "loss_pat"

    def __init__(self, loss_weight: float = 1.0, temperature: float = 20.0, eps: float = 1e-6,
                 detach_weight: bool = False, loss_name: str | None = None):
        super().__init__(loss_weight, loss_name)
        self.temperature, self.eps, self.detach_weight = float(temperature), float(eps), bool(detach_weight)

    def _value(self, logits, labels, ignore_index):
        return pat_loss(logits, labels, temperature=self.temperature, eps=self.eps, ignore_index=ignore_index,
                        detach_weight=self.detach_weight)


def register(registry=None) -> list[str]:
    """Register both losses in ``registry`` (default: mmseg's, when importable). Returns the names
    registered ([] without mmseg)."""
    if registry is None:
        registry = _mmseg_registry()
        if registry is None:
            return []
    names = []
    for cls in (LtDataAUCLoss, LtDataPATLoss):
        if registry.get(cls.__name__) is None:
            registry.register_module(module=cls)
        names.append(cls.__name__)
    return names


def _mmseg_registry():
    try:
        from mmseg.registry import MODELS  # mmseg 1.x
        return MODELS
    except ImportError:
        pass
    try:
        from mmseg.models.builder import LOSSES  # mmseg 0.x
        return LOSSES
    except ImportError:
        return None


REGISTERED = register()

__all__ = ["LtDataAUCLoss", "LtDataPATLoss", "REGISTERED", "register"]
