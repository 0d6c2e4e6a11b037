"""The training commands: ``lt-data train``, ``evaluate`` and ``compare``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ...core.errors import BadInput, LtDataError
from .exits import _user_errors
from .options import (ALLOW_CODE_HELP, JSON_HELP, TRUST_HELP, PredIds, TrainPaste, SamplerName, _parse_set,
                      _print_json, _train_default, _train_options_help)

TRAIN_EPILOG = "Training options (--set KEY=VALUE, JSON values; default in parentheses):\n\n" + _train_options_help()


def train(
    pipeline: Optional[Path] = typer.Argument(None, metavar="PIPELINE", help="A pipeline file; its [train] table "
                                              "gives the options (the command line's win)."),
    work: Optional[Path] = typer.Option(None, "--work", metavar="WORK", help="Training statistics work directory."),
    run: Optional[Path] = typer.Option(None, "--run-dir", metavar="RUN", help="Run directory (checkpoint, log, "
                                       "metrics).", show_default="WORK/runs/<model>-<loss>-<paste>"),
    model: Optional[str] = typer.Option(None, "--model", metavar="MODEL", help="deeplabv3plus_small | unet_small | "
                                        "segformer | package.module:callable (imports that module: its code runs)",
                                        show_default=_train_default("model")),
    loss: Optional[str] = typer.Option(None, "--loss", metavar="LOSS", help="e.g. ce, pat, '1*auc+ce' (AUCSeg's "
                                       "recipe with --paste bank; 4*auc+ce for ADE20K), focal, cb, ldam, blv",
                                       show_default=_train_default("loss")),
    paste: Optional[TrainPaste] = typer.Option(None, "--paste", help="Online tail pasting; its dose is derived from "
                                              "the data unless --set paste_args={...} sets it.",
                                              show_default=_train_default("paste")),
    sampler: Optional[SamplerName] = typer.Option(None, "--sampler", help="Image sampling: rcs (DAFormer's rare "
                                                  "class sampling) | rfs (LVIS repeat factors); options with --set "
                                                  "sampler_args={...}", show_default=_train_default("sampler")),
    steps: Optional[int] = typer.Option(None, "--steps", metavar="N", help="Optimiser steps.",
                                        show_default=_train_default("steps")),
    val_work: Optional[Path] = typer.Option(None, "--val-work", metavar="WORK", help="Statistics work directory of "
                                            "the evaluation split."),
    set_: list[str] = typer.Option([], "--set", metavar="KEY=VALUE", help="Any training option, JSON value, "
                                   "repeatable: e.g. lr=0.001, crop_size=[512,1024], paste_args={\"resize_ratio\": "
                                   "0.5}. The keys and their defaults are listed below."),
    fresh: bool = typer.Option(False, "--fresh", help="Start over in the run directory: its checkpoint, log and "
                               "metrics are replaced instead of resumed."),
    trust_checkpoint: bool = typer.Option(False, "--trust-checkpoint", help=TRUST_HELP),
    allow_code: bool = typer.Option(False, "--allow-code", help=ALLOW_CODE_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
):
    """Train a segmenter with the chosen loss and paste mode. The run directory (default
    WORK/runs/<model>-<loss>-<paste>) is one experiment: a checkpoint there is resumed only with the
    same options and statistics (steps may grow); --fresh starts over. Under torchrun it trains with
    DDP (gloo on CPU, NCCL on GPU)."""
    from ...training.metrics import format_metrics
    from ...training.config import TrainConfig
    from ...training.devices import ddp_setup, ddp_teardown, main_process
    from ...training.train import train as run_training

    with _user_errors():
        opts: dict = {}
        if pipeline is not None:
            from ..pipeline import check_code, load_pipeline

            pipe = load_pipeline(pipeline, work=work)
            opts = {"work": str(pipe.work), **pipe.stages.get("train", {})}
            if model is None:  # a model given on the command line is the user's own choice
                check_code(pipe.path, pipe.stages, allow_code, echo=lambda m: typer.echo(m, err=True))
        for key, value in {"work": work, "run": run, "model": model, "loss": loss, "paste": paste, "sampler": sampler,
                           "steps": steps, "val_work": val_work}.items():
            if value is not None:
                opts[key] = str(value) if isinstance(value, Path) else value
        opts.update(_parse_set(set_))
        if "work" not in opts:
            raise LtDataError("train needs a pipeline file or --work")
        cfg = TrainConfig.from_dict(opts)
        ddp_setup()
        try:
            metrics = run_training(cfg, progress=not quiet, resume=not fresh, echo=typer.echo,
                                   trust_checkpoint=trust_checkpoint)
            main = main_process()  # asked before the process group goes
        finally:
            ddp_teardown()
        if main:
            if metrics:
                typer.echo(format_metrics(metrics))
            typer.echo(f"run directory: {cfg.run}")


def evaluate(
    checkpoint: Optional[Path] = typer.Argument(None, metavar="CHECKPOINT", help="RUN/checkpoint.pt of lt-data train (or use --pred)."),
    split: Optional[str] = typer.Option(None, "--split", help="Evaluate this split of the training dataset."),
    work: Optional[Path] = typer.Option(None, "--work", help="Or: a statistics work directory of the split."),
    pred: Optional[Path] = typer.Option(None, "--pred", help="Predictions of any framework: a folder of PNG label "
                                        "maps, one per image of --work's split, matched by file stem."),
    pred_ids: PredIds = typer.Option("train", "--pred-ids", help="--pred values: train (train ids 0..K-1) | raw (the "
                                 "dataset's label ids, e.g. Cityscapes labelIds)."),
    buckets_from: Optional[Path] = typer.Option(None, "--buckets-from", help="--pred: the training work directory "
                                                "whose buckets.json gives head/middle/tail (default: --work's)."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="--pred: leave out missing or bad predictions."),
    workers: Optional[int] = typer.Option(None, "--workers", "-j", help="--pred: processes (default: all cores)."),
    out: Optional[Path] = typer.Option(None, "--out", help="metrics.json path (default: beside the checkpoint, or "
                                       "PRED/metrics.json)."),
    trust_checkpoint: bool = typer.Option(False, "--trust-checkpoint", help=TRUST_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
):
    """Per-class IoU over a whole split (one confusion matrix) and overall/head/middle/tail mIoU, of a
    checkpoint or of any framework's predictions (--pred)."""
    from ...core.io import atomic_write_json
    from ...training.metrics import format_metrics

    with _user_errors():
        if (checkpoint is None) == (pred is None):
            raise LtDataError("evaluate needs a CHECKPOINT or --pred DIR (one of them)")
        if pred is not None:
            from ...training.evaluate import evaluate_predictions

            if work is None or split is not None:
                raise LtDataError("evaluate --pred needs --work (the statistics of the predicted split), not --split")
            metrics = evaluate_predictions(pred, work, pred_ids=pred_ids, buckets_from=buckets_from, workers=workers,
                                           skip_bad=skip_bad, progress=not (quiet or as_json))
            out = out or pred / "metrics.json"
            from ...training.runs import check_metrics_out

            check_metrics_out(out)
            atomic_write_json(out, metrics)
            for b in metrics["skipped"]:
                typer.echo(f"warning: skipped {BadInput(**b)}", err=True)
        else:
            from ...training.checkpoints import read_checkpoint
            from ...training.evaluate import evaluate_checkpoint, split_work

            if (split is None) == (work is None):
                raise LtDataError("evaluate needs exactly one of --split or --work")
            loaded = None
            if split is not None:
                loaded = read_checkpoint(checkpoint, trust=trust_checkpoint)  # read once: its config names the work
                work = split_work(loaded["config"]["work"], split, checkpoint.parent / f"eval-{split}",
                                  progress=not (quiet or as_json))
            metrics = evaluate_checkpoint(checkpoint, work, out=out, progress=not (quiet or as_json), loaded=loaded,
                                          trust=trust_checkpoint)
            out = out or checkpoint.parent / "metrics.json"
        if as_json:
            _print_json(metrics)
            return
        typer.echo(format_metrics(metrics))
        typer.echo(f"wrote {out}")


def compare(
    inputs: list[Path] = typer.Argument(..., metavar="RUN...", help="metrics.json files or run directories holding one."),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory (index.html, compare.md, compare.json, "
                             "LaTeX tables, figures as PNG, SVG and PDF)."),
    baseline: Optional[str] = typer.Option(None, "--baseline", help="Run or recipe the deltas are taken against "
                                           "(default: the first input's)."),
    names: Optional[str] = typer.Option(None, "--names", help="Comma-separated display names, one per input "
                                        "(default: the run directory's name)."),
    as_json: bool = typer.Option(False, "--json", help="Print compare.json on stdout instead of the table."),
):
    """Compare evaluated runs side by side: overall / head / middle / tail mIoU and per-class IoU,
    deltas against a baseline, mean and sample standard deviation over the seeds of a recipe."""
    from ...views.compare import format_summary, write_comparison

    with _user_errors():
        given = [n.strip() for n in names.split(",")] if names is not None else None
        data = write_comparison(inputs, out, names=given, baseline=baseline)
        for note in data["notes"]:
            typer.echo(f"warning: {note}", err=True)
        if as_json:
            _print_json({"out": str(out), **data})
            return
        typer.echo(format_summary(data))
        typer.echo(f"wrote {out}/index.html (open it in a browser), compare.md, compare.json, "
                   f"miou_table.tex, per_class_table.tex and the figures (PNG, SVG, PDF)")
