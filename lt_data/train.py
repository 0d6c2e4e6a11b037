"""Reference trainer and evaluation for any segmenter (``(B, 3, H, W)`` → ``(B, K, h, w)`` logits).

AdamW, poly learning-rate schedule with linear warm-up, gradient clipping, any loss of
:mod:`lt_data.losses`, memory-bank or tail-cutmix pasting applied on the device, mixed precision on
CUDA, checkpoints with exact resume (model, optimiser, step, RNG states), a JSONL log, and
``torch.distributed`` (DDP; gloo on CPU, NCCL on GPU) when launched with ``torchrun``.

Run directory (``RUN/``)::

    config.json        the TrainConfig used
    log.jsonl          one line per logged step: step, epoch, loss, lr, images_per_s; and per evaluation
    checkpoint.pt      the latest checkpoint (model, optimiser, step, epoch, RNG states, config)
    metrics.json       the last evaluation (see :mod:`lt_data.metrics`)
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm

from .errors import ArtifactError, LtDataError
from .io import atomic_write_json

MEAN = torch.tensor([0.485, 0.456, 0.406]) * 255
STD = torch.tensor([0.229, 0.224, 0.225]) * 255


@dataclass
class TrainConfig:
    work: str                                   # stats work directory of the training split
    run: str                                    # output directory
    model: str = "deeplabv3plus_small"          # short name or package.module:callable
    model_args: dict = field(default_factory=dict)
    loss: str | dict = "ce"                     # e.g. "ce", "pat", "1*auc+ce" (see losses.build_loss)
    paste: str = "none"                         # none | bank | cutmix
    paste_args: dict = field(default_factory=dict)
    val_work: str | None = None                 # stats work directory of the evaluation split
    crop_size: tuple[int, int] = (240, 320)
    scale_range: tuple[float, float] = (0.5, 1.5)
    val_size: tuple[int, int] | None = None     # resize evaluation images (None: as stored)
    batch_size: int = 8
    steps: int = 1000
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup: int = 50
    power: float = 0.9
    clip: float = 1.0
    workers: int = 2
    seed: int = 0
    eval_every: int = 0                         # 0: only at the end
    log_every: int = 10
    checkpoint_every: int = 200
    amp: bool = True                            # mixed precision (CUDA only)
    device: str = "auto"
    threads: int | None = None                  # torch intra-op threads on the CPU

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(d) - known
        if unknown:
            raise LtDataError(f"unknown training option(s) {sorted(unknown)}; known: {sorted(known)}")
        d = dict(d)
        for key in ("crop_size", "scale_range", "val_size"):
            if d.get(key) is not None:
                d[key] = tuple(d[key])
        return cls(**d)


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 3, H, W) → float, ImageNet mean/std, channels-last."""
    mean, std = MEAN.to(images.device)[None, :, None, None], STD.to(images.device)[None, :, None, None]
    return ((images.float() - mean) / std).contiguous(memory_format=torch.channels_last)


def poly_lr(step: int, total: int, base: float, warmup: int, power: float) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    return base * (1 - (step - warmup) / max(1, total - warmup)) ** power


def _dist() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def build_planner(cfg: TrainConfig):
    from .buckets import load_buckets

    if cfg.paste == "none":
        return None
    tail = cfg.paste_args.get("tail") or load_buckets(cfg.work)["tail"]
    args = {k: v for k, v in cfg.paste_args.items() if k != "tail"}
    if cfg.paste == "bank":
        from .augment import MemoryBankPaste

        if "resize_ratio" in args and isinstance(args["resize_ratio"], list):
            args["resize_ratio"] = tuple(args["resize_ratio"])
        return MemoryBankPaste(Path(cfg.work) / "bank.zarr", tail, **args)
    if cfg.paste == "cutmix":
        from .augment import TailCutmixPaste

        return TailCutmixPaste(Path(cfg.work) / "cutmix.zarr", tail, **args)
    raise LtDataError(f"paste must be none, bank or cutmix, not {cfg.paste!r}")


def _rng_state() -> dict:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def train(cfg: TrainConfig, *, progress: bool = True, resume: bool = True, stop_after: int | None = None) -> dict:
    """Train per ``cfg``; resumes from ``RUN/checkpoint.pt`` when present. Returns the final metrics
    (or ``{}`` without a validation split). ``stop_after`` ends the run early after that many steps
    of this call (for tests of resume)."""
    from .dataset import SegmentationDataset, apply_paste, make_loader
    from .losses import build_loss, class_counts_from_stats
    from .models import build_model
    from .stats import load_stats

    rank, world = _dist()
    device = _device(cfg.device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    run = Path(cfg.run)
    if rank == 0:
        run.mkdir(parents=True, exist_ok=True)
        atomic_write_json(run / "config.json", asdict(cfg))
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)

    stats = load_stats(cfg.work, verify=False)
    k = stats.table.num_classes
    ds = SegmentationDataset(cfg.work, crop_size=cfg.crop_size, scale_range=cfg.scale_range, seed=cfg.seed)
    loader = make_loader(ds, batch_size=cfg.batch_size, num_workers=cfg.workers, seed=cfg.seed,
                         planner=build_planner(cfg))
    if len(loader) == 0:
        raise LtDataError(f"{cfg.work}: {len(ds)} images are fewer than one batch of {cfg.batch_size}")
    model = build_model(cfg.model, k, **cfg.model_args).to(device).to(memory_format=torch.channels_last)
    if world > 1:
        model = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    criterion = build_loss(cfg.loss, class_counts=class_counts_from_stats(cfg.work)).to(device)
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr)
    use_amp = cfg.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)

    step, epoch = 0, 0
    ckpt_path = run / "checkpoint.pt"
    if resume and ckpt_path.is_file():
        ckpt = torch.load(ckpt_path, map_location=device, weights_only=False)
        _unwrap(model).load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        scaler.load_state_dict(ckpt["scaler"])
        step, epoch = ckpt["step"], ckpt["epoch"]
        _set_rng_state(ckpt["rng"])
    per_epoch = len(loader)
    log = open(run / "log.jsonl", "a") if rank == 0 else None
    bar = tqdm(total=cfg.steps, initial=step, desc=f"train {run.name}", unit="step",
               disable=not progress or rank != 0, dynamic_ncols=True)
    metrics: dict = {}
    done_here = 0
    try:
        while step < cfg.steps:
            loader.set_epoch(epoch)
            skip = step - epoch * per_epoch  # resume mid-epoch: replay the epoch's order, skip what was done
            t0, seen = time.perf_counter(), 0
            model.train()
            for i, batch in enumerate(loader):
                if i < skip:
                    continue
                if step >= cfg.steps or (stop_after is not None and done_here >= stop_after):
                    break
                images, labels = apply_paste(batch, device)
                lr = poly_lr(step, cfg.steps, cfg.lr, cfg.warmup, cfg.power)
                for g in opt.param_groups:
                    g["lr"] = lr
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                    logits = model(normalize(images))
                    if logits.shape[2:] != labels.shape[1:]:
                        logits = F.interpolate(logits, size=labels.shape[1:], mode="bilinear", align_corners=False)
                loss = criterion(logits.float(), labels)
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.unscale_(opt)
                if cfg.clip:
                    nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
                scaler.step(opt)
                scaler.update()
                step += 1
                done_here += 1
                seen += images.shape[0]
                bar.update()
                if log and (step % cfg.log_every == 0 or step == cfg.steps):
                    rate = seen * world / (time.perf_counter() - t0)
                    rec = {"step": step, "epoch": epoch, "loss": float(loss.detach()), "lr": lr, "images_per_s": rate}
                    log.write(json.dumps(rec) + "\n")
                    log.flush()
                    bar.set_postfix(loss=f"{rec['loss']:.3f}")
                if rank == 0 and (step % cfg.checkpoint_every == 0 or step == cfg.steps):
                    save_checkpoint(ckpt_path, model, opt, scaler, step, epoch + (i + 1 == per_epoch), cfg)
                if cfg.val_work and cfg.eval_every and step % cfg.eval_every == 0 and step < cfg.steps:
                    metrics = _eval_and_log(model, cfg, device, log, step)
                    model.train()
            else:
                epoch += 1
                continue
            break  # the inner loop stopped early: steps reached or stop_after
        if rank == 0 and stop_after is not None and step < cfg.steps:
            save_checkpoint(ckpt_path, model, opt, scaler, step, epoch, cfg)
        if cfg.val_work and step >= cfg.steps and rank == 0:
            metrics = _eval_and_log(model, cfg, device, log, step)
    finally:
        bar.close()
        if log:
            log.close()
    return metrics


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def save_checkpoint(path: Path, model, opt, scaler, step: int, epoch: int, cfg: TrainConfig) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    torch.save({"model": _unwrap(model).state_dict(), "optimizer": opt.state_dict(), "scaler": scaler.state_dict(),
                "step": step, "epoch": epoch, "rng": _rng_state(), "config": asdict(cfg)}, tmp)
    os.replace(tmp, path)


def _eval_and_log(model, cfg: TrainConfig, device, log, step: int) -> dict:
    metrics = evaluate_model(model, cfg.val_work, device=device, size=cfg.val_size, buckets_from=cfg.work,
                             workers=cfg.workers)
    metrics["step"] = step
    atomic_write_json(Path(cfg.run) / "metrics.json", metrics)
    if log:
        log.write(json.dumps({"step": step, "eval": {k: metrics.get(k) for k in
                                                     ("miou", "miou_head", "miou_middle", "miou_tail")}}) + "\n")
        log.flush()
    return metrics


@torch.no_grad()
def evaluate_model(model: nn.Module, work: str | Path, *, device=None, size: tuple[int, int] | None = None,
                   buckets_from: str | Path | None = None, workers: int = 0, batch_size: int = 4,
                   progress: bool = False) -> dict:
    """Accumulate one confusion matrix over the split in ``work`` and return ``metrics.json``'s content.

    Buckets come from ``buckets_from/buckets.json`` (the training work directory) when present."""
    from .buckets import load_buckets
    from .dataset import SegmentationDataset
    from .metrics import ConfusionMatrix, evaluate_confusion

    device = device or next(model.parameters()).device
    ds = SegmentationDataset(work, train=False, size=size)
    k = ds.num_classes
    cm = ConfusionMatrix(k, device=device)
    model.eval()
    sizes = {}
    for i, s in enumerate(ds.samples):  # batch images of equal size only
        sizes.setdefault((s.height, s.width) if size is None else size, []).append(i)
    from torch.utils.data import DataLoader, Subset

    for idx in sizes.values():
        loader = DataLoader(Subset(ds, idx), batch_size=batch_size, num_workers=workers)
        for batch in tqdm(loader, desc="evaluate", disable=not progress, leave=False):
            images, labels = batch["image"].to(device), batch["label"].to(device)
            logits = model(normalize(images))
            if logits.shape[2:] != labels.shape[1:]:
                logits = F.interpolate(logits, size=labels.shape[1:], mode="bilinear", align_corners=False)
            cm.update(logits.argmax(1), labels)
    buckets = None
    if buckets_from is not None and (Path(buckets_from) / "buckets.json").is_file():
        buckets = load_buckets(buckets_from)
    out = evaluate_confusion(cm.matrix, list(ds.table.names), buckets)
    out["split"] = {"work": str(work), "images": len(ds)}
    out["confusion_matrix"] = cm.matrix.tolist()
    return out


def evaluate_checkpoint(checkpoint: str | Path, work: str | Path, *, out: str | Path | None = None,
                        device: str = "auto", progress: bool = True) -> dict:
    """``lt-data evaluate``: load a checkpoint, evaluate on ``work``'s split, write ``metrics.json``."""
    from .models import build_model

    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise ArtifactError(f"{checkpoint}: checkpoint not found")
    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=False)
    cfg = TrainConfig.from_dict(ckpt["config"])
    dev = _device(device)
    from .stats import load_stats

    k = load_stats(cfg.work, verify=False).table.num_classes
    model = build_model(cfg.model, k, **cfg.model_args)
    model.load_state_dict(ckpt["model"])
    model.to(dev).to(memory_format=torch.channels_last)
    metrics = evaluate_model(model, work, device=dev, size=cfg.val_size, buckets_from=cfg.work, progress=progress)
    metrics["checkpoint"] = str(checkpoint)
    metrics["step"] = ckpt["step"]
    out = Path(out) if out else checkpoint.parent / "metrics.json"
    atomic_write_json(out, metrics)
    return metrics


def ddp_setup() -> bool:
    """Initialise torch.distributed from torchrun's environment; returns True when distributed."""
    if "RANK" not in os.environ or torch.distributed.is_initialized():
        return torch.distributed.is_available() and torch.distributed.is_initialized()
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    torch.distributed.init_process_group(backend)
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    return True


def split_work(train_work: str | Path, split: str, out: str | Path, *, workers: int | None = None,
               progress: bool = True) -> Path:
    """Statistics of another split of the training work directory's dataset (same layout and root),
    written to ``out`` (reused when already complete). Evaluation reads its samples from there."""
    from .io import read_json
    from .layouts import get_layout
    from .stats import CLASS_STATS_FILE, DATASET_FILE, run_stats

    out = Path(out)
    d = read_json(Path(train_work) / DATASET_FILE)
    if (out / CLASS_STATS_FILE).is_file() and read_json(out / DATASET_FILE).get("split") == split:
        return out
    layout = get_layout(d["layout"], d["root"], split, **d.get("options", {}))
    run_stats(layout, out, workers=workers, progress=progress)
    return out
