"""``lt-data evaluate --pred DIR --work WORK``: any framework's predictions against a split's labels.

Predictions are PNG label maps, one per image of the split, found anywhere below ``DIR`` and matched
by file stem to the image (``aachen_000000_000019_leftImg8bit.png``, as mmseg's ``format_only``
writes it), the label (``..._gtFine_labelTrainIds``) or the sample id. Their values are train ids
(``pred_ids="train"``: 0..K−1, what mmseg's ``IoUMetric(format_only=True)`` writes without
``reduce_zero_label``) or the dataset's raw label ids (``pred_ids="raw"``: Cityscapes labelIds as
``CityscapesMetric`` writes them, ADE20K's 1..150 as ``IoUMetric`` writes them with
``reduce_zero_label``), mapped through the class table. One confusion matrix over the split gives
per-class IoU and overall / head / middle / tail mIoU, in the schema of the trainer's
``metrics.json`` (:func:`lt_data.metrics.evaluate_confusion`).

A missing, extra, unreadable or wrongly sized prediction, or one with values that are not classes,
is an error naming the file; the run names every such file at once (``skip_bad`` leaves them out
and lists them under ``skipped``).

Speed: each image decodes its prediction and its label and counts the (label, prediction) pairs with
one 16-bit histogram (``cv2.calcHist``), in worker processes; only the non-zero cells travel back.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .classes import ClassTable
from .errors import BadInput, DataError, LtDataError
from .metrics import evaluate_confusion

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


def _pair_task(state: dict, task: tuple[int, str]) -> tuple[np.ndarray, np.ndarray]:
    """(cells, counts) of one image's confusion matrix (cell = label · K + prediction)."""
    import cv2

    i, path = task
    layout, k, lut = state["layout"], state["k"], state["lut"]
    sample = state["samples"][i]
    pred = _read_prediction(Path(path))
    label = layout.read_label(sample)
    if pred.shape != label.shape:
        raise DataError(path, f"prediction is {pred.shape[1]}x{pred.shape[0]} but its label "
                              f"{layout.label_path(sample)} is {label.shape[1]}x{label.shape[0]}")
    if lut is not None:
        pred = lut[pred]
    hist = cv2.calcHist([pred], [0], None, [256], [0, 256]).ravel()
    if hist[k:].any():
        values = np.flatnonzero(hist[k:]) + k
        what = ("raw label ids that map to no class" if lut is not None else f"values outside the class ids 0..{k - 1}")
        raise DataError(path, f"prediction holds {what}: {values[:8].tolist()}"
                              + ("" if lut is not None else "; raw dataset ids? use --pred-ids raw"))
    cell = label.astype(np.uint16) * np.uint16(k) + pred  # ignore (255) rows fall beyond K·K
    counts = cv2.calcHist([cell], [0], None, [k * k], [0, k * k]).ravel()
    nz = np.flatnonzero(counts)
    return nz, counts[nz].astype(np.int64)


def evaluate_predictions(pred_dir: str | Path, work: str | Path, *, pred_ids: str = "train",
                         buckets_from: str | Path | None = None, workers: int | None = None,
                         skip_bad: bool = False, progress: bool = True) -> dict:
    """``metrics.json``'s content for the predictions in ``pred_dir`` over the split of ``work``.

    Buckets come from ``buckets_from/buckets.json`` (default: ``work``'s own, when present).
    """
    from .buckets import BUCKETS_FILE, load_buckets
    from .parallel import map_samples
    from .stats import load_stats, open_layout

    if pred_ids not in PRED_IDS:
        raise LtDataError(f"--pred-ids must be one of {', '.join(PRED_IDS)}, got {pred_ids!r}")
    work = Path(work)
    stats = load_stats(work, verify=False)
    table: ClassTable = stats.table
    k = table.num_classes
    if k * k > 65535:
        raise LtDataError(f"{k} classes: more than the 255 a 16-bit pair histogram holds")
    layout = open_layout(work)
    samples = stats.samples
    found, bad = index_predictions(Path(pred_dir), samples, layout)
    lut = None
    if pred_ids == "raw":
        lut = np.where(table.known, table.lut, 255).astype(np.uint8)
    tasks = [(i, str(p)) for i, p in sorted(found.items())]
    mat = np.zeros(k * k, dtype=np.int64)
    skipped = list(bad)
    used = 0
    for _, (cells, counts) in map_samples(_pair_task, tasks, {"layout": layout, "samples": samples, "k": k,
                                                             "lut": lut},
                                          workers=workers, ordered=False, skip_bad=skip_bad, bad=skipped,
                                          desc="evaluate predictions", progress=progress,
                                          describe=lambda p: tasks[p][1]):
        mat[cells] += counts
        used += 1
    if used == 0:
        raise DataError(pred_dir, "no prediction could be evaluated")
    source = Path(buckets_from) if buckets_from is not None else work
    buckets = load_buckets(source) if (source / BUCKETS_FILE).is_file() else None
    out = evaluate_confusion(mat.reshape(k, k), list(table.names), buckets)
    out["split"] = {"work": str(work), "images": used}
    out["predictions"] = {"dir": str(pred_dir), "ids": pred_ids}
    out["skipped"] = [b.to_json() for b in skipped]
    out["confusion_matrix"] = mat.reshape(k, k).tolist()
    return out


__all__ = ["PRED_IDS", "evaluate_predictions", "index_predictions"]
