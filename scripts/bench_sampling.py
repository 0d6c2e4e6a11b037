"""What each data-side long-tail method changes: the tail bucket's share of the pixels (and images)
one training epoch shows the model, on CamVid train, estimated from the statistics by
``lt_data.data.sampling.epoch_exposure`` (no model, no image decoding; pastes planned as in training).

    .venv/bin/python scripts/bench_sampling.py [--camvid ../shared/data/camvid] [--work /tmp/lt-bench-sampling]

Prints one row per method: tail pixel share, tail image share (images holding a tail class, pasted
ones included, per drawn image), draws per epoch, pasted objects, and the seconds the estimate took.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lt_data.training.paste.planners import work_planner  # noqa: E402
from lt_data.stores.bank import build_bank  # noqa: E402
from lt_data.data.buckets import load_buckets, write_buckets  # noqa: E402
from lt_data.data.layouts import get_layout  # noqa: E402
from lt_data.data.sampling import epoch_exposure  # noqa: E402
from lt_data.data.stats import run_stats  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--camvid", type=Path, default=REPO.parent / "shared" / "data" / "camvid")
    ap.add_argument("--work", type=Path, default=Path("/tmp/lt-bench-sampling"))
    ap.add_argument("--epochs", type=int, default=3, help="epochs averaged per method")
    ap.add_argument("--rfs-threshold", type=float, default=0.02, help="t of RFS on pixel shares")
    args = ap.parse_args()
    work = args.work
    if not (work / "class_stats.json").is_file():
        run_stats(get_layout("camvid", args.camvid, "train"), work, workers=2, progress=False)
    if not (work / "buckets.json").is_file():
        write_buckets(work)
    build_bank(work, progress=False)  # kept when up to date
    tail = load_buckets(work)["tail"]
    planner = work_planner("bank", work, per_image=True)
    methods = [("uniform", {}, None), ("RFS (pixels, t=%g)" % args.rfs_threshold, {"sampler": "rfs",
               "sampler_args": {"threshold": args.rfs_threshold, "by": "pixels"}}, None),
               ("RFS (images, t=0.9)", {"sampler": "rfs", "sampler_args": {"threshold": 0.9}}, None),
               ("RCS (DAFormer, T=0.01)", {"sampler": "rcs"}, None),
               ("memory-bank paste (AUCSeg, per image)", {}, planner),
               ("RCS + memory-bank paste", {"sampler": "rcs"}, planner)]
    print(f"CamVid train, tail bucket {tail}; {args.epochs} epochs averaged per method\n")
    print(f"{'method':<40} {'tail px share':>13} {'tail img share':>14} {'draws':>6} {'pasted':>7} {'s':>6}")
    for name, kw, plan in methods:
        t0 = time.perf_counter()
        px, im, draws, pasted = [], [], [], []
        for epoch in range(args.epochs):
            e = epoch_exposure(work, planner=plan, epoch=epoch, seed=0, **kw)
            px.append(e["pixels"][tail].sum() / e["pixels"].sum())
            im.append(e["images"][tail].sum() / e["draws"])
            draws.append(e["draws"])
            pasted.append(e["pasted_objects"])
        print(f"{name:<40} {np.mean(px):>13.2%} {np.mean(im):>14.2f} {np.mean(draws):>6.0f} {np.mean(pasted):>7.0f} "
              f"{(time.perf_counter() - t0) / args.epochs:>6.2f}")


if __name__ == "__main__":
    main()
