"""Class-aware sampling from the statistics: DAFormer's rare class sampling and LVIS's repeat factors.

Both samplers read the per-image class pixel counts of a work directory (``pixel_counts.npy``) and
draw one epoch of dataset indices from ``(seed, epoch)`` alone, so the same seed gives the same order
with any number of DataLoader workers, on one process or many.

**Rare class sampling** (:class:`RareClassSampler`; Hoyer et al., DAFormer, CVPR 2022, as its
``mmseg/datasets/uda_dataset.py`` does it). Over the classes that occur in the split, with f_c the
class's share of the labelled pixels, class c is drawn with probability

    P(c) = exp((1 − f_c) / T) / Σ_c' exp((1 − f_c') / T)          (T = ``temperature``, default 0.01)

then an image uniformly among those holding more than ``min_pixels`` pixels of c (default 3000; a
class with no such image falls back to every image that holds it). DAFormer also re-draws the random
crop, up to 10 times, until it holds more than ``min_pixels × min_crop_ratio`` pixels of c
(``min_crop_ratio`` default 0.5): with ``focus_crop=True`` the sampler yields ``(index, class)`` and
:class:`~lt_data.training.dataset.SegmentationDataset` does the same. DAFormer's defaults: T = 0.01,
min_pixels = 3000, min_crop_ratio = 0.5; an epoch here has as many draws as the split has images
(DAFormer samples endlessly).

**Repeat factor sampling** (:class:`RepeatFactorSampler`; Gupta et al., LVIS, CVPR 2019, adapted).
With f_c the fraction of images that contain class c (``by="images"``, LVIS's definition) or class
c's share of the labelled pixels (``by="pixels"``), each class gets r_c = max(1, sqrt(t / f_c)) and
each image r_i = max over its classes of r_c (t = ``threshold``, LVIS's default 0.001). Every epoch an
image appears ⌊r_i⌋ times plus once more with probability r_i − ⌊r_i⌋ (stochastic rounding), in a
shuffled order.

**Ranks.** Under ``torch.distributed`` (or with ``rank``/``world_size`` given) every rank draws the
same global epoch and keeps a disjoint share: all draws of one image go to one rank (so no index is
seen by two ranks in an epoch), images are dealt to the rank with the fewest draws so far, and
shorter shares are padded with their own draws so that every rank runs the same number of steps.

:func:`epoch_exposure` estimates, without training, the share of pixels and images of each class that
one epoch shows the model under a sampler and a paste planner.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Literal

import sys

import numpy as np

from ..core.errors import LtDataError

DAFORMER_TEMPERATURE = 0.01
DAFORMER_MIN_PIXELS = 3000
DAFORMER_MIN_CROP_RATIO = 0.5
LVIS_THRESHOLD = 0.001
SAMPLERS = ("uniform", "rcs", "rfs")


def _dist(rank: int | None, world_size: int | None) -> tuple[int, int]:
    if rank is None or world_size is None:
        torch = sys.modules.get("torch")  # without torch imported no process group can exist: never import it here
        if torch is not None and torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_rank(), torch.distributed.get_world_size()
        return 0, 1
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} outside 0..{world_size - 1}")
    return int(rank), int(world_size)


def share_of_rank(draws: np.ndarray, rank: int, world_size: int, rng: np.random.Generator) -> np.ndarray:
    """This rank's part of one epoch's global ``draws`` (dataset indices, repeats allowed).

    Every draw of one index goes to the same rank; indices are dealt, in a shuffled order, to the
    rank holding the fewest draws so far; each share is shuffled and padded with its own draws to the
    longest share's length. ``rng`` must be seeded identically on every rank.
    """
    draws = np.asarray(draws, dtype=np.int64)
    if world_size == 1:
        return draws
    idx, counts = np.unique(draws, return_counts=True)
    order = rng.permutation(len(idx))
    load = np.zeros(world_size, dtype=np.int64)
    owner = np.empty(len(idx), dtype=np.int64)
    for j in order.tolist():  # per distinct image, not per pixel: fine for millions of images
        r = int(np.argmin(load))
        owner[j] = r
        load[r] += counts[j]
    mine = np.repeat(idx[owner == rank], counts[owner == rank])
    mine = mine[rng.permutation(len(mine))] if len(mine) else mine
    length = int(load.max())
    if len(mine) == 0:
        raise LtDataError(f"rank {rank} of {world_size} gets no image: the epoch draws fewer distinct images "
                          f"({len(idx)}) than there are ranks")
    return np.resize(mine, length)


class ClassAwareSampler:
    """Base: subclasses implement ``draw(rng) -> (indices (n,), classes (n,) or None)`` for a whole epoch.

    A DataLoader takes it as its ``sampler`` (an iterable with a length); it needs no torch, so the
    offline stages (the report's exposure table) use it without importing torch."""

    def __init__(self, counts: np.ndarray, *, seed: int = 0, rank: int | None = None,
                 world_size: int | None = None, focus_crop: bool = False):
        counts = np.asarray(counts)
        if counts.ndim != 2 or not len(counts):
            raise LtDataError(f"per-image class counts must be a non-empty (N, K) matrix, got shape {counts.shape}")
        self.counts, self.seed, self.epoch = counts, int(seed), 0
        self.rank, self.world_size = _dist(rank, world_size)
        self.focus_crop = bool(focus_crop)
        self._length: int | None = None

    @classmethod
    def from_work(cls, work: str | Path, **kwargs):
        """The sampler over the statistics of ``work`` (the training work directory)."""
        from .workdir import WorkDir

        return cls(WorkDir.of(work).stats(verify=False).counts, **kwargs)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        self._length = None

    def draw(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
        raise NotImplementedError

    def epoch_indices(self) -> tuple[np.ndarray, np.ndarray | None]:
        """(this rank's indices, their focus classes or None) for the current epoch."""
        idx, cls = self.draw(np.random.default_rng([self.seed, self.epoch, 0x5A3B1E]))
        if self.world_size > 1:
            mine = share_of_rank(idx, self.rank, self.world_size, np.random.default_rng([self.seed, self.epoch, 0xD157]))
            cls = None if cls is None else self._classes_for(idx, cls, mine)  # each draw keeps its class
            idx = mine
        return idx, cls

    @staticmethod
    def _classes_for(idx: np.ndarray, cls: np.ndarray, mine: np.ndarray) -> np.ndarray:
        """A focus class for each of this rank's indices, taken from the draws of that index in order."""
        by_index: dict[int, list[int]] = {}
        for i, c in zip(idx.tolist(), cls.tolist()):
            by_index.setdefault(i, []).append(c)
        used: dict[int, int] = {}
        out = []
        for i in mine.tolist():
            k = used.get(i, 0)
            lst = by_index[i]
            out.append(lst[k % len(lst)])
            used[i] = k + 1
        return np.array(out, dtype=np.int64)

    def __iter__(self) -> Iterator:
        idx, cls = self.epoch_indices()
        self._length = len(idx)
        if self.focus_crop and cls is not None:
            return iter(list(zip(idx.tolist(), cls.tolist())))
        return iter(idx.tolist())

    def __len__(self) -> int:
        if self._length is None:
            self._length = len(self.epoch_indices()[0])
        return self._length


class RareClassSampler(ClassAwareSampler):
    """DAFormer's rare class sampling (module docstring): a class by exp((1 − f_c)/T), then an image
    holding more than ``min_pixels`` of it. ``num_samples`` draws per epoch (default: the split size)."""

    def __init__(self, counts: np.ndarray, *, temperature: float = DAFORMER_TEMPERATURE,
                 min_pixels: int = DAFORMER_MIN_PIXELS, min_crop_ratio: float = DAFORMER_MIN_CROP_RATIO,
                 num_samples: int | None = None, seed: int = 0, rank: int | None = None,
                 world_size: int | None = None, focus_crop: bool = False):
        super().__init__(counts, seed=seed, rank=rank, world_size=world_size, focus_crop=focus_crop)
        self.min_crop_ratio = float(min_crop_ratio)
        if not temperature > 0:
            raise LtDataError(f"rare class sampling: temperature must be > 0, got {temperature}")
        if min_pixels < 0:
            raise LtDataError(f"rare class sampling: min_pixels must be >= 0, got {min_pixels}")
        self.temperature, self.min_pixels = float(temperature), int(min_pixels)
        self.num_samples = len(self.counts) if num_samples is None else int(num_samples)
        pixels = self.counts.sum(axis=0).astype(np.float64)
        self.classes = np.flatnonzero(pixels > 0)
        if not len(self.classes):
            raise LtDataError("rare class sampling: no class has any pixel")
        f = pixels[self.classes] / pixels.sum()
        self.probs = class_probabilities(f, self.temperature)
        self.images_of: list[np.ndarray] = []
        for c in self.classes.tolist():
            col = self.counts[:, c]
            enough = np.flatnonzero(col > self.min_pixels)
            self.images_of.append(enough if len(enough) else np.flatnonzero(col > 0))

    def draw(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        which = rng.choice(len(self.classes), size=self.num_samples, p=self.probs)
        u = rng.random(self.num_samples)
        idx = np.empty(self.num_samples, dtype=np.int64)
        for j in np.unique(which).tolist():  # per class, vectorised over its draws
            sel = which == j
            images = self.images_of[j]
            idx[sel] = images[np.minimum((u[sel] * len(images)).astype(np.int64), len(images) - 1)]
        return idx, self.classes[which]


def class_probabilities(freq: np.ndarray, temperature: float) -> np.ndarray:
    """DAFormer's P(c) = softmax((1 − f_c) / T) over the given pixel shares ``freq`` (computed stably)."""
    z = (1.0 - np.asarray(freq, dtype=np.float64)) / temperature
    z -= z.max()
    p = np.exp(z)
    return p / p.sum()


def repeat_factors(counts: np.ndarray, threshold: float = LVIS_THRESHOLD, by: Literal["images", "pixels"] = "images") -> np.ndarray:
    """(N,) float64 r_i = max over the classes of image i of max(1, sqrt(t / f_c)) (module docstring)."""
    counts = np.asarray(counts)
    if by == "images":
        f = (counts > 0).sum(axis=0) / len(counts)
    elif by == "pixels":
        f = counts.sum(axis=0) / max(counts.sum(), 1)
    else:
        raise LtDataError(f"repeat factors: by must be 'images' or 'pixels', got {by!r}")
    if not threshold > 0:
        raise LtDataError(f"repeat factors: threshold must be > 0, got {threshold}")
    r_c = np.where(f > 0, np.maximum(1.0, np.sqrt(threshold / np.where(f > 0, f, 1.0))), 1.0)
    r_i = np.where(counts > 0, r_c[None, :], 1.0).max(axis=1)
    return r_i


class RepeatFactorSampler(ClassAwareSampler):
    """LVIS's repeat factor sampling adapted to segmentation (module docstring)."""

    def __init__(self, counts: np.ndarray, *, threshold: float = LVIS_THRESHOLD, by: Literal["images", "pixels"] = "images", seed: int = 0,
                 rank: int | None = None, world_size: int | None = None):
        super().__init__(counts, seed=seed, rank=rank, world_size=world_size)
        self.threshold, self.by = float(threshold), by
        self.factors = repeat_factors(self.counts, self.threshold, by)

    def draw(self, rng: np.random.Generator) -> tuple[np.ndarray, None]:
        base = np.floor(self.factors)
        reps = (base + (rng.random(len(self.factors)) < self.factors - base)).astype(np.int64)
        idx = np.repeat(np.arange(len(self.factors)), reps)
        return idx[rng.permutation(len(idx))], None


def epoch_exposure(work: str | Path, *, sampler: str | ClassAwareSampler | None = None, sampler_args: dict | None = None,
                   planner=None, batch_size: int = 8, seed: int = 0, epoch: int = 0) -> dict:
    """What one training epoch shows the model, per class, estimated from the statistics (no image is
    decoded, no model is needed).

    Each image the sampler draws contributes its whole-image class pixel counts and one image to
    every class it holds (a random crop keeps, on average, the crop's share of each: the shares below
    do not depend on the crop). With a paste ``planner`` (memory bank or tail cutmix) each batch's
    plan is drawn as in training, from the drawn images' class presence, and every pasted object adds
    its visible pixels to their classes, and one image to each class the receiving image lacked.
    Pasted objects hide some pixels of the image below them; that loss is not subtracted.

    Returns ``{"pixels": (K,) float64, "images": (K,) int64, "pixel_share": (K,), "image_share": (K,),
    "draws": number of images, "pasted_objects": n, "pasted_share": pasted labelled pixels / labelled
    pixels of the drawn images}``.
    """
    from .workdir import WorkDir

    stats = WorkDir.of(work).stats(verify=False)
    counts = stats.counts
    if sampler not in (None, "uniform") and isinstance(sampler, str):  # the whole epoch, as one process sees it
        sampler = build_sampler(sampler, work, seed=seed, rank=0, world_size=1, **(sampler_args or {}))
    elif sampler == "uniform":
        sampler = None
    if sampler is None:
        idx = np.random.default_rng([seed, epoch]).permutation(len(counts))
    else:
        sampler.set_epoch(epoch)
        idx = sampler.epoch_indices()[0]
    drawn = counts[idx]
    pixels = drawn.sum(axis=0).astype(np.float64)
    images = (drawn > 0).sum(axis=0).astype(np.int64)
    pasted, pasted_pixels = 0, 0.0
    if planner is not None:
        sizes = np.array([(s.height, s.width) for s in stats.samples])
        h, w = (int(v) for v in np.median(sizes, axis=0))
        for start in range(0, len(idx) - batch_size + 1, batch_size):  # whole batches, as drop_last trains
            batch = idx[start:start + batch_size]
            present = counts[batch] > 0
            rng = np.random.default_rng([seed, epoch, 0x9A57E, *batch.tolist()])
            import torch

            plan = planner.plan(torch.zeros((len(batch), h, w), dtype=torch.uint8), rng, present=present)
            if not len(plan):
                continue
            k = counts.shape[1]
            labels, masks, img = plan.crop_labels.numpy(), plan.masks.numpy(), plan.image_index.numpy()
            gained = np.zeros_like(present)
            for p in range(len(plan)):  # per pasted object: its visible labels (a cutmix crop holds several)
                hist = np.bincount(labels[p][masks[p]], minlength=256)[:k]
                pixels += hist
                pasted_pixels += float(hist.sum())
                gained[img[p]] |= hist > 0
            images += (gained & ~present).sum(axis=0)
            pasted += len(plan)
    return {"pixels": pixels, "images": images, "pixel_share": pixels / max(pixels.sum(), 1.0),
            "image_share": images / max(len(idx), 1), "draws": int(len(idx)), "pasted_objects": int(pasted),
            "pasted_share": pasted_pixels / max(float(drawn.sum()), 1.0)}


def build_sampler(name: str, work: str | Path, *, seed: int = 0, **options):
    """``uniform`` (None: the loader's own shuffling), ``rcs`` or ``rfs`` over ``work``'s statistics."""
    if name in (None, "uniform"):
        if options:
            raise LtDataError(f"the uniform sampler takes no options, got {sorted(options)}")
        return None
    cls = {"rcs": RareClassSampler, "rfs": RepeatFactorSampler}.get(name)
    if cls is None:
        raise LtDataError(f"unknown sampler {name!r}; choose from {', '.join(SAMPLERS)}")
    try:
        return cls.from_work(work, seed=seed, **options)
    except TypeError as e:
        raise LtDataError(f"sampler {name!r} options {options}: {e}") from None


__all__ = ["RareClassSampler", "RepeatFactorSampler", "SAMPLERS", "build_sampler", "class_probabilities",
           "epoch_exposure", "repeat_factors", "share_of_rank"]
