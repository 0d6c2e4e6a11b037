"""Benchmark the tail bank: build throughput next to stats throughput on the same files, and random
object reads per second (one process, each read mode; through a DataLoader with 2 workers).

    .venv/bin/python scripts/bench_bank.py                      # CamVid train beside the checkout
    .venv/bin/python scripts/bench_bank.py --root DIR --layout cityscapes --split train --classes 6,12,14,15,16,17,18

Target (issue 4): ≥ 20,000 random single-object reads/s in one process on CamVid-sized objects.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from lt_data.stores.bank import TailBank, build_bank
from lt_data.data.layouts import get_layout
from lt_data.data.stats import run_stats

REPO = Path(__file__).resolve().parents[1]


class _One:
    """One object per DataLoader item (what a naive Dataset does)."""

    def __init__(self, bank, indices):
        self.bank, self.indices = bank, indices

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, i):
        p, m, _ = self.bank.get(int(self.indices[i]))
        return p, m


class _Batch:
    """A batch of objects per DataLoader item through ``get_many`` (what the collate step does)."""

    def __init__(self, bank, indices, batch):
        self.bank, self.indices, self.batch = bank, indices, batch

    def __len__(self):
        return len(self.indices) // self.batch

    def __getitem__(self, i):
        pixels, masks, _ = self.bank.get_many(self.indices[i * self.batch:(i + 1) * self.batch])
        return pixels, masks


def _identity(x):
    return x


def reads_per_second(bank: TailBank, indices: np.ndarray) -> float:
    for i in indices[:200]:
        bank.get(int(i))
    t = time.perf_counter()
    for i in indices:
        bank.get(int(i))
    return len(indices) / (time.perf_counter() - t)


def batch_reads_per_second(bank: TailBank, indices: np.ndarray, batch: int) -> float:
    t = time.perf_counter()
    for s in range(0, len(indices), batch):
        bank.get_many(indices[s:s + batch])
    return len(indices) / (time.perf_counter() - t)


def loader_reads_per_second(dataset, workers: int, per_item: int, context: str) -> float:
    import torch.utils.data as tud

    loader = tud.DataLoader(dataset, batch_size=None, num_workers=workers, collate_fn=_identity,
                            multiprocessing_context=context if workers else None, prefetch_factor=4 if workers else None)
    it = iter(loader)
    for _ in range(2 * max(1, workers)):  # start-up (every worker launched and serving) is not part of the rate
        next(it)
    t = time.perf_counter()
    n = 0
    for _ in it:
        n += per_item
    return n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, default=REPO.parent / "shared" / "data" / "camvid")
    ap.add_argument("--layout", default="camvid")
    ap.add_argument("--split", default="train")
    ap.add_argument("--classes", default="2,6,7,9,10", help="bank classes (default: CamVid's tail)")
    ap.add_argument("--workers", type=int, default=2, help="processes for stats and build")
    ap.add_argument("--reads", type=int, default=100_000, help="random single-object reads per mode")
    ap.add_argument("--work", type=Path, default=None, help="work directory (default: a temporary one)")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    args = ap.parse_args()

    tmp = None
    if args.work is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench_bank_")
        args.work = Path(tmp.name)
    work = args.work
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}, {platform.processor() or platform.machine()}")
    figures: dict = {"workers": args.workers, "dataset": f"{args.layout}/{args.split}", "classes": args.classes}

    layout = get_layout(args.layout, args.root, args.split)
    run_stats(layout, work, workers=args.workers, progress=False)  # warm the page cache
    t = time.perf_counter()
    stats = run_stats(layout, work, workers=args.workers, progress=False)
    stats_s = time.perf_counter() - t
    n = stats.num_images
    t = time.perf_counter()
    path = build_bank(work, classes=args.classes, workers=args.workers, progress=False, force=True)
    build_s = time.perf_counter() - t
    bank = TailBank.open(path)
    scanned = bank.attrs["images_scanned"]
    figures |= {"images": n, "stats_images_per_s": n / stats_s, "build_images_per_s": n / build_s,
                "build_images_decoded": scanned, "build_decoded_images_per_s": scanned / build_s,
                "objects": len(bank), "pixel_mib": bank.attrs["pixel_bytes"] / 2**20,
                "mean_object_kib": bank.attrs["pixel_bytes"] / max(1, len(bank)) / 1024}
    print(f"{args.layout}/{args.split}: {n} images, {len(bank):,} objects of classes {bank.classes}, "
          f"{figures['pixel_mib']:.1f} MiB of pixels (mean object {figures['mean_object_kib']:.1f} KiB)")
    print(f"stats  {n / stats_s:8.1f} images/s  ({stats_s:.2f} s, {args.workers} workers, labels only)")
    print(f"build  {n / build_s:8.1f} images/s  ({build_s:.2f} s, {args.workers} workers; {scanned} images hold a "
          f"selected class and are decoded with their labels: {scanned / build_s:.1f} decoded images/s)")

    rng = np.random.default_rng(0)
    idx = rng.integers(0, len(bank), args.reads)
    print("random single-object reads, one process (bank.get):")
    for mode, url, count in (("mmap", path, args.reads), ("memory", path, args.reads),
                             ("ranges", f"file://{Path(path).resolve()}", min(args.reads, 20_000)),
                             ("zarr", path, min(args.reads, 2_000))):
        b = TailBank.open(url, mode=mode)
        rate = reads_per_second(b, idx[:count])
        figures[f"reads_per_s_{mode}"] = rate
        print(f"  {mode:<7} {rate:>10,.0f} objects/s")
    b = TailBank.open(path)
    rate = batch_reads_per_second(b, idx, 64)
    figures["get_many_64_objects_per_s"] = rate
    print(f"  get_many(64) mmap {rate:>10,.0f} objects/s")
    b = TailBank.open(f"file://{Path(path).resolve()}", mode="ranges")
    rate = batch_reads_per_second(b, idx[:20_000], 64)
    figures["get_many_64_ranges_objects_per_s"] = rate
    print(f"  get_many(64) ranges (file://, one cat_ranges per batch) {rate:>10,.0f} objects/s")

    print("through a DataLoader, 2 workers (bank opened in the main process):")
    for context in ("fork", "spawn"):
        one = loader_reads_per_second(_One(bank, idx[:20_000]), 2, 1, context)
        many = loader_reads_per_second(_Batch(bank, idx, 64), 2, 64, context)
        figures[f"loader_2_{context}_one_per_item"] = one
        figures[f"loader_2_{context}_batch64"] = many
        print(f"  {context:<5} one object per item {one:>9,.0f} objects/s;  64 objects per item (get_many) "
              f"{many:>9,.0f} objects/s")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
