#!/usr/bin/env python
"""Expected against measured paste dose: what the dose rule promises before training, and what the
training loader's batches then paste.

    python scripts/dose_check.py runs/real/camvid-train runs/real/msrc-train --crop 128x176
    python scripts/dose_check.py WORK --crop 176x240 --mode cutmix --set prob=0.5

For each work directory and mode: the dose (derived, or with --set arguments), its expected objects
per image and pasted share (lt_data.training.paste.dose, the figure `lt-data train` prints), and the means of
`pasted_objects` and `pasted_share` over --batches training batches drawn exactly as `lt-data train`
draws them (SegmentationDataset with the trainer's default rescale 0.5-1.5, make_loader with the
dose's planner, apply_paste with figures). No model is trained. The issue asking for the rule wanted
the two shares within +-20 % of each other.
"""

from __future__ import annotations

import argparse
import json

import numpy as np


def measure(work: str, mode: str, crop: tuple[int, int], args: dict, batches: int, batch_size: int, workers: int,
            seed: int) -> dict:
    from lt_data.training.paste.planners import work_planner
    from lt_data.training.config import TrainConfig
    from lt_data.training.dataset import SegmentationDataset, apply_paste, make_loader

    scale = TrainConfig.scale_range
    planner = work_planner(mode, work, crop_size=crop, scale_range=scale, **args)
    ds = SegmentationDataset(work, crop_size=crop, scale_range=scale, seed=seed)
    loader = make_loader(ds, batch_size=batch_size, num_workers=workers, seed=seed, planner=planner)
    shares, objects = [], []
    while len(shares) < batches:
        for batch in loader:
            apply_paste(batch, figures=True)
            shares.append(float(batch["pasted_share"]))
            objects.append(float(batch["pasted_objects"]))
            if len(shares) >= batches:
                break
    f = planner.dose.figures
    return {"work": work, "mode": mode, "crop": list(crop), "dose": planner.dose.args,
            "expected_objects": f["objects_per_image"], "expected_share": f["pasted_share"],
            "measured_objects": float(np.mean(objects)), "measured_share": float(np.mean(shares)),
            "ratio": float(np.mean(shares)) / max(f["pasted_share"], 1e-12), "batches": len(shares)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("work", nargs="+")
    ap.add_argument("--crop", default="240x320", help="HxW training crop (default: the trainer's, 240x320)")
    ap.add_argument("--mode", choices=["bank", "cutmix", "both"], default="both")
    ap.add_argument("--set", dest="set_", action="append", default=[], metavar="KEY=VALUE",
                    help="a paste argument (JSON value), e.g. resize_ratio=0.5")
    ap.add_argument("--batches", type=int, default=60)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="one JSON object per line instead of the table")
    a = ap.parse_args()
    crop = tuple(int(v) for v in a.crop.lower().split("x"))
    args = {k: json.loads(v) for k, v in (s.split("=", 1) for s in a.set_)}
    modes = ["bank", "cutmix"] if a.mode == "both" else [a.mode]
    if not a.json:
        print("| work | mode | crop | dose | expected objects | measured objects | expected share | measured share | measured / expected |")
        print("|---|---|---|---|---|---|---|---|---|")
    for work in a.work:
        for mode in modes:
            r = measure(work, mode, crop, args, a.batches, a.batch_size, a.workers, a.seed)
            if a.json:
                print(json.dumps(r))
                continue
            dose = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in r["dose"].items())
            print(f"| {work} | {mode} | {crop[0]}x{crop[1]} | {dose} | {r['expected_objects']:.2f} | "
                  f"{r['measured_objects']:.2f} | {r['expected_share']:.2%} | {r['measured_share']:.2%} | "
                  f"{r['ratio']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
