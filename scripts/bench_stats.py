#!/usr/bin/env python
"""How close `lt-data stats` runs to the physical floor: decoding the label PNGs alone.

For each dataset and worker count this prints, measured in one run (best of --repeat, interleaved):
  floor   decoding every label PNG (the faster of OpenCV and Pillow) in a process pool of the same size
  stats   the stats stage in-process (scan, decode+count, fold, header checks, write artifacts)
  cli     `lt-data stats` as a subprocess (adds interpreter and import start-up)
and the ratios stats/floor, cli/floor, and the 1 → 2 worker speed-up of the stats stage.

    python scripts/bench_stats.py                      # CamVid train (../shared) + generated 2048x1024 labels
    python scripts/bench_stats.py --city-images 300 --repeat 5
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lt_data.data.layouts import get_layout  # noqa: E402
from lt_data.data.stats import run_stats  # noqa: E402

CITY_IDS = np.array([0, 1, 4, 5, 7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33], np.uint8)


def make_cityscapes_like(root: Path, n: int, seed: int = 0) -> Path:
    """n label maps of 2048x1024 in the Cityscapes layout: blocky regions of real label ids, like gtFine."""
    rng = np.random.default_rng(seed)
    lab_dir = root / "gtFine" / "train" / "synth"
    img_dir = root / "leftImg8bit" / "train" / "synth"
    lab_dir.mkdir(parents=True, exist_ok=True)
    img_dir.mkdir(parents=True, exist_ok=True)
    blank = np.zeros((1024, 2048, 3), np.uint8)
    cv2.imwrite(str(img_dir / "blank.png"), blank)
    for i in range(n):
        lab = np.full((1024, 2048), 7, np.uint8)
        lab[:300] = 23
        lab[300:500] = 11
        for _ in range(120):
            x, y = rng.integers(0, 2048), rng.integers(200, 1024)
            w, h = rng.integers(8, 300, size=2)
            cv2.ellipse(lab, (int(x), int(y)), (int(w) // 2, int(h) // 2), 0, 0, 360, int(rng.choice(CITY_IDS)), -1)
        stem = f"synth_{i:06d}_000019"
        cv2.imwrite(str(lab_dir / f"{stem}_gtFine_labelIds.png"), lab)
        os.link(img_dir / "blank.png", img_dir / f"{stem}_leftImg8bit.png")  # headers are all stats reads
    (img_dir / "blank.png").unlink()
    return root


def _decode_cv2(paths):
    for p in paths:
        cv2.imread(p, cv2.IMREAD_UNCHANGED)
    return len(paths)


def _decode_pil(paths):
    for p in paths:
        with Image.open(p) as im:
            im.load()
    return len(paths)


def _init():
    cv2.setNumThreads(1)


def decode_floor(paths: list[str], workers: int) -> float:
    """Seconds to decode all label PNGs with `workers` processes; the faster decoder wins."""
    chunk = max(1, min(64, len(paths) // (workers * 8) or 1))
    chunks = [paths[i:i + chunk] for i in range(0, len(paths), chunk)]
    best = float("inf")
    for fn in (_decode_cv2, _decode_pil):
        t0 = time.perf_counter()
        if workers == 1:
            _init()
            for c in chunks:
                fn(c)
        else:
            with mp.get_context("fork").Pool(workers, initializer=_init) as pool:
                sum(pool.imap_unordered(fn, chunks))
        best = min(best, time.perf_counter() - t0)
    return best


def stats_inprocess(layout_args, workers: int, out: Path) -> float:
    t0 = time.perf_counter()
    run_stats(get_layout(*layout_args), out, workers=workers, progress=False)
    return time.perf_counter() - t0


def stats_cli(layout_args, workers: int, out: Path) -> float:
    name, root, split = layout_args
    exe = shutil.which("lt-data", path=str(Path(sys.executable).parent)) or "lt-data"
    t0 = time.perf_counter()
    subprocess.run([exe, "stats", str(root), "-l", name, "-s", split, "-o", str(out), "-j", str(workers), "-q"],
                   check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def bench(title: str, layout_args, label_paths: list[str], repeat: int, out: Path) -> None:
    print(f"\n{title}: {len(label_paths)} label PNGs")
    print(f"{'workers':>7}  {'floor s':>8}  {'stats s':>8}  {'cli s':>7}  {'stats/floor':>11}  {'cli/floor':>9}  "
          f"{'img/s':>7}")
    decode_floor(label_paths, 1)  # warm the page cache
    res = {}
    for w in (1, 2):
        fl, st, cl = [], [], []
        for _ in range(repeat):  # interleave so that machine noise hits all three alike
            fl.append(decode_floor(label_paths, w))
            st.append(stats_inprocess(layout_args, w, out))
            cl.append(stats_cli(layout_args, w, out))
        f, s, c = min(fl), min(st), min(cl)
        res[w] = s
        print(f"{w:>7}  {f:>8.3f}  {s:>8.3f}  {c:>7.3f}  {s / f:>11.2f}  {c / f:>9.2f}  {len(label_paths) / s:>7.0f}")
    print(f"stats speed-up 1 → 2 workers: {res[1] / res[2]:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--camvid", type=Path, default=REPO.parent / "shared" / "data" / "camvid")
    ap.add_argument("--city-images", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, opencv {cv2.__version__}, "
          f"pillow {Image.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.camvid.is_dir():
            paths = sorted(str(p) for p in (args.camvid / "trainannot").glob("*.png"))
            bench("CamVid train (480x360)", ("camvid", args.camvid, "train"), paths, args.repeat, tmp / "w1")
        else:
            print(f"CamVid not found at {args.camvid}; skipped")
        root = make_cityscapes_like(tmp / "city", args.city_images)
        paths = sorted(str(p) for p in root.glob("gtFine/train/*/*_labelIds.png"))
        bench("Generated Cityscapes-sized labels (2048x1024)", ("cityscapes", root, "train"), paths, args.repeat,
              tmp / "w2")


if __name__ == "__main__":
    main()
