"""The report's numbers (``report.json``): per class and per bucket from the statistics
(:func:`report_data`), the evaluation split's shares beside them (:func:`add_eval`), what the work
directory's tail bank holds (:func:`bank_data`), and what one training epoch shows of each bucket under
each sampler and paste dose (:func:`exposure_rows`). No figure, no text."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ... import __version__
from ...data.buckets import BUCKET_NAMES, Buckets, bucket_index, frequency_order
from ...core.errors import ArtifactError, LtDataError
from .views import classes_per_image, tail_cooccurrence

# the samplers of the exposure table: (row title, sampler, its arguments: the defaults)
EXPOSURE_METHODS = (("uniform (each image once)", "uniform", {}),
                    ("repeat factors (LVIS, t = 0.001 on images)", "rfs", {}),
                    ("rare class sampling (DAFormer, T = 0.01)", "rcs", {}))


# ---- numbers ------------------------------------------------------------------------------------

def report_data(stats, buckets: Buckets, *, top: int = 10, buckets_from_file: bool = True) -> dict:
    """Every number the report shows (the content of ``report.json``)."""
    k = stats.table.num_classes
    pixels, images = stats.pixels, stats.images
    pshare, ishare = stats.pixel_share, stats.image_share
    order = frequency_order(pixels)
    rank = np.empty(k, dtype=np.int64)
    rank[order] = np.arange(1, k + 1)
    cum = np.cumsum(pshare[order])
    cum_at = np.empty(k)
    cum_at[order] = cum
    labels = bucket_index(buckets)
    present = stats.counts > 0  # (N, K)
    n = stats.num_images
    colors = stats.table.colors

    classes = [{"id": c, "name": stats.table.names[c], "color": "#%02x%02x%02x" % tuple(int(x) for x in colors[c]),
                "bucket": BUCKET_NAMES[labels[c]], "rank": int(rank[c]), "pixels": int(pixels[c]),
                "pixel_share": float(pshare[c]), "cumulative_share": float(cum_at[c]), "images": int(images[c]),
                "image_share": float(ishare[c])} for c in range(k)]

    def imbalance(ids) -> float | None:
        p = pixels[ids]
        p = p[p > 0]
        return float(p.max() / p.min()) if len(p) else None

    per_bucket = {}
    for b, name in enumerate(BUCKET_NAMES):
        ids = np.flatnonzero(labels == b)
        ids_sorted = ids[np.argsort(rank[ids])]
        any_img = int(present[:, ids].any(axis=1).sum()) if len(ids) else 0
        per_bucket[name] = {
            "classes": len(ids), "ids": ids_sorted.tolist(),
            "pixels": int(pixels[ids].sum()), "pixel_share": float(pshare[ids].sum()),
            "images_with_any": any_img, "image_share": any_img / n if n else 0.0,
            "mean_class_image_share": float(ishare[ids].mean()) if len(ids) else None,
            "imbalance_ratio": imbalance(ids), "empty_classes": int((pixels[ids] == 0).sum()),
            "most_frequent": stats.table.names[ids_sorted[0]] if len(ids) else None,
            "least_frequent": stats.table.names[ids_sorted[-1]] if len(ids) else None,
        }

    tail = np.flatnonzero(labels == 2)
    tail = tail[np.argsort(rank[tail])]
    ds = stats.dataset
    refine = buckets.refine or {}
    top = max(1, min(top, k))
    return {
        "dataset": {"name": stats.table.dataset, "layout": ds.get("layout"), "root": ds.get("root"),
                    "split": ds.get("split"), "num_images": n, "num_classes": k,
                    "total_pixels": int(stats.counts.sum() + stats.ignored.sum()),
                    "labelled_pixels": stats.labelled_pixels, "ignored_pixels": int(stats.ignored.sum()),
                    "ignore_index": stats.table.ignore_index, "skipped": len(stats.skipped)},
        "buckets": {"rule": buckets.rule, "notes": buckets.notes,
                    "moves": refine.get("moves", []), "refine": {key: refine[key] for key in ("low", "high")
                                                                  if key in refine} or None,
                    "from_file": buckets_from_file, "ids": buckets.lists},
        "per_bucket": per_bucket,
        "imbalance_ratio": imbalance(np.arange(k)),
        "classes": classes,
        "frequency_order": order.tolist(),
        "most_frequent": order[:top].tolist(),
        "least_frequent": order[::-1][:top].tolist(),
        "tail_cooccurrence": tail_cooccurrence(present, tail.tolist()),
        "classes_per_image": classes_per_image(present, buckets.lists),
        "source": {"stats": buckets.stats, "tool": "lt-data", "version": __version__},
    }


def add_eval(data: dict, stats, eval_stats, eval_work: Path) -> None:
    """Add the evaluation split's class pixel shares to ``data`` (``classes[c]["eval_*"]`` and
    ``data["eval"]``); refuse an evaluation split of another class table."""
    names, got = stats.table.names, eval_stats.table.names
    if list(got) != list(names):
        diff = next((i for i, (a, b) in enumerate(zip(got, names)) if a != b), min(len(got), len(names)))
        raise ArtifactError(f"{eval_work}: statistics of another class table ({len(got)} classes, "
                            f"{eval_stats.table.dataset}) than the training split's ({len(names)} classes, "
                            f"{stats.table.dataset})" + (f"; class {diff} is {got[diff]!r} there, {names[diff]!r} here"
                                                         if diff < min(len(got), len(names)) else ""))
    pixels, images = eval_stats.pixels, eval_stats.images
    pshare, ishare = eval_stats.pixel_share, eval_stats.image_share
    for c, entry in enumerate(data["classes"]):
        entry.update({"eval_pixels": int(pixels[c]), "eval_pixel_share": float(pshare[c]),
                      "eval_images": int(images[c]), "eval_image_share": float(ishare[c])})
    ids = data["buckets"]["ids"]
    d = eval_stats.dataset
    data["eval"] = {"work": str(eval_work), "layout": d.get("layout"), "split": d.get("split"),
                    "num_images": eval_stats.num_images, "labelled_pixels": eval_stats.labelled_pixels,
                    "per_bucket": {b: float(pshare[ids[b]].sum()) if ids[b] else 0.0 for b in BUCKET_NAMES},
                    "absent": [c for c in data["frequency_order"] if pixels[c] == 0]}


def bank_data(work) -> tuple[dict | None, object | None]:
    """(what the report says about ``WORK/bank.zarr``, the opened TailBank or None) of the report's
    WorkDir ``work``. None, None when there is no bank; ``{"status": "refused", "message"}`` when it
    cannot be read for this work directory (built from other statistics, incomplete, ...)."""
    from ...stores.bank.reader import TailBank

    path = work.bank
    if not path.exists():
        return None, None
    try:
        bank = TailBank.open(path, work=work)
        summary = bank.summary()
    except LtDataError as err:
        return {"status": "refused", "path": str(path), "message": str(err)}, None
    return {"status": "ok", "path": str(path), "objects": summary["objects"], "params": summary["params"],
            "disk_bytes": summary["disk_bytes"], "classes": summary["classes"]}, bank


# ---- what training sees --------------------------------------------------------------------------

def exposure_rows(work: Path, buckets: Buckets) -> list[dict]:
    """Each bucket's share of the pixels one training epoch shows under each sampler (the samplers'
    defaults; :func:`lt_data.data.sampling.epoch_exposure`, no image decoded)."""
    from ...data.sampling import epoch_exposure

    rows = []
    for name, sampler, args in EXPOSURE_METHODS:
        e = epoch_exposure(work, sampler=sampler, sampler_args=args)
        total = e["pixels"].sum() or 1.0
        rows.append({"method": name, "draws": e["draws"],
                     **{b: float(e["pixels"][buckets.ids(b)].sum() / total) for b in BUCKET_NAMES}})
    rows += paste_exposure_rows(work, rows[0])
    return rows


def paste_exposure_rows(work: Path, base: dict) -> list[dict]:
    """Rows for bank paste and tail cutmix at the dose the trainer derives for its default crop and
    rescale (a store that is missing or built from other statistics gives no row): the dose's
    expected objects per image and pasted share (:mod:`lt_data.training.paste.dose`, the figure `lt-data train`
    prints), the pasted pixels added to the tail on top of the uniform epoch ``base`` (what they
    cover below is not subtracted). No torch; label maps only (the dose's crops)."""
    from ...training.config import TrainConfig
    from ...training.paste.dose import resolve_dose
    from ...stores.open import open_store

    rows = []
    for mode, title in (("bank", "memory-bank paste"), ("cutmix", "tail cutmix")):
        try:
            dose = resolve_dose(mode, work, store=open_store(mode, work), crop_size=TrainConfig.crop_size,
                                scale_range=TrainConfig.scale_range)
        except (ArtifactError, LtDataError, OSError):
            continue
        share = float(dose.figures["pasted_share"])
        args = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {str(v).lower()}"
                         for k, v in dose.args.items())
        shares = {b: base[b] / (1 + share) for b in BUCKET_NAMES}
        shares["tail"] += share / (1 + share)
        rows.append({"method": f"{title}, derived dose ({args})", "draws": base["draws"],
                     "pasted_objects": float(dose.figures["objects_per_image"]), "pasted_share": share, **shares})
    return rows


__all__ = ["EXPOSURE_METHODS", "add_eval", "bank_data", "exposure_rows", "paste_exposure_rows", "report_data"]
