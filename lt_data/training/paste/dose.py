"""The paste dose: how many objects a planner pastes per image, and how large, chosen from the data.

AUCSeg's memory-bank defaults (sample ratio 1, resize 1) are its Cityscapes values: 7 tail classes,
so about 5 full-size objects per image. Handed to a dataset with 20+ tail classes they paste ~20
full-size objects into every image and wreck it. AUCSeg itself scales the dose per dataset
(ADE20K 0.05 / 0.4, COCO-Stuff 0.05 / 0.1), so that every published design pastes about
``ceil(0.05 × ~120) = 6`` objects per image (Cityscapes: ~5 of its 7 tail classes are missing
from an image), each shrunk until it fits the crop. The rule below gives a new dataset that dose
(docs/DOSE.md has the reasoning and the numbers it gives on each layout's data):

**Memory bank** (:func:`bank_dose`), when the user gives no paste arguments:

1. A dataset of the papers (the layout is ``cityscapes``, ``ade20k`` or ``coco_stuff164k`` with its
   class count) gets AUCSeg's published values (``manifests/aucseg.json``).
2. Otherwise the rule, on the crops training draws (:func:`crop_draws`: the training geometry,
   random scale and crop, applied to up to ``DOSE_CROPS`` label maps, so that a crop's missing tail
   classes and labelled pixels are the crop's, not the whole image's). With m̄ the mean number of
   tail classes (with objects in the bank) a crop lacks, A the canvas (the training crop) and ā the
   mean area of a drawn object (per tail class, then averaged over classes):

       wanted       = max(OBJECTS_PER_IMAGE, PASTED_SHARE × A / ā)  → at least 5 objects, more when small
       sample_ratio = min(1, wanted / m̄)
       resize_ratio = the ratio in [MIN_RESIZE, 1] whose expected share is PASTED_SHARE

   The expected share (:func:`bank_expectation`) follows the planner crop by crop:
   ``ceil(sample_ratio × missing)`` objects of the missing classes, each ``area × r²`` shrunk to
   fit the crop as the planner shrinks it, overlaps counted once, over the crop's labelled pixels
   after pasting (a paste over ignore pixels labels them), as training measures ``pasted_share``.
   So the pasted objects cover about ``PASTED_SHARE`` of the labelled pixels: small objects at full
   size, several; large ones shrunk, about five (objects are never enlarged). Missing classes are
   found per image (AUCSeg's published planner).

**Tail cutmix** (:func:`cutmix_dose`, paper 003): one level crop in every training image
(``prob`` 1), as the paper does. A first rule that scaled ``prob`` down to cover ~10 % of the canvas
lost most of the tail gain in the experiment; the figures (E, the mean share of the canvas one paste
covers, from the store's boxes) are still computed for the log and the warning.

The constants were set by the dose–response experiment (docs/EXPERIMENTS.md, "Paste dose").

Explicit arguments always win; the figures are computed for whatever dose is used, and a dose
expected (or measured in training) to paste more than ``WARN_SHARE`` of the labelled pixels gets a
one-line warning naming the arguments to change (:func:`dose_warning`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...data.geometry import TRAIN_SCALE_RANGE
from .args import BankPasteArgs, CutmixPasteArgs, PasteArgs, paste_args_of
from ...data.workdir import WorkDir
from ...core.names import STORES, PasteMode  # paste mode → store directory (bank.zarr, cutmix.zarr)

OBJECTS_PER_IMAGE = 5.0   # at least: the published designs (Cityscapes ~5 missing of 7, ADE20K / COCO-Stuff ceil(0.05 × ~120))
PASTED_SHARE = 0.25       # target share of the labelled pixels covered by pasted objects: the best measured bank dose on
                          # MSRC v2 and CamVid (docs/EXPERIMENTS.md, "Real data decides"); it was 0.10, tuned on synthetic data
MIN_RESIZE = 0.1          # COCO-Stuff's published resize ratio, the smallest of the three
CUTMIX_PROB = 1.0         # paper 003: a level crop in every image (measured better than 0.31: EXPERIMENTS.md)
WARN_SHARE = 0.30         # a bank dose pasting more than this share of the labelled pixels is warned about
# A cutmix crop (level >= 1) is a piece of a real scene with its own labels, context included: it
# replaces part of the image rather than dropping objects out of context into it, so its warning
# comes later, where the image the model learns from is mostly another one.
WARN_SHARE_CUTMIX = 0.60

DOSE_CROPS = 256          # label maps whose training crops the dose is computed on (a seeded draw of the split)
DOSE_SEED = 0xD05E        # their images and geometry: the same crops whatever the training seed

@dataclass
class Dose:
    """A resolved paste dose: the planner's options, where each came from, and what it gives.

    ``paste``: the options handed to the planner (:mod:`.args`; the user's set ones and the derived
    dose keys); ``args``: its set options as a dict (what a run's config.json records); ``source``: for
    each dose key, ``"explicit"``, ``"preset:<dataset>"`` or ``"rule"``; ``figures``: the inputs of the
    rule and the expected ``objects_per_image`` and ``pasted_share`` of this dose."""

    mode: PasteMode
    paste: PasteArgs
    source: dict = field(default_factory=dict)
    figures: dict = field(default_factory=dict)

    @property
    def args(self) -> dict:
        return self.paste.given()

    def to_json(self) -> dict:
        return {"mode": self.mode, "args": _plain(self.args), "source": dict(self.source),
                "figures": _plain(self.figures)}

    def describe(self) -> str:
        """One line: the arguments with their sources, and the expected dose."""
        keys = (*self.paste.DOSE_KEYS, "placement") if self.mode == "bank" else self.paste.DOSE_KEYS
        parts = [f"{k}={_show(self.args[k])} ({self.source.get(k, 'explicit')})" for k in keys if k in self.args]
        f = self.figures
        where = ""
        if f.get("canvas"):
            scale = f.get("scale_range")
            where = (f" in {f['canvas'][0]}x{f['canvas'][1]} crops (rescaled {_show(scale[0])}-{_show(scale[1])})"
                     if scale else " in whole images")
        return (f"{self.mode} paste dose: " + ", ".join(parts) + f"; expected {f.get('objects_per_image', 0):.2f} "
                f"objects per image and {f.get('pasted_share', 0):.2%} of the labelled pixels pasted{where}")


def _show(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    if isinstance(v, (tuple, list)):
        return "(" + ", ".join(_show(x) for x in v) + ")"
    return str(v).lower() if isinstance(v, bool) else str(v)


def _plain(d: dict) -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, np.generic):
            v = v.item()
        elif isinstance(v, tuple):
            v = list(v)
        out[k] = v
    return out


def preset_for(layout: str | None, num_classes: int) -> tuple[str, dict] | None:
    """``(dataset, AUCSeg's configuration)`` when ``layout`` is one of the papers' datasets
    (``cityscapes``, ``ade20k``, ``coco_stuff164k``) with its class count, else None."""
    from ...core.classes import load_manifest

    presets = load_manifest("aucseg")
    cfg = presets.get(layout) if isinstance(layout, str) else None
    if not isinstance(cfg, dict) or cfg.get("num_classes") != num_classes:
        return None
    return layout, cfg


def published_preset(work: str | Path) -> tuple[str, dict] | None:
    """:func:`preset_for` the layout and class table of ``work``'s statistics."""
    wd = WorkDir.of(work)
    return preset_for(wd.dataset.get("layout"), wd.table.num_classes)


def median_size(work_stats) -> tuple[int, int]:
    """The median (H, W) of the split's images: the canvas a paste into whole images lands in."""
    sizes = np.array([(s.height, s.width) for s in work_stats.samples], dtype=np.int64).reshape(-1, 2)
    return tuple(int(v) for v in np.median(sizes, axis=0)) if len(sizes) else (1, 1)


@dataclass(frozen=True)
class CropDraws:
    """What training's crops hold, for the dose: per crop the classes ``present (N, K)`` bool, the
    ``labelled (N,)`` and all ``pixels (N,)`` of the crop, and the ``canvas`` (H, W) a batch image
    has (the crop; whole images: the median image)."""

    present: np.ndarray
    labelled: np.ndarray
    pixels: np.ndarray
    canvas: tuple[int, int]
    scale_range: tuple[float, float] | None = None

    def __len__(self) -> int:
        return len(self.labelled)


def crop_draws(work, crop_size: tuple[int, int] | None = None,
               scale_range: tuple[float, float] = TRAIN_SCALE_RANGE) -> CropDraws:
    """The crops training draws, seen through their labels: the training geometry
    (:func:`lt_data.data.geometry.draw_geometry`: random scale in ``scale_range``, padding, a random
    ``crop_size`` crop) applied to the label maps of up to ``DOSE_CROPS`` images of the split (a
    seeded choice; a small split gives each image several crops), always the same draws for the
    same work directory. ``crop_size=None``: whole images as stored, from the statistics (nothing
    is decoded). Read once per version of the statistics (:meth:`WorkDir.memo`)."""
    wd = WorkDir.of(work)
    stats = wd.stats(verify=False)
    if crop_size is None:
        labelled = stats.counts.sum(axis=1)
        return CropDraws(stats.counts > 0, labelled, labelled + stats.ignored, median_size(stats))
    crop = (int(crop_size[0]), int(crop_size[1]))
    scale = (float(scale_range[0]), float(scale_range[1]))
    return wd.memo(f"crop_draws:{crop}:{scale}", wd.stats_files, lambda: _draw_crops(wd, stats, crop, scale))


def _draw_crops(wd, stats, crop: tuple[int, int], scale: tuple[float, float]) -> CropDraws:
    import cv2

    from ...data.geometry import apply_geometry, draw_geometry

    n, k = stats.counts.shape
    picks = np.sort(np.random.default_rng(DOSE_SEED).choice(n, size=min(n, DOSE_CROPS), replace=False))
    per_image = max(1, min(4, math.ceil(DOSE_CROPS / max(n, 1))))
    layout = wd.layout()
    present, labelled = [], []
    for i in picks.tolist():
        label = layout.read_label(stats.samples[i])
        for j in range(per_image):
            g = draw_geometry(label.shape[:2], np.random.default_rng([DOSE_SEED, i, j]), crop_size=crop,
                              scale_range=scale, flip=0.0)
            hist = cv2.calcHist([np.ascontiguousarray(apply_geometry(label, g, label=True))], [0], None, [256],
                                [0, 256]).ravel()
            present.append(hist[:k] > 0)
            labelled.append(hist[:k].sum())
    pixels = np.full(len(labelled), crop[0] * crop[1], dtype=np.float64)
    return CropDraws(np.array(present, dtype=bool).reshape(-1, k), np.array(labelled, dtype=np.float64), pixels,
                     crop, scale)


def _ratios(r) -> np.ndarray:
    """The resize ratios a planner draws: one number, or a (low, high) range drawn uniformly (9 points)."""
    if isinstance(r, (tuple, list)):
        return np.linspace(float(r[0]), float(r[1]), 9)
    return np.array([float(r)])


def object_areas(bank, classes: np.ndarray, canvas: tuple[int, int], resize) -> np.ndarray:
    """(T,) per class of ``classes``: the mean pixels one pasted object covers at ``resize``, shrunk
    to fit the ``canvas`` (H, W) as the planner shrinks it (``min(1, H / (h·r), W / (w·r))``)."""
    box = bank.column("box").astype(np.float64)
    area = bank.column("area").astype(np.float64)
    cls = bank.column("class_id")
    h, w = canvas
    ratios = _ratios(resize)
    covered = np.zeros(len(area))
    for r in ratios:
        fit = np.minimum(1.0, np.minimum(h / np.maximum(box[:, 2] * r, 1), w / np.maximum(box[:, 3] * r, 1)))
        covered += area * (r * fit) ** 2
    covered /= len(ratios)
    return np.array([float(covered[cls == c].mean()) for c in classes]) if len(classes) else np.zeros(0)


def bank_expectation(draws: CropDraws, missing: np.ndarray, areas: np.ndarray, *, sample_ratio: float,
                     max_per_image: int | None = None, receive_prob: float = 1.0) -> tuple[float, float]:
    """``(objects per image, pasted share)`` a per-image bank planner gives on ``draws``:
    ``missing (N, T)`` bool, the tail classes each crop lacks; ``areas (T,)`` from
    :func:`object_areas`. Per crop, ``ceil(sample_ratio × missing)`` objects (capped at
    ``max_per_image``, times ``receive_prob``) of classes drawn uniformly among the missing ones;
    overlapping objects cover a pixel once (n independent placements of area a cover
    ``pixels · (1 − (1 − a / pixels)^n)``);
    the share is of the labelled pixels after pasting, where a paste over ignore labels the pixel, as
    :func:`lt_data.training.paste.paste_figures` measures it (a ratio of sums over crops, as batches sum)."""
    if not len(draws) or not missing.shape[1]:
        return 0.0, 0.0
    m = missing.sum(axis=1).astype(np.float64)
    n = np.ceil(sample_ratio * m)  # the planner's math.ceil, on the same doubles
    if max_per_image:
        n = np.minimum(n, max_per_image)
    mean_area = (missing * areas[None, :]).sum(axis=1) / np.maximum(m, 1)
    return float(receive_prob * n.mean()), _covered_share(draws, n, mean_area, receive_prob)


def _covered_share(draws: CropDraws, n: np.ndarray, area: np.ndarray, prob: float = 1.0) -> float:
    """Share of the labelled pixels after pasting, with probability ``prob``, ``n (N,)`` objects of
    ``area (N,)`` pixels into each crop at independent random places (overlaps counted once)."""
    covered = prob * draws.pixels * (1 - (1 - np.minimum(area / draws.pixels, 1)) ** n)
    labelled = draws.labelled + covered * (1 - draws.labelled / draws.pixels)
    return float(min(1.0, covered.sum() / max(labelled.sum(), 1.0)))


def bank_dose(work: str | Path, args: BankPasteArgs | dict | None = None, *, crop_size: tuple[int, int] | None = None,
              bank=None, scale_range: tuple[float, float] = TRAIN_SCALE_RANGE) -> Dose:
    """The memory-bank dose for ``work`` (module docstring): the options set in ``args`` win, then
    AUCSeg's preset for the papers' datasets, then the rule, on the crops training draws for
    ``crop_size`` and ``scale_range`` (:func:`crop_draws`; the trainer's defaults). ``bank`` (a
    TailBank) defaults to ``WORK/bank.zarr``; ``args.tail`` to the work directory's tail bucket."""
    from ...stores.bank import TailBank

    paste = BankPasteArgs.from_dict(args)
    explicit = paste.given()
    wd = WorkDir.of(work)
    bank = TailBank.open(wd.bank) if bank is None else bank
    tail = wd.tail() if paste.tail is None else paste.tail
    classes = np.array(sorted({int(c) for c in tail if bank.count(int(c)) > 0}), dtype=np.int64)
    draws = crop_draws(wd, crop_size, scale_range)
    h, w = draws.canvas
    canvas = h * w
    missing = ~draws.present[:, classes]
    mean_missing = float(missing.sum(axis=1).mean()) if len(draws) else 0.0
    area = bank.column("area").astype(np.float64)
    cls = bank.column("class_id")
    per_class = [float(np.minimum(area[cls == c], canvas).mean()) for c in classes]
    mean_area = float(np.mean(per_class)) if per_class else 0.0

    def expect(args: dict) -> tuple[float, float]:
        areas = object_areas(bank, classes, (h, w), args.get("resize_ratio", 1.0))
        return bank_expectation(draws, missing, areas, sample_ratio=float(args.get("sample_ratio", 1.0)),
                                max_per_image=args.get("max_per_image"),
                                receive_prob=float(args.get("receive_prob", 1.0)))

    args, source = {}, {}
    preset = published_preset(wd)
    if preset is not None:
        name, cfg = preset
        args.update(sample_ratio=float(cfg["sample_ratio"]), resize_ratio=float(cfg["resize_ratio"]), per_image=True)
        source.update({k: f"preset:{name}" for k in paste.DOSE_KEYS})
    else:
        wanted = max(OBJECTS_PER_IMAGE, PASTED_SHARE * canvas / mean_area) if mean_area > 0 else OBJECTS_PER_IMAGE
        sample = round(min(1.0, wanted / mean_missing) if mean_missing > 0 else 1.0, 4)
        rule = {"sample_ratio": sample, **{k: v for k, v in explicit.items() if k != "resize_ratio"}}
        args.update(sample_ratio=sample, resize_ratio=round(_solve_resize(lambda r: expect({**rule, "resize_ratio": r})[1]), 3),
                    per_image=True)
        source.update({k: "rule" for k in paste.DOSE_KEYS})
    for k, v in explicit.items():
        args[k] = v
        source[k] = "explicit"
    # per image as published; with per_image false (classes missing from the whole batch) fewer are
    # pasted, so this is an upper bound
    objects, share = expect(args)
    figures = {"tail_classes": int(len(classes)), "missing_per_image": round(mean_missing, 3),
               "crops": len(draws), "canvas": [h, w],
               "scale_range": list(draws.scale_range) if draws.scale_range else None,
               "mean_object_area": round(mean_area, 1),
               "objects_per_image": round(objects, 3), "pasted_share": round(share, 5),
               "rule": {"objects_per_image": OBJECTS_PER_IMAGE, "pasted_share": PASTED_SHARE, "min_resize": MIN_RESIZE}}
    return Dose("bank", paste.with_defaults(**args), source, figures)


def _solve_resize(share_at) -> float:
    """The resize ratio in [MIN_RESIZE, 1] whose expected share is PASTED_SHARE (the share grows
    with the ratio): 1 when even full size covers less, MIN_RESIZE when even that covers more."""
    lo, hi = MIN_RESIZE, 1.0
    if share_at(hi) <= PASTED_SHARE:
        return hi
    if share_at(lo) >= PASTED_SHARE:
        return lo
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if share_at(mid) < PASTED_SHARE else (lo, mid)
    return (lo + hi) / 2


def cutmix_dose(work: str | Path, args: CutmixPasteArgs | dict | None = None, *,
                crop_size: tuple[int, int] | None = None, cutmix=None,
                scale_range: tuple[float, float] = TRAIN_SCALE_RANGE) -> Dose:
    """The tail-cutmix dose for ``work`` (module docstring); ``cutmix`` defaults to ``WORK/cutmix.zarr``.
    The expected share is of the labelled pixels of the crops training draws (:func:`crop_draws`)."""
    from ...stores.cutmix import TailCutmix

    paste = CutmixPasteArgs.from_dict(args)
    explicit = paste.given()
    wd = WorkDir.of(work)
    cutmix = TailCutmix.open(wd.cutmix) if cutmix is None else cutmix
    tail = wd.tail() if paste.tail is None else paste.tail
    classes = [int(c) for c in sorted(set(tail)) if cutmix.count(int(c)) > 0]
    draws = crop_draws(wd, crop_size, scale_range)
    h, w = draws.canvas
    levels = [int(t) for t in explicit.get("levels", range(cutmix.levels + 1))]
    per_level = []
    for t in levels:
        shares = []
        for c in classes:
            if t == 0:  # the whole source image is resized to the canvas; only class c's pixels are written
                size = cutmix.image_sizes(c)
                shares.append(float(np.mean(cutmix.class_pixels(c) / (size[:, 0] * size[:, 1]))))
            else:
                bx = cutmix.boxes(c)[:, t]
                ch, cw = (bx[:, 2] - bx[:, 0]).astype(float), (bx[:, 3] - bx[:, 1]).astype(float)
                fit = np.minimum(1.0, np.minimum(h / ch, w / cw))
                shares.append(float(np.mean(ch * cw * fit * fit / (h * w))))
        per_level.append(float(np.mean(shares)) if shares else 0.0)
    per_paste = float(np.mean(per_level)) if per_level else 0.0
    args = {}
    source = {}
    args["prob"] = CUTMIX_PROB
    source["prob"] = "rule"
    for k, v in explicit.items():
        args[k] = v
        source[k] = "explicit"
    per_image = int(args.get("per_image", 1))
    objects = float(args["prob"]) * per_image
    share = _covered_share(draws, np.full(len(draws), per_image), np.full(len(draws), per_paste * h * w),
                           float(args["prob"])) if len(draws) else 0.0
    figures = {"tail_classes": len(classes), "canvas": [h, w], "levels": levels, "crops": len(draws),
               "scale_range": list(draws.scale_range) if draws.scale_range else None,
               "share_per_paste": round(per_paste, 5), "share_per_level": [round(v, 5) for v in per_level],
               "objects_per_image": round(objects, 3), "pasted_share": round(share, 5),
               "rule": {"prob": CUTMIX_PROB}}
    return Dose("cutmix", paste.with_defaults(**args), source, figures)


def resolve_dose(mode: PasteMode, work: str | Path, args: PasteArgs | dict | None = None, *,
                 crop_size: tuple[int, int] | None = None, store=None,
                 scale_range: tuple[float, float] = TRAIN_SCALE_RANGE) -> Dose:
    """The dose of paste ``mode`` (``bank`` | ``cutmix``) with the user's options ``args`` (a
    ``paste_args`` mapping or :mod:`.args` dataclass; the set ones win, ``tail`` selects the classes),
    for training crops of ``crop_size`` after a random rescale in ``scale_range``."""
    args = paste_args_of(mode, args)
    if mode == "bank":
        return bank_dose(work, args, crop_size=crop_size, bank=store, scale_range=scale_range)
    return cutmix_dose(work, args, crop_size=crop_size, cutmix=store, scale_range=scale_range)


def dose_warning(dose: Dose, share: float | None = None) -> str | None:
    """A one-line warning when ``share`` (measured; default the expected share) exceeds WARN_SHARE."""
    share = dose.figures.get("pasted_share", 0.0) if share is None else share
    limit = WARN_SHARE if dose.mode == "bank" else WARN_SHARE_CUTMIX
    if share <= limit:
        return None
    knobs = "sample_ratio and resize_ratio" if dose.mode == "bank" else "prob (or levels)"
    return (f"warning: the {dose.mode} paste covers {share:.0%} of the labelled pixels per image (over "
            f"{limit:.0%} wrecks the images the model learns from); lower {knobs} in paste_args, or leave "
            f"paste_args empty for the dose derived from the data")


__all__ = ["STORES", "CropDraws", "Dose", "bank_expectation", "crop_draws", "object_areas", "bank_dose", "cutmix_dose", "dose_warning", "preset_for", "published_preset", "resolve_dose"]
