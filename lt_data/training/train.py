"""Reference trainer for any segmenter (``(B, 3, H, W)`` → ``(B, K, h, w)`` logits).

AdamW, poly learning-rate schedule with linear warm-up, gradient clipping, any loss of
:mod:`lt_data.training.losses`, memory-bank or tail-cutmix pasting applied on the device, mixed precision on
CUDA, checkpoints with exact resume (model, optimiser, step, RNG states), a JSONL log, and
``torch.distributed`` (DDP; gloo on CPU, NCCL on GPU) when launched with ``torchrun``.

A run directory is an experiment (its files and the resume rules: :mod:`lt_data.training.runs`); by default
it is ``WORK/runs/<model>-<loss>-<paste>``, so two recipes never share one.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
from tqdm import tqdm

from .checkpoints import read_checkpoint, restore, save_checkpoint
from .config import TrainConfig, schedule_warning
from .dataset import normalize
from .devices import deterministic_kernels, environment, rank_and_world, resolve_device, restore_kernels, unwrap
from ..core.errors import ArtifactError, LtDataError, build_checked, check_terminated
from .evaluate import evaluate_model
from ..core.io import atomic_write_json, read_json
from .metrics import MEASURES
from ..core.outputs import match
from .runs import (CHECKPOINT_FILE, CONFIG_FILE, LOG_FILE, METRICS_FILE, check_resume, check_run_dir, run_record,
                   start_over, trim_log)


def warn(message: str) -> None:
    """One line on stderr that does not break a progress bar."""
    tqdm.write(message, file=sys.stderr)


def poly_lr(step: int, total: int, base: float, warmup: int, power: float) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    return base * (1 - (step - warmup) / max(1, total - warmup)) ** power


def build_planner(cfg: TrainConfig):
    """The paste planner of ``cfg`` (None for ``paste = "none"``); its store must match ``cfg.work``.
    The dose is ``paste_args`` where given, the rest derived from the work directory's statistics and
    store for the training crop (:mod:`lt_data.training.paste.dose`); the resolved dose is ``planner.dose``."""
    if cfg.paste == "none":
        return None
    from .paste.planners import work_planner

    return work_planner(cfg.paste, cfg.work, cfg.paste_args, crop_size=cfg.crop_size, scale_range=cfg.scale_range)


def train(cfg: TrainConfig, *, progress: bool = True, resume: bool = True, stop_after: int | None = None,
          echo: Callable[[str], None] = print, trust_checkpoint: bool = False) -> dict:
    """Train per ``cfg``; resumes from ``RUN/checkpoint.pt`` when present and the same experiment
    (:mod:`lt_data.training.runs`; ``resume=False`` starts over in ``RUN``). Returns the final metrics (or
    ``{}`` without a validation split). ``stop_after`` ends the run early after that many steps of
    this call (for tests of resume). ``echo`` prints notes (rank 0 only), e.g. a run already complete.

    The run directory is locked for the whole run (rank 0 holds the lock): a second training into the
    same directory is refused instead of interleaving checkpoints."""
    from contextlib import nullcontext

    from ..jobs.artifacts import lock

    cfg.validate()
    before = deterministic_kernels(cfg.deterministic) if cfg.deterministic else None
    try:
        with lock(Path(cfg.run), "this training run", tidy=True) if rank_and_world()[0] == 0 else nullcontext():
            return _train(cfg, progress=progress, resume=resume, stop_after=stop_after, echo=echo,
                          trust_checkpoint=trust_checkpoint)
    finally:
        if before is not None:
            restore_kernels(before)


def _train(cfg: TrainConfig, *, progress: bool, resume: bool, stop_after: int | None,
           echo: Callable[[str], None], trust_checkpoint: bool = False) -> dict:
    from .dataset import SegmentationDataset, apply_paste, make_loader
    from .paste.dose import dose_warning
    from .losses import build_loss, class_counts_from_stats
    from .models import build_model
    from ..data.workdir import WorkDir

    cfg.validate()
    rank, world = rank_and_world()
    device = resolve_device(cfg.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise LtDataError(f"training option device is {cfg.device!r}, but CUDA is not available here")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    table = WorkDir.of(cfg.work).stats(verify=False).table
    if cfg.val_work and WorkDir.of(cfg.val_work).stats(verify=False).table.fingerprint() != table.fingerprint():
        raise ArtifactError(f"{cfg.val_work}: the evaluation split's class table differs from {cfg.work}'s")
    planner = build_planner(cfg)  # opens the store once: the dose and the planner come from it
    dose = planner.dose if planner is not None else None
    record = run_record(asdict(cfg), world, paste=dose.to_json() if dose is not None else None,
                        environment=environment(device))
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
    model = build_checked(f"model {cfg.model!r} with model_args {cfg.model_args}", build_model, cfg.model, k,
                   **cfg.model_args)
    model = model.to(device).to(memory_format=torch.channels_last)
    if world > 1:
        model = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    criterion = build_checked(f"loss {cfg.loss!r}", build_loss, cfg.loss,
                       class_counts=class_counts_from_stats(cfg.work)).to(device)
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr)
    use_amp = cfg.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)

    step, epoch = 0, 0
    if ckpt is not None:
        restore(ckpt_path, ckpt, unwrap(model), opt, scaler)
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
    terminal = sys.stderr.isatty()  # redirected to a log: a line every 30 s, and no evaluation bar inside it
    bar = tqdm(total=cfg.steps, initial=step, desc=f"train {run.name}", unit="step",
               disable=not progress or rank != 0, dynamic_ncols=True, mininterval=0.1 if terminal else 30)
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
                    metrics = _eval_and_log(model, cfg, device, log, step, progress and terminal)
                    model.train()
            else:
                epoch += 1
                continue
            break  # the inner loop stopped early: steps reached or stop_after
        if rank == 0 and stop_after is not None and step < cfg.steps:
            save_checkpoint(ckpt_path, model, opt, scaler, step, epoch, record)
        if cfg.val_work and step >= cfg.steps:
            metrics = (_metrics_at(run, step) if complete else {}) or _eval_and_log(model, cfg, device, log, step,
                                                                                    progress and terminal)
    finally:
        bar.close()
        if log:
            log.close()
    return metrics


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
    rank, world = rank_and_world()
    net = unwrap(model)
    if world > 1:
        for buf in net.buffers():
            torch.distributed.broadcast(buf, 0)
    metrics = evaluate_model(net, cfg.val_work, device=device, size=cfg.val_size, buckets_from=cfg.work,
                             workers=cfg.workers, distributed=world > 1, progress=progress and rank == 0)
    metrics["step"] = step
    if rank == 0:
        atomic_write_json(Path(cfg.run) / METRICS_FILE, metrics)
    if log:
        log.write(json.dumps({"step": step, "eval": {k: metrics.get(k) for k in MEASURES}}) + "\n")
        log.flush()
    return metrics

