"""The training geometry (random scale, pad, crop, flip) as parameters drawn once and applied to any array.

Split as augmentation libraries do (draw the parameters, then apply them): the training Dataset
applies one draw to an image and its label, and the paste dose (:mod:`lt_data.training.paste.dose`) applies the
same draws to labels alone, to see the crops training will see without decoding an image.
Torch-free (the report imports it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.classes import IGNORE_INDEX

TRAIN_SCALE_RANGE = (0.5, 1.5)  # lt-data train's random rescale (TrainConfig.scale_range), which the dose assumes


@dataclass(frozen=True)
class Geometry:
    """One draw: resize to ``size`` (H, W), pad bottom/right by ``pad`` (rows, columns), take the
    ``crop`` (H, W) at ``offset`` (y, x) (None: no crop), then flip horizontally if ``flip``."""

    size: tuple[int, int]
    pad: tuple[int, int]
    crop: tuple[int, int] | None
    offset: tuple[int, int]
    flip: bool


def draw_geometry(shape: tuple[int, int], rng: np.random.Generator, *, crop_size: tuple[int, int] | None,
                  scale_range=TRAIN_SCALE_RANGE, flip: float = 0.5) -> Geometry:
    """The geometry of one training item of ``shape`` (H, W), drawn from ``rng`` in a fixed order
    (scale, crop position, flip), so that a seed gives the same item whoever applies it."""
    lo, hi = scale_range
    s = float(rng.uniform(lo, hi))
    h, w = shape
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    pad, crop, offset = (0, 0), None, (0, 0)
    if crop_size is not None:
        ch, cw = int(crop_size[0]), int(crop_size[1])
        pad = (max(ch - nh, 0), max(cw - nw, 0))
        y = int(rng.integers(0, nh + pad[0] - ch + 1))
        x = int(rng.integers(0, nw + pad[1] - cw + 1))
        crop, offset = (ch, cw), (y, x)
    return Geometry((nh, nw), pad, crop, offset, bool(rng.random() < flip))


def apply_geometry(array: np.ndarray, g: Geometry, *, label: bool) -> np.ndarray:
    """``array`` (H, W) or (H, W, C) through ``g``: bilinear and 0 padding for an image, nearest and
    ignore padding for a label (``label=True``)."""
    import cv2  # here, not at import: the CLI's help and the config read TRAIN_SCALE_RANGE from this module

    nh, nw = g.size
    out = cv2.resize(array, (nw, nh), interpolation=cv2.INTER_NEAREST if label else cv2.INTER_LINEAR)
    ph, pw = g.pad
    if ph or pw:
        value = IGNORE_INDEX if label else (0, 0, 0)
        out = cv2.copyMakeBorder(out, 0, ph, 0, pw, cv2.BORDER_CONSTANT, value=value)
    if g.crop is not None:
        (y, x), (ch, cw) = g.offset, g.crop
        out = out[y:y + ch, x:x + cw]
    return out[:, ::-1] if g.flip else out


def train_geometry(image: np.ndarray, label: np.ndarray, rng: np.random.Generator, *,
                   crop_size: tuple[int, int] | None, scale_range=TRAIN_SCALE_RANGE, flip: float = 0.5
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Random scale, pad, crop and flip, applied identically to ``image (H, W, 3)`` and ``label (H, W)``."""
    g = draw_geometry(label.shape[:2], rng, crop_size=crop_size, scale_range=scale_range, flip=flip)
    return apply_geometry(image, g, label=False), apply_geometry(label, g, label=True)


__all__ = ["TRAIN_SCALE_RANGE", "Geometry", "apply_geometry", "draw_geometry", "train_geometry"]
