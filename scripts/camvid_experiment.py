#!/usr/bin/env python
"""The CamVid long-tail experiment: one reference model, several training recipes and seeds, bucketed mIoU.

    python scripts/camvid_experiment.py --camvid ../shared/data/camvid --out runs/camvid --steps 1000 \
        --seeds 0 1 2 --only a_ce c_auc_ce_paste
    lt-data compare runs/camvid/*_s* --out runs/camvid/compare      # mean ± std per recipe over the seeds

Prepares CamVid train (statistics, default `share` buckets, tail-object bank) and CamVid test
(statistics), then trains the same DeepLabV3+-style model with
  (a) CE, (b) CE + memory-bank paste, (c) AUC + CE + memory-bank paste (AUCSeg),
  (d) PAT, (e) PAT + memory-bank paste,
  (f) CE + multi-level tail cutmix (paper 003), (g) CE + rare class sampling (DAFormer),
each from the same seeds, evaluates every run on CamVid test (one confusion matrix over the split)
and prints the overall / head / middle / tail mIoU table in Markdown. Runs go to OUT/RECIPE_sSEED,
results to OUT/results.json. A finished run is not trained again (delete its directory to redo it).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lt_data.stores.bank import build_bank  # noqa: E402
from lt_data.data.buckets import load_buckets, write_buckets  # noqa: E402
from lt_data.stores.cutmix import build_cutmix  # noqa: E402
from lt_data.data.layouts import get_layout  # noqa: E402
from lt_data.data.stats import CLASS_STATS_FILE, run_stats  # noqa: E402
from lt_data.training.train import TrainConfig, train  # noqa: E402

RECIPES = {
    "a_ce": {"loss": "ce", "paste": "none"},
    "b_ce_paste": {"loss": "ce", "paste": "bank"},
    "c_auc_ce_paste": {"loss": "1*auc+ce", "paste": "bank"},
    "d_pat": {"loss": "pat", "paste": "none"},
    "e_pat_paste": {"loss": "pat", "paste": "bank"},
    "f_ce_cutmix": {"loss": "ce", "paste": "cutmix"},
    "g_ce_rcs": {"loss": "ce", "paste": "none", "sampler": "rcs"},
}
TITLES = {"a_ce": "(a) CE", "b_ce_paste": "(b) CE + memory-bank paste", "c_auc_ce_paste": "(c) AUC + CE + paste (AUCSeg)",
          "d_pat": "(d) PAT", "e_pat_paste": "(e) PAT + paste", "f_ce_cutmix": "(f) CE + tail cutmix",
          "g_ce_rcs": "(g) CE + RCS"}


def prepare(camvid: Path, out: Path, workers: int) -> tuple[Path, Path]:
    train_work, test_work = out / "work-train", out / "work-test"
    if not (train_work / CLASS_STATS_FILE).is_file():
        run_stats(get_layout("camvid", camvid, "train"), train_work, workers=workers)
    if not (test_work / CLASS_STATS_FILE).is_file():
        run_stats(get_layout("camvid", camvid, "test"), test_work, workers=workers)
    if not (train_work / "buckets.json").is_file():
        write_buckets(train_work)
    build_bank(train_work, workers=workers)  # kept when already complete
    build_cutmix(train_work, workers=workers)
    return train_work, test_work


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--camvid", type=Path, default=REPO.parent / "shared" / "data" / "camvid")
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "camvid")
    ap.add_argument("--steps", type=int, default=800)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--crop", type=int, nargs=2, default=(240, 320))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--only", nargs="*", default=None, help="recipes to run (default all)")
    args = ap.parse_args()

    train_work, test_work = prepare(args.camvid, args.out, args.workers)
    buckets = load_buckets(train_work)
    results_path = args.out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    for seed in args.seeds:
        for name, recipe in RECIPES.items():
            if args.only and name not in args.only:
                continue
            key = f"{name}_s{seed}"
            run = args.out / key
            if key in results and (run / "metrics.json").is_file():
                continue
            paste_args = {"per_image": True, "sample_ratio": 1.0, "resize_ratio": 1.0} if recipe["paste"] == "bank" else {}
            cfg = TrainConfig(work=str(train_work), run=str(run), model="deeplabv3plus_small", loss=recipe["loss"],
                              paste=recipe["paste"], paste_args=paste_args, sampler=recipe.get("sampler", "uniform"),
                              val_work=str(test_work), crop_size=tuple(args.crop), scale_range=(0.5, 1.5),
                              batch_size=args.batch_size, steps=args.steps, lr=2e-3, warmup=50, workers=args.workers,
                              seed=seed, log_every=20, checkpoint_every=max(100, args.steps // 4))
            t0 = time.perf_counter()
            metrics = train(cfg)
            results[key] = {"recipe": recipe, "seed": seed, "minutes": (time.perf_counter() - t0) / 60,
                            **{k: metrics.get(k) for k in ("miou", "miou_head", "miou_middle", "miou_tail",
                                                           "pixel_accuracy", "mean_accuracy")},
                            "per_class": {c["name"]: c["iou"] for c in metrics["per_class"]}}
            results_path.write_text(json.dumps(results, indent=1))
            print(f"{key}: {results[key]['minutes']:.1f} min, mIoU {100 * metrics['miou']:.2f}", flush=True)

    def pct(v):
        return "n/a" if v is None else f"{100 * v:.2f}"

    names = list(results.get(next(iter(results)), {}).get("per_class", {})) if results else []
    print(f"\nbuckets (share rule on CamVid train): head {[names[i] for i in buckets['head']]}, "
          f"middle {[names[i] for i in buckets['middle']]}, tail {[names[i] for i in buckets['tail']]}\n")
    print("| recipe | mIoU | head | middle | tail | pixel acc | minutes |")
    print("|---|---|---|---|---|---|---|")
    for key, r in results.items():
        name = key.rsplit("_s", 1)[0]
        if name in TITLES:
            print(f"| {TITLES[name]}, seed {r.get('seed', 0)} | {pct(r['miou'])} | {pct(r['miou_head'])} | {pct(r['miou_middle'])} | "
                  f"{pct(r['miou_tail'])} | {pct(r['pixel_accuracy'])} | {r['minutes']:.1f} |")
    if names:
        print("\n| class | " + " | ".join(results) + " |")
        print("|---|" + "---|" * len(results))
        for c in names:
            print(f"| {c} | " + " | ".join(pct(r["per_class"][c]) for r in results.values()) + " |")


if __name__ == "__main__":
    main()
