"""The stage table: every stage once, read by the CLI, by ``lt-data run`` pipelines and by the URL handling.

A :class:`Stage` row names the stage, its function (``"module:callable"``, imported on first use, so
``lt-data --help`` imports no torch), the keys a pipeline's ``[stage]`` table may hold (:meth:`Stage.options`),
where it writes in a work directory (:class:`lt_data.data.workdir.WorkDir` → path), the line ``lt-data run``
echoes after it, how ``lt-data run`` calls it (``step``) and, for the stages that take a work directory
at a URL, which argument that is and the store its default output is. :data:`TABLE` keeps the order
stages run in (``[evaluate]``'s statistics are computed by ``[train]`` when both are there, first).

:func:`on_local_copy` is the one place a work directory at a URL becomes a local copy (``lt_data.core.fs.work_dir``).
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..core.errors import LtDataError
from ..core.names import BANK_DIR, CLASS_STATS_FILE, COUNTS_FILE, CUTMIX_DIR, SAMPLES_FILE
from ..data.workdir import WorkDir


def _load(ref: str):
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class Ctx:
    """What ``lt-data run`` hands each stage's step: the pipeline, progress bars on or off, the echo."""

    pipe: object  # lt_data.entry.pipeline.Pipeline
    progress: bool
    echo: Callable[[str], None]

    @property
    def work(self) -> Path:
        return self.pipe.work


def _plain(stage: "Stage", ctx: Ctx, table: dict) -> dict[str, Path]:
    """``function(WORK, **table)`` (with ``progress`` where it shows a bar); echoes the summary."""
    extra = {"progress": ctx.progress} if stage.takes_progress else {}
    out = Path(stage.function()(ctx.work, **extra, **table))
    ctx.echo(stage.summary(out, ctx))
    return {stage.name: out}


def _generate(stage: "Stage", ctx: Ctx, table: dict) -> dict[str, Path]:
    opts = dict(table)
    kind = opts.pop("kind", "street_scenes")
    if kind != "street_scenes":
        raise LtDataError(f"{ctx.pipe.path}: [generate] kind must be 'street_scenes', not {kind!r}")
    if "size" in opts:
        opts["size"] = tuple(opts["size"])
    out = stage.function()(ctx.pipe.dataset["root"], progress=ctx.progress, **opts)
    ctx.echo(stage.summary(out, ctx))
    return {stage.name: out}


def _stats(stage: "Stage", ctx: Ctx, table: dict) -> dict[str, Path]:
    from ..data.layouts import get_layout

    ds = ctx.pipe.dataset
    layout = get_layout(ds["layout"], ds["root"], ds["split"], **ctx.pipe.layout_options)
    stats = stage.function()(layout, ctx.work, workers=table.get("workers"), skip_bad=table.get("skip_bad", False),
                             progress=ctx.progress)
    ctx.echo(stage.summary(stats, ctx))
    return {stage.name: stage.output(WorkDir.of(ctx.work))}


def _preview(stage: "Stage", ctx: Ctx, table: dict) -> dict[str, Path]:
    opts = dict(table)
    modes = opts.pop("modes", ["bank"] if "bank" in ctx.pipe.stages else ["cutmix"])
    if "crop_size" in opts:
        opts["crop_size"] = tuple(opts["crop_size"])
    outputs = {}
    for mode in modes:
        out = stage.function()(ctx.work, stage.output(WorkDir.of(ctx.work), mode), mode=mode, **opts,
                               echo=lambda m: ctx.echo(f"[preview] {m}"))
        outputs[f"preview_{mode}"] = out
        ctx.echo(stage.summary(out, ctx, mode))
    return outputs


def _eval_split(ctx: Ctx) -> Path | None:
    """The statistics of the ``[evaluate]`` split (None without that table), which training evaluates on."""
    table = ctx.pipe.stages.get("evaluate")
    if table is None:
        return None
    stage, split = STAGE["evaluate"], table.get("split", "val")
    return stage.function()(ctx.work, split, stage.output(WorkDir.of(ctx.work), split), progress=ctx.progress)


def _evaluate(stage: "Stage", ctx: Ctx, table: dict) -> dict[str, Path]:
    if "train" not in ctx.pipe.stages:  # with [train], its step computed the split first and evaluated on it
        _eval_split(ctx)
    return {}


def _train(stage: "Stage", ctx: Ctx, table: dict) -> dict[str, Path]:
    from ..training.config import TrainConfig
    from ..training.metrics import format_metrics
    from ..training.runs import CHECKPOINT_FILE, METRICS_FILE

    val_work = _eval_split(ctx)
    opts = dict(table)  # the run directory defaults to WORK/runs/<recipe>, as for `lt-data train`
    opts.setdefault("val_work", str(val_work) if val_work else None)
    cfg = TrainConfig.from_dict({"work": str(ctx.work), **opts})
    metrics = stage.function()(cfg, progress=ctx.progress, echo=ctx.echo)
    outputs = {"train": Path(cfg.run) / CHECKPOINT_FILE}
    ctx.echo(stage.summary(outputs["train"], ctx, cfg))
    if metrics:
        outputs["evaluate"] = Path(cfg.run) / METRICS_FILE
        ctx.echo(format_metrics(metrics))
        ctx.echo(STAGE["evaluate"].summary(outputs["evaluate"], ctx, val_work))
    return outputs


# ---- the summaries `lt-data run` echoes ------------------------------------------------------------

def _stats_summary(stats, ctx: Ctx) -> str:
    from ..data.stats import format_table

    return (f"{format_table(stats)}\n"
            f"[stats] {stats.num_images} images → {ctx.work}/{CLASS_STATS_FILE}, {COUNTS_FILE}, {SAMPLES_FILE}")


def _buckets_summary(out: Path, ctx: Ctx) -> str:
    from ..data.buckets import format_buckets, load_buckets

    return f"{format_buckets(load_buckets(ctx.work))}\n[buckets] → {out}"


def _bank_summary(out: Path, ctx: Ctx) -> str:
    from ..stores.bank import TailBank

    bank = TailBank.open(out)
    counts = ", ".join(f"{bank.table.names[c]} {bank.count(c)}" for c in bank.classes)
    return f"[bank] {len(bank)} tail objects ({counts}) → {out}"


@dataclass(frozen=True)
class Stage:
    """One row of the stage table (module docstring)."""

    name: str
    ref: str  # the function, "module:callable"
    step: Callable[["Stage", Ctx, dict], dict[str, Path]]  # how `lt-data run` calls it, given its table
    summary: Callable[..., str]  # (what it wrote or returned, the Ctx, ...) → what `lt-data run` echoes
    output: Callable[..., Path] | None = None  # where it writes in a work directory (WorkDir, ...) → path
    keys: frozenset[str] = frozenset()  # table keys beyond the function's keyword arguments
    options_of: str | None = ""  # whose keyword arguments are table keys: "" the function's, None nobody's
    filled: frozenset[str] = frozenset({"work", "root", "progress"})  # arguments the runner gives itself
    takes_progress: bool = False  # `lt-data run` passes its progress flag (the plain step)
    url: str | None = None  # the argument that may be a work directory at a URL (on_local_copy)
    uploads: bool = False  # what the stage writes into that work directory goes back to the URL
    store_dir: str | None = None  # the store it builds, by default inside the work directory

    def function(self) -> Callable:
        return _load(self.ref)

    def options(self) -> set[str]:
        """The keys its ``[stage]`` table may hold: its function's keyword arguments, less those the
        runner fills in, plus :attr:`keys`."""
        keys = set(self.keys)
        if self.options_of is not None:
            params = inspect.signature(_load(self.options_of or self.ref)).parameters.values()
            keys |= {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)} - self.filled
        return keys


TABLE: tuple[Stage, ...] = (
    Stage("generate", "lt_data.training.synthetic:generate_street_scenes", _generate, keys=frozenset({"kind"}),
          summary=lambda out, ctx: f"[generate] synthetic street scenes → {out}"),
    Stage("stats", "lt_data.data.stats:run_stats", _stats, _stats_summary, output=lambda w: w.stats_file,
          keys=frozenset({"workers", "skip_bad"}), options_of=None, url="out", uploads=True),
    # write_buckets passes the rules' parameters on through **params (the `lt-data buckets` flags)
    Stage("buckets", "lt_data.data.buckets:write_buckets", _plain, _buckets_summary, output=lambda w: w.buckets_file,
          keys=frozenset({"head_share", "tail_share", "head", "tail", "preset", "head_classes", "tail_classes"}),
          url="work", uploads=True),
    Stage("report", "lt_data.views.report:write_report", _plain, lambda out, ctx: f"[report] open {out} in a browser",
          output=lambda w: w.report),
    Stage("export", "lt_data.data.exports:write_exports", _plain,
          lambda out, ctx: f"[export] DAFormer sample stats and class weights → {out}", output=lambda w: w.exports),
    Stage("bank", "lt_data.stores.bank:build_bank", _plain, _bank_summary, output=lambda w: w.bank,
          takes_progress=True, url="work", store_dir=BANK_DIR),
    Stage("cutmix", "lt_data.stores.cutmix:build_cutmix", _plain,
          lambda out, ctx: f"[cutmix] multi-level tail subsets → {out}", output=lambda w: w.cutmix,
          takes_progress=True, url="work", store_dir=CUTMIX_DIR),
    Stage("preview", "lt_data.views.preview:write_preview", _preview, output=lambda w, mode: w.preview(mode),
          summary=lambda out, ctx, mode: f"[preview] {mode} pasting before/after → {out}",
          keys=frozenset({"modes"}), filled=frozenset({"work", "root", "progress", "out", "mode", "echo"})),
    Stage("train", "lt_data.training.train:train", _train, options_of="lt_data.training.config:TrainConfig", filled=frozenset(),
          output=lambda w, recipe: w.run(recipe),
          summary=lambda out, ctx, cfg: f"[train] {cfg.steps} steps, loss {cfg.loss}, paste {cfg.paste} → {out}"),
    Stage("evaluate", "lt_data.training.evaluate:split_work", _evaluate, keys=frozenset({"split"}), options_of=None,
          output=lambda w, split: w.eval_split(split),
          summary=lambda out, ctx, val_work: f"[evaluate] {val_work} → {out}"),
)
STAGE: dict[str, Stage] = {s.name: s for s in TABLE}
NAMES: tuple[str, ...] = tuple(STAGE)


def on_local_copy(stage: str, work, *args, storage_options: dict | None = None,
                  then: Callable | None = None, **kwargs):
    """Run the stage ``stage`` with ``work`` (a path or an fsspec URL) as its work-directory argument
    (:attr:`Stage.url`): a URL is read into a local copy first (:func:`lt_data.core.fs.work_dir`), and what the
    stage wrote there is uploaded back when it :attr:`~Stage.uploads`. A store build's ``out`` defaults
    to ``WORK/STORE`` at the URL, and it gets the ``storage_options`` too (for ``out`` and a dataset root
    at a URL). ``then(local, result)``, when given, runs before the copy goes; its value is returned."""
    from ..core.fs import is_url, join, work_dir

    row = STAGE[stage]
    if row.url is None:
        raise ValueError(f"the {stage} stage takes no work directory at a URL")
    if row.store_dir is not None:
        kwargs["storage_options"] = storage_options
        if kwargs.get("out") is None and is_url(work):
            kwargs["out"] = join(work, row.store_dir)
    with work_dir(work, storage_options, write=row.uploads) as local:
        result = row.function()(*args, **{row.url: local}, **kwargs)
        return then(local, result) if then is not None else result


__all__ = ["NAMES", "STAGE", "TABLE", "Ctx", "Stage", "on_local_copy"]
