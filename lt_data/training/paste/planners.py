"""Paste planners: AUCSeg's T-Memory Bank and paper 003's tail cutmix, as sampling plans.

A planner only draws randomness and reads crops (in the DataLoader worker, from the batch's seeded
``numpy.random.Generator``); :func:`lt_data.training.paste.paste` applies the plan on the device.
"""

from __future__ import annotations

import math
from typing import Literal, Sequence

import cv2
import numpy as np
import torch

from ...core.classes import IGNORE_INDEX
from ...core.errors import LtDataError
from ...data.geometry import TRAIN_SCALE_RANGE
from ...core.names import PasteMode
from ...data.spatial import draw_centres
from ...stores.open import open_store
from .args import PASTE_ARGS, PasteArgs, paste_args_of
from .kernels import PastePlan


PLACEMENTS = ("uniform", "prior")


def _present(labels: torch.Tensor | np.ndarray, k: int) -> np.ndarray:
    """(B, K) bool: which classes each image of the batch contains (ignore and out-of-range dropped)."""
    lab = torch.as_tensor(labels).reshape(len(labels), -1)
    b = lab.shape[0]
    cell = lab.clamp(0, k) + (k + 1) * torch.arange(b)[:, None]  # every non-class value → bin k of its image
    return (torch.bincount(cell.reshape(-1), minlength=b * (k + 1)).view(b, k + 1)[:, :k] > 0).numpy()


def _resize(pixels: np.ndarray, mask: np.ndarray, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 resize in the worker (bilinear pixels, nearest mask): uint8 is several times faster there."""
    if pixels.shape[:2] == (h, w):
        return pixels, mask
    interp = cv2.INTER_AREA if h < pixels.shape[0] else cv2.INTER_LINEAR
    pix = cv2.resize(pixels, (w, h), interpolation=interp)
    m = cv2.resize(mask.view(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).view(bool)
    return pix, m


def _pack(crops: list[np.ndarray], labels: list[np.ndarray], masks: list[np.ndarray], image_index: list[int],
          offsets: list[tuple[int, int]], classes: list[int]) -> PastePlan:
    """Pad crops to a common box and stack them into a :class:`PastePlan` (uint8 pixels)."""
    if not crops:
        return PastePlan.empty()
    hm = max(c.shape[0] for c in crops)
    wm = max(c.shape[1] for c in crops)
    p = len(crops)
    pix = np.zeros((p, hm, wm, 3), np.uint8)
    lab = np.full((p, hm, wm), IGNORE_INDEX, np.uint8)  # uint8 crosses the worker → main pipe 8× lighter
    msk = np.zeros((p, hm, wm), bool)
    for j, (c, l, m) in enumerate(zip(crops, labels, masks)):
        h, w = m.shape
        pix[j, :h, :w], lab[j, :h, :w], msk[j, :h, :w] = c, l, m
    return PastePlan(torch.from_numpy(pix).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(lab),
                     torch.from_numpy(msk), torch.tensor(image_index, dtype=torch.int64),
                     torch.tensor(offsets, dtype=torch.int64).reshape(-1, 2), torch.tensor(classes, dtype=torch.int64))


class MemoryBankPaste:
    """AUCSeg's T-Memory Bank on a shared object bank: paste objects of the tail classes a batch lacks.

    For each mini-batch: the tail classes missing from the whole batch (``per_image=True``: from
    each image, as the published code does) are found; ``ceil(sample_ratio × missing)`` of them are
    drawn without replacement; for each, one object of that class is drawn from the bank, resized by
    ``resize_ratio`` (a number, or a ``(low, high)`` range drawn per object; shrunk further if it
    would not fit), and pasted at a uniformly random position that keeps it inside a random image of
    the batch (in per-image mode, into that image). ``max_per_image`` caps the objects one image
    receives (extra draws are dropped); ``receive_prob`` is the chance that an image may receive
    pastes at all. Tail classes with no object in the bank are never drawn.

    ``placement="prior"`` places an object where its class appears in the data instead of uniformly:
    its centre is drawn from the class's cell of ``prior`` (``(K, G, G)`` densities, a
    :class:`lt_data.data.spatial.SpatialPrior` or its ``density``), then the box is shifted to fit.

    AUCSeg's configurations (``manifests/aucseg.json``): Cityscapes sample 1.0 / resize 1.0, ADE20K
    0.05 / 0.4, COCO-Stuff 0.05 / 0.1 — see :meth:`from_aucseg`.

    >>> import shutil, tempfile
    >>> import numpy as np, torch
    >>> from lt_data.stores.bank import build_bank
    >>> from lt_data.training.synthetic import street_work
    >>> tmp = tempfile.mkdtemp()
    >>> work = street_work(tmp)                                  # 6 generated street scenes, their buckets
    >>> labels = torch.zeros(2, 64, 96, dtype=torch.long)       # two road-only crops: every tail class is missing
    >>> _ = build_bank(work, min_area=8, workers=1, progress=False)
    >>> planner = MemoryBankPaste(work / "bank.zarr", per_image=True)   # sample_ratio 1: each missing class
    >>> plan = planner.plan(labels, np.random.default_rng(0))
    >>> drawable = planner.tail[planner.available].tolist()
    >>> len(plan) == 2 * len(drawable) and sorted(set(plan.classes.tolist())) == drawable
    True
    >>> shutil.rmtree(tmp)
    """

    def __init__(self, bank, tail: Sequence[int] | None = None, *, sample_ratio: float = 1.0,
                 resize_ratio: float | tuple[float, float] = 1.0, per_image: bool = False,
                 max_per_image: int | None = None, receive_prob: float = 1.0,
                 placement: Literal["uniform", "prior"] = "uniform", prior=None):
        from ...stores.bank import TailBank

        self.bank = TailBank.open(bank) if not hasattr(bank, "get_many") else bank
        self.num_classes = self.bank.table.num_classes
        tail = self.bank.classes if tail is None else [int(c) for c in tail]
        self.tail = np.array(sorted(set(tail)), dtype=np.int64)
        self.available = np.array([self.bank.count(c) > 0 for c in self.tail], dtype=bool)
        if not 0 < sample_ratio <= 1 or not 0 <= receive_prob <= 1:
            raise ValueError(f"sample_ratio must be in (0, 1] and receive_prob in [0, 1], got {sample_ratio}, "
                             f"{receive_prob}")
        self.sample_ratio, self.resize_ratio = float(sample_ratio), resize_ratio
        self.per_image, self.max_per_image, self.receive_prob = per_image, max_per_image, float(receive_prob)
        if placement not in PLACEMENTS:
            raise ValueError(f"placement must be one of {', '.join(PLACEMENTS)}, got {placement!r}")
        self.placement = placement
        self.prior = None
        if placement == "prior":
            density = np.asarray(getattr(prior, "density", prior) if prior is not None else (), dtype=np.float64)
            if density.ndim != 3 or len(density) != self.num_classes or density.shape[1] != density.shape[2]:
                raise ValueError(f"placement 'prior' needs prior densities of shape ({self.num_classes}, G, G) "
                                 f"(lt_data.data.spatial.spatial_prior), got {density.shape}")
            if not (np.isfinite(density).all() and (density >= 0).all()):
                raise ValueError("placement 'prior' needs finite, non-negative prior densities")
            self.prior = density

    def __repr__(self) -> str:
        return _repr(self, "bank")

    def _position(self, c: int, nh: int, nw: int, h: int, w: int, rng: np.random.Generator) -> tuple[int, int]:
        """Top-left corner of an ``nh × nw`` object of class ``c`` inside an ``h × w`` image."""
        if self.prior is None:
            return int(rng.integers(0, h - nh + 1)), int(rng.integers(0, w - nw + 1))
        cy, cx = draw_centres(self.prior[c], rng)
        y = min(max(int(round(cy * h - nh / 2)), 0), h - nh)
        x = min(max(int(round(cx * w - nw / 2)), 0), w - nw)
        return y, x

    @classmethod
    def from_aucseg(cls, bank, dataset: str, **overrides) -> "MemoryBankPaste":
        """The published AUCSeg configuration of ``cityscapes``, ``ade20k`` or ``coco_stuff164k``."""
        from ...core.classes import load_manifest

        cfg = load_manifest("aucseg")[dataset]
        opts = {"tail": cfg["tail"], "sample_ratio": cfg["sample_ratio"], "resize_ratio": cfg["resize_ratio"],
                "per_image": True} | overrides
        return cls(bank, **opts)

    def _ratio(self, rng: np.random.Generator) -> float:
        r = self.resize_ratio
        return float(rng.uniform(r[0], r[1])) if isinstance(r, (tuple, list)) else float(r)

    def plan(self, labels: torch.Tensor, rng: np.random.Generator, present: np.ndarray | None = None) -> PastePlan:
        """The paste plan for a batch with ``labels (B, H, W)``; ``present (B, K)`` bool, when the
        items already counted their classes, saves a pass over the labels."""
        b, h, w = labels.shape
        present = _present(labels, self.num_classes) if present is None else np.asarray(present, dtype=bool)
        tail_present = present[:, self.tail]
        may_receive = rng.random(b) < self.receive_prob
        if self.per_image:  # (image, class) pairs, image by image
            wanted = []
            for i in range(b):
                missing = self.tail[~tail_present[i] & self.available]
                n = math.ceil(self.sample_ratio * len(missing))
                chosen = rng.choice(missing, size=n, replace=False) if n else missing[:0]
                wanted += [(i, int(c)) for c in chosen] if may_receive[i] else []
            targets = [i for i, _ in wanted]
            classes = [c for _, c in wanted]
        else:
            missing = self.tail[~tail_present.any(0) & self.available]
            n = math.ceil(self.sample_ratio * len(missing))
            classes = rng.choice(missing, size=n, replace=False).tolist() if n else []
            targets = [None] * len(classes)
        if not classes:
            return PastePlan.empty()
        obj = self.bank.sample(classes, rng)
        pixels, masks, cols = self.bank.get_many(obj)
        counts = np.zeros(b, dtype=np.int64)
        out_pix, out_lab, out_mask, out_img, out_off, out_cls = [], [], [], [], [], []
        for pix, msk, c, tgt in zip(pixels, masks, cols["class_id"].tolist(), targets):
            r = self._ratio(rng)
            oh, ow = msk.shape
            fit = min(1.0, h / max(oh * r, 1), w / max(ow * r, 1))  # never larger than the image
            nh, nw = max(1, int(round(oh * r * fit))), max(1, int(round(ow * r * fit)))
            nh, nw = min(nh, h), min(nw, w)
            if tgt is None:
                ok = may_receive & ((counts < self.max_per_image) if self.max_per_image else True)
                choices = np.flatnonzero(ok)
                tgt = int(rng.choice(choices)) if len(choices) else None
                y, x = self._position(c, nh, nw, h, w, rng)
                if tgt is None:
                    continue
            else:
                y, x = self._position(c, nh, nw, h, w, rng)
                if self.max_per_image and counts[tgt] >= self.max_per_image:
                    continue
            pix, msk = _resize(pix, msk, nh, nw)
            if not msk.any():
                continue
            counts[tgt] += 1
            out_pix.append(pix)
            out_mask.append(msk)
            out_lab.append(np.where(msk, c, IGNORE_INDEX).astype(np.uint8))
            out_img.append(tgt)
            out_off.append((y, x))
            out_cls.append(c)
        return _pack(out_pix, out_lab, out_mask, out_img, out_off, out_cls)


class TailCutmixPaste:
    """Paper 003's multi-level tail pixel cutmix, from a ``cutmix.zarr`` store.

    Each image of a batch receives, with probability ``prob``, ``per_image`` pastes. A paste draws a
    tail class b uniformly among the classes with a non-empty subset, an image of b's subset
    uniformly, and a level t uniformly from ``levels`` (default 0..T of the store):

    - level 0 mixes by the class mask, X̃ = (1 − M)·X + M·X_B with M = (Y_B == b): the whole source
      image is resized to the batch image (nearest for labels) and only b's pixels are written;
    - level t ≥ 1 reads the level-t box (pixels and labels) and replaces the region at a uniformly
      random position P inside the image; a crop larger than the image is scaled down to fit
      (aspect kept, nearest for labels). Every pixel of the crop is written, ignore labels included,
      as in the paper.

    >>> import shutil, tempfile
    >>> import numpy as np, torch
    >>> from lt_data.stores.cutmix import build_cutmix
    >>> from lt_data.training.synthetic import street_work
    >>> tmp = tempfile.mkdtemp()
    >>> work = street_work(tmp)                                  # 6 generated street scenes, their buckets
    >>> labels = torch.zeros(2, 64, 96, dtype=torch.long)       # two road-only crops: every tail class is missing
    >>> _ = build_cutmix(work, workers=1, progress=False)
    >>> planner = TailCutmixPaste(work / "cutmix.zarr", prob=1.0)      # one crop into every image
    >>> plan = planner.plan(labels, np.random.default_rng(0))
    >>> plan.image_index.tolist(), set(plan.classes.tolist()) <= set(planner.tail.tolist())
    ([0, 1], True)
    >>> shutil.rmtree(tmp)
    """

    def __init__(self, cutmix, tail: Sequence[int] | None = None, *, levels: Sequence[int] | None = None,
                 prob: float = 0.5, per_image: int = 1):
        from ...stores.cutmix import TailCutmix

        self.cutmix = TailCutmix.open(cutmix) if not hasattr(cutmix, "crops") else cutmix
        tail = self.cutmix.classes if tail is None else [int(c) for c in tail]
        self.tail = np.array([c for c in sorted(set(tail)) if self.cutmix.count(c) > 0], dtype=np.int64)
        self.levels = list(range(self.cutmix.levels + 1)) if levels is None else [int(t) for t in levels]
        bad = [t for t in self.levels if not 0 <= t <= self.cutmix.levels]
        if bad:
            raise ValueError(f"levels {bad} outside 0..{self.cutmix.levels} of {self.cutmix.url}")
        if not 0 <= prob <= 1 or per_image < 0:
            raise ValueError(f"prob must be in [0, 1] and per_image >= 0, got {prob}, {per_image}")
        self.prob, self.per_image = float(prob), int(per_image)

    def __repr__(self) -> str:
        return _repr(self, "cutmix")

    def plan(self, labels: torch.Tensor, rng: np.random.Generator, present: np.ndarray | None = None) -> PastePlan:
        b, h, w = labels.shape
        receive = np.repeat(np.flatnonzero(rng.random(b) < self.prob), self.per_image)
        if len(self.tail) == 0 or len(receive) == 0:
            return PastePlan.empty()
        classes = rng.choice(self.tail, size=len(receive))
        classes, positions = self.cutmix.sample(classes, rng)
        levels = rng.choice(self.levels, size=len(classes))
        out_pix, out_lab, out_mask, out_img, out_off, out_cls = [], [], [], [], [], []
        for tgt, c, i, t in zip(receive.tolist(), classes.tolist(), positions.tolist(), levels.tolist()):
            pix, lab = self.cutmix.crop(c, i, t)
            if t == 0:
                pix = cv2.resize(pix, (w, h), interpolation=cv2.INTER_LINEAR) if pix.shape[:2] != (h, w) else pix
                lab = cv2.resize(lab, (w, h), interpolation=cv2.INTER_NEAREST) if lab.shape != (h, w) else lab
                mask, (y, x) = lab == c, (0, 0)
            else:
                ch, cw = lab.shape
                fit = min(1.0, h / ch, w / cw)
                if fit < 1.0:
                    nh, nw = max(1, int(ch * fit)), max(1, int(cw * fit))
                    pix = cv2.resize(pix, (nw, nh), interpolation=cv2.INTER_AREA)
                    lab = cv2.resize(lab, (nw, nh), interpolation=cv2.INTER_NEAREST)
                mask = np.ones(lab.shape, bool)
                y, x = int(rng.integers(0, h - lab.shape[0] + 1)), int(rng.integers(0, w - lab.shape[1] + 1))
            if not mask.any():
                continue
            out_pix.append(np.ascontiguousarray(pix))
            out_lab.append(lab)
            out_mask.append(mask)
            out_img.append(tgt)
            out_off.append((y, x))
            out_cls.append(c)
        return _pack(out_pix, out_lab, out_mask, out_img, out_off, out_cls)


def planner_keys(mode: PasteMode) -> tuple[str, ...]:
    """The options the ``bank`` or ``cutmix`` planner takes after its store and tail (:mod:`.args`)."""
    return PASTE_ARGS[mode].planner_keys()


def _repr(planner, mode: PasteMode) -> str:
    """``Planner(store, tail=[...], key=value, ...)``: the planner's options, as :mod:`.args` lists them."""
    store = getattr(planner, "bank", None) or getattr(planner, "cutmix", None)
    keys = [k for k in PASTE_ARGS[mode].keys() if k != "tail"]
    args = ", ".join(f"{k}={getattr(planner, k)!r}" for k in keys)
    return f"{type(planner).__name__}({getattr(store, 'url', store)!r}, tail={planner.tail.tolist()}, {args})"


def work_planner(mode: PasteMode, work, args: PasteArgs | dict | None = None, *, store=None,
                 crop_size: tuple[int, int] | None = None, scale_range: tuple[float, float] = TRAIN_SCALE_RANGE,
                 derive: bool = True, **options):
    """The ``bank`` or ``cutmix`` planner over the work directory's store: the one route from a work
    directory to a planner (the trainer, ``lt-data preview`` and the integrations take it).

    ``args``: the paste options (:class:`BankPasteArgs` / :class:`CutmixPasteArgs`, or a ``paste_args``
    mapping; ``options`` are set over them, as keywords); a key the planner does not take, or a value
    it refuses, raises LtDataError. ``args.tail`` defaults to the work directory's tail bucket.

    The store is opened with ``work``'s fingerprints checked: one built from other statistics would
    paste old objects under the new class ids, so it is refused (ArtifactError naming the store).
    ``store``: the already opened store (:func:`lt_data.stores.open_store`).

    The dose options you leave out (``sample_ratio``, ``resize_ratio``, ``per_image``; ``prob``) are
    derived from the data for crops of ``crop_size`` after a rescale in ``scale_range`` as the
    trainer does (:func:`lt_data.training.paste.dose.resolve_dose`; ``derive=False`` keeps the planner's own
    defaults); the resolved dose is ``planner.dose``.

    >>> planner = work_planner("bank", work, crop_size=(96, 128))  # doctest: +SKIP
    >>> planner.dose.describe()  # doctest: +SKIP
    'bank paste dose: sample_ratio=1 (rule), resize_ratio=1 (rule), per_image=True (rule); expected ...'
    """
    from ...data.workdir import WorkDir
    from .dose import resolve_dose

    args = paste_args_of(mode, args).merged(options)
    wd = WorkDir.of(work)
    store = open_store(mode, wd) if store is None else store
    dose = None
    if derive:
        dose = resolve_dose(mode, wd, args, crop_size=crop_size, scale_range=scale_range, store=store)
        args = dose.paste
    kwargs = args.planner_kwargs()
    if mode == "bank" and kwargs.get("placement") == "prior" and kwargs.get("prior") is None:
        from ...data.spatial import spatial_prior  # read only for the one valid value that needs it

        kwargs["prior"] = spatial_prior(wd)
    tail = wd.tail() if args.tail is None else list(args.tail)
    try:
        planner = (MemoryBankPaste if mode == "bank" else TailCutmixPaste)(store, tail, **kwargs)
    except (TypeError, ValueError) as e:
        raise LtDataError(f"{mode} paste options {args.shown()}: {e}") from None
    planner.dose = dose
    return planner
