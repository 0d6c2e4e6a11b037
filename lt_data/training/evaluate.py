"""``lt-data evaluate --pred DIR --work WORK``: any framework's predictions against a split's labels.

Predictions are PNG label maps, one per image of the split, found anywhere below ``DIR`` and matched
by file stem to the image (``aachen_000000_000019_leftImg8bit.png``, as mmseg's ``format_only``
writes it), the label (``..._gtFine_labelTrainIds``) or the sample id. Their values are train ids
(``pred_ids="train"``: 0..K−1, what mmseg's ``IoUMetric(format_only=True)`` writes without
``reduce_zero_label``) or the dataset's raw label ids (``pred_ids="raw"``: Cityscapes labelIds as
``CityscapesMetric`` writes them, ADE20K's 1..150 as ``IoUMetric`` writes them with
``reduce_zero_label``), mapped through the class table. One confusion matrix over the split gives
per-class IoU and overall / head / middle / tail mIoU, in the schema of the trainer's
``metrics.json`` (:func:`lt_data.training.metrics.evaluate_confusion`).

A missing, extra, unreadable or wrongly sized prediction, or one with values that are not classes,
is an error naming the file; the run names every such file at once (``skip_bad`` leaves them out
and lists them under ``skipped``).

Speed: each image decodes its prediction and its label, maps the label's raw values with one table
lookup and counts the (label, prediction) pairs with one 16-bit histogram (``cv2.calcHist``), which
also finds unknown label values and predictions that are not classes; in worker processes, only the
non-zero cells travel back. ``scripts/bench_evaluate.py`` compares it with decoding alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from tqdm import tqdm

import numpy as np

from ..core.classes import ClassTable
from ..core.errors import ArtifactError, BadInput, DataError, LtDataError, build_checked, check_terminated
from ..core.io import atomic_write_json
from .metrics import evaluate_confusion
from ..data.workdir import WorkDir

if TYPE_CHECKING:
    import torch.nn as nn

PRED_IDS = ("train", "raw")


def index_predictions(pred_dir: Path, samples, layout) -> tuple[dict[int, Path], list[BadInput]]:
    """{sample row: prediction file} and the problems: samples without a prediction, predictions
    without a sample, and stems that name two files."""
    if not pred_dir.is_dir():
        raise DataError(pred_dir, "prediction directory does not exist or is not a directory")
    files: dict[str, list[Path]] = {}
    for p in sorted(pred_dir.rglob("*.png")):
        files.setdefault(p.stem, []).append(p)
    keys: dict[str, int] = {}
    for i, s in enumerate(samples):
        for key in {Path(s.image).stem, Path(s.label.split("#")[0]).stem, Path(s.id).name}:
            keys.setdefault(key, i)
    found: dict[int, Path] = {}
    bad: list[BadInput] = []
    for stem, paths in files.items():
        i = keys.get(stem)
        if i is None:
            bad += [BadInput(str(p), "prediction for no image of the split") for p in paths]
        elif len(paths) > 1 or i in found:
            bad += [BadInput(str(p), f"one of several predictions for {samples[i].image}") for p in paths]
        else:
            found[i] = paths[0]
    for i, s in enumerate(samples):
        if i not in found:
            bad.append(BadInput(str(pred_dir / (Path(s.image).stem + ".png")),
                                f"missing prediction for {layout.image_path(s)}"))
    return found, bad


def _read_prediction(path: Path) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as im:
            if im.mode not in ("L", "P"):
                raise DataError(path, f"prediction is a {im.mode} image; expected an 8-bit single-channel label "
                                      f"map (mode L or P)")
            return np.asarray(im, dtype=np.uint8)
    except DataError:
        raise
    except (OSError, SyntaxError, ValueError) as e:
        raise DataError(path, f"unreadable or truncated prediction file ({e})") from None


SINGLE_PASS_CLASSES = 254
"""Most classes for which one 16-bit pair histogram also finds unknown label values: its rows are the
K classes, the ignored values and the unknown ones, and the largest cell, (K + 1) · 256 + 255, fits
16 bits up to K = 254. A class table may hold 255 classes (train ids are 8-bit, 255 the ignore index):
then unknown values share the ignored row and a 256-bin histogram of the raw label finds them."""

_FLOAT_EXACT = 1 << 24  # cv2.calcHist counts in float32, exact up to 2^24 per bin


def pair_rows(k: int) -> int:
    """Rows of the pair histogram for K classes (see :data:`SINGLE_PASS_CLASSES`)."""
    return k + 2 if k <= SINGLE_PASS_CLASSES else k + 1


def label_lut(table: ClassTable) -> np.ndarray:
    """(256,) uint16 raw label value → its confusion row · 256: train id 0..K−1, K for the ignored
    values, K + 1 for unknown ones (K for them too past :data:`SINGLE_PASS_CLASSES`; the prediction is
    or-ed into the low byte)."""
    k = table.num_classes
    rows = np.where(table.known, table.lut, pair_rows(k) - 1).astype(np.uint16)
    rows[table.known & (table.lut == table.ignore_index)] = k
    return rows << 8


def _histogram(values: np.ndarray, bins: int) -> np.ndarray:
    """(bins,) counts of the values 0..bins-1 of a uint8 or uint16 map: cv2's single pass, or numpy's
    exact integer count for a map big enough that a float32 bin could pass 2^24."""
    import cv2

    if values.size >= _FLOAT_EXACT:
        return np.bincount(values.ravel(), minlength=bins)
    return cv2.calcHist([values], [0], None, [bins], [0, bins]).ravel()


_BUFFERS: dict[tuple[int, int], np.ndarray] = {}  # one pair map per image size and process, reused


def _pair_buffer(shape: tuple[int, int]) -> np.ndarray:
    buf = _BUFFERS.get(shape)
    if buf is None:  # a fresh 2048x1024 uint16 map page-faults ~2 ms on every image; reuse it
        _BUFFERS.clear()
        buf = _BUFFERS[shape] = np.empty(shape, np.uint16)
    return buf


def _pair_task(state: dict, task: tuple[int, str]) -> tuple[np.ndarray, np.ndarray]:
    """(cells, counts) of one image's confusion matrix (cell = label · K + prediction).

    Both maps are decoded, the label's raw values go through one table lookup, and one histogram of
    (label row · 256 + prediction) counts every pair and, in the same pass, finds unknown label
    values (row K + 1; past :data:`SINGLE_PASS_CLASSES`, a histogram of the raw values) and
    predictions that are not classes (columns ≥ K)."""
    import cv2

    i, path = task
    layout, k = state["layout"], state["k"]
    sample = state["samples"][i]
    pred = _read_prediction(Path(path))
    raw = layout.read_raw_label(sample)
    if pred.shape != raw.shape:
        raise DataError(path, f"prediction is {pred.shape[1]}x{pred.shape[0]} but its label "
                              f"{layout.label_path(sample)} is {raw.shape[1]}x{raw.shape[0]}")
    if state["pred_lut"] is not None:
        pred = cv2.LUT(pred, state["pred_lut"])
    cell = cv2.LUT(raw, state["label_lut"], dst=_pair_buffer(raw.shape))  # row · 256, 16 bits
    np.bitwise_or(cell, pred, out=cell)
    rows = pair_rows(k)
    joint = _histogram(cell, rows * 256).reshape(rows, 256)
    if rows == k + 2:
        unknown_found = joint[k + 1].any()
    else:  # the unknown values share the ignored row: look for them in the raw values
        unknown_found = (_histogram(raw, 256)[~layout.table.known] > 0).any()
    if unknown_found:
        from ..data.layouts.base import unknown_values_problem

        unknown = np.unique(raw[~layout.table.known[raw]]).tolist()
        raise DataError(layout.label_path(sample), unknown_values_problem(layout.table, unknown))
    wrong = joint[:k, k:].sum(axis=0)
    if wrong.any():
        values = (np.flatnonzero(wrong) + k).tolist()
        if state["pred_lut"] is not None:
            raise DataError(path, "prediction holds raw label ids that map to no class")
        raise DataError(path, f"prediction holds values outside the class ids 0..{k - 1}: {values[:8]}; "
                              f"raw dataset ids? use --pred-ids raw")
    counts = joint[:k, :k].ravel()
    nz = np.flatnonzero(counts)
    return nz, counts[nz].astype(np.int64)


def evaluate_predictions(pred_dir: str | Path, work: str | Path, *, pred_ids: Literal["train", "raw"] = "train",
                         buckets_from: str | Path | None = None, workers: int | None = None,
                         skip_bad: bool = False, progress: bool = True) -> dict:
    """``metrics.json``'s content for the predictions in ``pred_dir`` over the split of ``work``.

    Buckets come from ``buckets_from/buckets.json`` (default: ``work``'s own, when present).
    """
    from ..jobs.parallel import map_samples

    if pred_ids not in PRED_IDS:
        raise LtDataError(f"--pred-ids must be one of {', '.join(PRED_IDS)}, got {pred_ids!r}")
    work = WorkDir.of(work)
    stats = work.stats(verify=False)
    table: ClassTable = stats.table
    k = table.num_classes  # at most 255, which the pair histogram holds (see SINGLE_PASS_CLASSES)
    layout = work.layout()
    samples = stats.samples
    found, bad = index_predictions(Path(pred_dir), samples, layout)
    pred_lut = None
    if pred_ids == "raw":  # raw ids that are no class (void, unknown) become 255: not a class
        pred_lut = np.where(table.known, table.lut, 255).astype(np.uint8)
    tasks = [(i, str(p)) for i, p in sorted(found.items())]
    mat = np.zeros(k * k, dtype=np.int64)
    skipped = list(bad)
    used = 0
    for _, (cells, counts) in map_samples(_pair_task, tasks, {"layout": layout, "samples": samples, "k": k,
                                                             "pred_lut": pred_lut, "label_lut": label_lut(table)},
                                          workers=workers, ordered=False, skip_bad=skip_bad, bad=skipped,
                                          desc="evaluate predictions", progress=progress,
                                          describe=lambda p: tasks[p][1]):
        mat[cells] += counts
        used += 1
    if used == 0:
        raise DataError(pred_dir, "no prediction could be evaluated")
    buckets = WorkDir.of(buckets_from if buckets_from is not None else work).buckets_or_none()
    out = evaluate_confusion(mat.reshape(k, k), list(table.names), buckets.lists if buckets else None)
    out["split"] = {"work": str(work), "images": used}
    out["predictions"] = {"dir": str(pred_dir), "ids": pred_ids}
    out["skipped"] = [b.to_json() for b in skipped]
    out["confusion_matrix"] = mat.reshape(k, k).tolist()
    return out


def evaluate_model(model: nn.Module, work: str | Path, *, device=None, size: tuple[int, int] | None = None,
                   buckets_from: str | Path | None = None, workers: int = 0, batch_size: int = 4,
                   progress: bool = False, distributed: bool = False) -> dict:
    """Accumulate one confusion matrix over the split in ``work`` and return ``metrics.json``'s content.

    Buckets come from ``buckets_from/buckets.json`` (the training work directory) when present.
    ``distributed=True`` (every rank of the initialised process group calls it): each rank
    evaluates every world-th image and the confusion matrices are all-reduced, so every rank
    returns the metrics of the whole split."""
    import torch
    from torch.utils.data import DataLoader, Subset

    from .dataset import CarryErrors, PasteCollate, SegmentationDataset, normalize, raise_carried
    from .devices import rank_and_world
    from .metrics import ConfusionMatrix
    from ..core.outputs import match

    rank, world = rank_and_world() if distributed else (0, 1)
    device = device or next(model.parameters()).device
    ds = SegmentationDataset(work, train=False, size=size)
    k = ds.num_classes
    cm = ConfusionMatrix(k, device=device)
    model.eval()
    sizes = {}
    for i, s in enumerate(ds.samples):  # batch images of equal size only
        sizes.setdefault((s.height, s.width) if size is None else size, []).append(i)
    for idx in sizes.values():
        share = idx[rank::world]
        if not share:
            continue
        loader = DataLoader(CarryErrors(Subset(ds, share)), batch_size=batch_size, num_workers=workers,
                            collate_fn=PasteCollate())
        for batch in tqdm(raise_carried(loader), desc="evaluate", total=len(loader), disable=not progress,
                          leave=False):
            check_terminated()
            images, labels = batch["images"].to(device), batch["labels"].to(device)
            with torch.no_grad():
                logits, labels = match(model(normalize(images)), labels)
            cm.update(logits.argmax(1), labels)
    if world > 1:
        torch.distributed.all_reduce(cm.mat)
    buckets = WorkDir.of(buckets_from).buckets_or_none() if buckets_from is not None else None
    out = evaluate_confusion(cm.matrix, list(ds.table.names), buckets.lists if buckets else None)
    out["split"] = {"work": str(work), "images": len(ds)}
    out["confusion_matrix"] = cm.matrix.tolist()
    return out


def evaluate_checkpoint(checkpoint: str | Path, work: str | Path, *, out: str | Path | None = None,
                        device: str = "auto", progress: bool = True, loaded: dict | None = None,
                        trust: bool = False) -> dict:
    """``lt-data evaluate``: load a checkpoint, evaluate on ``work``'s split, write ``metrics.json``.
    ``loaded``: the checkpoint's content when the caller already read it (:func:`read_checkpoint`).

    The default ``out`` is the run directory's ``metrics.json``; while a training holds that run
    directory (mid-training) it is refused, since the run's own metrics land there when it ends."""
    import torch

    from .checkpoints import read_checkpoint
    from .config import TrainConfig
    from .devices import resolve_device
    from .models import build_model
    from .runs import METRICS_FILE, check_metrics_out

    checkpoint = Path(checkpoint)
    ckpt = loaded if loaded is not None else read_checkpoint(checkpoint, trust=trust)
    if out is None:
        from ..jobs.artifacts import lock_holder

        holder = lock_holder(checkpoint.parent)
        if holder:
            raise LtDataError(f"{checkpoint.parent}: a training is running there ({holder}); its metrics.json is the "
                              f"run's own: give --out FILE to write this evaluation elsewhere")
    else:
        check_metrics_out(out)
    cfg = TrainConfig.from_dict(ckpt["config"])
    dev = resolve_device(device)
    k = WorkDir.of(cfg.work).stats(verify=False).table.num_classes
    model = build_checked(f"model {cfg.model!r} with model_args {cfg.model_args}", build_model, cfg.model, k,
                   **cfg.model_args)
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as e:
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise ArtifactError(f"{checkpoint}: does not fit model {cfg.model!r} with the {k} classes of {cfg.work} "
                            f"({first})") from None
    model.to(dev).to(memory_format=torch.channels_last)
    metrics = evaluate_model(model, work, device=dev, size=cfg.val_size, buckets_from=cfg.work, progress=progress)
    metrics["checkpoint"] = str(checkpoint)
    metrics["step"] = ckpt["step"]
    out = Path(out) if out else checkpoint.parent / METRICS_FILE
    atomic_write_json(out, metrics)
    return metrics


def split_work(train_work: str | Path, split: str, out: str | Path, *, workers: int | None = None,
               progress: bool = True) -> Path:
    """Statistics of another split of the training work directory's dataset (same layout and root),
    written to ``out`` (reused when already complete). Evaluation reads its samples from there."""
    from ..core.io import read_json
    from ..data.layouts import get_layout
    from ..data.stats import run_stats

    out = Path(out)
    d = read_json(WorkDir.of(train_work).dataset_file)
    done = WorkDir.of(out)
    if done.has_stats and read_json(done.dataset_file).get("split") == split:
        return out
    layout = get_layout(d["layout"], d["root"], split, **d.get("options", {}))
    run_stats(layout, out, workers=workers, progress=progress)
    return out


__all__ = ["PRED_IDS", "evaluate_checkpoint", "evaluate_model", "evaluate_predictions", "index_predictions", "split_work"]
