#!/usr/bin/env python
"""Benchmark the online paste: the batched kernel against a per-pixel Python loop, and the loader.

Part 1, synthetic batch (the same batch and plan for every variant): B images 3×H×W uint8 with
int64 labels, and a seeded PastePlan of about ``--objects`` objects per batch (crops 64–256 px,
elliptic masks). Measured, interleaved, best of ``--repeats`` after a warm-up:

  paste loop / scatter / auto   ``lt_data.training.paste.paste(..., inplace=True)`` on a fresh copy of the
                                batch (the copy is made outside the timer), on each device
  auto + clone                  ``paste(...)`` as ``apply_paste`` calls it on the CPU (it clones first)
  per-pixel loop (torch/numpy)  the published-style transform: for each object, for each pixel of
                                its mask, one Python assignment ``image[:, y, x] = crop[:, v, u]``
                                and ``label[y, x] = ...`` (on torch tensors, and on numpy arrays),
                                always on the CPU as a DataLoader-worker transform runs. It costs
                                microseconds per pixel, so it runs on the first ``--baseline-objects``
                                objects only; its output is checked equal to ours on that subset.

Pasted pixels = mask pixels written (the sum of the plan's masks). Figures are pasted pixels per
second; the speed-up is ours ÷ per-pixel loop in pixels/s (target ≥ 100×). On CUDA the kernel is
timed with ``torch.cuda.synchronize()`` around it and its peak extra memory read from
``torch.cuda.max_memory_allocated()``; the per-pixel loop stays on the CPU.

Peer (``--kornia``, on by default, skipped with a message when Kornia is not installed; it is in
the optional ``[bench]`` extra): Kornia's ``RandomTransplantation(p=1)``, a batched copy-paste of
mask regions between the images of a batch on the batch's device, runs on the same batch (as float32,
which it requires; our paste is timed on the same float32 copy): its full call (drawing one donor
label per image, which reads the labels back to the host) and its apply step alone (a replayed draw).
The work differs: it moves all pixels of one label of the previous image, we paste the plan's objects;
the figures are pixels moved per second.

Part 2, end-to-end loader (``--dataset camvid``, the default: CamVid at ``--camvid``; or ``--dataset
synthetic``: ``lt_data.training.synthetic``'s street scenes generated at CamVid's size, 367 × 480×360, for
machines without CamVid): statistics, ``buckets.json`` (CamVid: head 0,1,3 / middle 4,5,8 / tail
2,6,7,9,10; synthetic: head 0,2,3 / middle 1,4,5 / tail 6,7,8,9) and the tail bank are built in a
temporary work directory (or ``--work``, reused); then
``make_loader(SegmentationDataset(work, crop_size=(360, 480)), batch_size=8, num_workers=2, seed=0)``
is iterated (a) without a planner and (b) with ``MemoryBankPaste(bank, tail, per_image=True,
resize_ratio=(0.5, 1.5))``, each batch going through ``apply_paste(batch, device)`` so the device
work is included. Both variants read the same epoch in a round; rounds alternate their order; the
first ``2 × workers`` batches (worker start-up) are not timed; best of ``--loader-repeats``.
Printed: images/s for both, the ratio with/without (target ≥ 0.9) and pasted objects per batch.

    .venv/bin/python scripts/bench_paste.py                 # full sizes; cpu (+ cuda when available)
    .venv/bin/python scripts/bench_paste.py --quick         # tiny sizes: a smoke test in seconds
    .venv/bin/python scripts/bench_paste.py --device cpu --json paste.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lt_data.training.paste.kernels import PastePlan, paste  # noqa: E402

CAMVID = REPO.parent / "shared" / "data" / "camvid"
# (layout, buckets) of the loader part: CamVid, or the synthetic street scenes (lt_data.training.synthetic) where
# CamVid is not at hand (a GPU machine: the data set never travels).
DATASETS = {
    "camvid": ("camvid", {"rule": {"name": "list"}, "head": [0, 1, 3], "middle": [4, 5, 8], "tail": [2, 6, 7, 9, 10]}),
    "synthetic": ("folder", {"rule": {"name": "list"}, "head": [0, 2, 3], "middle": [1, 4, 5], "tail": [6, 7, 8, 9]}),
}


# ---- timing helpers -------------------------------------------------------------------------------

def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _default_devices() -> str:
    return "cpu,cuda" if torch.cuda.is_available() else "cpu"


# ---- part 1: synthetic batch ------------------------------------------------------------------------

def synthetic_batch(b: int, h: int, w: int, objects: int, lo: int, hi: int, seed: int, classes: int = 19
                    ) -> tuple[torch.Tensor, torch.Tensor, PastePlan]:
    """Random images/labels and a plan of ``objects`` elliptic objects of lo..hi px, all inside the images."""
    rng = np.random.default_rng(seed)
    images = torch.from_numpy(rng.integers(0, 256, (b, 3, h, w), dtype=np.uint8))
    labels = torch.from_numpy(rng.integers(0, classes, (b, h, w), dtype=np.int64))
    sizes = rng.integers(lo, hi + 1, (objects, 2))
    sizes[:, 0] = np.minimum(sizes[:, 0], h)
    sizes[:, 1] = np.minimum(sizes[:, 1], w)
    ph, pw = int(sizes[:, 0].max()), int(sizes[:, 1].max())
    crops = np.zeros((objects, 3, ph, pw), np.uint8)
    crop_labels = np.full((objects, ph, pw), 255, np.int64)
    masks = np.zeros((objects, ph, pw), bool)
    offsets = np.zeros((objects, 2), np.int64)
    cls = rng.integers(0, classes, objects)
    for p, (oh, ow) in enumerate(sizes.tolist()):
        m = np.zeros((oh, ow), np.uint8)
        cv2.ellipse(m, (ow // 2, oh // 2), (max(1, ow // 2 - 1), max(1, oh // 2 - 1)), float(rng.uniform(0, 30)),
                    0, 360, 1, -1)
        masks[p, :oh, :ow] = m.astype(bool)
        crops[p, :, :oh, :ow] = rng.integers(0, 256, (3, oh, ow), dtype=np.uint8)
        crop_labels[p, :oh, :ow] = np.where(m > 0, cls[p], 255)
        offsets[p] = rng.integers(0, h - oh + 1), rng.integers(0, w - ow + 1)
    plan = PastePlan(torch.from_numpy(crops), torch.from_numpy(crop_labels), torch.from_numpy(masks),
                     torch.from_numpy(rng.integers(0, b, objects)), torch.from_numpy(offsets), torch.from_numpy(cls))
    return images, labels, plan


def subplan(plan: PastePlan, n: int) -> PastePlan:
    return PastePlan(plan.crops[:n], plan.crop_labels[:n], plan.masks[:n], plan.image_index[:n], plan.offsets[:n],
                     None if plan.classes is None else plan.classes[:n])


def per_pixel_coords(plan: PastePlan) -> list[tuple[int, int, int, list[tuple[int, int]]]]:
    """(object, image, offset y, offset x, mask pixel coordinates) — enumerated once, outside the timer."""
    out = []
    for p in range(len(plan)):
        ys, xs = np.nonzero(plan.masks[p].numpy())
        y0, x0 = plan.offsets[p].tolist()
        out.append((p, int(plan.image_index[p]), y0, x0, list(zip(ys.tolist(), xs.tolist()))))
    return out


def paste_per_pixel(images, labels, crops, crop_labels, coords) -> None:
    """The published-style transform: one Python assignment per pasted pixel (torch tensors or numpy
    arrays alike), objects in plan order so a later object covers an earlier one."""
    for p, i, y0, x0, pixels in coords:
        img, lab, crop, clab = images[i], labels[i], crops[p], crop_labels[p]
        for v, u in pixels:
            img[:, y0 + v, x0 + u] = crop[:, v, u]
            lab[y0 + v, x0 + u] = clab[v, u]


def bench_synthetic(args, device: torch.device) -> dict:
    images, labels, plan = synthetic_batch(args.batch, args.height, args.width, args.objects, args.crop_min,
                                           args.crop_max, args.seed)
    pixels = int(plan.masks.sum())
    sub = subplan(plan, min(args.baseline_objects, len(plan)))
    sub_pixels = int(sub.masks.sum())

    # Correctness on the subset: the per-pixel loop (torch and numpy) equals every strategy of ours.
    coords = per_pixel_coords(sub)
    ref_t = (images.clone(), labels.clone())
    paste_per_pixel(*ref_t, sub.crops, sub.crop_labels, coords)
    ref_n = (images.numpy().copy(), labels.numpy().copy())
    paste_per_pixel(*ref_n, sub.crops.numpy(), sub.crop_labels.numpy(), coords)
    assert np.array_equal(ref_t[0].numpy(), ref_n[0]) and np.array_equal(ref_t[1].numpy(), ref_n[1])
    dev_img, dev_lab = images.to(device), labels.to(device)
    dev_plan, dev_sub = plan.to(device), sub.to(device)
    for s in ("loop", "scatter", "auto"):
        oi, ol = paste(dev_img, dev_lab, dev_sub, strategy=s)
        assert torch.equal(oi.cpu(), ref_t[0]) and torch.equal(ol.cpu(), ref_t[1]), \
            f"paste(strategy={s!r}) differs from the per-pixel loop on {device}"
    # ... and the strategies agree with each other on the whole plan.
    full = [paste(dev_img, dev_lab, dev_plan, strategy=s) for s in ("loop", "scatter")]
    assert torch.equal(full[0][0], full[1][0]) and torch.equal(full[0][1], full[1][1]), \
        f"loop and scatter differ on {device}"
    del full, oi, ol

    work_img, work_lab = dev_img.clone(), dev_lab.clone()
    peak_mb: dict[str, float | None] = {}

    def ours(strategy: str, inplace: bool):
        def run() -> float:
            if inplace:
                work_img.copy_(dev_img)
                work_lab.copy_(dev_lab)
            _sync(device)
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
                base = torch.cuda.memory_allocated(device)
            t = time.perf_counter()
            if inplace:
                paste(work_img, work_lab, dev_plan, strategy=strategy, inplace=True)
            else:
                out = paste(dev_img, dev_lab, dev_plan, strategy=strategy)
            _sync(device)
            dt = time.perf_counter() - t
            if device.type == "cuda":
                peak_mb[name] = (torch.cuda.max_memory_allocated(device) - base) / 2**20
            if not inplace:
                del out
            return dt
        name = f"paste {strategy}" + ("" if inplace else " + clone")
        return name, run

    base_t = (images.clone(), labels.clone())
    base_n = (images.numpy().copy(), labels.numpy().copy())
    crops_n, clab_n = sub.crops.numpy(), sub.crop_labels.numpy()

    def baseline_torch() -> float:
        t = time.perf_counter()
        paste_per_pixel(*base_t, sub.crops, sub.crop_labels, coords)
        return time.perf_counter() - t

    def baseline_numpy() -> float:
        t = time.perf_counter()
        paste_per_pixel(*base_n, crops_n, clab_n, coords)
        return time.perf_counter() - t

    variants = [ours("loop", True), ours("scatter", True), ours("auto", True), ours("auto", False),
                ("per-pixel loop, torch", baseline_torch), ("per-pixel loop, numpy", baseline_numpy)]
    count = {name: (sub_pixels if name.startswith("per-pixel") else pixels) for name, _ in variants}
    best = {name: float("inf") for name, _ in variants}
    for name, run in variants:  # warm-up
        run()
    for r in range(args.repeats):
        order = variants if r % 2 == 0 else variants[::-1]
        for name, run in order:
            if name.startswith("per-pixel") and r >= args.baseline_repeats:
                continue
            best[name] = min(best[name], run())
    rate = {name: count[name] / best[name] for name in best}

    resolved = "loop" if device.type == "cpu" else "scatter"
    print(f"\n[synthetic, {device}] B={args.batch}, {args.height}x{args.width}, {len(plan)} objects of "
          f"{args.crop_min}-{args.crop_max} px, {pixels:,} pasted pixels per batch; per-pixel loop on the first "
          f"{len(sub)} objects ({sub_pixels:,} px, CPU); best of {args.repeats} "
          f"(per-pixel: {min(args.repeats, args.baseline_repeats)}), interleaved; outputs checked identical")
    head = f"  {'variant':<24} {'time ms':>10} {'pixels/s':>14} {'us/pixel':>9} {'images/s':>10}"
    if device.type == "cuda":
        head += f" {'peak MB':>8}"
    print(head)
    for name, _ in variants:
        row = (f"  {name:<24} {best[name] * 1e3:>10.3f} {rate[name]:>14,.0f} {1e6 / rate[name]:>9.4f} "
               + (f"{args.batch / best[name]:>10,.1f}" if not name.startswith("per-pixel") else f"{'':>10}"))
        if device.type == "cuda":
            row += f" {peak_mb[name]:>8.1f}" if name in peak_mb else f" {'cpu':>8}"
        print(row)
    ours_rate = rate["paste auto"]
    vs_torch = ours_rate / rate["per-pixel loop, torch"]
    vs_numpy = ours_rate / rate["per-pixel loop, numpy"]
    print(f"  speed-up in pixels/s, paste auto ({resolved}) / published-style per-pixel loop (torch tensors): "
          f"{vs_torch:,.0f}x (target >= 100x: {'met' if vs_torch >= 100 else 'NOT met'})")
    print(f"  stricter reference, / the same per-pixel loop on numpy arrays: {vs_numpy:,.0f}x")
    return {"device": str(device), "batch": args.batch, "height": args.height, "width": args.width,
            "objects": len(plan), "crop_px": [args.crop_min, args.crop_max], "pasted_pixels": pixels,
            "baseline_objects": len(sub), "baseline_pixels": sub_pixels, "auto_strategy": resolved,
            "time_s": best, "pixels_per_s": rate, "peak_mb": peak_mb or None,
            "speedup_vs_torch_loop": vs_torch, "speedup_vs_numpy_loop": vs_numpy,
            "kornia": bench_kornia(args, device, images, labels, plan, ours_rate) if args.kornia else None}


# ---- the nearest public peer: Kornia's RandomTransplantation ------------------------------------------

def bench_kornia(args, device: torch.device, images: torch.Tensor, labels: torch.Tensor, plan: PastePlan,
                 ours_rate: float) -> dict | None:
    """Kornia's RandomTransplantation on the same batch: every image receives, at the same place, all
    pixels of one label drawn from the previous image of the batch (a batched copy-paste of mask
    regions on the batch's device). Kornia's mix augmentations take float images, so both it and our
    paste run on float32 copies of the images here (converted outside the timer)."""
    try:
        import kornia
        from kornia.augmentation import RandomTransplantation
    except ImportError:
        print(f"\n[kornia, {device}] skipped: kornia is not installed (pip install -c constraints.txt -e '.[bench]')")
        return None
    imgs, labs = images.to(device).float(), labels.to(device)
    dev_plan = plan.to(device)
    aug = RandomTransplantation(p=1.0, excluded_labels=[255])

    def draw_and_apply() -> float:
        torch.manual_seed(args.seed)  # Kornia draws its labels on the global CPU generator: same draw each call
        _sync(device)
        t = time.perf_counter()
        aug(imgs, labs)
        _sync(device)
        return time.perf_counter() - t

    draw_and_apply()
    params = aug._params  # Kornia's documented way to replay a draw: pass its _params back
    moved = int(params["selection"].sum())

    def apply_only() -> float:
        _sync(device)
        t = time.perf_counter()
        aug(imgs, labs, params=params)
        _sync(device)
        return time.perf_counter() - t

    work_img, work_lab = imgs.clone(), labs.clone()
    ours_pixels = int(plan.masks.sum())

    def ours_float() -> float:
        work_img.copy_(imgs)
        work_lab.copy_(labs)
        _sync(device)
        t = time.perf_counter()
        paste(work_img, work_lab, dev_plan, inplace=True)
        _sync(device)
        return time.perf_counter() - t

    variants = {"kornia RandomTransplantation (draw + apply)": (draw_and_apply, moved),
                "kornia, apply a replayed draw": (apply_only, moved),
                "ours, paste auto on float32": (ours_float, ours_pixels)}
    best = {name: float("inf") for name in variants}
    for name, (run, _) in variants.items():  # warm-up
        run()
    names = list(variants)
    for r in range(args.repeats):
        for name in (names if r % 2 == 0 else names[::-1]):
            best[name] = min(best[name], variants[name][0]())
    rate = {name: variants[name][1] / best[name] for name in names}
    print(f"\n[kornia {kornia.__version__}, {device}] the same batch as float32; Kornia moves {moved:,} pixels "
          f"(one donor label per image, labels are per-pixel noise here), ours {ours_pixels:,}; best of "
          f"{args.repeats}, interleaved")
    print(f"  {'variant':<44} {'time ms':>10} {'pixels/s':>14} {'images/s':>10}")
    for name in names:
        print(f"  {name:<44} {best[name] * 1e3:>10.3f} {rate[name]:>14,.0f} {args.batch / best[name]:>10,.1f}")
    vs_full = rate["ours, paste auto on float32"] / rate["kornia RandomTransplantation (draw + apply)"]
    vs_apply = rate["ours, paste auto on float32"] / rate["kornia, apply a replayed draw"]
    print(f"  pixels/s, ours / Kornia: {vs_full:.1f}x against its full call, {vs_apply:.1f}x against its apply step "
          f"(ours on uint8, the loader's dtype: {ours_rate:,.0f} pixels/s)")
    return {"version": kornia.__version__, "moved_pixels": moved, "ours_pixels": ours_pixels,
            "time_s": best, "pixels_per_s": rate, "ours_vs_kornia_full": vs_full, "ours_vs_kornia_apply": vs_apply}


# ---- part 2: the loader ---------------------------------------------------------------------------

def prepare_work(dataset: str, root: Path, work: Path, workers: int) -> str:
    """Statistics, buckets.json and the tail bank of ``root``'s train split in ``work`` (reused when
    already there); returns the bank's path."""
    from lt_data.stores.bank import build_bank
    from lt_data.data.buckets import write_buckets
    from lt_data.data.layouts import get_layout
    from lt_data.data.stats import run_stats

    layout, buckets = DATASETS[dataset]
    t = time.perf_counter()
    if not (work / "class_stats.json").is_file():
        run_stats(get_layout(layout, root, "train"), work, workers=workers, progress=False)
    if not (work / "buckets.json").is_file():
        write_buckets(work, "list", head_classes=buckets["head"], tail_classes=buckets["tail"])
    path = build_bank(work, classes="tail", workers=workers, progress=False)
    print(f"\n[loader] {dataset} work directory {work}: stats + buckets + bank ready in {time.perf_counter() - t:.1f} s")
    return path


def synthetic_root(args) -> Path:
    """The synthetic street scenes at CamVid's size and count (480x360, ``--synthetic-images`` train
    images), generated once into ``--data`` (or a folder inside the work directory)."""
    from lt_data.training.synthetic import generate_street_scenes

    root = args.data or args.work / "street_scenes"
    if not (root / "images" / "train" / f"train_{args.synthetic_images - 1:04d}.png").is_file():
        t = time.perf_counter()
        generate_street_scenes(root, num_train=args.synthetic_images, num_val=0, size=(480, 360), seed=args.seed)
        print(f"\n[loader] generated {args.synthetic_images} synthetic street scenes (480x360) in {root} in "
              f"{time.perf_counter() - t:.1f} s")
    return root


def loader_pass(loader, epoch: int, warmup: int, batches: int, device: torch.device) -> tuple[float, list]:
    from lt_data.training.dataset import apply_paste

    loader.set_epoch(epoch)
    it = iter(loader)
    for _ in range(warmup):
        apply_paste(next(it), device)
    _sync(device)
    plans = []
    t = time.perf_counter()
    for _ in range(batches):
        batch = next(it)
        images, labels = apply_paste(batch, device)
        _sync(device)
        plans.append(batch.get("plan"))
    dt = time.perf_counter() - t
    del it  # shuts the workers down
    return dt, plans


def loader_breakdown(args, planner, device: torch.device, batches: int) -> dict:
    """Where a batch's time goes, in this process (no workers): reading + geometry of the items, the
    paste plan (bank reads, resizes, packing: worker work), and apply_paste on the device."""
    from lt_data.training.dataset import PasteCollate, SegmentationDataset, apply_paste

    ds = SegmentationDataset(args.work, crop_size=(360, 480), seed=0)
    rng = np.random.default_rng(args.seed)
    plain, with_plan = PasteCollate(None, 0), PasteCollate(planner, 0)
    t_items, t_stack, t_plan, t_apply = [], [], [], []
    for _ in range(batches):
        idx = rng.choice(len(ds), args.loader_batch, replace=False).tolist()
        t = time.perf_counter()
        items = [ds[i] for i in idx]
        t_items.append(time.perf_counter() - t)
        t = time.perf_counter()
        plain(items)
        t_stack.append(time.perf_counter() - t)
        t = time.perf_counter()
        batch = with_plan(items)
        t_plan.append(time.perf_counter() - t - t_stack[-1])
        _sync(device)
        t = time.perf_counter()
        apply_paste(batch, device)
        _sync(device)
        t_apply.append(time.perf_counter() - t)
    med = {k: float(np.median(v)) * 1e3 for k, v in (("items_ms", t_items), ("stack_ms", t_stack),
                                                     ("plan_ms", t_plan), ("apply_paste_ms", t_apply))}
    print(f"  per batch, in one process (median of {batches}): items (decode + geometry) {med['items_ms']:.1f} ms, "
          f"stacking {med['stack_ms']:.1f} ms (both paths); planning (bank reads, resizes, packing; worker) "
          f"{med['plan_ms']:.1f} ms; apply_paste on {device} {med['apply_paste_ms']:.2f} ms")
    return med


def bench_loader(args, bank_path: str, device: torch.device) -> dict:
    from lt_data.training.paste.planners import MemoryBankPaste
    from lt_data.training.dataset import SegmentationDataset, make_loader

    bs, workers = args.loader_batch, args.workers
    planner = MemoryBankPaste(bank_path, DATASETS[args.dataset][1]["tail"], per_image=True, resize_ratio=(0.5, 1.5))
    loaders = {}
    for name, pl in (("without paste", None), ("with paste", planner)):
        ds = SegmentationDataset(args.work, crop_size=(360, 480))
        loaders[name] = make_loader(ds, batch_size=bs, num_workers=workers, seed=0, planner=pl)
    per_epoch = len(loaders["without paste"])
    warmup = 2 * max(1, workers)
    batches = min(args.loader_batches, per_epoch - warmup)
    if batches < 1:
        raise SystemExit(f"the epoch has {per_epoch} batches: too few for {warmup} warm-up batches")
    best = {name: float("inf") for name in loaders}
    objects, pixels, paired = [], [], []
    names = list(loaders)
    for r in range(args.loader_repeats):
        round_dt = {}
        for name in (names if r % 2 == 0 else names[::-1]):
            dt, plans = loader_pass(loaders[name], r, warmup, batches, device)
            best[name] = min(best[name], dt)
            round_dt[name] = dt
            if name == "with paste":
                objects += [len(p) for p in plans]
                pixels += [int(p.masks.sum()) for p in plans]
        paired.append(round_dt["without paste"] / round_dt["with paste"])
    rate = {name: batches * bs / best[name] for name in best}
    ratio = rate["with paste"] / rate["without paste"]
    print(f"[loader, {device}] {args.dataset} train, crop 360x480, batch {bs}, {workers} workers, {batches} timed batches "
          f"after {warmup} warm-up, best of {args.loader_repeats}, interleaved; apply_paste on {device} included")
    print(f"  {'variant':<16} {'images/s':>10} {'time s':>9}")
    for name in names:
        print(f"  {name:<16} {rate[name]:>10.1f} {best[name]:>9.3f}")
    print(f"  with / without (best of each): {ratio:.3f} (target >= 0.9: {'met' if ratio >= 0.9 else 'NOT met'}); "
          f"median of the per-round ratios {np.median(paired):.3f}")
    print(f"  {np.mean(objects):.1f} pasted objects per batch ({np.mean(pixels):,.0f} pasted pixels per batch)")
    breakdown = loader_breakdown(args, planner, device, min(batches, 8))
    return {"device": str(device), "batch_size": bs, "workers": workers, "timed_batches": batches,
            "warmup_batches": warmup, "repeats": args.loader_repeats, "images_per_s": rate,
            "ratio_with_without": ratio, "ratio_per_round": paired,
            "pasted_objects_per_batch": float(np.mean(objects)), "pasted_pixels_per_batch": float(np.mean(pixels)),
            "breakdown": breakdown}


# ---- main ----------------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test that runs in seconds)")
    ap.add_argument("--device", default=_default_devices(), help="comma-separated devices (default: %(default)s)")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    ap.add_argument("--parts", default="synthetic,loader", help="synthetic, loader or both (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch intra-op threads in this process (default 1: on a shared, busy machine small "
                         "multi-threaded ops slow down 10-100x from contention; 0 = torch's default)")
    g = ap.add_argument_group("synthetic batch")
    g.add_argument("--batch", type=int, default=8)
    g.add_argument("--height", type=int, default=512)
    g.add_argument("--width", type=int, default=1024)
    g.add_argument("--objects", type=int, default=20, help="objects per batch")
    g.add_argument("--crop-min", type=int, default=64)
    g.add_argument("--crop-max", type=int, default=256)
    g.add_argument("--repeats", type=int, default=20)
    g.add_argument("--baseline-objects", type=int, default=3, help="objects the per-pixel loop pastes")
    g.add_argument("--baseline-repeats", type=int, default=3)
    g.add_argument("--kornia", action=argparse.BooleanOptionalAction, default=True,
                   help="also time Kornia's RandomTransplantation on the same batch (skipped when absent)")
    g = ap.add_argument_group("loader")
    g.add_argument("--dataset", choices=list(DATASETS), default="camvid",
                   help="camvid (the real data) or synthetic (street scenes generated at CamVid's size)")
    g.add_argument("--camvid", type=Path, default=CAMVID, help="CamVid root (default: %(default)s)")
    g.add_argument("--data", type=Path, default=None, help="--dataset synthetic: where to generate (or reuse) it")
    g.add_argument("--synthetic-images", type=int, default=367, help="--dataset synthetic: train images")
    g.add_argument("--work", type=Path, default=None, help="work directory to build into / reuse (default: temporary)")
    g.add_argument("--workers", type=int, default=2)
    g.add_argument("--loader-batch", type=int, default=8)
    g.add_argument("--loader-batches", type=int, default=40, help="timed batches per pass (at most an epoch's)")
    g.add_argument("--loader-repeats", type=int, default=5)
    if "--quick" in sys.argv[1:]:  # tiny defaults; options given explicitly still win
        ap.set_defaults(batch=2, height=128, width=256, objects=6, crop_min=16, crop_max=64, repeats=5,
                        baseline_objects=2, baseline_repeats=2, loader_batches=3, loader_repeats=1)
    args = ap.parse_args()

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    devices = [torch.device(d.strip()) for d in args.device.split(",") if d.strip()]
    if any(d.type == "cuda" for d in devices) and not torch.cuda.is_available():
        raise SystemExit("--device cuda: CUDA is not available")
    parts = {p.strip() for p in args.parts.split(",")}
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {os.cpu_count()} cores, load average {load:.2f}, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), {platform.processor() or platform.machine()}"
          + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else "")
          + ("  [--quick: tiny sizes, not the benchmark]" if args.quick else ""))
    figures: dict = {"quick": args.quick, "cores": os.cpu_count(), "load_average": load, "torch": torch.__version__,
                     "threads": torch.get_num_threads(), "synthetic": {}, "loader": {}}

    if "synthetic" in parts:
        for d in devices:
            figures["synthetic"][str(d)] = bench_synthetic(args, d)

    if "loader" in parts:
        if args.dataset == "camvid" and not (args.camvid / "train").is_dir():
            print(f"\n[loader] skipped: no CamVid at {args.camvid} (--camvid; or --dataset synthetic)")
        else:
            tmp = None
            if args.work is None:
                tmp = tempfile.TemporaryDirectory(prefix="bench_paste_")
                args.work = Path(tmp.name)
            args.work.mkdir(parents=True, exist_ok=True)
            try:
                root = args.camvid if args.dataset == "camvid" else synthetic_root(args)
                bank_path = prepare_work(args.dataset, root, args.work, args.workers)
                figures["loader_dataset"] = args.dataset
                for d in devices:
                    figures["loader"][str(d)] = bench_loader(args, bank_path, d)
            finally:
                if tmp is not None:
                    tmp.cleanup()

    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=1))
        print(f"\nfigures written to {args.json}")


if __name__ == "__main__":
    main()
