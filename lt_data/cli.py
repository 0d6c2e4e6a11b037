"""The ``lt-data`` command line: one command per stage. Parsing and printing only."""

from __future__ import annotations

import errno
import functools
import os
import re
import signal
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Literal, Optional

import typer

from .errors import TERMINATING, BadInput, LtDataError, Terminated, local_path, show_path

def _references_help() -> str:
    from .references import render_short

    return ("Methods (the full citations: README's References, and the foot of every report):\n\n"
            + "\n\n".join(render_short()))


app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  help="Long-tailed semantic segmentation data: statistics, buckets, tail banks, online pasting.",
                  epilog=_references_help())


# errno values that describe the machine rather than the program: reported even without a file name
_MACHINE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO, errno.EMFILE,
                   errno.ENFILE}


# Choices as types: --help lists them, shells complete them, a typo is refused in one line.
# tests/test_cli.py checks each against the registry it stands for.
LayoutName = Literal["cityscapes", "ade20k", "coco_stuff164k", "camvid", "folder"]
PasteMode = Literal["none", "bank", "cutmix"]
PreviewMode = Literal["bank", "cutmix"]
SamplerName = Literal["uniform", "rcs", "rfs"]
BucketRule = Literal["share", "rank", "images", "preset", "list"]
Backend = Literal["processes", "dask"]
CocoSource = Literal["auto", "trainids", "png", "json"]
Choose = Literal["uniform", "largest"]
PredIds = Literal["train", "raw"]


def _train_default(key: str) -> str:
    from .config import default

    return str(default(key))


def _train_options_help() -> str:
    from .config import option_help

    return "\n\n".join(option_help().splitlines())


JSON_HELP = "Print a machine-readable JSON summary on stdout instead of the tables (no progress bar)."


def _print_json(obj) -> None:
    import json

    typer.echo(json.dumps(obj, indent=1, ensure_ascii=False, default=str))


def _version(value: bool) -> None:
    if value:
        from . import __version__

        typer.echo(f"lt-data {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """Long-tailed semantic segmentation data: statistics, buckets, tail banks, online pasting."""


@contextmanager
def _user_errors(*outputs: str | Path | None):
    """A user's mistake ends the command with ONE line on stderr, ``error: ...``, and exit code 2.

    - :class:`LtDataError` (bad data, a bad option, a missing or stale artifact);
    - an :class:`OSError` that names a file (``--out`` is an existing file, a folder that may not be
      written, a path that vanished) or that describes the machine (disk full, quota, read-only file
      system, permission): the line names the path; for a failed ``write()``, which carries no file
      name, the command's ``outputs``;
    - Ctrl-C: exit code 130.

    Anything else, an OSError without a file name or such an errno included, is a bug in lt-data and
    keeps its traceback, which is what a bug report needs.
    """
    try:
        yield
    except LtDataError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    except OSError as e:
        line = _os_error_line(e, [str(o) for o in outputs if o is not None])
        if line is None:
            raise
        typer.echo(f"error: {line}", err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt as e:
        how = "terminated" if isinstance(e, Terminated) else "interrupted"
        _quiet_exit()
        typer.echo(f"{how}: nothing half-written was left marked complete", err=True)
        raise typer.Exit(143 if isinstance(e, Terminated) else 130) from None


def _quiet_exit() -> None:
    """After an interrupt the one line is said: what libraries still complain about while the process
    ends (a Dask cluster cut short while starting, its atexit hook) is noise, not news."""
    import logging

    sys.unraisablehook = lambda unraisable: None
    for name in ("distributed", "tornado", "asyncio"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _os_error_line(e: OSError, outputs: list[str]) -> str | None:
    """``PATH: problem`` for an OSError a user can act on, None for one that is a bug."""
    problem = e.strerror or str(e)
    if e.errno in (errno.EEXIST, errno.ENOTDIR):
        problem += " (a file stands where a directory is needed)"
    if e.filename is not None:
        where = show_path(os.fsdecode(e.filename))
        if e.filename2 is not None:
            where += f" -> {show_path(os.fsdecode(e.filename2))}"
        return f"{where}: {problem}"
    if e.errno in _MACHINE_ERRNOS:
        return f"{', '.join(outputs)}: {problem}" if outputs else problem
    return None


def _output_dir(value: str | Path, what: str) -> Path:
    """A directory the command will create or write into; refused before any work when a file is in the way."""
    path = local_path(value, what)
    for p in (path, *path.parents):
        if p.exists():
            if not p.is_dir():
                inside = "" if p == path else f", so {path} cannot be created"
                raise LtDataError(f"{show_path(p)}: is a file, not a directory{inside} ({what} must be a directory)")
            break
    return path


ALLOW_CODE_HELP = ("Run a pipeline whose [train] model is package.module:callable: that module is imported and "
                   "its code runs, so only for a pipeline you trust.")


TRUST_HELP = ("Load a checkpoint that holds more than tensors and plain types (an older lt-data's) in full: "
              "unpickling can run code, so only for a file whose origin you trust.")
STORAGE_HELP = ("fsspec options for every URL of this command: a JSON object or @FILE holding one "
                '(e.g. \'{"endpoint_url": "http://127.0.0.1:9000"}\'); never written into an artifact.')
BACKEND_HELP = "processes (a process pool on this machine, the default) | dask (a Dask cluster, see --scheduler)."
SCHEDULER_HELP = ("--backend dask: a scheduler address (tcp://HOST:8786) or local:N to start N local worker "
                  "processes (default local:WORKERS).")


def _where(value: str | Path, what: str, storage_options: dict | None, *, output: bool = False) -> Path | str:
    """A local Path (a ``file://`` URL included; an output folder is created) or a storage URL; a string
    that is not a URL but looks like one, an unknown protocol and ``memory://`` are refused."""
    from .fs import as_path, check_location, is_local

    check_location(value, what, cli=True)
    path = as_path(value, storage_options)
    if not is_local(path):
        return str(path) if not isinstance(value, str) else value
    return _output_dir(path, what) if output else path


def _storage(storage_options: str | None) -> dict | None:
    from .fs import parse_storage_options

    return parse_storage_options(storage_options)


@app.command()
def stats(
    root: str = typer.Argument(..., metavar="ROOT", help="Dataset root in the layout's official structure."),
    layout: LayoutName = typer.Option(..., "--layout", "-l", help="The dataset's layout (README: what each expects)."),
    split: str = typer.Option("train", "--split", "-s", metavar="SPLIT", help="Split name (train, val, training, train2017, ...)."),
    out: str = typer.Option(..., "--out", "-o", metavar="WORK", help="Work directory for the artifacts."),
    workers: Optional[int] = typer.Option(None, "--workers", "-j", help="Processes (default: all cores)."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Skip bad samples with a warning instead of failing."),
    reduce_zero_label: Optional[bool] = typer.Option(None, "--reduce-zero-label/--no-reduce-zero-label",
                                                     help="folder: value 0 is ignored, k becomes k-1."),
    ignore_index: Optional[int] = typer.Option(None, "--ignore-index", help="folder: label value of void pixels."),
    classes: Optional[str] = typer.Option(None, "--classes", help="folder: classes file (default ROOT/classes.txt)."),
    source: Optional[CocoSource] = typer.Option(None, "--source", help="coco_stuff164k: which annotation files to read (auto: the first present of trainids, png, json)."),
    train_ids: Optional[bool] = typer.Option(None, "--train-ids/--label-ids",
                                             help="cityscapes: read *_labelTrainIds.png instead of *_labelIds.png."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or table."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    storage_options: Optional[str] = typer.Option(None, "--storage-options", help=STORAGE_HELP),
    backend: Backend = typer.Option("processes", "--backend", help=BACKEND_HELP),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help=SCHEDULER_HELP),
):
    """Count per-image per-class pixels of a split and write the statistics to OUT.

    ROOT and OUT may be fsspec URLs (s3://bucket/cityscapes, gs://...), read and written with
    --storage-options."""
    from .fs import work_dir
    from .layouts import get_layout
    from .parallel import check_backend
    from .stats import format_table, run_stats, stats_fingerprint

    with _user_errors(out):
        so = _storage(storage_options)
        check_backend(backend, scheduler)
        _where(root, "dataset root", so)
        out = _where(out, "--out", so, output=True)
        opts = {"reduce_zero_label": reduce_zero_label, "ignore_index": ignore_index, "classes_file": classes,
                "source": source, "train_ids": train_ids}
        allowed = {"folder": {"reduce_zero_label", "ignore_index", "classes_file"}, "coco_stuff164k": {"source"},
                   "cityscapes": {"train_ids"}}.get(layout, set())
        extra = [k for k, v in opts.items() if v is not None and k not in allowed]
        if extra:
            raise LtDataError(f"option(s) {', '.join(extra)} do not apply to the {layout} layout")
        lay = get_layout(layout, root, split, storage_options=so, **{k: v for k, v in opts.items() if k in allowed})
        with work_dir(out, so, write=True) as local:
            result = run_stats(lay, local, workers=workers, skip_bad=skip_bad, progress=not (quiet or as_json),
                               backend=backend, scheduler=scheduler)
            fingerprint = stats_fingerprint(local)
        for bad in result.skipped:
            typer.echo(f"warning: skipped {bad}", err=True)
        if as_json:
            _print_json({"work": str(out), "fingerprint": fingerprint, "layout": layout, "split": split,
                         "skipped": [b.to_json() for b in result.skipped], **result.summary()})
            return
        if not quiet:
            typer.echo(format_table(result))
        typer.echo(f"wrote {out}/class_stats.json ({result.num_images} images, {result.table.num_classes} classes"
                   + (f", {len(result.skipped)} skipped" if result.skipped else "") + ")")


@app.command()
def run(
    pipeline: str = typer.Argument(..., metavar="PIPELINE", help="A pipelines/*.toml file."),
    work: Optional[str] = typer.Option(None, "--work", help="Override the pipeline's work directory."),
    root: Optional[str] = typer.Option(None, "--root", help="Override the dataset root."),
    stages: Optional[str] = typer.Option(None, "--stages", help="Comma-separated stages to run (default: all in the file)."),
    allow_code: bool = typer.Option(False, "--allow-code", help=ALLOW_CODE_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
):
    """Run a pipeline file stage by stage. A pipeline whose [train] model is package.module:callable
    imports and runs that module's code: it is refused unless --allow-code, and the modules are named."""
    from .pipeline import load_pipeline, run_pipeline

    with _user_errors(work):
        only = [s.strip() for s in stages.split(",") if s.strip()] if stages else None
        pipe = load_pipeline(pipeline, work=work and _output_dir(work, "--work"),
                             root=root and local_path(root, "dataset root"), only=only)
        _output_dir(pipe.work, f"the work directory of {pipe.path}")
    with _user_errors(pipe.work):
        run_pipeline(pipe, progress=not quiet, echo=typer.echo, allow_code=allow_code)


@app.command()
def demo(
    out: Path = typer.Option(Path("lt-data-demo"), "--out", "-o", help="Where the demo data and artifacts go."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
):
    """Generate a small synthetic street-scene dataset with a long tail and run every stage on it."""
    from .pipeline import load_pipeline, packaged_pipeline, run_pipeline

    with _user_errors():
        pipe = load_pipeline(packaged_pipeline("demo"), work=out / "work", root=out / "data")
        outputs = run_pipeline(pipe, progress=not quiet, echo=typer.echo)
        typer.echo("\ndemo outputs:")
        for stage, path in outputs.items():
            typer.echo(f"  {stage:<15} {path}")


@app.command()
def buckets(
    work: str = typer.Argument(..., metavar="WORK", help="Work directory holding the statistics (from `lt-data stats`)."),
    rule: Optional[BucketRule] = typer.Option(None, "--rule", "-r",
                                       help="share (default) | rank | images | preset | list (README: the rules). With --refine and "
                                            "no --rule, the existing buckets.json's rule is kept."),
    head_share: Optional[float] = typer.Option(None, "--head-share", help="share/images/preset: head = most frequent "
                                               "classes holding the first H of pixels (default 0.7)."),
    tail_share: Optional[float] = typer.Option(None, "--tail-share", help="share/images: tail = rarest classes holding "
                                               "at most T of pixels (default 0.05)."),
    head: Optional[int] = typer.Option(None, "--head", help="rank/images: number of head classes."),
    tail: Optional[int] = typer.Option(None, "--tail", help="rank/images: number of tail classes."),
    preset: Optional[str] = typer.Option(None, "--preset", help="preset: aucseg (the statistics' dataset) or "
                                         "aucseg:cityscapes | aucseg:ade20k | aucseg:coco_stuff164k."),
    head_classes: Optional[str] = typer.Option(None, "--head-classes", help="list: head ids or names, e.g. '0,1,sky'."),
    tail_classes: Optional[str] = typer.Option(None, "--tail-classes", help="list: tail ids or names, e.g. '6,12,rider'."),
    refine: Optional[str] = typer.Option(None, "--refine", help='A baseline\'s per-class IoU: {"per_class": '
                                          '[{"id": k, "iou": x}, ...]} with IoU in [0, 1].'),
    low: Optional[float] = typer.Option(None, "--low", help="refine: a middle class with IoU below this moves to "
                                        "tail (default 0.4)."),
    high: Optional[float] = typer.Option(None, "--high", help="refine: a tail class with IoU above this moves to "
                                         "middle (default 0.6)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the output path."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    storage_options: Optional[str] = typer.Option(None, "--storage-options", help=STORAGE_HELP),
):
    """Split the classes into head / middle / tail buckets and write WORK/buckets.json (WORK may be a URL)."""
    from .buckets import BUCKETS_FILE, format_buckets, load_buckets, write_buckets
    from .fs import join, work_dir

    with _user_errors(work):
        so = _storage(storage_options)
        where = _where(work, "work directory", so)
        refine = refine and local_path(refine, "--refine IoU file")
        params = {"head_share": head_share, "tail_share": tail_share, "head": head, "tail": tail, "preset": preset,
                  "head_classes": head_classes, "tail_classes": tail_classes}
        with work_dir(where, so, write=True) as local:
            write_buckets(local, rule, refine=refine, low=low, high=high,
                          **{k: v for k, v in params.items() if v is not None})
            result = load_buckets(local)
        path = join(where, BUCKETS_FILE)
        if as_json:
            _print_json({"path": path, **result})
            return
        if not quiet:
            typer.echo(format_buckets(result))
        typer.echo(f"wrote {path}")


@app.command()
def report(
    work: str = typer.Argument(..., metavar="WORK", help="Work directory holding the statistics (and buckets.json)."),
    top: int = typer.Option(10, "--top", help="How many most / least frequent classes to list."),
    eval_work: Optional[Path] = typer.Option(None, "--eval-work", metavar="WORK", help="Statistics work directory of "
                                             "an evaluation split: its class pixel shares beside the training "
                                             "split's."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", metavar="DIR", help="Report directory.",
                                       show_default="WORK/report"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar; print only the index path."),
    as_json: bool = typer.Option(False, "--json", help="Print report.json on stdout (no progress bar)."),
):
    """Write WORK/report/: index.html (self-contained), plots (PNG, SVG, PDF), report.md and report.json:
    class frequencies, buckets, tail x tail co-occurrence, classes per image, where each class sits in
    the frame; with a bank in WORK, example objects and object sizes per class; references."""
    from .report import REPORT_DIR, load_report, write_report

    with _user_errors(out if out is not None else Path(work) / REPORT_DIR):
        if top < 1:
            raise LtDataError(f"--top must be at least 1, got {top}")
        index = write_report(local_path(work, "work directory"), top=top,
                             eval_work=local_path(eval_work, "evaluation work directory") if eval_work else None,
                             out=_output_dir(out, "--out") if out is not None else None,
                             progress=not (quiet or as_json))
        if as_json:
            _print_json({"path": str(index), **load_report(index)})
        elif quiet:
            typer.echo(str(index))
        else:
            typer.echo(f"wrote {index} (open it in a browser), report.md, report.json and the plots (PNG, SVG, PDF)")


@app.command()
def export(
    work: str = typer.Argument(..., metavar="WORK", help="Work directory holding the statistics."),
    beta: Optional[float] = typer.Option(None, "--beta", help="Class-balanced weights: β of the effective number "
                                         "(default 1 - 1e-6, suited to pixel counts)."),
    out: Optional[str] = typer.Option(None, "--out", "-o", help="Output directory (default WORK/exports); "
                                      "DAFormer reads its three files from the dataset root."),
    force: bool = typer.Option(False, "--force", help="Replace files of the same names that lt-data did not write."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
):
    """Write DAFormer's sample_class_stats.json / samples_with_class.json, class_weights.json and
    mmseg's class_weight lists (class_weight_SCHEME.json / .npy)."""
    from .exports import DEFAULT_BETA, EXPORTS_DIR, write_exports

    with _user_errors(out or Path(work) / EXPORTS_DIR):
        b = DEFAULT_BETA if beta is None else beta
        if not 0.0 <= b < 1.0:
            raise LtDataError(f"--beta must lie in [0, 1), got {b}")
        out = out and _output_dir(out, "--out")
        path = write_exports(local_path(work, "work directory"), beta=b, out=out, force=force)
        if as_json:
            from .exports import EXPORTS_RECORD
            from .io import read_json

            _print_json({"out": str(path), "files": sorted(read_json(path / EXPORTS_RECORD))})
            return
        typer.echo(f"wrote {path}/: sample_class_stats.json, sample_class_stats_dict.json, samples_with_class.json, "
                   f"class_weights.json, class_weight_*.json/.npy")


# ---- bank and cutmix (issue 4) -------------------------------------------------------------------

bank_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                       help="Tail-object memory bank: WORK/bank.zarr (docs/BANK_FORMAT.md).")
app.add_typer(bank_app, name="bank")
cutmix_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                         help="Multi-level tail cutmix subsets: WORK/cutmix.zarr.")
app.add_typer(cutmix_app, name="cutmix")


@bank_app.command("build")
def bank_build(
    work: str = typer.Argument(..., metavar="WORK", help="Work directory holding the statistics (and buckets.json for --classes "
                               "tail); a path or URL."),
    classes: str = typer.Option("tail", "--classes", "-c", help="tail | middle | head (joined with +) or a comma "
                                "list of train ids or class names."),
    min_area: int = typer.Option(64, "--min-area", help="Smallest object kept, in pixels (default 64: 8x8)."),
    max_per_class: Optional[int] = typer.Option(None, "--max-per-class", help="Keep at most N objects per class."),
    choose: Choose = typer.Option("uniform", "--choose", help="With --max-per-class: uniform (seeded random subset) | "
                               "largest (largest areas)."),
    seed: int = typer.Option(0, "--seed", help="Seed of --choose uniform."),
    connectivity: int = typer.Option(8, "--connectivity", help="4 or 8."),
    workers: Optional[int] = typer.Option(None, "--workers", "-j", help="Processes (default: all cores)."),
    out: Optional[str] = typer.Option(None, "--out", "-o", help="Store path or fsspec URL (default WORK/bank.zarr)."),
    force: bool = typer.Option(False, "--force", help="Rebuild even when an up-to-date complete bank exists."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Skip unreadable images with a warning instead of failing."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or table."),
    storage_options: Optional[str] = typer.Option(None, "--storage-options", help=STORAGE_HELP),
    backend: Backend = typer.Option("processes", "--backend", help=BACKEND_HELP),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help=SCHEDULER_HELP),
):
    """Extract every object (connected component) of the selected classes into WORK/bank.zarr."""
    from .bank import BANK_DIR, TailBank, build_bank, format_info

    with _user_errors(), _store_build(work, out, storage_options, backend, scheduler, BANK_DIR) as (local, out, so):
        path = build_bank(local, classes=classes, min_area=min_area, max_per_class=max_per_class, choose=choose,
                          seed=seed, connectivity=connectivity, workers=workers, out=out, force=force,
                          skip_bad=skip_bad, progress=not quiet, storage_options=so, backend=backend,
                          scheduler=scheduler)
        bank = TailBank.open(path, work=local, storage_options=so)
        _warn_skipped(bank.attrs.get("skipped", []))
        if not quiet:
            typer.echo(format_info(bank.summary()))
        typer.echo(f"wrote {path} ({len(bank)} objects of classes {bank.classes})")


@contextmanager
def _store_build(work, out, storage_options, backend, scheduler, store_dir):
    """What `bank build` and `cutmix build` share: (a local copy of) the work directory, the store's
    location (``out``, or ``WORK/store_dir``, URLs included) and the storage options, checked first."""
    from .fs import join, work_dir
    from .parallel import check_backend

    so = _storage(storage_options)
    check_backend(backend, scheduler)
    where = _where(work, "work directory", so)
    out = _where(out, "--out", so) if out is not None else join(where, store_dir)
    with work_dir(where, so) as local:
        yield local, str(out), so


def _warn_skipped(skipped: list[dict]) -> None:
    for b in skipped:
        typer.echo(f"warning: skipped {BadInput(**b)}", err=True)


@bank_app.command("info")
def bank_info(
    bank: str = typer.Argument(..., metavar="BANK", help="A bank store (path or URL) or a work directory holding bank.zarr."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    verify: bool = typer.Option(False, "--verify", help="Also check the content (CRC-32) of every file of the store."),
    storage_options: Optional[str] = typer.Option(None, "--storage-options", help=STORAGE_HELP),
):
    """Per-class counts, area distribution, size on disk and build parameters of a bank."""
    import json

    from .bank import TailBank, format_info

    with _user_errors():
        so = _storage(storage_options)
        reader = TailBank.open(str(_where(bank, "bank", so)), storage_options=so)
        if verify:
            reader.verify()
        summary = reader.summary()
        typer.echo(json.dumps(summary, indent=1) if as_json else format_info(summary))


@bank_app.command("show")
def bank_show(
    bank: str = typer.Argument(..., metavar="BANK", help="A bank store (path or URL) or a work directory holding bank.zarr."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", metavar="PNG", help="PNG file to write.",
                                       show_default="bank_sheet.png beside the bank store"),
    per_class: int = typer.Option(12, "--per-class", help="Objects per class (drawn uniformly, seeded)."),
    cell: int = typer.Option(96, "--cell", help="Tile size in pixels."),
    seed: int = typer.Option(0, "--seed", help="Seed of the objects drawn."),
    storage_options: Optional[str] = typer.Option(None, "--storage-options", help=STORAGE_HELP),
):
    """Draw a contact sheet: a row of objects per class, masks over a checkerboard."""
    from PIL import Image

    from .bank import TailBank, contact_sheet

    with _user_errors():
        so = _storage(storage_options)
        bank_ = TailBank.open(str(_where(bank, "bank", so)), storage_options=so)
        if out is None:
            from .fs import is_url

            if is_url(bank_.url):
                raise LtDataError(f"{show_path(bank_.url)}: a bank at a URL needs --out (a local PNG path)")
            out = Path(bank_.url).parent / "bank_sheet.png"
        sheet = contact_sheet(bank_, per_class=per_class, cell=cell, seed=seed)
        out.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(sheet).save(out)
        typer.echo(f"wrote {out} ({sheet.shape[1]}x{sheet.shape[0]})")


@cutmix_app.command("build")
def cutmix_build(
    work: str = typer.Argument(..., metavar="WORK", help="Work directory holding the statistics (and buckets.json for --classes "
                               "tail); a path or URL."),
    levels: int = typer.Option(3, "--levels", "-T", help="T: levels 0..T are built (T >= 1)."),
    ratio: float = typer.Option(0.1, "--ratio", "-r", help="r of paper 003, 0 < r < 1."),
    step: float = typer.Option(1.1, "--step", "-s", help="s of paper 003, s > 1."),
    classes: str = typer.Option("tail", "--classes", "-c", help="tail | middle | head or a comma list of ids/names."),
    workers: Optional[int] = typer.Option(None, "--workers", "-j", help="Processes (default: all cores)."),
    out: Optional[str] = typer.Option(None, "--out", "-o", help="Store path or fsspec URL (default WORK/cutmix.zarr)."),
    force: bool = typer.Option(False, "--force", help="Rebuild even when an up-to-date complete store exists."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Skip unreadable labels with a warning instead of failing."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or table."),
    storage_options: Optional[str] = typer.Option(None, "--storage-options", help=STORAGE_HELP),
    backend: Backend = typer.Option("processes", "--backend", help=BACKEND_HELP),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help=SCHEDULER_HELP),
):
    """For each selected class b: the images containing b and their level boxes, into WORK/cutmix.zarr."""
    from .cutmix import CUTMIX_DIR, TailCutmix, build_cutmix, format_summary

    with _user_errors(), _store_build(work, out, storage_options, backend, scheduler, CUTMIX_DIR) as (local, out, so):
        path = build_cutmix(local, levels=levels, ratio=ratio, step=step, classes=classes, workers=workers, out=out,
                            force=force, skip_bad=skip_bad, progress=not quiet, storage_options=so, backend=backend,
                            scheduler=scheduler)
        cm = TailCutmix.open(path, work=local, storage_options=so)
        _warn_skipped(cm.attrs.get("skipped", []))
        if not quiet:
            typer.echo(format_summary(cm.summary()))
        typer.echo(f"wrote {path} (classes {cm.classes}, levels 0..{cm.levels})")


@app.command()
def preview(
    work: Path = typer.Argument(..., metavar="WORK", help="Work directory with buckets.json and bank.zarr / cutmix.zarr."),
    mode: PreviewMode = typer.Option("bank", "--mode", help="Paste from the memory bank or the tail cutmix store."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", metavar="PNG", help="PNG file to write.",
                                       show_default="WORK/preview-MODE.png"),
    batches: int = typer.Option(2, "--batches", help="Training batches drawn (rows: batches x batch size)."),
    batch_size: int = typer.Option(4, "--batch-size", help="Images per batch; the bank pastes the tail classes "
                                    "each image (or batch) lacks, so the batch size changes what is pasted."),
    crop: Optional[str] = typer.Option(None, "--crop", help="HxW training crop, e.g. 240x320 (default: whole images)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the batches, crops and pastes (the training run's seed "
                             "draws the same first batches)."),
    set_: list[str] = typer.Option([], "--set", metavar="KEY=VALUE", help="A paste argument as key=value (JSON values), e.g. "
                                   "sample_ratio=0.3, resize_ratio=0.5, prob=0.5; default: the dose derived "
                                   "from the data, as in training."),
):
    """Draw training batches before and after pasting, labels overlaid, pasted objects outlined;
    prints the paste dose and the share of the pixels it pasted."""
    from .preview import write_preview

    with _user_errors():
        try:
            crop_size = tuple(int(v) for v in crop.lower().split("x")) if crop else None
        except ValueError:
            raise LtDataError(f"--crop takes HxW, e.g. 240x320, got {crop!r}") from None
        out = out if out is not None else work / f"preview-{mode}.png"
        path = write_preview(work, out, mode=mode, batches=batches, batch_size=batch_size, crop_size=crop_size,
                             seed=seed, paste_args=_parse_set(set_),
                             echo=lambda m: typer.echo(m, err=m.startswith("warning")))
        typer.echo(f"wrote {path}")


def _parse_set(items: list[str]) -> dict:
    import json as _json

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise LtDataError(f"--set takes key=value, got {item!r}")
        try:
            out[key] = _json.loads(value)
        except ValueError:
            out[key] = value
    return out


@app.command(epilog="Training options (--set KEY=VALUE, JSON values; default in parentheses):\n\n"
             + _train_options_help())
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
    paste: Optional[PasteMode] = typer.Option(None, "--paste", help="Online tail pasting; its dose is derived from "
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
    from .metrics import format_metrics
    from .config import TrainConfig
    from .devices import ddp_setup, ddp_teardown, main_process
    from .train import train as run_training

    with _user_errors():
        opts: dict = {}
        if pipeline is not None:
            from .pipeline import load_pipeline

            from .pipeline import check_code

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


@app.command()
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
    from .io import atomic_write_json
    from .metrics import format_metrics

    with _user_errors():
        if (checkpoint is None) == (pred is None):
            raise LtDataError("evaluate needs a CHECKPOINT or --pred DIR (one of them)")
        if pred is not None:
            from .evaluate import evaluate_predictions

            if work is None or split is not None:
                raise LtDataError("evaluate --pred needs --work (the statistics of the predicted split), not --split")
            metrics = evaluate_predictions(pred, work, pred_ids=pred_ids, buckets_from=buckets_from, workers=workers,
                                           skip_bad=skip_bad, progress=not (quiet or as_json))
            out = out or pred / "metrics.json"
            from .runs import check_metrics_out

            check_metrics_out(out)
            atomic_write_json(out, metrics)
            for b in metrics["skipped"]:
                typer.echo(f"warning: skipped {BadInput(**b)}", err=True)
        else:
            from .checkpoints import read_checkpoint
            from .evaluate import evaluate_checkpoint, split_work

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


@app.command()
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
    from .compare import format_summary, write_comparison

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


# ---- paths, not URLs --------------------------------------------------------------------------------

_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):/")  # a Path keeps "s3:/bucket" of "s3://bucket"


def _local_paths_only(func):
    """Refuse a URL given where a command takes a local path (the str-typed --out of the store builds
    and the store arguments of ``bank info/show`` take URLs; they are not Path-typed)."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        for name, value in kwargs.items():
            m = _URL.match(str(value)) if isinstance(value, Path) else None
            if m:
                typed = next((a for a in sys.argv if a.startswith(m.group(1) + ":") and Path(a) == value), value)
                typer.echo(f"error: {show_path(typed)}: the {name.replace('_', ' ')} must be a local path, not a URL",
                           err=True)
                raise typer.Exit(2)
        return func(*args, **kwargs)
    return wrapper


for _typer in (app, bank_app, cutmix_app):
    for _cmd in _typer.registered_commands:
        _cmd.callback = _local_paths_only(_cmd.callback)


def _on_sigterm(signum, frame) -> None:
    if TERMINATING:
        return  # once: the unwinding must not be cut short again
    TERMINATING.append("term")  # the loops' check_terminated() raises it again if this raise is lost
    raise Terminated()


def _on_sigint(signum, frame) -> None:
    if TERMINATING:
        return
    TERMINATING.append("int")
    raise KeyboardInterrupt()


def main(argv: list[str] | None = None) -> None:
    """The ``lt-data`` console entry point: the app, with command-line usage mistakes (a missing
    option, a value of the wrong type, an unknown command) as one line on stderr and exit code 2,
    like every other user error, instead of click's usage box. SIGTERM is handled like Ctrl-C
    (exit 143)."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_sigint)
    try:
        rv = app(args=argv, prog_name="lt-data", standalone_mode=False)
    except Terminated:
        _quiet_exit()
        typer.echo("terminated", err=True)
        sys.exit(143)
    except Exception as e:  # click's exceptions, duck-typed: typer vendors click in some versions
        if not (hasattr(e, "format_message") and hasattr(e, "exit_code")):
            raise
        kind = type(e).__name__
        if kind == "Abort":
            term = isinstance(e.__cause__ or e.__context__, Terminated)
            _quiet_exit()
            typer.echo("terminated" if term else "interrupted", err=True)
            sys.exit(143 if term else 130)
        ctx = getattr(e, "ctx", None)
        if kind == "NoArgsIsHelpError" or ctx is None:
            e.show()
            sys.exit(e.exit_code)
        message = re.sub(r"\s*\n\s*", " ", e.format_message()).strip().rstrip(".")  # a list of choices: one line
        message = message.replace("Value error, ", "")  # typer's wording of a bad choice
        typer.echo(f"error: {message} (see '{ctx.command_path} --help')", err=True)
        sys.exit(e.exit_code)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
