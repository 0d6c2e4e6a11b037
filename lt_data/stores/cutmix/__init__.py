"""Multi-level tail cutmix subsets (paper 003): for each tail class b, the images containing b and
their level boxes, in ``WORK/cutmix.zarr``.

Level 0 is the whole image; level 1 the minimum rectangle around all of b's pixels in the image;
level t ≥ 2 that rectangle (x1, y1, w, h) expanded by (r + s·t) of its width and height on each side
and clipped to the image::

    x1 -= (r + s·t)·w;  y1 -= (r + s·t)·h;  w += 2(r + s·t)·w;  h += 2(r + s·t)·h     (0 < r < 1, s > 1)

Boxes are integer pixel boxes (y0, x0, y1, x1), half-open: the smallest integer box containing the
real-valued one (floor of the top-left, ceil of the bottom-right, to within 1e-9 px so that
float noise in r + s·t never adds a pixel), then clipped to [0, H] × [0, W].

The store keeps boxes and references (sample rows), not crops: a level-0 "crop" is the whole image
and levels overlap, so stored crops would copy the dataset several times over; the reader decodes
a source image once and slices every level from it (``TailCutmix.crops``). Schema in
``docs/BANK_FORMAT.md``.
"""

from ...core.names import CUTMIX_DIR  # noqa: F401  (re-exported)
from .build import (DEFAULT_LEVELS, DEFAULT_RATIO, DEFAULT_STEP, build_cutmix, class_rects, level_boxes,
                    validate_params)
from .reader import TailCutmix, format_summary

__all__ = ["CUTMIX_DIR", "DEFAULT_LEVELS", "DEFAULT_RATIO", "DEFAULT_STEP", "TailCutmix", "build_cutmix",
           "class_rects", "format_summary", "level_boxes", "validate_params"]
