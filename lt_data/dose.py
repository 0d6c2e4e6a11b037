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
2. Otherwise, with m̄ the mean number of tail classes (with objects in the bank) an image lacks,
   A the canvas (the training crop, within the median image) and ā the mean area of a drawn
   object (per tail class, then averaged over classes, since classes are drawn uniformly):

       wanted       = max(OBJECTS_PER_IMAGE, PASTED_SHARE × A / ā)  → at least 5 objects, more when small
       sample_ratio = min(1, wanted / m̄)
       n            = mean over images of ceil(sample_ratio × missing)
       resize_ratio = clip(sqrt(PASTED_SHARE × A / (n × ā)), MIN_RESIZE, 1)

   so that the pasted objects cover about ``PASTED_SHARE`` of the canvas: small objects at full
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

from .workdir import WorkDir
from .names import STORES, PasteMode  # paste mode → store directory (bank.zarr, cutmix.zarr)

OBJECTS_PER_IMAGE = 5.0   # at least: the published designs (Cityscapes ~5 missing of 7, ADE20K / COCO-Stuff ceil(0.05 × ~120))
PASTED_SHARE = 0.10       # target share of the canvas covered by pasted objects (docs/EXPERIMENTS.md, "Paste dose")
MIN_RESIZE = 0.1          # COCO-Stuff's published resize ratio, the smallest of the three
CUTMIX_PROB = 1.0         # paper 003: a level crop in every image (measured better than 0.31: EXPERIMENTS.md)
WARN_SHARE = 0.30         # a bank dose pasting more than this share of the labelled pixels is warned about
# A cutmix crop (level >= 1) is a piece of a real scene with its own labels, context included: it
# replaces part of the image rather than dropping objects out of context into it, so its warning
# comes later, where the image the model learns from is mostly another one.
WARN_SHARE_CUTMIX = 0.60

BANK_KEYS = ("sample_ratio", "resize_ratio", "per_image")
CUTMIX_KEYS = ("prob",)


@dataclass
class Dose:
    """A resolved paste dose: the planner's arguments, where each came from, and what it gives.

    ``args``: the options handed to the planner (explicit ones included); ``source``: for each dose
    key, ``"explicit"``, ``"preset:<dataset>"`` or ``"rule"``; ``figures``: the inputs of the rule
    and the expected ``objects_per_image`` and ``pasted_share`` of this dose."""

    mode: PasteMode
    args: dict
    source: dict = field(default_factory=dict)
    figures: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"mode": self.mode, "args": _plain(self.args), "source": dict(self.source),
                "figures": _plain(self.figures)}

    def describe(self) -> str:
        """One line: the arguments with their sources, and the expected dose."""
        keys = (*BANK_KEYS, "placement") if self.mode == "bank" else CUTMIX_KEYS
        parts = [f"{k}={_show(self.args[k])} ({self.source.get(k, 'explicit')})" for k in keys if k in self.args]
        f = self.figures
        return (f"{self.mode} paste dose: " + ", ".join(parts) + f"; expected {f.get('objects_per_image', 0):.2f} "
                f"objects and {f.get('pasted_share', 0):.2%} of the pixels pasted per image")


def open_store(mode: PasteMode, work):
    """The work directory's ``bank.zarr`` or ``cutmix.zarr``, its fingerprints checked against ``work``
    (one built from other statistics is refused). Imports no torch."""
    from .bank import TailBank
    from .cutmix import TailCutmix
    from .errors import LtDataError

    if mode not in STORES:
        raise LtDataError(f"paste mode must be one of {', '.join(STORES)}, not {mode!r}")
    path = WorkDir.of(work).store(mode)
    store = TailBank.open(path, work=work) if mode == "bank" else TailCutmix.open(path, work=work)
    check_store_buckets(store, work, mode)
    return store


def check_store_buckets(store, work, mode: PasteMode) -> None:
    """Refuse a store built for a bucket (``--classes tail``, the default) whose classes differ from
    that bucket in ``work``'s buckets.json now (``lt-data buckets --refine`` moved classes since):
    it would paste the old tail and never the new one. One line saying how to rebuild."""
    from .buckets import bucket_spec
    from .errors import ArtifactError

    spec = ((store.params or {}).get("class_source") or {}).get("spec")
    names = bucket_spec(spec)
    if names is None:
        return  # built for explicit classes: the user's choice
    now = WorkDir.of(work).buckets().union(names)
    if now != sorted(int(c) for c in store.classes):
        raise ArtifactError(f"{store.url}: built for the {spec} classes {sorted(store.classes)}, but {spec} in "
                            f"{WorkDir.of(work).buckets_file} is now {now} (refined since?); run `lt-data {mode} "
                            f"build {work}`, which rebuilds it")


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
    from .classes import load_manifest

    presets = load_manifest("aucseg")
    cfg = presets.get(layout) if isinstance(layout, str) else None
    if not isinstance(cfg, dict) or cfg.get("num_classes") != num_classes:
        return None
    return layout, cfg


def published_preset(work: str | Path) -> tuple[str, dict] | None:
    """:func:`preset_for` the layout and class table of ``work``'s statistics."""
    wd = WorkDir.of(work)
    return preset_for(wd.dataset.get("layout"), wd.table.num_classes)


def canvas_size(work_stats, crop_size: tuple[int, int] | None) -> tuple[int, int]:
    """The (H, W) a paste lands in: the training crop, no larger than the median image (a larger crop
    is padded with ignore), or the median image without a crop."""
    sizes = np.array([(s.height, s.width) for s in work_stats.samples], dtype=np.int64).reshape(-1, 2)
    h, w = (int(v) for v in np.median(sizes, axis=0)) if len(sizes) else (1, 1)
    if crop_size is None:
        return h, w
    return min(int(crop_size[0]), h), min(int(crop_size[1]), w)


def _mean_sq(r) -> float:
    """E[r²] for a resize ratio, or a (low, high) range drawn uniformly."""
    if isinstance(r, (tuple, list)):
        lo, hi = float(r[0]), float(r[1])
        return (lo * lo + lo * hi + hi * hi) / 3.0
    return float(r) ** 2


def bank_dose(work: str | Path, *, crop_size: tuple[int, int] | None = None, explicit: dict | None = None,
              bank=None, tail=None) -> Dose:
    """The memory-bank dose for ``work`` (module docstring): explicit options win, then AUCSeg's
    preset for the papers' datasets, then the rule. ``bank`` (a TailBank) defaults to
    ``WORK/bank.zarr``; ``tail`` to the work directory's tail bucket."""
    from .bank import TailBank

    explicit = dict(explicit or {})
    wd = WorkDir.of(work)
    stats = wd.stats(verify=False)
    bank = TailBank.open(wd.bank) if bank is None else bank
    tail = wd.tail() if tail is None else tail
    classes = np.array(sorted({int(c) for c in tail if bank.count(int(c)) > 0}), dtype=np.int64)
    h, w = canvas_size(stats, crop_size)
    canvas = h * w
    present = stats.counts[:, classes] > 0 if len(classes) else np.zeros((len(stats.counts), 0), bool)
    missing = (~present).sum(axis=1)
    mean_missing = float(missing.mean()) if len(missing) else 0.0
    area = bank.column("area").astype(np.float64)
    cls = bank.column("class_id")
    per_class = [float(np.minimum(area[cls == c], canvas).mean()) for c in classes]
    mean_area = float(np.mean(per_class)) if per_class else 0.0

    args, source = {}, {}
    preset = published_preset(work)
    if preset is not None:
        name, cfg = preset
        args.update(sample_ratio=float(cfg["sample_ratio"]), resize_ratio=float(cfg["resize_ratio"]), per_image=True)
        source.update({k: f"preset:{name}" for k in BANK_KEYS})
    else:
        wanted = max(OBJECTS_PER_IMAGE, PASTED_SHARE * canvas / mean_area) if mean_area > 0 else OBJECTS_PER_IMAGE
        sample = min(1.0, wanted / mean_missing) if mean_missing > 0 else 1.0
        n = float(np.ceil(sample * missing - 1e-9).mean()) if len(missing) else 0.0
        resize = math.sqrt(PASTED_SHARE * canvas / (n * mean_area)) if n > 0 and mean_area > 0 else 1.0
        args.update(sample_ratio=round(sample, 4), resize_ratio=round(min(1.0, max(MIN_RESIZE, resize)), 3),
                    per_image=True)
        source.update({k: "rule" for k in BANK_KEYS})
    for k, v in explicit.items():
        args[k] = tuple(v) if k == "resize_ratio" and isinstance(v, list) else v
        source[k] = "explicit"
    s = float(args.get("sample_ratio", 1.0))
    # per image as published; with per_image false (classes missing from the whole batch) fewer are
    # pasted, so this is an upper bound
    objects = float(np.ceil(s * missing - 1e-9).mean()) if len(missing) else 0.0
    share = min(1.0, objects * _mean_sq(args.get("resize_ratio", 1.0)) * mean_area / max(canvas, 1))
    figures = {"tail_classes": int(len(classes)), "missing_per_image": round(mean_missing, 3),
               "canvas": [h, w], "mean_object_area": round(mean_area, 1),
               "objects_per_image": round(objects, 3), "pasted_share": round(share, 5),
               "rule": {"objects_per_image": OBJECTS_PER_IMAGE, "pasted_share": PASTED_SHARE, "min_resize": MIN_RESIZE}}
    return Dose("bank", args, source, figures)


def cutmix_dose(work: str | Path, *, crop_size: tuple[int, int] | None = None, explicit: dict | None = None,
                cutmix=None, tail=None) -> Dose:
    """The tail-cutmix dose for ``work`` (module docstring); ``cutmix`` defaults to ``WORK/cutmix.zarr``."""
    from .cutmix import TailCutmix

    explicit = dict(explicit or {})
    wd = WorkDir.of(work)
    stats = wd.stats(verify=False)
    cutmix = TailCutmix.open(wd.cutmix) if cutmix is None else cutmix
    tail = wd.tail() if tail is None else tail
    classes = [int(c) for c in sorted(set(tail)) if cutmix.count(int(c)) > 0]
    h, w = canvas_size(stats, crop_size)
    levels = [int(t) for t in explicit.get("levels", range(cutmix.levels + 1))]
    per_level = []
    for t in levels:
        shares = []
        for c in classes:
            if t == 0:  # the whole source image is resized to the canvas; only class c's pixels are written
                size = cutmix._size[cutmix._span(c)]
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
    figures = {"tail_classes": len(classes), "canvas": [h, w], "levels": levels,
               "share_per_paste": round(per_paste, 5), "share_per_level": [round(v, 5) for v in per_level],
               "objects_per_image": round(objects, 3), "pasted_share": round(min(1.0, objects * per_paste), 5),
               "rule": {"prob": CUTMIX_PROB}}
    return Dose("cutmix", args, source, figures)


def resolve_dose(mode: PasteMode, work: str | Path, *, crop_size: tuple[int, int] | None = None,
                 paste_args: dict | None = None, store=None) -> Dose:
    """The dose of paste ``mode`` (``bank`` | ``cutmix``) with the user's ``paste_args`` (which win;
    ``tail`` among them selects the classes)."""
    args = dict(paste_args or {})
    tail = args.pop("tail", None) or None
    if mode == "bank":
        return bank_dose(work, crop_size=crop_size, explicit=args, bank=store, tail=tail)
    return cutmix_dose(work, crop_size=crop_size, explicit=args, cutmix=store, tail=tail)


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


__all__ = ["STORES", "Dose", "open_store", "bank_dose", "cutmix_dose", "dose_warning", "preset_for", "published_preset", "resolve_dose"]
