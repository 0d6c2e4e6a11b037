"""Dataset layouts: one module each. ``get_layout(name, root, split, **options)`` builds one."""

from __future__ import annotations

from pathlib import Path

from .ade20k import ADE20KLayout
from .base import Layout, Sample
from .camvid import CamVidLayout
from .cityscapes import CityscapesLayout
from .coco_stuff import COCOStuffLayout
from .folder import FolderLayout

LAYOUTS: dict[str, type[Layout]] = {
    "cityscapes": CityscapesLayout,
    "ade20k": ADE20KLayout,
    "coco_stuff164k": COCOStuffLayout,
    "camvid": CamVidLayout,
    "folder": FolderLayout,
}


def get_layout(name: str, root: str | Path, split: str, **options) -> Layout:
    """Build a layout by name; options that are ``None`` are left at the layout's default."""
    try:
        cls = LAYOUTS[name]
    except KeyError:
        raise ValueError(f"unknown layout {name!r}; choose one of {', '.join(LAYOUTS)}") from None
    return cls(root, split, **{k: v for k, v in options.items() if v is not None})


__all__ = ["LAYOUTS", "Layout", "Sample", "get_layout"]
