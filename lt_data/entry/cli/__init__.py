"""The ``lt-data`` command line: one command per stage. Parsing and printing only.

Here: the app, its sub-apps (bank, cutmix) and the registration of the commands, which live by
concept in ``data`` (stats, buckets, report, export), ``stores`` (bank, cutmix, preview), ``training``
(train, evaluate, compare) and ``pipelines`` (run, demo); what they share: ``exits`` (one-line user
errors, exit codes, signals, ``main``), ``paths`` (output directories, URLs, storage options) and
``options`` (choices as types, shared help, ``--set``, ``--json``). A command imports what it runs
inside its body, so ``lt-data --help`` starts without torch."""

from __future__ import annotations

import typer

from .data import buckets, export, report, stats
from .exits import main
from .options import (Backend, BucketRule, Choose, CocoSource, LayoutName, PasteMode, PredIds, TrainPaste,
                      SamplerName)
from .paths import _local_paths_only
from .pipelines import demo, run
from .stores import bank_build, bank_info, bank_show, cutmix_build, preview
from .training import TRAIN_EPILOG, compare, evaluate, train

__all__ = ["app", "bank_app", "cutmix_app", "main", "Backend", "BucketRule", "Choose", "CocoSource", "LayoutName",
           "PasteMode", "PredIds", "SamplerName", "TrainPaste"]


def _references_help() -> str:
    from ...core.references import render_names

    return f"Methods: {render_names()}; citations: the README's References and the foot of every report."


def _usage_name(argument) -> str:
    """A required argument as click writes it in a usage line (``WORK``), not typer 0.29's ``{WORK}``;
    an optional one in brackets."""
    name = argument.display_name_raw if argument.required else f"[{argument.display_name_raw}]"
    return name + ("..." if argument.nargs != 1 else "")


if hasattr(typer.core.TyperArgument, "_usage_display_name"):  # typer >= 0.29 only
    typer.core.TyperArgument._usage_display_name = _usage_name


app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  help="Long-tailed semantic segmentation data: statistics, buckets, tail banks, online pasting.",
                  epilog=_references_help())


def _version(value: bool) -> None:
    if value:
        from ... import __version__

        typer.echo(f"lt-data {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """Long-tailed semantic segmentation data: statistics, buckets, tail banks, online pasting."""


# ---- the commands, in the order `lt-data --help` lists them (the sub-apps after the commands) ------

for _command in (stats, run, demo, buckets, report, export):
    app.command()(_command)

bank_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                       help="Tail-object memory bank: WORK/bank.zarr (docs/BANK_FORMAT.md).")
app.add_typer(bank_app, name="bank")
cutmix_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                         help="Multi-level tail cutmix subsets: WORK/cutmix.zarr.")
app.add_typer(cutmix_app, name="cutmix")
bank_app.command("build")(bank_build)
bank_app.command("info")(bank_info)
bank_app.command("show")(bank_show)
cutmix_app.command("build")(cutmix_build)

app.command()(preview)
app.command(epilog=TRAIN_EPILOG)(train)
app.command()(evaluate)
app.command()(compare)

for _typer in (app, bank_app, cutmix_app):
    for _cmd in _typer.registered_commands:
        _cmd.callback = _local_paths_only(_cmd.callback)
