"""The training Dataset, its collate step (which plans the pastes) and the loader factory.

Randomness is explicit and keyed by position, not by process: an item's geometry comes from
``(seed, epoch, index)`` and a batch's paste plan from ``(seed, epoch, the batch's indices)``, so the
same seed gives the same batches with 0 or N workers, on one rank or many.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler, Sampler, SequentialSampler

from ..core.errors import DataError, LtDataError
from ..data.geometry import TRAIN_SCALE_RANGE, train_geometry
from ..data.layouts import Layout, Sample, get_layout
from .paste.kernels import PastePlan, Strategy, paste, paste_figures

from ..core.classes import IGNORE_INDEX, stray_label, stray_label_message


class SegmentationDataset(Dataset):
    """Images ``(3, H, W)`` uint8 and train-id labels ``(H, W)`` int64 (255 = ignore).

    Built from a stats work directory (``SegmentationDataset(work)``) or from a layout
    (``SegmentationDataset.from_layout("camvid", root, "train")``). With ``train=True`` each item
    gets the usual training geometry, the same for image and label: random scale in ``scale_range``
    (bilinear for images, nearest for labels; default 0.5-1.5, ``TRAIN_SCALE_RANGE``, the trainer's and
    the dose's), padding up to ``crop_size`` (0 for images, ignore for
    labels), a random crop, and a horizontal flip with probability ``flip``. Without ``train`` the
    item is returned as stored (or resized to ``size`` when given, nearest for labels).

    An item may be asked for as ``(index, class)`` (rare class sampling's ``focus_crop``): the
    geometry is then drawn again, up to ``focus_tries`` times, until the crop holds more than
    ``focus_pixels`` pixels of that class, as DAFormer does.

    Every label is checked against the class table (``check_labels``; read from the histogram the
    item computes anyway): a value that is neither a train id nor ignore, a raw dataset id, is
    refused in one line naming the label file and the value.
    """

    focus_pixels: int = 0
    focus_tries: int = 10
    check_labels: bool = True

    def __init__(self, work: str | Path | None = None, *, layout: Layout | None = None,
                 samples: Sequence[Sample] | None = None, train: bool = True, crop_size: tuple[int, int] | None = None,
                 scale_range: tuple[float, float] = TRAIN_SCALE_RANGE, flip: float = 0.5, size: tuple[int, int] | None = None,
                 seed: int = 0, check_labels: bool = True):
        if work is not None:
            from ..data.workdir import WorkDir

            wd = WorkDir.of(work)
            stats = wd.stats(verify=False)
            layout = layout or wd.layout()
            samples = stats.samples
        if layout is None:
            raise ValueError("SegmentationDataset needs a work directory or a layout")
        if samples is None:
            samples, bad = layout.scan()
            if bad:
                raise ValueError(f"{bad[0]} (and {len(bad) - 1} more); run `lt-data stats --skip-bad` to skip them")
        self.work = Path(work) if work is not None else None
        self.layout, self.samples = layout, list(samples)
        self.table = layout.table
        self.train, self.crop_size, self.scale_range, self.flip, self.size = train, crop_size, scale_range, flip, size
        self.seed, self.epoch = int(seed), 0
        self.check_labels = bool(check_labels)

    @classmethod
    def from_layout(cls, name: str, root: str | Path, split: str, layout_options: dict | None = None, **kwargs):
        return cls(layout=get_layout(name, root, split, **(layout_options or {})), **kwargs)

    @property
    def num_classes(self) -> int:
        return self.table.num_classes

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _check_label(self, s: Sample, label: np.ndarray, hist: np.ndarray) -> None:
        k = self.num_classes
        if label.dtype == np.uint8:  # the histogram holds every value it can take
            stray = np.flatnonzero(hist[k:IGNORE_INDEX])
            value = int(stray[0]) + k if len(stray) else None
        else:
            value = stray_label(label, k)
        if value is not None:
            raise DataError(self.layout.label_path(s), stray_label_message(value, k))

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, item: int | tuple[int, int]) -> dict:
        index, focus = item if isinstance(item, tuple) else (item, None)
        index = int(index)
        s = self.samples[index]
        image = self.layout.read_image(s)
        label = self.layout.read_label(s)
        if self.train:
            source = image, label
            for attempt in range(self.focus_tries if focus is not None else 1):
                key = [self.seed, self.epoch, index] + ([attempt] if attempt else [])
                image, label = train_geometry(*source, np.random.default_rng(key), crop_size=self.crop_size,
                                              scale_range=self.scale_range, flip=self.flip)
                if focus is None or np.count_nonzero(label == focus) > self.focus_pixels:
                    break
        elif self.size is not None:
            h, w = self.size
            image = cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)
            label = cv2.resize(label, (w, h), interpolation=cv2.INTER_NEAREST)
        # classes present, counted on the uint8 map (a 256-bin histogram costs ~0.1 ms): the paste
        # planner needs them and would otherwise scan the int64 batch again
        hist = cv2.calcHist([np.ascontiguousarray(label)], [0], None, [256], [0, 256]).ravel()
        if self.check_labels:
            self._check_label(s, label, hist)
        return {"image": torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))),
                "label": torch.from_numpy(label.astype(np.int64)), "index": int(index),
                "present": torch.from_numpy(hist[: self.num_classes] > 0)}


class CarryErrors(Dataset):
    """Wraps a dataset so that an item failing with an LtDataError becomes ``{"error": err}``.

    torch re-raises a DataLoader worker's exception in the main process by rebuilding it from the
    worker's traceback text, and falls back to ``RuntimeError(traceback)`` when the class cannot be
    built from one string (a DataError needs the file and the problem): the user would see a
    traceback, not ``FILE: problem``. Carried as data (it pickles), the error crosses intact;
    :class:`PasteCollate` passes it on and :func:`raise_carried` raises it in the main process.
    """

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict:
        try:
            return self.dataset[index]
        except LtDataError as e:
            return {"error": e}


def raise_carried(batches):
    """Yield ``batches``, raising the first error carried by :class:`CarryErrors` / :class:`PasteCollate`."""
    for batch in batches:
        if "error" in batch:
            raise batch["error"]
        yield batch


class PasteCollate:
    """Stacks items into a batch and, given a paste planner, draws the batch's paste plan.

    Runs in the DataLoader worker, so planning and crop reads overlap with training. The plan is
    applied later, on the training device, by :func:`apply_paste`. A batch with an item carrying
    an error, or whose planning fails with an LtDataError, becomes ``{"error": err}``
    (see :class:`CarryErrors`).
    """

    def __init__(self, planner=None, seed: int = 0):
        self.planner, self.seed, self.epoch = planner, int(seed), 0

    def __call__(self, items: list[dict]) -> dict:
        carried = next((it["error"] for it in items if "error" in it), None)
        if carried is not None:
            return {"error": carried}
        try:
            return self._collate(items)
        except LtDataError as e:
            return {"error": e}

    def _collate(self, items: list[dict]) -> dict:
        images = torch.stack([it["image"] for it in items])
        labels = torch.stack([it["label"] for it in items])
        indices = torch.tensor([it["index"] for it in items], dtype=torch.int64)
        batch = {"images": images, "labels": labels, "indices": indices}
        if self.planner is not None:
            rng = np.random.default_rng([self.seed, self.epoch, 0x9A57E, *indices.tolist()])
            present = torch.stack([it["present"] for it in items]).numpy() if "present" in items[0] else None
            batch["plan"] = self.planner.plan(labels, rng, present=present)
        return batch


def apply_paste(batch: dict, device: torch.device | str | None = None, *, non_blocking: bool = True,
                strategy: Strategy = "auto", inplace: bool = True, figures: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Move a batch to ``device`` and apply its paste plan there: (images uint8, labels int64).

    Pastes in place (a batch is used once); when the batch already lives on ``device`` its own
    tensors are modified unless ``inplace=False``. With ``figures=True`` the batch also receives
    ``batch["pasted_share"]`` (0-dim tensor on ``device``: the fraction of its labelled pixels
    whose label a paste set) and ``batch["pasted_objects"]`` (pastes per image, the mean over the batch), as the trainer logs
    them (:func:`lt_data.training.paste.paste_figures`)."""
    images = batch["images"].to(device, non_blocking=non_blocking) if device is not None else batch["images"]
    labels = batch["labels"].to(device, non_blocking=non_blocking) if device is not None else batch["labels"]
    plan: PastePlan | None = batch.get("plan")
    if plan is not None and len(plan):
        fresh = images is not batch["images"] and labels is not batch["labels"]
        plan = plan.to(images.device, non_blocking=non_blocking)
        images, labels = paste(images, labels, plan, strategy=strategy, inplace=inplace or fresh)
    if figures:
        batch.update(paste_figures(labels, plan, ignore_index=IGNORE_INDEX))
    return images, labels


class SeededLoader:
    """A DataLoader whose shuffling, augmentation and pastes are fixed by (seed, epoch).

    Iterating runs one epoch and then advances the epoch; ``set_epoch(e)`` jumps to epoch e.
    """

    def __init__(self, loader: DataLoader, dataset: SegmentationDataset, collate: PasteCollate, sampler, seed: int):
        self.loader, self.dataset, self.collate, self.sampler, self.seed = loader, dataset, collate, sampler, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        epoch, self.epoch = self.epoch, self.epoch + 1  # advance now: a loop may stop early
        self.dataset.set_epoch(epoch)
        self.collate.epoch = epoch
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)
        elif isinstance(self.sampler, RandomSampler):
            self.sampler.generator.manual_seed(self.seed * 1_000_003 + epoch)
        return raise_carried(self.loader)


def _seed_worker(worker_id: int) -> None:
    # Items and plans are seeded by position; this only pins numpy's global state for user code.
    # (Never call cv2.setNumThreads here: in a forked worker it deadlocks on the parent's pool.)
    np.random.seed(torch.initial_seed() % 2**32)
    # torch's own watchdog notices a dead main process only every 5 s: go with it at once
    from ..jobs.parallel import die_with_parent

    die_with_parent(os.getppid())


def make_loader(dataset: SegmentationDataset, *, batch_size: int = 8, shuffle: bool = True, num_workers: int = 0,
                seed: int = 0, planner=None, drop_last: bool = True, pin_memory: bool | None = None,
                distributed: bool | None = None, prefetch_factor: int | None = None,
                sampler: str | Sampler | None = None, sampler_args: dict | None = None) -> SeededLoader:
    """A :class:`SeededLoader` over ``dataset``.

    ``planner`` (a :class:`~lt_data.training.paste.planners.MemoryBankPaste` or :class:`~lt_data.training.paste.planners.TailCutmixPaste`)
    plans pastes in the workers. ``sampler``: ``"uniform"`` / None (shuffle), ``"rcs"`` (DAFormer's rare
    class sampling) or ``"rfs"`` (repeat factors) over the dataset's statistics with ``sampler_args``
    (:mod:`lt_data.data.sampling`), or a sampler object. ``distributed=None`` gives each rank its share
    when ``torch.distributed`` is initialised. ``pin_memory=None`` pins when CUDA is available.
    """
    dataset.seed = int(seed)
    if distributed is None:
        distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
    if isinstance(sampler, str) or (sampler is None and sampler_args):
        from ..data.sampling import build_sampler

        if dataset.work is None:
            raise LtDataError(f"sampler {sampler!r} needs a dataset built from a work directory (its statistics)")
        sampler = build_sampler(sampler or "uniform", dataset.work, seed=seed, **(sampler_args or {}))
    if sampler is not None:
        if getattr(sampler, "focus_crop", False):
            dataset.focus_pixels = int(sampler.min_pixels * sampler.min_crop_ratio)
    elif distributed:
        from torch.utils.data.distributed import DistributedSampler

        sampler = DistributedSampler(dataset, shuffle=shuffle, seed=seed, drop_last=drop_last)
    elif shuffle:
        sampler = RandomSampler(dataset, generator=torch.Generator().manual_seed(seed * 1_000_003))
    else:
        sampler = SequentialSampler(dataset)
    collate = PasteCollate(planner, seed)
    if pin_memory is None:
        pin_memory = torch.cuda.is_available()
    kwargs = {}
    if num_workers > 0:
        kwargs.update(worker_init_fn=_seed_worker, prefetch_factor=prefetch_factor or 2)
    loader = DataLoader(CarryErrors(dataset), batch_size=batch_size, sampler=sampler, num_workers=num_workers,
                        collate_fn=collate, drop_last=drop_last, pin_memory=pin_memory, persistent_workers=False,
                        **kwargs)
    return SeededLoader(loader, dataset, collate, sampler, seed)


MEAN = torch.tensor([0.485, 0.456, 0.406]) * 255  # ImageNet's, on the 0..255 scale of the batches
STD = torch.tensor([0.229, 0.224, 0.225]) * 255


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 3, H, W) → float, ImageNet mean/std, channels-last: the reference models' input."""
    mean, std = MEAN.to(images.device)[None, :, None, None], STD.to(images.device)[None, :, None, None]
    return ((images.float() - mean) / std).contiguous(memory_format=torch.channels_last)
