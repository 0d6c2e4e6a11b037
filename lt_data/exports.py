"""Statistics in formats other tools read (``WORK/exports/``).

DAFormer (``lhoyer/DAFormer``, ``tools/convert_datasets/*.py`` and ``mmseg/datasets/uda_dataset.py``)
reads three files from its ``data_root`` for rare class sampling; we write the same schema:

``sample_class_stats.json``
    a list with one object per image, in sample order: ``{"<class id>": pixels, ..., "file": label}``,
    only classes with more than 0 pixels, ids ascending, ``file`` the label path (dataset root +
    the sample's label path, absolute when the root is). DAFormer's converters count train ids on
    the train split; we count the split the statistics were computed on.
``sample_class_stats_dict.json``
    ``{label: {"<class id>": pixels, ...}}``, the same counts keyed by file.
``samples_with_class.json``
    ``{"<class id>": [[label, pixels], ...]}``: for every class, every image that contains it
    (pixels > 0), in sample order; classes that never occur have no key. DAFormer's converters apply
    no threshold here: its ``UDADataset`` drops images with ``pixels <= min_pixels`` (3000) when it
    loads the file, so we keep every image too.

The JSON is written compactly (DAFormer indents by 2; readers do not care), keys in id order.

``class_weights.json`` holds per-class weights for weighted losses, from the split's pixel counts
n_c (ignore excluded); a class with no pixels gets weight 0 in every scheme and is listed in
``zero_classes``:

* ``inverse_frequency``: w_c = 1 / n_c, normalised to mean 1 over the classes with pixels;
* ``median_frequency`` (Eigen & Fergus 2015): w_c = median(f) / f_c with f_c = n_c / (total pixels,
  ignore included, of the images that contain c), median over the classes with pixels;
* ``class_balanced`` (Cui et al. 2019): w_c = (1 − β) / (1 − β^{n_c}) = 1 / effective number,
  normalised so Σ w_c = number of classes with pixels (K when all are present). Cui et al.'s β
  values (0.9 … 0.9999) were meant for image counts: with pixel counts (10^5 … 10^9 per class)
  β^{n_c} ≈ 0 and every weight ≈ 1. The default β = 1 − 10^-6 saturates at 10^6 effective pixels,
  inside the range real classes span; ``effective_number`` is written too;
* ``blv_nu`` (BLV, Wang et al. 2023): ν_c = log Σ_k n_k − log n_c, the per-class scale of the
  logit noise (rare classes get the largest ν).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from . import __version__
from .errors import LtDataError
from .io import atomic_write_json, atomic_write_text

EXPORTS_DIR = "exports"
SAMPLE_CLASS_STATS_FILE = "sample_class_stats.json"
SAMPLE_CLASS_STATS_DICT_FILE = "sample_class_stats_dict.json"
SAMPLES_WITH_CLASS_FILE = "samples_with_class.json"
CLASS_WEIGHTS_FILE = "class_weights.json"
DEFAULT_BETA = 1.0 - 1e-6


# ---- class weights ------------------------------------------------------------------------------

def class_weights(pixels: np.ndarray, image_pixels_with_class: np.ndarray, beta: float = DEFAULT_BETA) -> dict:
    """Weights for weighted losses from per-class pixel counts.

    pixels: (K,) pixels of each class over the split.
    image_pixels_with_class: (K,) total pixels (ignore included) of the images that contain each class.
    Returns ``{scheme: [K floats]}`` plus ``effective_number`` and ``zero_classes``.
    """
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"beta must lie in [0, 1), got {beta}")
    n = np.asarray(pixels, dtype=np.float64)
    present = n > 0
    if not present.any():
        raise ValueError("no class has any pixel: no weights can be computed")
    k_present = int(present.sum())
    safe = np.where(present, n, 1.0)

    inv = np.where(present, 1.0 / safe, 0.0)
    inv *= k_present / inv.sum()

    f = np.where(present, n / np.where(present, image_pixels_with_class, 1.0), 0.0)
    med = np.where(present, np.median(f[present]) / np.where(present, f, 1.0), 0.0)

    # 1 - beta**n through expm1/log1p: exact for beta close to 1, where beta**n underflows gracefully.
    one_minus_beta_n = -np.expm1(safe * np.log1p(-(1.0 - beta))) if beta > 0 else np.ones_like(safe)
    effective = np.where(present, one_minus_beta_n / (1.0 - beta), 0.0)
    cb = np.where(present, 1.0 / np.where(present, effective, 1.0), 0.0)
    cb *= k_present / cb.sum()

    nu = np.where(present, np.log(n.sum()) - np.log(safe), 0.0)
    return {"inverse_frequency": inv.tolist(), "median_frequency": med.tolist(), "class_balanced": cb.tolist(),
            "effective_number": effective.tolist(), "blv_nu": nu.tolist(),
            "zero_classes": np.flatnonzero(~present).tolist()}


def class_weights_of(stats, beta: float = DEFAULT_BETA) -> dict:
    """The content of ``class_weights.json`` for a :class:`~lt_data.stats.ClassStats`."""
    counts = stats.counts
    image_total = counts.sum(axis=1) + stats.ignored  # (N,) every pixel of the image
    with_class = image_total.astype(np.float64) @ (counts > 0)  # (K,) pixels of images containing c
    w = class_weights(stats.pixels, with_class, beta)
    names = list(stats.table.names)
    return {
        "num_classes": stats.table.num_classes, "names": names,
        "pixels": [int(x) for x in stats.pixels], "images": [int(x) for x in stats.images],
        "beta": beta, **w,
        "zero_class_names": [names[k] for k in w["zero_classes"]],
        "formulas": {
            "inverse_frequency": "1/n_c, normalised to mean 1 over classes with pixels",
            "median_frequency": "median(f)/f_c, f_c = n_c / total pixels (ignore included) of images containing c "
                                "(Eigen & Fergus 2015)",
            "class_balanced": "(1-beta)/(1-beta^n_c), normalised so the sum is the number of classes with pixels "
                              "(Cui et al. 2019)",
            "effective_number": "(1-beta^n_c)/(1-beta)",
            "blv_nu": "log(sum_k n_k) - log(n_c) (BLV, Wang et al. 2023)",
            "zero_classes": "classes with no pixels: weight 0 in every scheme",
        },
    }


# ---- DAFormer -----------------------------------------------------------------------------------

def label_files(stats) -> list[str]:
    """Label path of every sample: the dataset root joined with the sample's relative label path."""
    root = Path(stats.dataset.get("root", "."))
    return [str(root / s.label) for s in stats.samples]


def daformer_sample_class_stats(stats) -> list[dict]:
    """DAFormer's ``sample_class_stats.json`` as Python objects (keys are strings, as after JSON)."""
    files = label_files(stats)
    out = []
    for i, row in enumerate(stats.counts):
        ks = np.flatnonzero(row)
        d = {str(int(k)): int(row[k]) for k in ks}
        d["file"] = files[i]
        out.append(d)
    return out


def _json_blocks(stats) -> tuple[str, str, str]:
    """The text of the three DAFormer files, built from the nonzero entries without per-image dicts."""
    counts = stats.counts
    files = [json.dumps(f, ensure_ascii=False) for f in label_files(stats)]
    rows, cols = np.nonzero(counts)  # row-major: images in order, ids ascending within an image
    vals = counts[rows, cols]
    starts = np.searchsorted(rows, np.arange(counts.shape[0] + 1))
    pairs = [f'"{c}": {v}' for c, v in zip(cols.tolist(), vals.tolist())]
    per_image = [", ".join(pairs[starts[i]:starts[i + 1]]) for i in range(counts.shape[0])]
    scs = "[\n" + ",\n".join(f"{{{p}{', ' if p else ''}\"file\": {f}}}" for p, f in zip(per_image, files)) + "\n]\n"
    scs_dict = "{\n" + ",\n".join(f"{f}: {{{p}}}" for p, f in zip(per_image, files)) + "\n}\n"
    order = np.lexsort((rows, cols))  # by class, then image order
    c_sorted, r_sorted, v_sorted = cols[order], rows[order].tolist(), vals[order].tolist()
    bounds = np.searchsorted(c_sorted, np.arange(counts.shape[1] + 1))
    blocks = []
    for c in range(counts.shape[1]):
        a, b = bounds[c], bounds[c + 1]
        if a == b:
            continue
        items = ", ".join(f"[{files[r]}, {v}]" for r, v in zip(r_sorted[a:b], v_sorted[a:b]))
        blocks.append(f'"{c}": [{items}]')
    swc = "{\n" + ",\n".join(blocks) + "\n}\n"
    return scs, scs_dict, swc


def write_exports(work: str | Path, *, beta: float = DEFAULT_BETA, out: str | Path | None = None) -> Path:
    """The ``export`` stage: DAFormer's three JSON files and ``class_weights.json`` in ``WORK/exports``
    (or ``out``). Returns the directory."""
    from .stats import load_stats, stats_fingerprint

    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not 0.0 <= beta < 1.0:
        raise LtDataError(f"beta must be a number in [0, 1), got {beta!r}")
    work = Path(work)
    stats = load_stats(work)
    out = Path(out) if out is not None else work / EXPORTS_DIR
    out.mkdir(parents=True, exist_ok=True)
    scs, scs_dict, swc = _json_blocks(stats)
    atomic_write_text(out / SAMPLE_CLASS_STATS_FILE, scs)
    atomic_write_text(out / SAMPLE_CLASS_STATS_DICT_FILE, scs_dict)
    atomic_write_text(out / SAMPLES_WITH_CLASS_FILE, swc)
    weights = class_weights_of(stats, beta)
    weights["source"] = {"stats": stats_fingerprint(work), "dataset": stats.table.dataset,
                         "split": stats.dataset.get("split"), "tool": "lt-data", "version": __version__}
    atomic_write_json(out / CLASS_WEIGHTS_FILE, weights)
    return out
