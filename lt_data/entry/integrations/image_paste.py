"""Pasting into one image at a time, on the CPU, for other frameworks' per-image data pipelines.

mmseg's pipeline (:mod:`lt_data.entry.integrations.mmseg`) and albumentations
(:mod:`lt_data.entry.integrations.albumentations`) hand a transform one image ``(H, W, 3)`` and its label
map ``(H, W)`` as numpy arrays. :class:`ImagePaste` runs the training Dataset's machinery on them:
the planner of the work directory (:func:`lt_data.training.paste.planners.work_planner`, with the paste dose derived
from the data as the trainer derives it) draws a plan for a batch of one, and the kernel
(:func:`lt_data.training.paste.paste`) applies it. There is no second implementation of pasting here: only
the numpy ↔ tensor views, the channel order and the dtypes.

An ImagePaste pickles small: the planner's store reader pickles as its URL and reopens itself
lazily in the process that uses it (a DataLoader worker, another rank).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from ...core.classes import stray_label, stray_label_message
from ...core.errors import LtDataError
from ...data.geometry import TRAIN_SCALE_RANGE
from ...core.names import STORES, PasteMode
from ...training.paste.kernels import PastePlan, paste

CHANNEL_ORDERS = ("rgb", "bgr")
# label dtypes the kernel works on directly; others (uint16, uint32, ...) go through int64 and back
_TORCH_LABEL_DTYPES = {np.dtype(t) for t in (np.uint8, np.int8, np.int16, np.int32, np.int64)}


def _size_pair(crop_size) -> tuple[int, int] | None:
    if crop_size is None:
        return None
    if isinstance(crop_size, (int, np.integer)):
        return int(crop_size), int(crop_size)
    h, w = (int(v) for v in crop_size)
    if h <= 0 or w <= 0:
        raise ValueError(f"crop_size must be positive (h, w), got {crop_size!r}")
    return h, w


class ImagePaste:
    """The ``bank`` or ``cutmix`` paste of work directory ``work``, one image at a time.

    ``paste_args``: the planner's options (:class:`lt_data.training.paste.BankPasteArgs` /
    :class:`~lt_data.training.paste.CutmixPasteArgs`, or a dict of their keys); the dose options left out are derived from the data for ``crop_size`` ``(h, w)`` (the size of the
    images the transform receives; default: the work directory's median image), once, here, by
    :func:`lt_data.training.paste.planners.work_planner` — the same rule as ``lt-data train``. ``dose`` is the result.

    ``channel_order``: that of the images handed in (the bank stores RGB).

    ``scale_range``: the random rescale the pipeline applies to the stored images before its crop
    (mmseg's ``RandomResize`` ratio_range relative to the stored size), for the derived dose.

    ``check_labels``: every label map handed in is checked against the work directory's class count
    and the ignore index (one ``max()``); a raw dataset id (CamVid's void 11, ADE20K's 0..150) is
    refused in one line naming the value and how to convert it. ``False`` lets such values through.
    """

    def __init__(self, mode: PasteMode, work: str | Path, paste_args: dict | None = None, *, crop_size=None,
                 channel_order: str = "rgb", check_labels: bool = True, scale_range=TRAIN_SCALE_RANGE):
        from ...training.paste.planners import work_planner

        if mode not in STORES:
            raise LtDataError(f"paste mode must be one of {', '.join(STORES)}, not {mode!r}")
        order = str(channel_order).lower()
        if order not in CHANNEL_ORDERS:
            raise ValueError(f"channel_order must be 'rgb' or 'bgr', got {channel_order!r}")
        from ...training.paste.args import PasteArgs

        if paste_args is not None and not isinstance(paste_args, (dict, PasteArgs)):
            raise ValueError(f"paste_args must be a dict of planner options (or lt_data.training.paste.BankPasteArgs / "
                             f"CutmixPasteArgs), got {type(paste_args).__name__}")
        from ...data.workdir import WorkDir

        wd = WorkDir.of(work)
        self.mode, self.work, self.channel_order = mode, str(work), order
        self.crop_size = _size_pair(crop_size)
        self.planner = work_planner(mode, wd, paste_args, crop_size=self.crop_size, scale_range=tuple(scale_range))
        self.dose = self.planner.dose
        self.check_labels = bool(check_labels)
        self.num_classes = wd.table.num_classes

    def __repr__(self) -> str:
        return f"ImagePaste({self.mode!r}, {self.work!r}, {self.dose.describe() if self.dose else ''})"

    # ---- plan -----------------------------------------------------------------------------------
    def plan(self, label: np.ndarray, rng: np.random.Generator) -> PastePlan:
        """The paste plan for one label map ``(H, W)`` (or ``(H, W, 1)``), drawn from ``rng``."""
        lab = _label_plane(label)
        if self.check_labels:
            value = stray_label(lab, self.num_classes)
            if value is not None:
                raise LtDataError(f"{self.mode} paste of {self.work}: {stray_label_message(value, self.num_classes)}")
        if lab.dtype not in _TORCH_LABEL_DTYPES:
            lab = lab.astype(np.int64)
        return self.planner.plan(torch.from_numpy(np.ascontiguousarray(lab))[None], rng)

    # ---- apply ----------------------------------------------------------------------------------
    def apply(self, image: np.ndarray | None, label: np.ndarray | None, plan: PastePlan, *,
              float_max: float | None = None) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Apply ``plan`` to ``image (H, W, 3)`` and/or ``label (H, W)`` (either may be None); returns new
        arrays of the same shapes and dtypes (the inputs are not modified). The crops' pixels (uint8,
        0..255) go into a floating-point image divided by ``float_max`` when given (albumentations'
        float images hold 0..1: 255), else as they are (mmseg's float images hold 0..255)."""
        if image is not None:
            image = np.asarray(image)
            if image.ndim != 3 or image.shape[2] != 3:
                raise ValueError(f"expected an image (H, W, 3), got shape {image.shape}")
        if label is not None:
            label = np.asarray(label)
            plane = _label_plane(label)
        if image is not None and label is not None and image.shape[:2] != plane.shape:
            raise ValueError(f"image {image.shape[:2]} and label map {plane.shape} differ in size: paste after "
                             f"the transforms that resize or crop both")
        if plan is None or len(plan) == 0:
            return image, label
        h, w = image.shape[:2] if image is not None else plane.shape
        crops = plan.crops.flip(1) if self.channel_order == "bgr" else plan.crops
        if image is not None:
            out_img = np.array(image, order="C", copy=True)
            img_t = torch.from_numpy(out_img).permute(2, 0, 1)[None]  # a view: the kernel writes into out_img
            if out_img.dtype.kind == "f" and float_max is not None:
                crops = crops.to(img_t.dtype) / float_max
        else:  # labels only: a one-channel scratch image
            out_img, img_t, crops = None, torch.zeros((1, 1, h, w), dtype=torch.uint8), crops[:, :1]
        if label is not None:
            out_lab = np.array(label, order="C", copy=True)
            work_lab = _label_plane(out_lab)
            cast = work_lab.dtype not in _TORCH_LABEL_DTYPES
            if cast:
                work_lab = work_lab.astype(np.int64)
            lab_t = torch.from_numpy(work_lab)[None]
        else:
            out_lab, lab_t, cast = None, torch.zeros((1, h, w), dtype=torch.uint8), False
        paste(img_t, lab_t, dataclasses.replace(plan, crops=crops), inplace=True)
        if cast:
            _label_plane(out_lab)[...] = lab_t[0].numpy().astype(out_lab.dtype)
        return out_img, out_lab


def _label_plane(label: np.ndarray) -> np.ndarray:
    """``(H, W)`` view of a label map given as ``(H, W)`` or ``(H, W, 1)``."""
    label = np.asarray(label)
    if label.ndim == 3 and label.shape[2] == 1:
        label = label[..., 0]
    if label.ndim != 2:
        raise ValueError(f"expected a label map (H, W) of class ids, got shape {label.shape}")
    if label.dtype.kind not in "iu":
        raise ValueError(f"expected an integer label map (class ids, 255 = ignore), got dtype {label.dtype}")
    return label


def global_generator() -> np.random.Generator:
    """A Generator seeded from numpy's global state (``np.random.seed``): what mmengine seeds per
    DataLoader worker from its ``randomness`` config, and what albumentations 1.x draws from."""
    return np.random.default_rng(np.random.randint(0, 2**32, size=4, dtype=np.uint64))


def worker_key() -> list[int]:
    """[DataLoader worker id + 1 (0 in the main process), distributed rank]: mixed into a fixed seed
    so that workers and ranks do not all draw the same pastes."""
    info = torch.utils.data.get_worker_info()
    rank = torch.distributed.get_rank() if torch.distributed.is_available() and torch.distributed.is_initialized() \
        else 0
    return [0 if info is None else int(info.id) + 1, int(rank)]


__all__ = ["CHANNEL_ORDERS", "ImagePaste", "global_generator", "worker_key"]
