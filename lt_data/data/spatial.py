"""Where each class sits in the frame: a per-class spatial prior from the labels.

Street scenes put the road at the bottom and poles and signs along the sides; a pasted object placed
uniformly at random lands on the sky half of the time. :func:`spatial_prior` reads, for every
class, up to ``per_class`` of the label maps that contain it (chosen evenly along the split from the
statistics' per-image counts, so a class present in 3 images is read in all 3) and accumulates, on a
``grid × grid`` partition of the frame (cell edges at ``i·H/grid``), the share of each cell's pixels
that hold the class. Every image weighs the same whatever its size; a class's grid is then
normalised to sum to 1, the probability that one of its pixels lies in that cell.

``MemoryBankPaste(placement="prior")`` draws a pasted object's centre from its class's grid
(uniformly inside the cell), and the report draws the grids as heat maps. The prior is of whole
frames; training places objects in crops of rescaled frames, so there it holds approximately: well
for crops that keep most of the frame, loosely for small crops of large frames. The prior is read
from the labels each time a planner is built (CamVid: about a second; COCO-Stuff: 16 label maps
per class, a few thousand).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

GRID = 16
PER_CLASS = 16


@dataclass(frozen=True, eq=False)
class SpatialPrior:
    """``density (K, G, G)`` float64: per class, the probability that one of its pixels lies in each
    cell (rows top to bottom), summing to 1, all zeros for a class no image read contains;
    ``images (K,)`` int64: how many label maps contributed to each class."""

    density: np.ndarray
    images: np.ndarray

    def __repr__(self) -> str:
        return f"SpatialPrior({len(self.density)} classes, {self.grid}x{self.grid} grid)"

    @property
    def grid(self) -> int:
        return int(self.density.shape[1])

    def rows(self) -> np.ndarray:
        """(K, G) probability of each class per row band, top to bottom (the vertical profile)."""
        return self.density.sum(axis=2)

    def to_json(self) -> dict:
        return {"grid": self.grid, "images": self.images.tolist(),
                "density": np.round(self.density, 6).tolist()}


def choose_images(counts: np.ndarray, per_class: int = PER_CLASS) -> np.ndarray:
    """Sorted image indices: for every class, up to ``per_class`` of the images that contain it,
    evenly spaced along the split (all of them when fewer)."""
    chosen: set[int] = set()
    for k in range(counts.shape[1]):
        have = np.flatnonzero(counts[:, k] > 0)
        if len(have) > per_class:
            have = have[np.linspace(0, len(have) - 1, per_class).round().astype(np.int64)]
        chosen.update(have.tolist())
    return np.array(sorted(chosen), dtype=np.int64)


def cell_shares(label: np.ndarray, num_classes: int, grid: int) -> np.ndarray:
    """(K, G, G) float64: the share of each cell's pixels that hold class k in ``label (H, W)``
    (values ≥ K, the ignore index among them, count for no class)."""
    h, w = label.shape
    cy = (np.arange(h) * grid // h).astype(np.int64)
    cx = (np.arange(w) * grid // w).astype(np.int64)
    cell = (cy[:, None] * grid + cx[None, :]).reshape(-1)
    lab = np.minimum(label.reshape(-1).astype(np.int64), num_classes)  # out-of-table → one spare bin
    g2 = grid * grid
    hist = np.bincount(lab * g2 + cell, minlength=(num_classes + 1) * g2)[: num_classes * g2]
    size = np.bincount(cell, minlength=g2).astype(np.float64)  # 0 for the cells of an image smaller than the grid
    shares = np.divide(hist.reshape(num_classes, g2), size, out=np.zeros((num_classes, g2)), where=size > 0)
    return shares.reshape(num_classes, grid, grid)


def spatial_prior(work: str | Path, *, grid: int = GRID, per_class: int = PER_CLASS,
                  progress: bool = False) -> SpatialPrior:
    """The spatial prior of the statistics in ``work`` (module docstring), read from the dataset's
    label files through the layout the statistics were computed with; computed once per version of
    the statistics in a process (the report and the training planner share it)."""
    from ..core.errors import LtDataError
    from .workdir import WorkDir

    if grid < 1 or per_class < 1:
        raise LtDataError(f"spatial prior needs grid >= 1 and per_class >= 1, got {grid} and {per_class}")
    work = WorkDir.of(work)
    return work.memo(f"spatial_prior_{grid}_{per_class}", work.stats_files,
                     lambda: _read_prior(work, grid, per_class, progress))


def _read_prior(work, grid: int, per_class: int, progress: bool) -> SpatialPrior:
    from tqdm import tqdm

    stats = work.stats(verify=False)
    layout = work.layout()
    k = stats.table.num_classes
    acc = np.zeros((k, grid, grid), np.float64)
    seen = np.zeros(k, np.int64)
    for i in tqdm(choose_images(stats.counts, per_class).tolist(), desc="spatial prior", unit="img",
                  disable=not progress, dynamic_ncols=True):
        shares = cell_shares(layout.read_label(stats.samples[i]), k, grid)
        present = stats.counts[i] > 0
        acc[present] += shares[present] / np.maximum(shares[present].sum(axis=(1, 2), keepdims=True), 1e-300)
        seen += present
    total = acc.sum(axis=(1, 2), keepdims=True)
    density = np.divide(acc, total, out=np.zeros_like(acc), where=total > 0)
    return SpatialPrior(density=density, images=seen)


def draw_centres(density: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    """One point (y, x) in [0, 1)² drawn from a (G, G) density: a cell by its probability, then
    uniformly inside it. A density of all zeros draws uniformly over the frame."""
    g = density.shape[0]
    p = density.reshape(-1)
    s = p.sum()
    cell = int(rng.choice(p.size, p=p / s)) if s > 0 else int(rng.integers(p.size))
    gy, gx = divmod(cell, g)
    return (gy + float(rng.random())) / g, (gx + float(rng.random())) / g


__all__ = ["GRID", "PER_CLASS", "SpatialPrior", "cell_shares", "choose_images", "draw_centres", "spatial_prior"]
