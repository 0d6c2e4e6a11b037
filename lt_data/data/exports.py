"""Statistics in formats other tools read (``WORK/exports/``).

DAFormer (``lhoyer/DAFormer``, ``tools/convert_datasets/*.py`` and ``mmseg/datasets/uda_dataset.py``)
reads three files from its ``data_root`` for rare class sampling; we write the same schema:

``sample_class_stats.json``
    a list with one object per image, in sample order: ``{"<class id>": pixels, ..., "file": label}``,
    only classes with more than 0 pixels, ids ascending, ``file`` the path of the train-id label
    file that DAFormer's (mmseg's) dataset reads for the image (:func:`training_label_file`): for
    Cityscapes ``gtFine/SPLIT/CITY/*_gtFine_labelTrainIds.png`` and for COCO-Stuff
    ``annotations/SPLIT/*_labelTrainIds.png``, also when the statistics were computed from
    ``*_labelIds.png``, the raw PNGs or the JSON annotations (DAFormer finds images by that file
    name: ``UDADataset`` keys its index by the label's base name); for ADE20K, CamVid and folders
    the label file itself. DAFormer's converters count train ids on the train split; we count the
    split the statistics were computed on. Write the files into the dataset root (``--out ROOT``):
    DAFormer reads them from its ``data_root``.
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
``zero_classes``. Each scheme is also written as a plain list, the form mmseg's
``CrossEntropyLoss(class_weight=...)`` takes (a list of K floats, or the path of a ``.npy`` or
``.pkl`` file holding one): ``class_weight_SCHEME.json`` and ``class_weight_SCHEME.npy``
(float32, K values) for each scheme below:

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

import hashlib
import io
import json
from pathlib import Path

import numpy as np

from .. import __version__
from ..core.errors import LtDataError, show_path
from ..core.io import atomic_write_bytes, atomic_write_json
from ..core.names import EXPORTS_DIR  # noqa: F401 (the exports folder's name, re-exported)

SAMPLE_CLASS_STATS_FILE = "sample_class_stats.json"
SAMPLE_CLASS_STATS_DICT_FILE = "sample_class_stats_dict.json"
SAMPLES_WITH_CLASS_FILE = "samples_with_class.json"
CLASS_WEIGHTS_FILE = "class_weights.json"
DEFAULT_BETA = 1.0 - 1e-6
WEIGHT_SCHEMES = ("inverse_frequency", "median_frequency", "class_balanced", "blv_nu")


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
    """The content of ``class_weights.json`` for a :class:`~lt_data.data.stats.ClassStats`."""
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

def training_label_file(dataset: dict, sample) -> str:
    """The train-id label file mmseg's dataset class (and so DAFormer) reads for ``sample``.

    ``dataset`` is the statistics' ``dataset.json``. Cityscapes: ``*_gtFine_labelTrainIds.png``
    beside the ``*_gtFine_labelIds.png`` (cityscapesscripts' ``createTrainIdLabelImgs`` writes it);
    COCO-Stuff 164K: ``annotations/SPLIT/ID_labelTrainIds.png`` (mmseg's ``coco_stuff164k.py``
    converter writes it, from the PNGs or the JSON); other layouts: the label file itself.
    """
    root = Path(dataset.get("root", "."))
    layout = dataset.get("layout")
    if layout == "cityscapes":
        return str(root / sample.label.replace("_gtFine_labelIds.png", "_gtFine_labelTrainIds.png"))
    if layout == "coco_stuff164k":
        from .layouts.coco_stuff import SPLITS

        folder = SPLITS.get(dataset.get("split"), dataset.get("split"))
        return str(root / "annotations" / folder / f"{sample.id}_labelTrainIds.png")
    return str(root / sample.label)


def label_files(stats) -> list[str]:
    """The DAFormer ``file`` of every sample (:func:`training_label_file`)."""
    return [training_label_file(stats.dataset, s) for s in stats.samples]


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


EXPORTS_RECORD = ".lt-data-exports.json"  # {file: sha256} of what the last export wrote into a folder


def write_exports(work: str | Path, *, beta: float = DEFAULT_BETA, out: str | Path | None = None,
                  force: bool = False) -> Path:
    """The ``export`` stage: DAFormer's three JSON files, ``class_weights.json`` and the per-scheme
    weight lists in ``WORK/exports`` (or ``out``, e.g. the dataset root DAFormer reads). Returns the
    directory.

    A file of that name that an earlier export did not write (DAFormer's own converter output, say)
    is not overwritten unless ``force``: the folder keeps ``.lt-data-exports.json``, the hashes of
    what lt-data wrote there."""
    from ..core.io import file_sha256, read_json
    from .workdir import WorkDir
    from ..jobs.artifacts import lock, output_dir

    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not 0.0 <= beta < 1.0:
        raise LtDataError(f"beta must be a number in [0, 1), got {beta!r}")
    work = WorkDir.of(work)
    stats = work.stats()
    out = output_dir(out if out is not None else work.exports, "--out directory")
    scs, scs_dict, swc = _json_blocks(stats)
    weights = class_weights_of(stats, beta)
    weights["source"] = {"stats": work.fingerprint, "dataset": stats.table.dataset,
                         "split": stats.dataset.get("split"), "tool": "lt-data", "version": __version__}
    files = {SAMPLE_CLASS_STATS_FILE: scs.encode(), SAMPLE_CLASS_STATS_DICT_FILE: scs_dict.encode(),
             SAMPLES_WITH_CLASS_FILE: swc.encode(),
             CLASS_WEIGHTS_FILE: (json.dumps(weights, indent=1, ensure_ascii=False) + "\n").encode()}
    for scheme in WEIGHT_SCHEMES:  # the plain forms mmseg's class_weight= reads
        files[f"class_weight_{scheme}.json"] = (json.dumps(weights[scheme]) + "\n").encode()
        buf = io.BytesIO()
        np.save(buf, np.asarray(weights[scheme], dtype=np.float32), allow_pickle=False)
        files[f"class_weight_{scheme}.npy"] = buf.getvalue()
    with lock(out / "exports", "exports"):
        record_path = out / EXPORTS_RECORD
        ours = read_json(record_path) if record_path.is_file() else {}
        if not force:
            for name in files:
                path = out / name
                if path.is_file() and ours.get(name) != file_sha256(path):
                    raise LtDataError(f"{show_path(path)}: exists and was not written by lt-data export; "
                                      f"--force replaces it")
        for name, data in files.items():
            atomic_write_bytes(out / name, data)
        atomic_write_json(record_path, {name: hashlib.sha256(data).hexdigest() for name, data in files.items()})
    return out
