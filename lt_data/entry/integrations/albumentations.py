"""AUCSeg's T-Memory Bank and paper 003's tail cutmix as albumentations transforms: :class:`BankPaste`,
:class:`CutmixPaste`.

::

    import albumentations as A
    from lt_data.entry.integrations.albumentations import BankPaste

    aug = A.Compose([
        A.RandomCrop(512, 1024),
        A.HorizontalFlip(),
        BankPaste(work="work/cityscapes", crop_size=(512, 1024)),   # or CutmixPaste(...)
        A.ColorJitter(),
    ], seed=0)
    out = aug(image=image_rgb, mask=label)  # label: (H, W) train ids of the work directory, 255 = ignore

A ``DualTransform``: it pastes objects of the tail classes the image lacks (``mask``) from
``WORK/bank.zarr`` into the image (pixels) and the mask (their class ids); the objects are drawn from
the transform's own random state, which ``A.Compose(..., seed=...)`` seeds (albumentations 2.x), so
the same seed gives the same pastes. The planner (:class:`lt_data.training.paste.planners.MemoryBankPaste`, through
:func:`lt_data.training.paste.planners.work_planner`) and the kernel (:func:`lt_data.training.paste.paste`) are the training
Dataset's; the paste dose is derived once, at construction, from the data for ``crop_size`` (the size
of the images this transform receives; default the work directory's median image), and
``paste_args`` override it. Images are RGB by default (``channel_order``), uint8 or float (0..1, as
albumentations' float images); the mask keeps its dtype. Place it after the geometric transforms.
Semantic label maps only: ``mask``, or ``masks`` (several label maps of one image, each given the
same pastes; the first decides which classes the image lacks); boxes and keypoints are not moved.
A label value that is neither a train id nor 255 (a raw dataset id) is refused in one line unless
``check_labels=False``. ``CutmixPaste`` is the same with ``WORK/cutmix.zarr``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

try:
    import albumentations as A
except ImportError as e:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(f"lt_data.entry.integrations.albumentations needs albumentations ({e}): `pip install albumentations` "
                      f"(or `pip install 'lt-data[albumentations]'`)") from e

from .image_paste import ImagePaste, global_generator
from ...data.geometry import TRAIN_SCALE_RANGE

_ALBUMENTATIONS_2 = int(A.__version__.split(".")[0]) >= 2


class _Paste(A.DualTransform):
    """The paste of mode ``mode`` as an albumentations transform (:class:`BankPaste`, :class:`CutmixPaste`)."""

    mode = "bank"

    def __init__(self, work: str | Path, paste_args: dict | None = None, crop_size: tuple[int, int] | None = None,
                 channel_order: str = "rgb", check_labels: bool = True, scale_range=TRAIN_SCALE_RANGE, p: float = 1.0):
        super().__init__(p=p)
        self.work = str(work)
        self.paste_args = dict(paste_args or {})
        self.channel_order = channel_order
        self.check_labels, self.scale_range = bool(check_labels), tuple(scale_range)
        self.core = ImagePaste(self.mode, work, self.paste_args, crop_size=crop_size, channel_order=channel_order,
                               check_labels=check_labels, scale_range=scale_range)
        self.crop_size = self.core.crop_size

    @property
    def dose(self):
        """The resolved paste dose (:class:`lt_data.training.paste.dose.Dose`)."""
        return self.core.dose

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("work", "paste_args", "crop_size", "channel_order", "check_labels", "scale_range")

    @property
    def targets_as_params(self) -> list[str]:
        # albumentations 2.x hands get_params_dependent_on_data every target, and requires the ones
        # named here: mask= or masks= is enough. 1.x only passes the ones named.
        return [] if _ALBUMENTATIONS_2 else ["mask"]

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        label = data.get("mask")
        if label is None and data.get("masks") is not None and len(data["masks"]):
            label = data["masks"][0]  # several label maps of one image: the first decides what it lacks
        if label is None:
            raise ValueError(f"{type(self).__name__} needs the label map: call the pipeline with mask=LABELS "
                             "((H, W) class ids of the work directory, 255 = ignore) or masks=[LABELS, ...]")
        rng = getattr(self, "random_generator", None)  # albumentations 2.x; 1.x draws from numpy's global state
        return {"plan": self.core.plan(label, rng if rng is not None else global_generator())}

    def get_params_dependent_on_targets(self, params: dict[str, Any]) -> dict[str, Any]:  # albumentations 1.x
        return self.get_params_dependent_on_data(params, params)

    def apply(self, img: np.ndarray, plan=None, **params: Any) -> np.ndarray:
        return self.core.apply(img, None, plan, float_max=255.0)[0]

    def apply_to_mask(self, mask: np.ndarray, plan=None, **params: Any) -> np.ndarray:
        return self.core.apply(None, mask, plan)[1]

    def apply_to_masks(self, masks, plan=None, **params: Any):
        """Each of ``masks`` (a list of (H, W) label maps, or an (N, H, W) array) gets the same pastes."""
        out = [self.apply_to_mask(m, plan) for m in masks]
        return np.stack(out) if isinstance(masks, np.ndarray) else out


class BankPaste(_Paste):
    """Paste tail objects from the work directory's memory bank into ``image`` and ``mask`` / ``masks``.

    Args:
        work: the lt-data work directory (statistics, buckets and ``bank.zarr``).
        paste_args: the bank's options (:class:`lt_data.training.paste.BankPasteArgs`, or a dict of its keys);
            dose options left out are derived from the data.
        crop_size: ``(h, w)`` of the images this transform receives, for the derived dose.
        channel_order: ``"rgb"`` (default) or ``"bgr"``, that of the images handed in.
        check_labels: refuse a label value that is neither a train id nor 255 (a raw dataset id).
        scale_range: the random rescale applied before this transform's crop, for the derived dose.
        p: probability of applying the transform.
    """

    mode = "bank"


class CutmixPaste(_Paste):
    """Paper 003's multi-level tail cutmix from the work directory's ``cutmix.zarr``: a level crop of
    an image holding a tail class (level 0: that class's pixels of the whole image) pasted at a
    random position of ``image`` and ``mask`` / ``masks``.

    Args:
        work: the lt-data work directory (statistics, buckets and ``cutmix.zarr``).
        paste_args: the cutmix options (:class:`lt_data.training.paste.CutmixPasteArgs`, or a dict of its keys);
            ``prob`` left out is derived (1: a crop in every image, as the paper does).
        crop_size, channel_order, check_labels, p: as for :class:`BankPaste`.
    """

    mode = "cutmix"


__all__ = ["BankPaste", "CutmixPaste"]
