"""The reference trainer's options: one definition for ``lt-data train``, pipelines, ``--set`` and
its help, and the run record. Imports no torch (the CLI builds its help from it).

AUCSeg's recipe is ``loss="1*auc+ce"`` (weight 4 on ADE20K) with ``paste="bank"``; the paste dose
comes from the data unless ``paste_args`` sets it (:mod:`lt_data.training.paste.dose`).
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path

from ..core.errors import LtDataError
from ..data.geometry import TRAIN_SCALE_RANGE
from ..core.names import RUNS_DIR
from .paste.args import BankPasteArgs, CutmixPasteArgs, paste_args_of
from .runs import recipe_name

HELP = {
    'work': 'statistics work directory of the training split',
    'run': 'run directory (default WORK/runs/<model>-<loss>-<paste>)',
    'model': 'deeplabv3plus_small | unet_small | segformer | package.module:callable',
    'model_args': 'keyword arguments of the model, a JSON object',
    'loss': "e.g. ce, pat, '1*auc+ce' (AUCSeg: 1 for Cityscapes/COCO-Stuff, 4 for ADE20K), focal, cb, ldam, blv",
    'paste': 'none | bank | cutmix',
    'paste_args': (f'paste options, a JSON object; bank: {BankPasteArgs.help()}; cutmix: {CutmixPasteArgs.help()}; '
                   'the dose you leave out is derived from the data (docs/DOSE.md)'),
    'sampler': 'uniform | rcs | rfs',
    'sampler_args': 'sampler options, a JSON object; rcs: temperature, min_pixels, min_crop_ratio, focus_crop; rfs: threshold, by (images | pixels)',
    'val_work': 'statistics work directory of the evaluation split',
    'crop_size': 'training crop [height, width]',
    'scale_range': 'random rescale [low, high] before the crop',
    'val_size': 'resize evaluation images to [height, width] (null: as stored)',
    'batch_size': 'images per step and process (under DDP the effective batch is world size x this)',
    'steps': 'optimiser steps',
    'lr': 'AdamW learning rate (poly decay after the warm-up)',
    'weight_decay': 'AdamW weight decay',
    'warmup': 'linear warm-up steps (at most steps)',
    'power': 'poly decay power',
    'clip': 'gradient-norm clipping (0: off)',
    'workers': 'DataLoader worker processes',
    'seed': 'seed of the model, the data order, the crops and the pastes',
    'eval_every': 'evaluate every N steps (0: only at the end)',
    'log_every': 'log.jsonl line every N steps',
    'checkpoint_every': 'checkpoint every N steps',
    'amp': 'mixed precision (CUDA only)',
    'device': 'auto | cpu | cuda | cuda:N',
    'threads': "torch intra-op threads on the CPU (null: torch's default, the machine's cores); the numbers of a run depend on it",
    'deterministic': 'CUDA: deterministic kernels where torch has them, a warning where it has none (slower); CPU runs repeat bit for bit without it',
}


@dataclass
class TrainConfig:
    """The training options; what each means and its default: :data:`HELP` and :func:`option_help`
    (``lt-data train --help``)."""

    work: str
    run: str | None = None
    model: str = "deeplabv3plus_small"
    model_args: dict = field(default_factory=dict)
    loss: str | dict = "ce"
    paste: str = "none"
    paste_args: dict = field(default_factory=dict)
    sampler: str = "uniform"
    sampler_args: dict = field(default_factory=dict)
    val_work: str | None = None
    crop_size: tuple[int, int] = (240, 320)
    scale_range: tuple[float, float] = TRAIN_SCALE_RANGE
    val_size: tuple[int, int] | None = None
    batch_size: int = 8
    steps: int = 1000
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup: int = 50
    power: float = 0.9
    clip: float = 1.0
    workers: int = 2
    seed: int = 0
    eval_every: int = 0
    log_every: int = 10
    checkpoint_every: int = 200
    amp: bool = True
    device: str = "auto"
    threads: int | None = None
    deterministic: bool = False

    def __post_init__(self):
        for key in ("work", "run", "val_work"):
            if isinstance(getattr(self, key), Path):
                setattr(self, key, str(getattr(self, key)))
        for key in ("crop_size", "scale_range", "val_size"):  # JSON and TOML give lists
            if isinstance(getattr(self, key), list):
                setattr(self, key, tuple(getattr(self, key)))
        if self.run is None and isinstance(self.work, str):  # validate() names a missing or bad work
            self.run = str(Path(self.work) / RUNS_DIR / recipe_name(self.model, self.loss, self.paste, self.sampler))

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(d) - known
        if unknown:
            raise LtDataError(f"unknown training option(s) {sorted(unknown)}; known: {sorted(known)}")
        if "work" not in d:
            raise LtDataError("training needs a work directory (option work)")
        cfg = cls(**d)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        """Refuse (LtDataError naming the option) values that cannot train, before anything is built."""
        from ..core.names import STORES

        def bad(key: str, expected: str):
            raise LtDataError(f"training option {key} must be {expected}, got {getattr(self, key)!r}")

        def is_int(v) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        def is_num(v) -> bool:
            return isinstance(v, (int, float)) and not isinstance(v, bool)

        def pair(v, test) -> bool:
            return isinstance(v, tuple) and len(v) == 2 and all(test(x) for x in v)

        for key in ("work", "run", "model"):
            if not isinstance(getattr(self, key), str) or not getattr(self, key):
                bad(key, "a non-empty string")
        if not isinstance(self.loss, (str, dict)) or not self.loss:
            bad("loss", "a loss spec such as 'ce' or '1*auc+ce', or a dict")
        if self.paste not in ("none", *STORES):
            bad("paste", " | ".join(("none", *STORES)))
        from ..data.sampling import SAMPLERS

        if self.sampler not in SAMPLERS:
            bad("sampler", " | ".join(SAMPLERS))
        for key in ("model_args", "paste_args", "sampler_args"):
            if not isinstance(getattr(self, key), dict):
                bad(key, "a table of options")
        if self.paste != "none" and isinstance(self.paste_args, dict):
            paste_args_of(self.paste, self.paste_args)  # a mistyped key: one line naming the valid ones
        if self.val_work is not None and not isinstance(self.val_work, str):
            bad("val_work", "a work directory")
        if not pair(self.crop_size, lambda x: is_int(x) and x >= 1):
            bad("crop_size", "two positive integers (height, width)")
        if self.val_size is not None and not pair(self.val_size, lambda x: is_int(x) and x >= 1):
            bad("val_size", "two positive integers (height, width), or none")
        if not pair(self.scale_range, lambda x: is_num(x) and x > 0) or self.scale_range[0] > self.scale_range[1]:
            bad("scale_range", "two positive numbers (low, high) with low <= high")
        for key, low in (("batch_size", 1), ("steps", 1), ("log_every", 1), ("checkpoint_every", 1), ("warmup", 0),
                         ("workers", 0), ("seed", 0), ("eval_every", 0)):
            if not is_int(getattr(self, key)) or getattr(self, key) < low:
                bad(key, f"an integer >= {low}")
        if self.threads is not None and (not is_int(self.threads) or self.threads < 1):
            bad("threads", "an integer >= 1, or none")
        for key in ("weight_decay", "power", "clip"):
            if not is_num(getattr(self, key)) or getattr(self, key) < 0:
                bad(key, "a number >= 0")
        if not is_num(self.lr) or self.lr <= 0:
            bad("lr", "a number > 0")
        if not isinstance(self.amp, bool):
            bad("amp", "true or false")
        try:
            if self.device != "auto":
                import torch

                torch.device(self.device)
        except (RuntimeError, TypeError):
            bad("device", "auto, cpu, cuda or cuda:N")


def schedule_warning(cfg: TrainConfig) -> str | None:
    """One line when the warm-up outlasts the run: the learning rate would never reach ``lr``."""
    if cfg.warmup > cfg.steps:
        return (f"warning: warmup ({cfg.warmup} steps) is longer than the run ({cfg.steps} steps): the learning "
                f"rate never reaches lr={cfg.lr:g}; set --set warmup=N with N <= steps")
    return None


def option_help() -> str:
    """Every training option with its default and meaning, one per line: ``key (default): help``."""
    lines = []
    for f in fields(TrainConfig):
        if f.name == "work":
            default = "required"
        elif f.default_factory is not MISSING:  # a dict
            default = "{}"
        else:
            default = "null" if f.default is None else (str(f.default).lower() if isinstance(f.default, bool)
                                                         else str(list(f.default)) if isinstance(f.default, tuple)
                                                         else str(f.default))
        lines.append(f"{f.name} ({default}): {HELP[f.name]}")
    return "\n".join(lines)


def default(key: str):
    """The default of training option ``key``."""
    f = TrainConfig.__dataclass_fields__[key]
    return f.default_factory() if f.default_factory is not MISSING else f.default
