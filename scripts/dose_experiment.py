#!/usr/bin/env python
"""Dose–response of the paste recipes, through the project's own CLI (`lt-data train`, `lt-data compare`).

    python scripts/dose_experiment.py --data many --out runs/dose --seeds 0 1
    python scripts/dose_experiment.py --data camvid --out runs/dose --seeds 0 1
    python scripts/dose_experiment.py --data msrc --out runs/real --seeds 0 1 2 --only ce auc_bank_derived ...

Datasets:
  many    the synthetic street scenes with 20 extra "street item" classes (lt_data.training.synthetic,
          extra_tail=20: 30 classes, 24 of them tail under the default `share` buckets), 800 train /
          200 val images of 256×192, generated under OUT/many-data;
  camvid  CamVid (../shared/data/camvid) train for training, test for evaluation;
  msrc    MSRC v2 (../shared/data/msrc_v2, folder layout) train for training, val for evaluation.
Each dataset fixes its crop and batch size (DATA below), the same for every recipe.

Recipes (the same model, schedule and seeds; only the loss and the paste change):
  ce                 CE, no paste
  auc_bank_derived   1·AUC + CE + bank paste at the dose lt-data derives (no paste_args)
  auc_bank_default   the same command, kept apart: run again after the rule changed (2026-12-07: the 25 %
                     target; auc_bank_derived's runs there were the 10 % rule's)
  auc_bank_cs        1·AUC + CE + bank paste at AUCSeg's Cityscapes dose (sample 1, resize 1: the old default)
  auc_bank_small     1·AUC + CE + bank paste at the derived sample ratio, resize 0.5 (a quarter of the area)
  auc_bank_few       1·AUC + CE + bank paste at a sample ratio giving ~2 objects per image, resize 1
  auc_bank_full      1·AUC + CE + bank paste at the derived sample ratio, resize 1
  auc_bank_many      1·AUC + CE + bank paste at a sample ratio giving ~10 objects per image, resize 1
  auc_bank_big       1·AUC + CE + bank paste at the derived sample ratio, resize 1.5 (objects enlarged)
  auc_bank_prior     the derived dose, each object placed where its class appears in the data
                     (placement "prior": lt_data.data.spatial) instead of uniformly at random
  auc_bank_lo        1·AUC + CE + bank paste, every missing class (sample 1), a lighter dose (resize per dataset)
  auc_bank_hi        1·AUC + CE + bank paste, every missing class (sample 1), a heavier dose (resize per dataset)
  auc_bank_rcs       the derived dose, images drawn by rare class sampling (DAFormer's RCS, its defaults)
  auc                1·AUC + CE, no paste (what the loss alone does)
  ce_cutmix_derived  CE + tail cutmix at the derived probability
  ce_cutmix_p1       CE + tail cutmix, one crop in every image (paper 003)
  ce_cutmix_half     CE + tail cutmix, a crop in half of the images (prob 0.5)
Each run is OUT/DATA/RECIPE_sSEED (a finished run is kept; `lt-data train` resumes or skips it);
then `lt-data compare` writes OUT/DATA/compare/ (compare.md holds the tables of docs/EXPERIMENTS.md).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
LT = [sys.executable, "-m", "lt_data"]  # the lt_data on sys.path: `python -m` puts the working directory first, so
# to run a snapshot of the code (a git worktree) start this script from inside that worktree

RECIPES = {
    "ce": ["--loss", "ce"],
    "auc_bank_derived": ["--loss", "1*auc+ce", "--paste", "bank"],
    "auc_bank_default": ["--loss", "1*auc+ce", "--paste", "bank"],  # the same command, run after a rule change
    "auc_bank_cs": ["--loss", "1*auc+ce", "--paste", "bank",
                    "--set", 'paste_args={"sample_ratio": 1.0, "resize_ratio": 1.0, "per_image": true}'],
    "auc_bank_small": ["--loss", "1*auc+ce", "--paste", "bank", "--set", 'paste_args={"resize_ratio": 0.5}'],
    "auc_bank_few": ["--loss", "1*auc+ce", "--paste", "bank"],  # sample ratio set per dataset below
    "auc_bank_full": ["--loss", "1*auc+ce", "--paste", "bank", "--set", 'paste_args={"resize_ratio": 1.0}'],
    "auc_bank_many": ["--loss", "1*auc+ce", "--paste", "bank"],  # ~10 objects per image, resize 1 (per dataset)
    "auc_bank_big": ["--loss", "1*auc+ce", "--paste", "bank", "--set", 'paste_args={"resize_ratio": 1.5}'],
    "auc_bank_prior": ["--loss", "1*auc+ce", "--paste", "bank", "--set", 'paste_args={"placement": "prior"}'],
    "auc_bank_lo": ["--loss", "1*auc+ce", "--paste", "bank"],  # resize set per dataset below
    "auc_bank_hi": ["--loss", "1*auc+ce", "--paste", "bank"],  # resize set per dataset below
    "auc_bank_rcs": ["--loss", "1*auc+ce", "--paste", "bank", "--sampler", "rcs"],
    "auc": ["--loss", "1*auc+ce"],
    "ce_cutmix_derived": ["--loss", "ce", "--paste", "cutmix"],
    "ce_cutmix_p1": ["--loss", "ce", "--paste", "cutmix", "--set", 'paste_args={"prob": 1.0}'],
    "ce_cutmix_half": ["--loss", "ce", "--paste", "cutmix", "--set", 'paste_args={"prob": 0.5}'],
}
DATA = {  # crop, batch, the sample ratios of "few" (about 2 objects per image) and "many" (about 10), and
    # the resize ratios of "lo" and "hi" (about a quarter and two and a half times the derived share)
    "many": {"crop": [128, 192], "batch": 8, "few": 0.1, "many": 0.55},
    "camvid": {"crop": [176, 240], "batch": 8, "few": 0.5, "many": 1.0},
    # the real-data round (2026-12-07): small crops and batch 4 so that 7 recipes x 3 seeds fit a CPU session
    "camvid_small": {"crop": [128, 176], "batch": 4, "lo": 0.5, "hi": 1.5},
    "msrc": {"crop": [128, 176], "batch": 4, "lo": 0.11, "hi": 0.35},
}
SOURCE = {"many": "many", "camvid": "camvid", "camvid_small": "camvid", "msrc": "msrc"}


def sh(*cmd: str) -> None:
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def prepare(data: str, out: Path, camvid: Path, msrc: Path) -> tuple[Path, Path]:
    data = SOURCE[data]
    train, val = out / f"{data}-train", out / f"{data}-val"
    if data == "many":
        root = out / "many-data"
        if not (root / "classes.txt").is_file():
            from lt_data.training.synthetic import generate_street_scenes

            generate_street_scenes(root, num_train=800, num_val=200, size=(256, 192), extra_tail=20, progress=True)
        layout, splits = ["-l", "folder", str(root)], ("train", "val")
    elif data == "msrc":
        layout, splits = ["-l", "folder", str(msrc)], ("train", "val")
    else:
        layout, splits = ["-l", "camvid", str(camvid)], ("train", "test")
    for split, work in zip(splits, (train, val)):
        if not (work / "class_stats.json").is_file():
            sh(*LT, "stats", *layout, "--split", split, "--out", str(work), "-q")
    if not (train / "buckets.json").is_file():
        sh(*LT, "buckets", str(train))
    sh(*LT, "bank", "build", str(train), "-q")     # kept when complete and up to date
    sh(*LT, "cutmix", "build", str(train), "-q")
    return train, val


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", choices=sorted(DATA), required=True)
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "dose")
    ap.add_argument("--camvid", type=Path, default=REPO.parent / "shared" / "data" / "camvid")
    ap.add_argument("--msrc", type=Path, default=REPO.parent / "shared" / "data" / "msrc_v2")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--only", nargs="*", default=None, help=f"recipes (default all): {', '.join(RECIPES)}")
    ap.add_argument("--compare-only", action="store_true", help="only write the comparison of the finished runs")
    ap.add_argument("--plot", type=Path, default=None, help="also draw tail and head mIoU against the measured "
                    "pasted share of every bank recipe into this PNG")
    args = ap.parse_args()

    out = args.out.resolve()
    train, val = prepare(args.data, out, args.camvid, args.msrc)
    spec = DATA[args.data]
    runs_dir = out / args.data
    names = args.only or list(RECIPES)
    if not args.compare_only:
        for seed in args.seeds:
            for name in names:
                cmd = list(RECIPES[name])
                if name in ("auc_bank_few", "auc_bank_many"):
                    ratio = spec[name.rsplit("_", 1)[1]]
                    cmd += ["--set", "paste_args=" + json.dumps({"sample_ratio": ratio, "resize_ratio": 1.0})]
                if name in ("auc_bank_lo", "auc_bank_hi"):
                    ratio = spec[name.rsplit("_", 1)[1]]
                    cmd += ["--set", "paste_args=" + json.dumps({"sample_ratio": 1.0, "resize_ratio": ratio,
                                                                  "per_image": True})]
                run = runs_dir / f"{name}_s{seed}"
                if (run / "metrics.json").is_file():
                    continue
                sh(*LT, "train", "--work", str(train), "--val-work", str(val), "--run-dir", str(run),
                   "--steps", str(args.steps), "--set", f"seed={seed}", "--set", f"crop_size={json.dumps(spec['crop'])}",
                   "--set", f"batch_size={spec.get('batch', 8)}",
                   "--set", "lr=0.002", "--set", "workers=2", *cmd, "-q")
    done = sorted(str(p.parent) for p in runs_dir.glob("*_s*/metrics.json"))
    if done:
        sh(*LT, "compare", *done, "--out", str(runs_dir / "compare"))
    if args.plot:
        plot_dose_response(runs_dir, args.plot, args.data)


def dose_points(runs_dir: Path) -> dict:
    """Per recipe: measured pasted share (mean of the log's records, then over seeds) and the mIoUs."""
    import statistics

    out: dict = {}
    for m in sorted(runs_dir.glob("*_s*/metrics.json")):
        name = m.parent.name.rsplit("_s", 1)[0]
        rows = [json.loads(line) for line in (m.parent / "log.jsonl").read_text().splitlines() if '"pasted_share"' in line]
        metrics = json.loads(m.read_text())
        entry = out.setdefault(name, {"share": [], "tail": [], "head": []})
        entry["share"].append(statistics.mean(r["pasted_share"] for r in rows) if rows else 0.0)
        entry["tail"].append(100 * metrics["miou_tail"])
        entry["head"].append(100 * metrics["miou_head"])
    return out


def plot_dose_response(runs_dir: Path, out: Path, data: str) -> None:
    import statistics

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    points = dose_points(runs_dir)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), dpi=120)
    for ax, key in zip(axes, ("tail", "head")):
        bank = sorted((statistics.mean(v["share"]), v) for k, v in points.items()
                      if k.startswith("auc_bank") and k not in ("auc_bank_prior", "auc_bank_rcs"))
        xs = [100 * x for x, _ in bank]
        ys = [statistics.mean(v[key]) for _, v in bank]
        es = [statistics.stdev(v[key]) if len(v[key]) > 1 else 0 for _, v in bank]
        ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label="1·AUC + CE + bank paste")
        for k, v in points.items():
            if k in ("ce", "auc"):
                ax.axhline(statistics.mean(v[key]), color="gray" if k == "ce" else "C1", ls="--",
                           label="CE, no paste" if k == "ce" else "1·AUC + CE, no paste")
            if k.startswith("ce_cutmix"):
                ax.errorbar([100 * statistics.mean(v["share"])], [statistics.mean(v[key])], fmt="s", color="C2",
                            label="CE + tail cutmix" if "derived" in k else None)
        derived = points.get("auc_bank_derived")
        if derived:
            ax.scatter([100 * statistics.mean(derived["share"])], [statistics.mean(derived[key])], s=140,
                       facecolors="none", edgecolors="red", zorder=5, label="derived default")
        ax.set_xscale("log")
        ax.set_xticks([1, 2, 5, 10, 20])
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("pasted share of the labelled pixels (%, measured in training)")
        ax.set_ylabel(f"{key} mIoU (%)")
        ax.set_title(f"{key} mIoU vs paste dose", fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{data} (mean ± std over seeds)", fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
