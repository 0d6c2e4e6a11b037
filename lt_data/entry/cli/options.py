"""What several commands share: the choices as types, the help of the options they have in common,
``--set KEY=VALUE`` and ``--json``. Nothing heavy: ``--help`` reads this (training defaults from
``config`` only)."""

from __future__ import annotations

from typing import Literal

import typer

from ...core.errors import LtDataError

from ...core.names import PasteMode  # noqa: F401 - preview's --mode (names imports nothing heavy)

# Choices as types: --help lists them, shells complete them, a typo is refused in one line. Those
# whose home imports numpy or more (layouts, parallel, buckets, ...) are spelled here, so that --help
# stays light; tests/test_cli.py checks each against the registry it stands for.
LayoutName = Literal["cityscapes", "ade20k", "coco_stuff164k", "camvid", "folder", "hf"]
TrainPaste = Literal["none", "bank", "cutmix"]  # training's --paste: a store's PasteMode, or none
SamplerName = Literal["uniform", "rcs", "rfs"]
BucketRule = Literal["share", "rank", "images", "preset", "list"]
Backend = Literal["processes", "dask"]
CocoSource = Literal["auto", "trainids", "png", "json"]
Choose = Literal["uniform", "largest"]
PredIds = Literal["train", "raw"]


def _train_default(key: str) -> str:
    from ...training.config import default

    return str(default(key))


def _train_options_help() -> str:
    from ...training.config import option_help

    return "\n\n".join(option_help().splitlines())


JSON_HELP = "Print a machine-readable JSON summary on stdout instead of the tables (no progress bar)."
ALLOW_CODE_HELP = ("Run a pipeline whose [train] model is package.module:callable: that module is imported and "
                   "its code runs, so only for a pipeline you trust.")
TRUST_HELP = ("Load a checkpoint that holds more than tensors and plain types (an older lt-data's) in full: "
              "unpickling can run code, so only for a file whose origin you trust.")
STORAGE_HELP = ("fsspec options for every URL of this command: a JSON object or @FILE holding one "
                '(e.g. \'{"endpoint_url": "http://127.0.0.1:9000"}\'); never written into an artifact.')
BACKEND_HELP = "processes (a process pool on this machine, the default) | dask (a Dask cluster, see --scheduler)."
SCHEDULER_HELP = ("--backend dask: a scheduler address (tcp://HOST:8786) or local:N to start N local worker "
                  "processes (default local:WORKERS).")

# the options every command that maps over samples takes (stats, bank build, cutmix build), declared once
WORKERS = typer.Option(None, "--workers", "-j", help="Processes (default: all cores).")
STORAGE = typer.Option(None, "--storage-options", help=STORAGE_HELP)
BACKEND = typer.Option("processes", "--backend", help=BACKEND_HELP)
SCHEDULER = typer.Option(None, "--scheduler", help=SCHEDULER_HELP)


def _print_json(obj) -> None:
    import json

    typer.echo(json.dumps(obj, indent=1, ensure_ascii=False, default=str))


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
