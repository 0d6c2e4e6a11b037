"""Dataset layouts: one module each. ``get_layout(name, root, split, **options)`` builds one."""

from __future__ import annotations

import inspect
from pathlib import Path

from ...core.errors import LtDataError
from ...core.fs import as_path, check_location
from .ade20k import ADE20KLayout
from .base import Layout, Sample
from .camvid import CamVidLayout
from .cityscapes import CityscapesLayout
from .coco_stuff import COCOStuffLayout
from .folder import FolderLayout
from .hf import HFLayout

LAYOUTS: dict[str, type[Layout]] = {
    "cityscapes": CityscapesLayout,
    "ade20k": ADE20KLayout,
    "coco_stuff164k": COCOStuffLayout,
    "camvid": CamVidLayout,
    "folder": FolderLayout,
    "hf": HFLayout,
}


def get_layout(name: str, root: str | Path, split: str, *, storage_options: dict | None = None,
               **options) -> Layout:
    """Build a layout by name; options that are ``None`` are left at the layout's default.

    ``root`` is a local path or an fsspec URL (``s3://bucket/cityscapes``), read with
    ``storage_options``. An unknown name or option is an :class:`LtDataError` listing what exists.
    """
    try:
        cls = LAYOUTS[name]
    except (KeyError, TypeError):
        raise LtDataError(f"unknown layout {name!r}; choose one of {', '.join(LAYOUTS)}") from None
    allowed = layout_options(cls)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise LtDataError(f"the {name} layout has no option {', '.join(map(repr, unknown))}; its options are "
                          f"{', '.join(allowed) if allowed else 'none'}")
    if cls is HFLayout and str(root).startswith("hf://datasets/"):  # a hub id, not a file system location
        return cls(str(root), split, **{k: v for k, v in options.items() if v is not None})
    check_location(root, "dataset root")
    return cls(as_path(root, storage_options), split, **{k: v for k, v in options.items() if v is not None})


def layout_options(cls: type[Layout]) -> list[str]:
    """The keyword-only options of a layout class (``reduce_zero_label``, ``source``, ...)."""
    params = inspect.signature(cls.__init__).parameters.values()
    return [p.name for p in params if p.kind is p.KEYWORD_ONLY]


__all__ = ["LAYOUTS", "Layout", "Sample", "get_layout", "layout_options"]
