"""Reference trainer and evaluation for any segmenter (``(B, 3, H, W)`` → ``(B, K, h, w)`` logits).

AdamW, poly learning-rate schedule with linear warm-up, gradient clipping, any loss of
:mod:`lt_data.losses`, memory-bank or tail-cutmix pasting applied on the device, mixed precision on
CUDA, checkpoints with exact resume (model, optimiser, step, RNG states), a JSONL log, and
``torch.distributed`` (DDP; gloo on CPU, NCCL on GPU) when launched with ``torchrun``.

A run directory is an experiment (its files and the resume rules: :mod:`lt_data.runs`); by default
it is ``WORK/runs/<model>-<loss>-<paste>``, so two recipes never share one.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
from tqdm import tqdm

from .errors import ArtifactError, LtDataError, check_terminated
from .io import atomic_write_json, read_json
from .outputs import match
from .config import TrainConfig, schedule_warning
from .runs import (CHECKPOINT_FILE, CONFIG_FILE, LOG_FILE, METRICS_FILE, check_metrics_out, check_resume,
                   check_run_dir, recipe_name, run_record, start_over, trim_log)

MEAN = torch.tensor([0.485, 0.456, 0.406]) * 255
STD = torch.tensor([0.229, 0.224, 0.225]) * 255


def warn(message: str) -> None:
    """One line on stderr that does not break a progress bar."""
    tqdm.write(message, file=sys.stderr)


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
    """The paste planner of ``cfg`` (None for ``paste = "none"``); its store must match ``cfg.work``.
    The dose is ``paste_args`` where given, the rest derived from the work directory's statistics and
    store for the training crop (:mod:`lt_data.dose`); the resolved dose is ``planner.dose``."""
    if cfg.paste == "none":
        return None
    from .augment import work_planner

    options = {k: v for k, v in cfg.paste_args.items() if k != "tail"}
    return work_planner(cfg.paste, cfg.work, cfg.paste_args.get("tail") or None, crop_size=cfg.crop_size, **options)


def _built(what: str, build: Callable, *args, **kwargs):
    """``build(*args, **kwargs)``, a user's unknown name or bad option reported as one LtDataError line."""
    try:
        return build(*args, **kwargs)
    except (TypeError, ValueError) as e:
        raise LtDataError(f"{what}: {e}") from None


def _rng_state() -> dict:
    """The RNG states as tensors and plain types (what ``torch.load(weights_only=True)`` reads back)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {"torch": torch.get_rng_state(),
            "numpy": {"kind": str(kind), "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                      "has_gauss": int(has_gauss), "gauss": float(gauss)},
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    npst = state["numpy"]
    if isinstance(npst, dict):
        np.random.set_state((npst["kind"], npst["keys"].numpy().astype(np.uint32), npst["pos"], npst["has_gauss"],
                             npst["gauss"]))
    else:  # a trusted checkpoint of an older lt-data: numpy's own tuple
        np.random.set_state(npst)
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def train(cfg: TrainConfig, *, progress: bool = True, resume: bool = True, stop_after: int | None = None,
          echo: Callable[[str], None] = print, trust_checkpoint: bool = False) -> dict:
    """Train per ``cfg``; resumes from ``RUN/checkpoint.pt`` when present and the same experiment
    (:mod:`lt_data.runs`; ``resume=False`` starts over in ``RUN``). Returns the final metrics (or
    ``{}`` without a validation split). ``stop_after`` ends the run early after that many steps of
    this call (for tests of resume). ``echo`` prints notes (rank 0 only), e.g. a run already complete.

    The run directory is locked for the whole run (rank 0 holds the lock): a second training into the
    same directory is refused instead of interleaving checkpoints."""
    from contextlib import nullcontext

    from .artifacts import lock

    cfg.validate()
    with lock(Path(cfg.run), "this training run") if _dist()[0] == 0 else nullcontext():
        return _train(cfg, progress=progress, resume=resume, stop_after=stop_after, echo=echo,
                      trust_checkpoint=trust_checkpoint)


def _train(cfg: TrainConfig, *, progress: bool, resume: bool, stop_after: int | None,
           echo: Callable[[str], None], trust_checkpoint: bool = False) -> dict:
    from .dataset import SegmentationDataset, apply_paste, make_loader
    from .dose import dose_warning
    from .losses import build_loss, class_counts_from_stats
    from .models import build_model
    from .stats import load_stats

    cfg.validate()
    rank, world = _dist()
    device = _device(cfg.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise LtDataError(f"training option device is {cfg.device!r}, but CUDA is not available here")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    table = load_stats(cfg.work, verify=False).table
    if cfg.val_work and load_stats(cfg.val_work, verify=False).table.fingerprint() != table.fingerprint():
        raise ArtifactError(f"{cfg.val_work}: the evaluation split's class table differs from {cfg.work}'s")
    planner = build_planner(cfg)  # opens the store once: the dose and the planner come from it
    dose = planner.dose if planner is not None else None
    record = run_record(asdict(cfg), world, paste=dose.to_json() if dose is not None else None)
    run = Path(cfg.run)
    ckpt_path = run / CHECKPOINT_FILE
    check_run_dir(run)
    ckpt = read_checkpoint(ckpt_path, trust=trust_checkpoint) if resume and ckpt_path.is_file() else None
    if ckpt is not None:
        check_resume(run, ckpt, record, ckpt["step"])
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)

    k = table.num_classes
    ds = SegmentationDataset(cfg.work, crop_size=cfg.crop_size, scale_range=cfg.scale_range, seed=cfg.seed)
    loader = make_loader(ds, batch_size=cfg.batch_size, num_workers=cfg.workers, seed=cfg.seed,
                         planner=planner, sampler=cfg.sampler, sampler_args=cfg.sampler_args)
    if len(loader) == 0:
        raise LtDataError(f"{cfg.work}: {len(ds)} images are fewer than one batch of {cfg.batch_size}"
                          + (f" on each of {world} processes" if world > 1 else ""))
    model = _built(f"model {cfg.model!r} with model_args {cfg.model_args}", build_model, cfg.model, k,
                   **cfg.model_args)
    model = model.to(device).to(memory_format=torch.channels_last)
    if world > 1:
        model = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    criterion = _built(f"loss {cfg.loss!r}", build_loss, cfg.loss,
                       class_counts=class_counts_from_stats(cfg.work)).to(device)
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr)
    use_amp = cfg.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)

    step, epoch = 0, 0
    if ckpt is not None:
        _restore(ckpt_path, ckpt, _unwrap(model), opt, scaler)
        step, epoch = ckpt["step"], ckpt["epoch"]
    complete = step >= cfg.steps
    if rank == 0:
        run.mkdir(parents=True, exist_ok=True)
        if ckpt is None:
            start_over(run)
        else:
            trim_log(run, step)
        atomic_write_json(run / CONFIG_FILE, record)
        if complete:
            echo(f"{run}: already complete at step {step} of {cfg.steps}; nothing to train (raise steps to "
                 f"continue it, or start over with --fresh)")
        elif dose is not None and progress:
            echo(dose.describe())
        warned = dose_warning(dose) if dose is not None else None
        if warned and not complete:
            warn(warned)
        if not complete and (late := schedule_warning(cfg)):
            warn(late)
    per_epoch = len(loader)
    log = open(run / LOG_FILE, "a") if rank == 0 else None
    if log and ckpt is not None and not complete:
        log.write(json.dumps({"step": step, "resume": {"steps": cfg.steps}}) + "\n")
    bar = tqdm(total=cfg.steps, initial=step, desc=f"train {run.name}", unit="step",
               disable=not progress or rank != 0, dynamic_ncols=True)
    metrics: dict = {}
    done_here = 0
    dosed = cfg.paste != "none"
    share_sum, objects_sum, dosed_steps = torch.zeros((), device=device), 0.0, 0
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
                check_terminated()
                images, labels = apply_paste(batch, device, figures=dosed)
                if dosed:
                    share_sum += batch["pasted_share"]
                    objects_sum += batch["pasted_objects"]
                    dosed_steps += 1
                lr = poly_lr(step, cfg.steps, cfg.lr, cfg.warmup, cfg.power)
                for g in opt.param_groups:
                    g["lr"] = lr
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                    logits, labels = match(model(normalize(images)), labels)
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
                    if dosed:  # means over the steps since the last record
                        rec["pasted_share"] = float(share_sum) / max(dosed_steps, 1)
                        rec["pasted_objects"] = objects_sum / max(dosed_steps, 1)
                        if not warned and (warned := dose_warning(dose, rec["pasted_share"])):
                            warn(warned + " (measured)")
                        share_sum.zero_()
                        objects_sum, dosed_steps = 0.0, 0
                    log.write(json.dumps(rec) + "\n")
                    log.flush()
                    bar.set_postfix(loss=f"{rec['loss']:.3f}")
                if rank == 0 and (step % cfg.checkpoint_every == 0 or step == cfg.steps):
                    save_checkpoint(ckpt_path, model, opt, scaler, step, epoch + (i + 1 == per_epoch), record)
                if cfg.val_work and cfg.eval_every and step % cfg.eval_every == 0 and step < cfg.steps:
                    metrics = _eval_and_log(model, cfg, device, log, step, progress)
                    model.train()
            else:
                epoch += 1
                continue
            break  # the inner loop stopped early: steps reached or stop_after
        if rank == 0 and stop_after is not None and step < cfg.steps:
            save_checkpoint(ckpt_path, model, opt, scaler, step, epoch, record)
        if cfg.val_work and step >= cfg.steps:
            metrics = (_metrics_at(run, step) if complete else {}) or _eval_and_log(model, cfg, device, log, step,
                                                                                    progress)
    finally:
        bar.close()
        if log:
            log.close()
    return metrics


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def save_checkpoint(path: Path, model, opt, scaler, step: int, epoch: int, record: dict) -> None:
    """Write ``path`` atomically: model, optimiser, scaler, step, epoch, RNG states and the run's
    record (``config``, ``inputs``, ``world_size``: see :func:`lt_data.runs.run_record`)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    torch.save({"model": _unwrap(model).state_dict(), "optimizer": opt.state_dict(), "scaler": scaler.state_dict(),
                "step": step, "epoch": epoch, "rng": _rng_state(), **record}, tmp)
    os.replace(tmp, path)


def read_checkpoint(path: str | Path, *, trust: bool = False) -> dict:
    """A checkpoint's content, read on the CPU; ArtifactError (one line) when it is unreadable,
    truncated, or not a checkpoint of this trainer.

    Read with ``weights_only=True``: tensors and plain types only, so a checkpoint from elsewhere (a
    download, a shared run directory) cannot run code while it is read. One that needs more (written
    by an older lt-data, or by something else) is refused unless ``trust`` (``--trust-checkpoint``),
    which unpickles it in full: only for a file whose origin you trust."""
    import pickle

    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path}: checkpoint not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=not trust)
    except pickle.UnpicklingError as e:
        if "weights_only" not in str(e) and "Weights only" not in str(e):
            first = (str(e).strip().splitlines() or [""])[0][:200]
            raise ArtifactError(f"{path}: unreadable checkpoint, damaged or truncated (UnpicklingError: {first}); "
                                "train again with --fresh") from None
        raise ArtifactError(f"{path}: holds objects beyond tensors and plain types (an older lt-data's checkpoint, "
                            "or not lt-data's), which loading could run as code; refused. If you trust where it "
                            "came from, pass --trust-checkpoint") from None
    except Exception as e:  # torch.load fails with zip, pickle, EOF or runtime errors, depending on the damage
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise ArtifactError(f"{path}: unreadable checkpoint, damaged or truncated ({type(e).__name__}: {first}); "
                            "train again with --fresh") from None
    missing = [key for key in ("model", "optimizer", "scaler", "step", "epoch", "rng", "config")
               if not isinstance(ckpt, dict) or key not in ckpt]
    if missing:
        raise ArtifactError(f"{path}: not a checkpoint of lt-data's trainer (no {', '.join(missing)})")
    return ckpt


def _restore(path: Path, ckpt: dict, model: nn.Module, opt, scaler) -> None:
    """Load a checkpoint's states; one that does not fit the model it claims to be for is refused."""
    try:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        scaler.load_state_dict(ckpt["scaler"])
        _set_rng_state(ckpt["rng"])
    except (RuntimeError, KeyError, ValueError, TypeError) as e:
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise ArtifactError(f"{path}: does not fit the model and optimiser of its config ({first})") from None


def _metrics_at(run: Path, step: int) -> dict:
    """The run's metrics.json when it holds the evaluation at ``step`` (a complete run is not evaluated twice)."""
    path = run / METRICS_FILE
    metrics = read_json(path) if path.is_file() else {}
    return metrics if metrics.get("step") == step else {}


def _eval_and_log(model, cfg: TrainConfig, device, log, step: int, progress: bool = False) -> dict:
    """Evaluate on ``cfg.val_work``; rank 0 writes metrics.json and the log line.

    Under DDP every rank evaluates a share of the split and the confusion matrices are summed
    (:func:`evaluate_model`): each rank must call this. The unwrapped model is evaluated, since a
    DDP forward synchronises buffers with every rank; rank 0's buffers are broadcast first, because
    after the last step each rank's BatchNorm statistics hold its own last batch, and the checkpoint
    holds rank 0's."""
    rank, world = _dist()
    net = _unwrap(model)
    if world > 1:
        for buf in net.buffers():
            torch.distributed.broadcast(buf, 0)
    metrics = evaluate_model(net, cfg.val_work, device=device, size=cfg.val_size, buckets_from=cfg.work,
                             workers=cfg.workers, distributed=world > 1, progress=progress and rank == 0)
    metrics["step"] = step
    if rank == 0:
        atomic_write_json(Path(cfg.run) / METRICS_FILE, metrics)
    if log:
        log.write(json.dumps({"step": step, "eval": {k: metrics.get(k) for k in
                                                     ("miou", "miou_head", "miou_middle", "miou_tail")}}) + "\n")
        log.flush()
    return metrics


@torch.no_grad()
def evaluate_model(model: nn.Module, work: str | Path, *, device=None, size: tuple[int, int] | None = None,
                   buckets_from: str | Path | None = None, workers: int = 0, batch_size: int = 4,
                   progress: bool = False, distributed: bool = False) -> dict:
    """Accumulate one confusion matrix over the split in ``work`` and return ``metrics.json``'s content.

    Buckets come from ``buckets_from/buckets.json`` (the training work directory) when present.
    ``distributed=True`` (every rank of the initialised process group calls it): each rank
    evaluates every world-th image and the confusion matrices are all-reduced, so every rank
    returns the metrics of the whole split."""
    from torch.utils.data import DataLoader, Subset

    from .buckets import load_buckets
    from .dataset import CarryErrors, PasteCollate, SegmentationDataset, raise_carried
    from .metrics import ConfusionMatrix, evaluate_confusion

    rank, world = _dist() if distributed else (0, 1)
    device = device or next(model.parameters()).device
    ds = SegmentationDataset(work, train=False, size=size)
    k = ds.num_classes
    cm = ConfusionMatrix(k, device=device)
    model.eval()
    sizes = {}
    for i, s in enumerate(ds.samples):  # batch images of equal size only
        sizes.setdefault((s.height, s.width) if size is None else size, []).append(i)
    for idx in sizes.values():
        share = idx[rank::world]
        if not share:
            continue
        loader = DataLoader(CarryErrors(Subset(ds, share)), batch_size=batch_size, num_workers=workers,
                            collate_fn=PasteCollate())
        for batch in tqdm(raise_carried(loader), desc="evaluate", total=len(loader), disable=not progress,
                          leave=False):
            check_terminated()
            images, labels = batch["images"].to(device), batch["labels"].to(device)
            logits, labels = match(model(normalize(images)), labels)
            cm.update(logits.argmax(1), labels)
    if world > 1:
        torch.distributed.all_reduce(cm.mat)
    buckets = None
    if buckets_from is not None and (Path(buckets_from) / "buckets.json").is_file():
        buckets = load_buckets(buckets_from)
    out = evaluate_confusion(cm.matrix, list(ds.table.names), buckets)
    out["split"] = {"work": str(work), "images": len(ds)}
    out["confusion_matrix"] = cm.matrix.tolist()
    return out


def evaluate_checkpoint(checkpoint: str | Path, work: str | Path, *, out: str | Path | None = None,
                        device: str = "auto", progress: bool = True, loaded: dict | None = None,
                        trust: bool = False) -> dict:
    """``lt-data evaluate``: load a checkpoint, evaluate on ``work``'s split, write ``metrics.json``.
    ``loaded``: the checkpoint's content when the caller already read it (:func:`read_checkpoint`).

    The default ``out`` is the run directory's ``metrics.json``; while a training holds that run
    directory (mid-training) it is refused, since the run's own metrics land there when it ends."""
    from .models import build_model
    from .stats import load_stats

    checkpoint = Path(checkpoint)
    ckpt = loaded if loaded is not None else read_checkpoint(checkpoint, trust=trust)
    if out is None:
        from .artifacts import lock_holder

        holder = lock_holder(checkpoint.parent)
        if holder:
            raise LtDataError(f"{checkpoint.parent}: a training is running there ({holder}); its metrics.json is the "
                              f"run's own: give --out FILE to write this evaluation elsewhere")
    else:
        check_metrics_out(out)
    cfg = TrainConfig.from_dict(ckpt["config"])
    dev = _device(device)
    k = load_stats(cfg.work, verify=False).table.num_classes
    model = _built(f"model {cfg.model!r} with model_args {cfg.model_args}", build_model, cfg.model, k,
                   **cfg.model_args)
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as e:
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise ArtifactError(f"{checkpoint}: does not fit model {cfg.model!r} with the {k} classes of {cfg.work} "
                            f"({first})") from None
    model.to(dev).to(memory_format=torch.channels_last)
    metrics = evaluate_model(model, work, device=dev, size=cfg.val_size, buckets_from=cfg.work, progress=progress)
    metrics["checkpoint"] = str(checkpoint)
    metrics["step"] = ckpt["step"]
    out = Path(out) if out else checkpoint.parent / METRICS_FILE
    atomic_write_json(out, metrics)
    return metrics


def main_process() -> bool:
    """True on rank 0 of a process group, and without one: the process that prints and writes."""
    return _dist()[0] == 0


def ddp_setup() -> bool:
    """Initialise torch.distributed from torchrun's environment; returns True when distributed."""
    if "RANK" not in os.environ or torch.distributed.is_initialized():
        return torch.distributed.is_available() and torch.distributed.is_initialized()
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    torch.distributed.init_process_group(backend)
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    return True


def ddp_teardown() -> None:
    """Destroy the process group :func:`ddp_setup` created (torch warns at exit otherwise)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


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
