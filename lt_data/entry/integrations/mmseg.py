"""AUCSeg's AUC loss and the PAT loss as mmsegmentation loss modules.

In an mmseg config (0.x or 1.x)::

    custom_imports = dict(imports=["lt_data.entry.integrations.mmseg"], allow_failed_imports=False)
    model = dict(decode_head=dict(loss_decode=[
        dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=1.0),
        dict(type="LtDataAUCLoss", loss_weight=1.0),          # AUCSeg: 1 (Cityscapes, COCO-Stuff), 4 (ADE20K)
    ]))

Importing this module registers ``LtDataAUCLoss`` and ``LtDataPATLoss`` in mmseg's registry
(``mmseg.registry.MODELS`` in 1.x, ``mmseg.models.builder.LOSSES`` in 0.x) when mmseg is importable;
without mmseg the classes are plain ``torch.nn.Module`` s with the same call.

The call is the one mmseg's decode heads make (``BaseDecodeHead.loss_by_feat`` in 1.x, ``losses`` in
0.x): the logits already resized to the labels, the labels squeezed to ``(B, H, W)``, then
``loss(seg_logits, seg_label, weight=seg_weight, ignore_index=self.ignore_index)``; the head sums
the returned tensors of losses that share a ``loss_name``, which must start with ``loss_`` for mmseg
to count it in the total. ``weight`` is what mmseg's pixel samplers (OHEM) return, a 0/1 mask of
the hard pixels: pixels of weight 0 are ignored (the AUC and PAT losses are sums over pairs or
classes, not per-pixel means, so other weights have no meaning for them and are refused). Logits at
another resolution, or labels ``(B, 1, H, W)``, are accepted too (:func:`lt_data.core.outputs.match`).

**Data-pipeline transforms** (mmseg 1.x): ``LtDataBankPaste`` (AUCSeg's T-Memory Bank) and
``LtDataCutmixPaste`` (paper 003's tail cutmix) paste into each image inside mmseg's data pipeline,
on the CPU, in the DataLoader workers::

    custom_imports = dict(imports=["lt_data.entry.integrations.mmseg"], allow_failed_imports=False)
    crop_size = (512, 1024)
    train_pipeline = [
        dict(type="LoadImageFromFile"),
        dict(type="LoadAnnotations"),
        dict(type="RandomResize", scale=(2048, 1024), ratio_range=(0.5, 2.0), keep_ratio=True),
        dict(type="RandomCrop", crop_size=crop_size, cat_max_ratio=0.75),
        dict(type="RandomFlip", prob=0.5),
        dict(type="LtDataBankPaste", work="work/cityscapes", crop_size=crop_size),
        dict(type="PhotoMetricDistortion"),
        dict(type="PackSegInputs"),
    ]

They read ``results["img"]`` (H, W, 3; mmcv's ``LoadImageFromFile`` gives BGR, hence the default
``channel_order="bgr"``) and ``results["gt_seg_map"]`` (H, W class ids, 255 ignore; the class ids must
be the work directory's train ids: another value, a raw dataset id, is refused in one line unless
``check_labels=False``) and write them back with the same shapes and dtypes; they record
``results["lt_data_pasted"]`` (objects pasted) and ``results["lt_data_pasted_classes"]`` (their
classes). Place them after the geometric transforms (resize, crop, flip), so that pasted objects keep
their size and every paste lands in the crop the model sees, and before ``PackSegInputs``. The
planner and the kernel are the training Dataset's (:class:`lt_data.entry.integrations.image_paste.ImagePaste`);
the paste dose is derived once, at construction, from the data for ``crop_size`` (default: the work
directory's median image) as ``lt-data train`` derives it; ``paste_args`` override it.

Randomness: ``seed=None`` (the default) draws from numpy's global state, which mmengine seeds in
every DataLoader worker from ``randomness=dict(seed=...)``, so a seeded run pastes the same objects
again; an int ``seed`` gives the transform its own Generator, keyed by (seed, worker, rank).

Registration happens on import: in ``mmseg.registry.TRANSFORMS`` / ``MODELS`` when mmseg is installed
(an mmseg that is installed but cannot be imported raises ImportError naming what is missing, rather
than leaving the config to fail later with "not in registry"), else the transforms go to mmengine's
root ``TRANSFORMS`` (which mmseg's registry, its child, searches too). Without mmcv the transforms are
plain callables taking a results dict.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys

import numpy as np
import torch
import torch.nn as nn

from ...core.classes import IGNORE_INDEX
from ...data.geometry import TRAIN_SCALE_RANGE
from ...training.losses import auc_loss, pat_loss
from ...core.outputs import match


class _MMSegLoss(nn.Module):
    default_name = "loss_lt"

    def __init__(self, loss_weight: float = 1.0, loss_name: str | None = None):
        super().__init__()
        name = loss_name or self.default_name
        if not name.startswith("loss_"):
            raise ValueError(f"loss_name must start with 'loss_' (mmseg adds only such entries to the total), "
                             f"got {name!r}")
        self.loss_weight = float(loss_weight)
        self._loss_name = name

    @property
    def loss_name(self) -> str:
        return self._loss_name

    def _value(self, logits: torch.Tensor, labels: torch.Tensor, ignore_index: int) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, cls_score: torch.Tensor, label: torch.Tensor, weight: torch.Tensor | None = None,
                ignore_index: int = IGNORE_INDEX, **kwargs) -> torch.Tensor:
        logits, labels = match(cls_score, label)
        if weight is not None:
            if weight.shape != labels.shape:
                raise ValueError(f"weight of shape {tuple(weight.shape)} does not match labels {tuple(labels.shape)}")
            if not bool(((weight == 0) | (weight == 1)).all()):
                raise ValueError(f"{type(self).__name__} takes a 0/1 pixel mask as weight (mmseg's OHEM sampler), "
                                 f"not general pixel weights")
            labels = torch.where(weight > 0, labels, torch.full_like(labels, ignore_index))
        return self.loss_weight * self._value(logits, labels, ignore_index)


class LtDataAUCLoss(_MMSegLoss):
    """AUCSeg's one-vs-one square AUC loss (:func:`lt_data.training.losses.auc_loss`), mmseg's loss convention."""

    default_name = "loss_auc"

    def __init__(self, loss_weight: float = 1.0, margin: float = 1.0, loss_name: str | None = None):
        super().__init__(loss_weight, loss_name)
        self.margin = float(margin)

    def _value(self, logits, labels, ignore_index):
        return auc_loss(logits, labels, margin=self.margin, ignore_index=ignore_index)


class LtDataPATLoss(_MMSegLoss):
    """The PAT loss, Eq. 4–5 (:func:`lt_data.training.losses.pat_loss`), mmseg's loss convention."""

    default_name = "loss_pat"

    def __init__(self, loss_weight: float = 1.0, temperature: float = 20.0, eps: float = 1e-6,
                 detach_weight: bool = False, loss_name: str | None = None):
        super().__init__(loss_weight, loss_name)
        self.temperature, self.eps, self.detach_weight = float(temperature), float(eps), bool(detach_weight)

    def _value(self, logits, labels, ignore_index):
        return pat_loss(logits, labels, temperature=self.temperature, eps=self.eps, ignore_index=ignore_index,
                        detach_weight=self.detach_weight)


def register(registry=None) -> list[str]:
    """Register both losses in ``registry`` (default: mmseg's, when mmseg is installed). Returns the
    names registered ([] without mmseg). An mmseg that is installed but fails to import raises
    ImportError saying what to install."""
    if registry is None:
        registry = _mmseg_registry()
        if registry is None:
            return []
    return [_register(registry, cls) for cls in (LtDataAUCLoss, LtDataPATLoss)]


# ---- data-pipeline transforms -------------------------------------------------------------------------

try:  # mmcv 2.x: mmseg 1.x's transforms derive from it (it gives ``__call__ = transform``)
    from mmcv.transforms import BaseTransform as _TransformBase
except ImportError:
    class _TransformBase:
        def __call__(self, results: dict) -> dict:
            return self.transform(results)


class _PasteTransform(_TransformBase):
    mode = "bank"

    def __init__(self, work, paste_args: dict | None = None, crop_size=None, channel_order: str = "bgr",
                 seed: int | None = None, check_labels: bool = True, scale_range=TRAIN_SCALE_RANGE):
        from .image_paste import ImagePaste

        super().__init__()
        self.core = ImagePaste(self.mode, work, paste_args, crop_size=crop_size, channel_order=channel_order,
                               check_labels=check_labels, scale_range=scale_range)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise ValueError(f"seed must be an int or None, got {seed!r}")
        self.seed = None if seed is None else int(seed)
        self._rng, self._rng_pid = None, None

    @property
    def dose(self):
        """The resolved paste dose (:class:`lt_data.training.paste.dose.Dose`)."""
        return self.core.dose

    def _generator(self) -> np.random.Generator:
        from .image_paste import global_generator, worker_key

        if self.seed is None:
            return global_generator()
        if self._rng is None or self._rng_pid != os.getpid():  # a forked worker starts its own stream
            self._rng, self._rng_pid = np.random.default_rng([self.seed, *worker_key()]), os.getpid()
        return self._rng

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_rng"] = state["_rng_pid"] = None
        return state

    def transform(self, results: dict) -> dict:
        for key in ("img", "gt_seg_map"):
            if results.get(key) is None:
                raise KeyError(f"{type(self).__name__} needs results[{key!r}]: place it after LoadImageFromFile "
                               f"and LoadAnnotations")
        plan = self.core.plan(results["gt_seg_map"], self._generator())
        results["img"], results["gt_seg_map"] = self.core.apply(results["img"], results["gt_seg_map"], plan)
        results["lt_data_pasted"] = len(plan)
        results["lt_data_pasted_classes"] = [] if plan.classes is None else plan.classes.tolist()
        return results

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(work={self.core.work!r}, channel_order={self.core.channel_order!r}, "
                f"seed={self.seed!r}; {self.core.dose.describe() if self.core.dose else ''})")


class LtDataBankPaste(_PasteTransform):
    """AUCSeg's T-Memory Bank in mmseg's data pipeline: pastes objects of the tail classes the image
    lacks from ``WORK/bank.zarr`` (:class:`lt_data.training.paste.planners.MemoryBankPaste`). See the module docstring."""

    mode = "bank"


class LtDataCutmixPaste(_PasteTransform):
    """Paper 003's multi-level tail cutmix in mmseg's data pipeline, from ``WORK/cutmix.zarr``
    (:class:`lt_data.training.paste.planners.TailCutmixPaste`). See the module docstring."""

    mode = "cutmix"


def register_transforms(registry=None) -> list[str]:
    """Register both transforms in ``registry`` (default: ``mmseg.registry.TRANSFORMS`` when mmseg is
    installed, else mmengine's root ``TRANSFORMS``). Returns the names registered ([] without either)."""
    if registry is None:
        registry = _transform_registry()
        if registry is None:
            return []
    return [_register(registry, cls) for cls in (LtDataBankPaste, LtDataCutmixPaste)]


# ---- registries -------------------------------------------------------------------------------------

def _register(registry, cls) -> str:
    """Register ``cls`` under its name unless that name is taken by another class. Reads the registry's
    own table (``module_dict``): ``get`` would import every module of mmseg's registry locations."""
    name = cls.__name__
    table = getattr(registry, "module_dict", None)
    have = table.get(name) if table is not None else registry.get(name)
    if have is None or (have is not cls and getattr(have, "__module__", None) == cls.__module__
                        and getattr(have, "__qualname__", None) == cls.__qualname__):  # ours, from a reload
        registry.register_module(module=cls, force=have is not None)
    return name


def _mmseg_installed() -> bool:
    """Whether an mmseg package is installed (a bare ``mmseg/`` folder on sys.path, which Python
    imports as an empty namespace package, is not one)."""
    module = sys.modules.get("mmseg")
    if module is not None:
        spec = getattr(module, "__spec__", None)
        return spec is None or not _namespace(spec)
    try:
        spec = importlib.util.find_spec("mmseg")
    except (ImportError, ValueError):
        return False
    return spec is not None and not _namespace(spec)


def _namespace(spec) -> bool:
    return spec.origin in (None, "namespace") and spec.submodule_search_locations is not None


# import names whose pip package is named otherwise
_PIP_NAMES = {"cv2": "opencv-python", "PIL": "pillow", "yaml": "pyyaml", "sklearn": "scikit-learn",
              "skimage": "scikit-image", "google": "protobuf"}


def _missing_module(err: BaseException) -> str | None:
    if not isinstance(err, ModuleNotFoundError):
        return None
    if err.name:
        return err.name
    m = re.search(r"No module named '([^']+)'", str(err))
    return m.group(1) if m else None


def mmcv_bounds() -> tuple[str, str]:
    """The mmcv versions the installed mmseg accepts, ``(min, max)`` with max excluded, read from its
    ``MMCV_MIN`` / ``MMCV_MAX`` (mmseg 1.2.2: 2.0.0rc4, 2.2.0) without importing it; mmseg 1.2.2's
    when they cannot be read. Its own assertion message names only the lower bound."""
    try:
        spec = importlib.util.find_spec("mmseg")
        text = open(spec.origin, encoding="utf-8").read() if spec and spec.origin else ""
    except (ImportError, ValueError, OSError):
        text = ""
    found = dict(re.findall(r"^(MMCV_MIN|MMCV_MAX)\s*=\s*['\"]([^'\"]+)['\"]", text, flags=re.M))
    return found.get("MMCV_MIN", "2.0.0rc4"), found.get("MMCV_MAX", "2.2.0")


def _mim_mmcv(low: str, high: str) -> str:
    """The command that installs a full mmcv (with compiled ops) the installed mmseg accepts."""
    cuda = torch.version.cuda
    build = f"torch {torch.__version__.split('+')[0]}" + (f" and CUDA {cuda}" if cuda else " on the CPU")
    return (f"`pip uninstall -y mmcv-lite mmcv; pip install -U openmim && mim install 'mmcv>={low},<{high}'` "
            f"(mim picks the wheel built for {build}; where none is published it compiles mmcv, which needs a "
            f"C++ compiler{' and the CUDA toolkit' if cuda else ''})")


def _without_mmseg(low: str, high: str) -> str:
    return (f"for lt-data's transforms and losses in mmengine's registry without mmseg, "
            f"`pip uninstall -y mmsegmentation && pip install 'mmcv-lite>={low},<{high}'` (lt-data's [mmseg] extra)")


def _broken_mmseg(what: str, err: BaseException) -> ImportError:
    """The ImportError for an mmseg that is installed but cannot be imported: one line naming what is
    wrong and the exact fix (a missing package, mmcv outside mmseg's bounds, mmcv without compiled ops)."""
    missing = _missing_module(err)
    top = missing.split(".")[0] if missing else None
    low, high = mmcv_bounds()
    text = " ".join(str(err).split())
    if isinstance(err, AssertionError) and text.startswith("MMCV=="):
        have = text.split()[0].split("==", 1)[1]
        hint = (f"this mmseg accepts mmcv >= {low} and < {high} (its message names only the lower bound), and mmcv "
                f"{have} is installed: to train with mmseg {_mim_mmcv(low, high)}; {_without_mmseg(low, high)}")
    elif isinstance(err, AssertionError) and text.startswith("MMEngine=="):
        hint = "install an mmengine this mmseg accepts: `pip install 'mmengine>=0.10,<1.0'`"
    elif top == "mmseg":
        hint = f"{missing} is missing from the mmseg installation: reinstall it (`pip install -U mmsegmentation`)"
    elif missing and missing.startswith("mmcv._ext"):
        hint = (f"{missing} is mmcv's compiled ops, which mmcv-lite (or an mmcv built without ops) does not have, and "
                f"mmseg's datasets and models need them: {_mim_mmcv(low, high)}; {_without_mmseg(low, high)}")
    elif top == "mmcv":
        hint = f"mmseg 1.x needs mmcv >= {low}, < {high} with its compiled ops: {_mim_mmcv(low, high)}"
    elif top:
        hint = (f"{top} is a dependency of mmseg (mmsegmentation) and is not installed: "
                f"`pip install {_PIP_NAMES.get(top, top)}`")
    else:
        hint = "fix the mmsegmentation installation as that message says"
    reason = text.rstrip(".")
    return ImportError(
        f"lt_data.entry.integrations.mmseg: mmsegmentation is installed, but `import {what}` failed with "
        f"{type(err).__name__}: {reason}; {hint}. Until then lt-data cannot register "
        f"LtDataAUCLoss, LtDataPATLoss, LtDataBankPaste and LtDataCutmixPaste in mmseg's registries, and a "
        f"config naming them would fail with 'not in registry'.")


def _import_mmseg_registry():
    """``mmseg.registry`` (mmseg 1.x), None without mmseg or for mmseg 0.x (which has no such module);
    an mmseg that fails to import, or whose ``mmseg.datasets`` (what a training config needs: its
    datasets and transforms) fails to, raises ImportError (:func:`_broken_mmseg`)."""
    if not _mmseg_installed():
        return None
    try:
        import mmseg.registry as registry
    except Exception as e:  # ImportError, or mmseg's own version asserts on mmcv / mmengine
        if _missing_module(e) == "mmseg.registry" and "mmseg" in sys.modules:
            return None  # mmseg 0.x
        raise _broken_mmseg("mmseg.registry", e) from e
    try:
        import mmseg.datasets  # noqa: F401  (mmcv's compiled ops, through its transforms)
    except Exception as e:
        raise _broken_mmseg("mmseg.datasets", e) from e
    return registry


def _mmseg_registry():
    """mmseg's loss registry: ``mmseg.registry.MODELS`` (1.x) or ``mmseg.models.builder.LOSSES`` (0.x);
    None without mmseg."""
    registry = _import_mmseg_registry()
    if registry is not None:
        return registry.MODELS
    if not _mmseg_installed():
        return None
    try:
        from mmseg.models.builder import LOSSES  # mmseg 0.x
    except Exception as e:
        raise _broken_mmseg("mmseg.models.builder", e) from e
    return LOSSES


def _transform_registry():
    """``mmseg.registry.TRANSFORMS`` (mmseg 1.x), else mmengine's root ``TRANSFORMS``, else None."""
    registry = _import_mmseg_registry()
    if getattr(registry, "TRANSFORMS", None) is not None:
        return registry.TRANSFORMS
    try:
        from mmengine.registry import TRANSFORMS
    except ImportError:
        return None
    return TRANSFORMS


REGISTERED = register()
REGISTERED_TRANSFORMS = register_transforms()


def _warn_opencv() -> None:
    """mmcv-lite (the [mmseg] extra) installs opencv-python beside lt-data's headless OpenCV: say so
    when its GUI build is what cv2 now loads (:mod:`lt_data.entry.integrations.opencv`)."""
    import warnings

    from .opencv import opencv_problem

    problem = opencv_problem()
    if problem:
        warnings.warn(problem, stacklevel=3)


_warn_opencv()

__all__ = ["LtDataAUCLoss", "LtDataPATLoss", "LtDataBankPaste", "LtDataCutmixPaste", "REGISTERED",
           "REGISTERED_TRANSFORMS", "register", "register_transforms"]
