"""The ``lt-data`` command line: one command per stage. Parsing and printing only."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer

from .errors import LtDataError

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Long-tailed semantic segmentation data: statistics, buckets, tail banks, online pasting.")


@contextmanager
def _user_errors():
    """Bad input ends the command with one clear line and a non-zero exit, not a traceback."""
    try:
        yield
    except LtDataError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        typer.echo("interrupted: nothing half-written was left marked complete", err=True)
        raise typer.Exit(130) from None


@app.command()
def stats(
    root: Path = typer.Argument(..., help="Dataset root in the layout's official structure."),
    layout: str = typer.Option(..., "--layout", "-l", help="cityscapes | ade20k | coco_stuff164k | camvid | folder"),
    split: str = typer.Option("train", "--split", "-s", help="Split name (train, val, training, train2017, ...)."),
    out: Path = typer.Option(..., "--out", "-o", help="Work directory for the artifacts."),
    workers: Optional[int] = typer.Option(None, "--workers", "-j", help="Processes (default: all cores)."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Skip bad samples with a warning instead of failing."),
    reduce_zero_label: Optional[bool] = typer.Option(None, "--reduce-zero-label/--no-reduce-zero-label",
                                                     help="folder: value 0 is ignored, k becomes k-1."),
    ignore_index: Optional[int] = typer.Option(None, "--ignore-index", help="folder: label value of void pixels."),
    classes: Optional[Path] = typer.Option(None, "--classes", help="folder: classes file (default ROOT/classes.txt)."),
    source: Optional[str] = typer.Option(None, "--source", help="coco_stuff164k: auto | trainids | png | json."),
    train_ids: Optional[bool] = typer.Option(None, "--train-ids/--label-ids",
                                             help="cityscapes: read *_labelTrainIds.png instead of *_labelIds.png."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or table."),
):
    """Count per-image per-class pixels of a split and write the statistics to OUT."""
    from .layouts import get_layout
    from .stats import format_table, run_stats

    with _user_errors():
        opts = {"reduce_zero_label": reduce_zero_label, "ignore_index": ignore_index, "classes_file": classes,
                "source": source, "train_ids": train_ids}
        allowed = {"folder": {"reduce_zero_label", "ignore_index", "classes_file"}, "coco_stuff164k": {"source"},
                   "cityscapes": {"train_ids"}}.get(layout, set())
        extra = [k for k, v in opts.items() if v is not None and k not in allowed]
        if extra:
            raise LtDataError(f"option(s) {', '.join(extra)} do not apply to the {layout} layout")
        lay = get_layout(layout, root, split, **{k: v for k, v in opts.items() if k in allowed})
        result = run_stats(lay, out, workers=workers, skip_bad=skip_bad, progress=not quiet)
        for bad in result.skipped:
            typer.echo(f"warning: skipped {bad}", err=True)
        if not quiet:
            typer.echo(format_table(result))
        typer.echo(f"wrote {out}/class_stats.json ({result.num_images} images, {result.table.num_classes} classes"
                   + (f", {len(result.skipped)} skipped" if result.skipped else "") + ")")


@app.command()
def run(
    pipeline: Path = typer.Argument(..., help="A pipelines/*.toml file."),
    work: Optional[Path] = typer.Option(None, "--work", help="Override the pipeline's work directory."),
    root: Optional[Path] = typer.Option(None, "--root", help="Override the dataset root."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
):
    """Run a pipeline file stage by stage."""
    from .pipeline import load_pipeline, run_pipeline

    with _user_errors():
        pipe = load_pipeline(pipeline, work=work, root=root)
        run_pipeline(pipe, progress=not quiet, echo=typer.echo)


@app.command()
def demo(
    out: Path = typer.Option(Path("lt-data-demo"), "--out", "-o", help="Where the demo data and artifacts go."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
):
    """Generate a small synthetic street-scene dataset with a long tail and run every stage on it."""
    from .pipeline import load_pipeline, packaged_pipeline, run_pipeline

    with _user_errors():
        pipe = load_pipeline(packaged_pipeline("demo"), work=out / "work", root=out / "data")
        outputs = run_pipeline(pipe, progress=not quiet, echo=typer.echo)
        typer.echo("\ndemo outputs:")
        for stage, path in outputs.items():
            typer.echo(f"  {stage:<10} {path}")


def main() -> None:  # pragma: no cover - console entry point alias
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
