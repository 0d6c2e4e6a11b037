"""The store commands: ``lt-data bank build / info / show``, ``cutmix build`` and ``preview`` (what
pasting from a store does to training batches)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ...core.errors import BadInput, LtDataError, show_path
from .exits import _user_errors
from .options import BACKEND, SCHEDULER, STORAGE, WORKERS, Backend, Choose, PasteMode, _parse_set
from .paths import _storage, _where


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
    workers: Optional[int] = WORKERS,
    out: Optional[str] = typer.Option(None, "--out", "-o", help="Store path or fsspec URL (default WORK/bank.zarr)."),
    force: bool = typer.Option(False, "--force", help="Rebuild even when an up-to-date complete bank exists."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Skip unreadable images with a warning instead of failing."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or table."),
    storage_options: Optional[str] = STORAGE,
    backend: Backend = BACKEND,
    scheduler: Optional[str] = SCHEDULER,
):
    """Extract every object (connected component) of the selected classes into WORK/bank.zarr."""
    from ...stores.bank import TailBank, format_info

    with _user_errors():
        path, bank = _build_store("bank", TailBank, work, storage_options, classes=classes, min_area=min_area,
                                  max_per_class=max_per_class, choose=choose, seed=seed, connectivity=connectivity,
                                  workers=workers, out=out, force=force, skip_bad=skip_bad, progress=not quiet,
                                  backend=backend, scheduler=scheduler)
        _warn_skipped(bank.attrs.get("skipped", []))
        if not quiet:
            typer.echo(format_info(bank.summary()))
        typer.echo(f"wrote {path} ({len(bank)} objects of classes {bank.classes})")


def _build_store(stage, reader, work, storage_options, **kwargs):
    """What `bank build` and `cutmix build` share: the storage options, the backend and the locations
    checked first, then the store build ``stage`` on the work directory (a local copy of a URL's:
    :func:`lt_data.entry.stages.on_local_copy`), opened against it. Returns (the store's path, its reader)."""
    from ...jobs.parallel import check_backend
    from ..stages import on_local_copy

    so = _storage(storage_options)
    check_backend(kwargs["backend"], kwargs["scheduler"])
    where = _where(work, "work directory", so)
    if kwargs["out"] is not None:
        kwargs["out"] = str(_where(kwargs["out"], "--out", so))
    return on_local_copy(stage, where, storage_options=so, **kwargs,
                         then=lambda local, path: (path, reader.open(path, work=local, storage_options=so)))


def _warn_skipped(skipped: list[dict]) -> None:
    for b in skipped:
        typer.echo(f"warning: skipped {BadInput(**b)}", err=True)


def bank_info(
    bank: str = typer.Argument(..., metavar="BANK", help="A bank store (path or URL) or a work directory holding bank.zarr."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    verify: bool = typer.Option(False, "--verify", help="Also check the content (CRC-32) of every file of the store."),
    storage_options: Optional[str] = STORAGE,
):
    """Per-class counts, area distribution, size on disk and build parameters of a bank."""
    import json

    from ...stores.bank import TailBank, format_info

    with _user_errors():
        so = _storage(storage_options)
        reader = TailBank.open(str(_where(bank, "bank", so)), storage_options=so)
        if verify:
            reader.verify()
        summary = reader.summary()
        typer.echo(json.dumps(summary, indent=1) if as_json else format_info(summary))


def bank_show(
    bank: str = typer.Argument(..., metavar="BANK", help="A bank store (path or URL) or a work directory holding bank.zarr."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", metavar="PNG", help="PNG file to write.",
                                       show_default="bank_sheet.png beside the bank store"),
    per_class: int = typer.Option(12, "--per-class", help="Objects per class (drawn uniformly, seeded)."),
    cell: int = typer.Option(96, "--cell", help="Tile size in pixels."),
    seed: int = typer.Option(0, "--seed", help="Seed of the objects drawn."),
    storage_options: Optional[str] = STORAGE,
):
    """Draw a contact sheet: a row of objects per class, masks over a checkerboard."""
    from PIL import Image

    from ...stores.bank import TailBank, contact_sheet

    with _user_errors():
        so = _storage(storage_options)
        bank_ = TailBank.open(str(_where(bank, "bank", so)), storage_options=so)
        if out is None:
            from ...core.fs import is_url

            if is_url(bank_.url):
                raise LtDataError(f"{show_path(bank_.url)}: a bank at a URL needs --out (a local PNG path)")
            out = Path(bank_.url).parent / "bank_sheet.png"
        sheet = contact_sheet(bank_, per_class=per_class, cell=cell, seed=seed)
        out.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(sheet).save(out)
        typer.echo(f"wrote {out} ({sheet.shape[1]}x{sheet.shape[0]})")


def cutmix_build(
    work: str = typer.Argument(..., metavar="WORK", help="Work directory holding the statistics (and buckets.json for --classes "
                               "tail); a path or URL."),
    levels: int = typer.Option(3, "--levels", "-T", help="T: levels 0..T are built (T >= 1)."),
    ratio: float = typer.Option(0.1, "--ratio", "-r", help="r of paper 003, 0 < r < 1."),
    step: float = typer.Option(1.1, "--step", "-s", help="s of paper 003, s > 1."),
    classes: str = typer.Option("tail", "--classes", "-c", help="tail | middle | head or a comma list of ids/names."),
    workers: Optional[int] = WORKERS,
    out: Optional[str] = typer.Option(None, "--out", "-o", help="Store path or fsspec URL (default WORK/cutmix.zarr)."),
    force: bool = typer.Option(False, "--force", help="Rebuild even when an up-to-date complete store exists."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Skip unreadable labels with a warning instead of failing."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or table."),
    storage_options: Optional[str] = STORAGE,
    backend: Backend = BACKEND,
    scheduler: Optional[str] = SCHEDULER,
):
    """For each selected class b: the images containing b and their level boxes, into WORK/cutmix.zarr."""
    from ...stores.cutmix import TailCutmix, format_summary

    with _user_errors():
        path, cm = _build_store("cutmix", TailCutmix, work, storage_options, levels=levels, ratio=ratio, step=step,
                                classes=classes, workers=workers, out=out, force=force, skip_bad=skip_bad,
                                progress=not quiet, backend=backend, scheduler=scheduler)
        _warn_skipped(cm.attrs.get("skipped", []))
        if not quiet:
            typer.echo(format_summary(cm.summary()))
        typer.echo(f"wrote {path} (classes {cm.classes}, levels 0..{cm.levels})")


def preview(
    work: Path = typer.Argument(..., metavar="WORK", help="Work directory with buckets.json and bank.zarr / cutmix.zarr."),
    mode: PasteMode = typer.Option("bank", "--mode", help="Paste from the memory bank or the tail cutmix store."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", metavar="PNG", help="PNG file to write.",
                                       show_default="WORK/preview-MODE.png"),
    batches: int = typer.Option(2, "--batches", help="Training batches drawn (rows: batches x batch size)."),
    batch_size: int = typer.Option(4, "--batch-size", help="Images per batch; the bank pastes the tail classes "
                                    "each image (or batch) lacks, so the batch size changes what is pasted."),
    crop: Optional[str] = typer.Option(None, "--crop", help="HxW training crop, e.g. 240x320 (default: whole images)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the batches, crops and pastes (the training run's seed "
                             "draws the same first batches)."),
    set_: list[str] = typer.Option([], "--set", metavar="KEY=VALUE", help="A paste argument as key=value (JSON values), e.g. "
                                   "sample_ratio=0.3, resize_ratio=0.5, prob=0.5, placement=prior (objects "
                                   "where their class appears in the data); default: the dose derived from "
                                   "the data, as in training."),
):
    """Draw training batches before and after pasting, labels overlaid, pasted objects outlined;
    prints the paste dose and the share of the pixels it pasted."""
    from ...views.preview import write_preview

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
