"""The data commands: ``lt-data stats``, ``buckets``, ``report`` and ``export``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ...core.errors import LtDataError, local_path
from .exits import _user_errors
from .options import (BACKEND, JSON_HELP, SCHEDULER, STORAGE, WORKERS, Backend, BucketRule, CocoSource,
                      LayoutName, _print_json)
from .paths import _output_dir, _storage, _where


def stats(
    root: str = typer.Argument(..., metavar="ROOT", help="Dataset root in the layout's official structure."),
    layout: LayoutName = typer.Option(..., "--layout", "-l", help="The dataset's layout (README: what each expects)."),
    split: str = typer.Option("train", "--split", "-s", metavar="SPLIT", help="Split name (train, val, training, train2017, ...)."),
    out: str = typer.Option(..., "--out", "-o", metavar="WORK", help="Work directory for the artifacts."),
    workers: Optional[int] = WORKERS,
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Skip bad samples with a warning instead of failing."),
    reduce_zero_label: Optional[bool] = typer.Option(None, "--reduce-zero-label/--no-reduce-zero-label",
                                                     help="folder, hf: value 0 is ignored, k becomes k-1."),
    ignore_index: Optional[int] = typer.Option(None, "--ignore-index", help="folder, hf: label value of void pixels."),
    classes: Optional[str] = typer.Option(None, "--classes", help="folder, hf: classes file (default ROOT/classes.txt)."),
    image_column: Optional[str] = typer.Option(None, "--image-column", help="hf: the image column (default image)."),
    label_column: Optional[str] = typer.Option(None, "--label-column",
                                               help="hf: the label-map column (default annotation)."),
    id_map: Optional[str] = typer.Option(None, "--id-map", help='hf: raw label value -> train id, a JSON object '
                                         'or file, e.g. \'{"7": 0, "8": 1, "0": 255}\' (255: void; unnamed values are refused).'),
    source: Optional[CocoSource] = typer.Option(None, "--source", help="coco_stuff164k: which annotation files to read (auto: the first present of trainids, png, json)."),
    train_ids: Optional[bool] = typer.Option(None, "--train-ids/--label-ids",
                                             help="cityscapes: read *_labelTrainIds.png instead of *_labelIds.png."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or table."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    storage_options: Optional[str] = STORAGE,
    backend: Backend = BACKEND,
    scheduler: Optional[str] = SCHEDULER,
):
    """Count per-image per-class pixels of a split and write the statistics to OUT.

    ROOT and OUT may be fsspec URLs (s3://bucket/cityscapes, gs://...), read and written with
    --storage-options."""
    from ...data.layouts import LAYOUTS, get_layout
    from ...jobs.parallel import check_backend
    from ..stages import on_local_copy
    from ...core.names import CLASS_STATS_FILE
    from ...data.stats import format_table, stats_fingerprint

    with _user_errors(out):
        so = _storage(storage_options)
        check_backend(backend, scheduler)
        if not (layout == "hf" and root.startswith("hf://datasets/")):  # a hub id is no file system location
            _where(root, "dataset root", so)
        out = _where(out, "--out", so, output=True)
        given = {"reduce_zero_label": reduce_zero_label, "ignore_index": ignore_index, "classes": classes,
                 "source": source, "train_ids": train_ids, "image_column": image_column, "label_column": label_column,
                 "id_map": id_map}
        given = {k: v for k, v in given.items() if v is not None}
        keyword = {o: kw for cls in LAYOUTS.values() for o, kw in cls.cli_options.items()}
        applies = LAYOUTS[layout].cli_options if layout in LAYOUTS else {}
        extra = [keyword[o] for o in given if o not in applies]
        if extra:
            raise LtDataError(f"option(s) {', '.join(extra)} do not apply to the {layout} layout")
        lay = get_layout(layout, root, split, storage_options=so, **{applies[o]: v for o, v in given.items()})
        result, fingerprint = on_local_copy(
            "stats", out, lay, storage_options=so, then=lambda local, result: (result, stats_fingerprint(local)),
            workers=workers, skip_bad=skip_bad, progress=not (quiet or as_json), backend=backend, scheduler=scheduler)
        for bad in result.skipped:
            typer.echo(f"warning: skipped {bad}", err=True)
        if as_json:
            _print_json({"work": str(out), "fingerprint": fingerprint, "layout": layout, "split": split,
                         "skipped": [b.to_json() for b in result.skipped], **result.summary()})
            return
        if not quiet:
            typer.echo(format_table(result))
        typer.echo(f"wrote {out}/{CLASS_STATS_FILE} ({result.num_images} images, {result.table.num_classes} classes"
                   + (f", {len(result.skipped)} skipped" if result.skipped else "") + ")")


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
    storage_options: Optional[str] = STORAGE,
):
    """Split the classes into head / middle / tail buckets and write WORK/buckets.json (WORK may be a URL)."""
    from ...data.buckets import BUCKETS_FILE, format_buckets, load_buckets
    from ...core.fs import join
    from ..stages import on_local_copy

    with _user_errors(work):
        so = _storage(storage_options)
        where = _where(work, "work directory", so)
        refine = refine and local_path(refine, "--refine IoU file")
        params = {"head_share": head_share, "tail_share": tail_share, "head": head, "tail": tail, "preset": preset,
                  "head_classes": head_classes, "tail_classes": tail_classes}
        result = on_local_copy("buckets", where, storage_options=so, then=lambda local, _: load_buckets(local),
                               rule=rule, refine=refine, low=low, high=high,
                               **{k: v for k, v in params.items() if v is not None})
        path = join(where, BUCKETS_FILE)
        if as_json:
            _print_json({"path": path, **result.to_json()})
            return
        if not quiet:
            typer.echo(format_buckets(result))
        typer.echo(f"wrote {path}")


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
    from ...views.report import REPORT_DIR, load_report, write_report

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
    from ...data.exports import DEFAULT_BETA, EXPORTS_DIR, write_exports

    with _user_errors(out or Path(work) / EXPORTS_DIR):
        b = DEFAULT_BETA if beta is None else beta
        if not 0.0 <= b < 1.0:
            raise LtDataError(f"--beta must lie in [0, 1), got {b}")
        out = out and _output_dir(out, "--out")
        path = write_exports(local_path(work, "work directory"), beta=b, out=out, force=force)
        if as_json:
            from ...data.exports import EXPORTS_RECORD
            from ...core.io import read_json

            _print_json({"out": str(path), "files": sorted(read_json(path / EXPORTS_RECORD))})
            return
        typer.echo(f"wrote {path}/: sample_class_stats.json, sample_class_stats_dict.json, samples_with_class.json, "
                   f"class_weights.json, class_weight_*.json/.npy")
