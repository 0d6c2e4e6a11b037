"""The pipeline commands: ``lt-data run`` (a pipeline file, stage by stage) and ``lt-data demo``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ...core.errors import local_path
from .exits import _user_errors
from .options import ALLOW_CODE_HELP
from .paths import _output_dir


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
    from ..pipeline import load_pipeline, run_pipeline

    with _user_errors(work):
        only = [s.strip() for s in stages.split(",") if s.strip()] if stages else None
        pipe = load_pipeline(pipeline, work=work and _output_dir(work, "--work"),
                             root=root and local_path(root, "dataset root"), only=only)
        _output_dir(pipe.work, f"the work directory of {pipe.path}")
    with _user_errors(pipe.work):
        run_pipeline(pipe, progress=not quiet, echo=typer.echo, allow_code=allow_code)


def demo(
    out: Path = typer.Option(Path("lt-data-demo"), "--out", "-o", help="Where the demo data and artifacts go."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
):
    """Generate a small synthetic street-scene dataset with a long tail and run every stage on it."""
    from ..pipeline import load_pipeline, packaged_pipeline, run_pipeline

    with _user_errors():
        pipe = load_pipeline(packaged_pipeline("demo"), work=out / "work", root=out / "data")
        outputs = run_pipeline(pipe, progress=not quiet, echo=typer.echo)
        typer.echo("\ndemo outputs:")
        for stage, path in outputs.items():
            typer.echo(f"  {stage:<15} {path}")
