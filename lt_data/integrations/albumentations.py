"""AUCSeg's T-Memory Bank paste as an albumentations transform: :class:`BankPaste`.

::

    import albumentations as A
    from lt_data.integrations.albumentations import BankPaste

    aug = A.Compose([
        A.RandomCrop(512, 1024),
        A.HorizontalFlip(),
        BankPaste(work="work/cityscapes", crop_size=(512, 1024)),
        A.ColorJitter(),
    ], seed=0)
    out = aug(image=image_rgb, mask=label)  # label: (H, W) train ids of the work directory, 255 = ignore

A ``DualTransform``: it pastes objects of the tail classes the image lacks (``mask``) from
``WORK/bank.zarr`` into the image (pixels) and the mask (their class ids); the objects are drawn from
the transform's own random state, which ``A.Compose(..., seed=...)`` seeds (albumentations 2.x), so
the same seed gives the same pastes. The planner (:class:`lt_data.augment.MemoryBankPaste`, through
:func:`lt_data.augment.work_planner`) and the kernel (:func:`lt_data.paste.paste`) are the training
Dataset's; the paste dose is derived once, at construction, from the data for ``crop_size`` (the size
of the images this transform receives; default the work directory's median image), and
``paste_args`` override it. Images are RGB by default (``channel_order``), uint8 or float (0..1, as
albumentations' float images); the mask keeps its dtype. Place it after the geometric transforms.
Only semantic label maps are supported (``mask``; not ``masks``, boxes or keypoints).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

try:
    import albumentations as A
except ImportError as e:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(f"lt_data.integrations.albumentations needs albumentations ({e}): `pip install albumentations` "
                      f"(or `pip install 'lt-data[albumentations]'`)") from e

from .image_paste import ImagePaste, global_generator


class BankPaste(A.DualTransform):
    """Paste tail objects from the work directory's memory bank into ``image`` and ``mask``.

    Args:
        work: the lt-data work directory (statistics, buckets and ``bank.zarr``).
        paste_args: planner options (``tail``, ``sample_ratio``, ``resize_ratio``, ``per_image``,
            ``max_per_image``, ...); dose options left out are derived from the data.
        crop_size: ``(h, w)`` of the images this transform receives, for the derived dose.
        channel_order: ``"rgb"`` (default) or ``"bgr"``, that of the images handed in.
        p: probability of applying the transform.
    """

    def __init__(self, work: str | Path, paste_args: dict | None = None, crop_size: tuple[int, int] | None = None,
                 channel_order: str = "rgb", p: float = 1.0):
        super().__init__(p=p)
        self.work = str(work)
        self.paste_args = dict(paste_args or {})
        self.channel_order = channel_order
        self.core = ImagePaste("bank", work, self.paste_args, crop_size=crop_size, channel_order=channel_order)
        self.crop_size = self.core.crop_size

    @property
    def dose(self):
        """The resolved paste dose (:class:`lt_data.dose.Dose`)."""
        return self.core.dose

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("work", "paste_args", "crop_size", "channel_order")

    @property
    def targets_as_params(self) -> list[str]:
        return ["mask"]

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        mask = data.get("mask")
        if mask is None:
            raise ValueError("BankPaste needs the label map: call the pipeline with mask=LABELS "
                             "((H, W) class ids of the work directory, 255 = ignore)")
        rng = getattr(self, "random_generator", None)  # albumentations 2.x; 1.x draws from numpy's global state
        return {"plan": self.core.plan(mask, rng if rng is not None else global_generator())}

    def get_params_dependent_on_targets(self, params: dict[str, Any]) -> dict[str, Any]:  # albumentations 1.x
        return self.get_params_dependent_on_data(params, params)

    def apply(self, img: np.ndarray, plan=None, **params: Any) -> np.ndarray:
        return self.core.apply(img, None, plan, float_max=255.0)[0]

    def apply_to_mask(self, mask: np.ndarray, plan=None, **params: Any) -> np.ndarray:
        return self.core.apply(None, mask, plan)[1]

    def apply_to_masks(self, masks, *args: Any, **params: Any):
        raise NotImplementedError("BankPaste pastes into a semantic label map (mask=), not into masks=")


__all__ = ["BankPaste"]
