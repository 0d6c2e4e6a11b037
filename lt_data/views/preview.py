"""``lt-data preview``: training batches before and after pasting, as one picture.

Each row is one training image: the image, its labels overlaid in the class palette, then the same
two after pasting, with every pasted object outlined in white and the pasted classes named on a dark
box. Column titles sit above the grid and a legend below it names the colour of every class shown
(text at least 14 px, 1/24 of an image's width for larger images; :mod:`lt_data.core.raster`).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from ..training.dataset import SegmentationDataset, apply_paste, make_loader
from ..core.errors import LtDataError, show_path
from ..core.names import PasteMode
from ..training.paste.kernels import PastePlan, paste_figures
from ..data.workdir import WorkDir

from ..core.classes import IGNORE_INDEX
from ..training.config import TrainConfig


def overlay(image: np.ndarray, label: np.ndarray, colors: np.ndarray, alpha: float = 0.55) -> np.ndarray:
    """Blend the class colours of ``label (H, W)`` over ``image (H, W, 3)``; ignore stays the image."""
    pal = np.zeros((256, 3), np.uint8)
    pal[: len(colors)] = colors
    color = pal[label.clip(0, 255).astype(np.uint8)]
    valid = (label != IGNORE_INDEX)[..., None]
    out = np.where(valid, (alpha * color + (1 - alpha) * image).astype(np.uint8), image)
    return out


def _pasted_owner(plan: PastePlan, b: int, h: int, w: int) -> np.ndarray:
    """(B, H, W) index of the paste that shows at each pixel, −1 where none."""
    owner = -np.ones((b, h, w), np.int64)
    for p in range(len(plan)):
        i = int(plan.image_index[p])
        y, x = plan.offsets[p].tolist()
        ys, xs = np.nonzero(plan.masks[p].numpy())
        ys, xs = ys + y, xs + x
        ok = (ys >= 0) & (ys < h) & (xs >= 0) & (xs < w)
        owner[i, ys[ok], xs[ok]] = p
    return owner


def _outline(img: np.ndarray, owner: np.ndarray) -> np.ndarray:
    out = img.copy()
    for p in np.unique(owner[owner >= 0]):
        m = (owner == p).astype(np.uint8)
        contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(out, contours, -1, (255, 255, 255), 1)
    return out


COLUMN_TITLES = ("image", "labels", "after paste", "pasted labels (outlined)")


def text_px(width: int) -> int:
    """Text size in pixels for cells ``width`` pixels wide: 1/24 of a cell (20 px on CamVid's 480),
    14 to 48 px, so it still reads when the 4-cell-wide grid is shown scaled to a screen."""
    return int(np.clip(round(width / 24), 14, 48))


def batch_rows(images: torch.Tensor, labels: torch.Tensor, plan: PastePlan, colors: np.ndarray,
               names: list[str] | None, px: int) -> tuple[np.ndarray, set[int], bool, bool]:
    """(the batch's rows (B·(H+2), 4·(W+2), 3) uint8, the class ids shown before or after pasting,
    whether ignore pixels are shown, whether anything was pasted); ``px``: the text size."""
    from ..core.raster import boxed_text, font, wrap

    after_img, after_lab = apply_paste({"images": images, "labels": labels, "plan": plan}, inplace=False)
    b, _, h, w = images.shape
    owner = _pasted_owner(plan, b, h, w)
    rows, shown = [], set()
    ignore = False
    for i in range(b):
        im0 = images[i].permute(1, 2, 0).numpy()
        im1 = after_img[i].permute(1, 2, 0).numpy()
        lab0, lab1 = labels[i].numpy(), after_lab[i].numpy()
        for lab in (lab0, lab1):
            values = np.unique(lab)
            shown.update(int(v) for v in values if v < len(colors))
            ignore = ignore or bool((values == IGNORE_INDEX).any())
        cells = [im0, overlay(im0, lab0, colors), _outline(im1, owner[i]), _outline(overlay(im1, lab1, colors), owner[i])]
        if names is not None:  # on the "after paste" cell, over a dark box: readable on sky and road alike
            pasted = sorted({names[int(plan.classes[p])] for p in np.unique(owner[i][owner[i] >= 0])})
            fnt = font(px)
            lines = wrap("pasted: " + (", ".join(pasted) if pasted else "nothing"), fnt, w - 12)
            cells[2] = boxed_text(cells[2], lines, (2, 2), fnt)
        rows.append(np.concatenate([np.pad(c, ((1, 1), (1, 1), (0, 0)), constant_values=40) for c in cells], 1))
    return np.concatenate(rows, 0), shown, ignore, bool((owner >= 0).any())


def legend_entries(shown: set[int], ignore: bool, pasted: bool, colors: np.ndarray,
                   names: list[str]) -> list[tuple[str, tuple | None | bool]]:
    """The legend under a preview: (name, colour) of every class shown, by id; then the pasted
    outline (colour None) and the uncoloured ignore pixels (False) when there are any."""
    entries: list[tuple[str, tuple | None | bool]] = [(names[c], tuple(int(v) for v in colors[c]))
                                                      for c in sorted(shown)]
    if pasted:
        entries.append(("pasted object (outlined)", None))
    if ignore:
        entries.append(("ignore: not coloured", False))
    return entries


def _legend(shown: set[int], ignore: bool, pasted: bool, colors: np.ndarray, names: list[str], width: int,
            px: int) -> np.ndarray:
    from ..core.raster import legend

    return legend(legend_entries(shown, ignore, pasted, colors, names), width, px, title="classes:")


def compose(grids: list[np.ndarray], shown: set[int], ignore: bool, pasted: bool, colors: np.ndarray,
            names: list[str] | None, px: int, *, titles: bool = True, legend: bool = True) -> np.ndarray:
    """One picture of batch grids (:func:`batch_rows`) one under another, a white gap between them;
    with ``titles`` the column titles once on top, with ``legend`` and ``names`` one legend below
    naming the colour of every class shown."""
    from ..core.raster import title_band

    width = grids[0].shape[1]
    gap = np.full((max(6, px // 2), width, 3), 255, np.uint8)
    parts = [title_band(list(COLUMN_TITLES), width // 4, px + 2)] if titles else []
    for k, g in enumerate(grids):
        parts += [gap, g] if k else [g]
    if legend and names is not None:
        parts.append(_legend(shown, ignore, pasted, colors, names, width, px))
    return np.concatenate(parts, 0)


def render_batch(images: torch.Tensor, labels: torch.Tensor, plan: PastePlan, colors: np.ndarray,
                 names: list[str] | None = None, *, titles: bool = True, legend: bool = True) -> np.ndarray:
    """(T + B·(H+2) + L, 4·(W+2), 3) uint8 grid: image | labels | pasted image | pasted labels
    (outlined), one row per image; with ``titles`` a band of column titles on top (T rows), and
    with ``legend`` and ``names`` a colour legend of the classes shown below (L rows)."""
    px = text_px(images.shape[3])
    grid, shown, ignore, pasted = batch_rows(images, labels, plan, colors, names, px)
    return compose([grid], shown, ignore, pasted, colors, names, px, titles=titles, legend=legend)


def write_preview(work: str | Path, out: str | Path, *, mode: PasteMode = "bank", batches: int = 2, batch_size: int = 4,
                  crop_size: tuple[int, int] | None = None, scale_range: tuple[float, float] | None = None,
                  seed: int = 0, paste_args: dict | None = None,
                  echo=None) -> Path:
    """Render ``batches`` training batches of the work directory before/after pasting into ``out`` (PNG):
    the column titles once on top, the batches one under another (a white gap between them), and one
    legend below naming every class shown.

    The paste dose is the trainer's: ``paste_args`` win, the rest is derived from the data for
    ``crop_size`` crops after a rescale in ``scale_range`` (default: the trainer's, 0.5–1.5, with a
    crop; none without) (:mod:`lt_data.training.paste.dose`). ``echo`` receives the resolved dose, the measured
    ``pasted_share`` / ``pasted_objects`` of the drawn batches and, past the warning share, a warning."""
    from PIL import Image

    from ..training.paste.dose import dose_warning
    from ..training.paste.planners import work_planner

    if batches < 1 or batch_size < 1:
        raise LtDataError(f"preview needs batches >= 1 and batch_size >= 1, got {batches} and {batch_size}")
    if crop_size is not None and (len(crop_size) != 2 or min(crop_size) < 1):
        raise LtDataError(f"preview crop must be two positive sizes (height, width), got {crop_size}")
    work = WorkDir.of(work)
    if scale_range is None:  # a crop as the trainer draws it by default; whole images as stored
        scale_range = TrainConfig.scale_range if crop_size else (1.0, 1.0)
    planner = work_planner(mode, work, paste_args, crop_size=crop_size, scale_range=scale_range)
    dose = planner.dose
    ds = SegmentationDataset(work, crop_size=crop_size, scale_range=scale_range)
    if crop_size is None:  # whole images: batch only images of the most common size
        sizes = [(s.height, s.width) for s in ds.samples]
        common = max(set(sizes), key=sizes.count)
        ds.samples = [s for s in ds.samples if (s.height, s.width) == common]
    loader = make_loader(ds, batch_size=batch_size, seed=seed, planner=planner)
    grids, shares, objects = [], [], []
    shown, ignore, pasted = set(), False, False
    names, colors = list(ds.table.names), ds.table.colors
    for k, batch in enumerate(loader):
        px = text_px(batch["images"].shape[3])
        rows, s, i, p = batch_rows(batch["images"], batch["labels"], batch["plan"], colors, names, px)
        grids.append(rows)
        shown, ignore, pasted = shown | s, ignore or i, pasted or p
        after = batch["labels"].clone()
        apply_paste({"images": batch["images"].clone(), "labels": after, "plan": batch["plan"]}, inplace=True)
        fig = paste_figures(after, batch["plan"], ignore_index=IGNORE_INDEX)
        shares.append(float(fig["pasted_share"]))
        objects.append(fig["pasted_objects"])
        if k + 1 == batches:
            break
    if not grids:
        raise LtDataError(f"{show_path(work)}: {len(ds)} images are fewer than one preview batch of {batch_size}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(compose(grids, shown, ignore, pasted, colors, names, px)).save(out)
    if echo is not None:
        echo(dose.describe())
        share = float(np.mean(shares))
        echo(f"measured on {len(grids)} batches: pasted_share {share:.2%}, pasted_objects {np.mean(objects):.2f} "
             f"per image")
        warned = dose_warning(dose, max(share, dose.figures.get("pasted_share", 0.0)))
        if warned:
            echo(warned)
    return out
