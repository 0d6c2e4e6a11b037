"""`lt-data evaluate --pred` against decoding the same PNGs alone (its floor).

    .venv/bin/python scripts/bench_evaluate.py [--n 120] [--size 1024x2048] [--classes 19] [--workers 2] [--repeat 3]

Generates a folder dataset of N street-scene-like label maps (long runs of few classes, as real
labels are) and predictions that differ from them in 20% of the pixels, then times, interleaved and
best of --repeat after a warm-up: (a) evaluate_predictions (pair index, decode prediction and label,
checks, histogram, reduce) and (b) decoding the same prediction and label PNGs alone with the same
decoders, both through the same worker pool (lt_data.jobs.parallel.map_samples). Prints images/s of both and their ratio.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lt_data.training.evaluate import _read_prediction, evaluate_predictions  # noqa: E402
from lt_data.data.layouts import get_layout  # noqa: E402
from lt_data.jobs.parallel import map_samples  # noqa: E402
from lt_data.data.stats import load_stats, open_layout, run_stats  # noqa: E402


def make_dataset(root: Path, n: int, h: int, w: int, k: int) -> tuple[Path, Path]:
    labels, images, preds = root / "labels" / "train", root / "images" / "train", root / "pred"
    if (root / "done").is_file():
        return root, preds
    for d in (labels, images, preds):
        d.mkdir(parents=True, exist_ok=True)
    (root / "classes.txt").write_text("".join(f"c{i}\n" for i in range(k)))
    rng = np.random.default_rng(0)
    blank = np.zeros((h, w, 3), np.uint8)
    for i in range(n):
        lab = np.zeros((h, w), np.uint8)
        for _ in range(40):  # rectangles of random classes: long runs, like real label maps
            y0, x0 = rng.integers(0, h - 8), rng.integers(0, w - 8)
            lab[y0:y0 + rng.integers(8, h // 3), x0:x0 + rng.integers(8, w // 3)] = rng.integers(0, k)
        lab[:4] = 255
        pred = lab.copy()
        pred[lab == 255] = 0
        for _ in range(30):  # wrong regions, 20% of the image or so
            y0, x0 = rng.integers(0, h - 8), rng.integers(0, w - 8)
            pred[y0:y0 + rng.integers(8, h // 4), x0:x0 + rng.integers(8, w // 4)] = rng.integers(0, k)
        Image.fromarray(lab).save(labels / f"s{i:04d}.png")
        Image.fromarray(pred).save(preds / f"s{i:04d}.png")
        Image.fromarray(blank).save(images / f"s{i:04d}.jpg", quality=50)
    (root / "done").write_text("")
    return root, preds


def _decode(state, task):
    """The floor: decode the prediction and the label with the decoders evaluate uses, nothing else."""
    layout, samples = state
    i, path = task
    return _read_prediction(Path(path)).shape, layout.read_raw_label(samples[i]).shape


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=120)
    ap.add_argument("--size", default="1024x2048", help="HxW of the label maps")
    ap.add_argument("--classes", type=int, default=19)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--root", type=Path, default=Path("/tmp/lt-bench-evaluate"))
    args = ap.parse_args()
    h, w = (int(v) for v in args.size.lower().split("x"))
    root = args.root / f"{args.n}-{h}x{w}-{args.classes}"
    t = time.perf_counter()
    root, preds = make_dataset(root, args.n, h, w, args.classes)
    work = root / "work"
    if not (work / "class_stats.json").is_file():
        run_stats(get_layout("folder", root, "train"), work, workers=args.workers, progress=False)
    print(f"dataset ready in {time.perf_counter() - t:.1f} s: {args.n} label maps {w}x{h}, {args.classes} classes, "
          f"{args.workers} workers")
    stats = load_stats(work, verify=False)
    layout = open_layout(work)
    tasks = [(i, str(preds / (Path(s.image).stem + ".png"))) for i, s in enumerate(stats.samples)]

    def run_eval():
        evaluate_predictions(preds, work, workers=args.workers, progress=False)

    def run_decode():
        for _ in map_samples(_decode, tasks, (layout, stats.samples), workers=args.workers, ordered=False,
                             progress=False):
            pass

    run_eval(), run_decode()  # warm-up: page cache, imports
    best = {"evaluate --pred": float("inf"), "decode alone": float("inf")}
    for _ in range(args.repeat):
        for name, fn in (("evaluate --pred", run_eval), ("decode alone", run_decode)):
            t = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t)
    for name, sec in best.items():
        print(f"{name:<16} {args.n / sec:8.1f} images/s  ({sec:.3f} s, best of {args.repeat})")
    print(f"ratio evaluate / decode: {best['evaluate --pred'] / best['decode alone']:.2f} (target <= 1.3)")


if __name__ == "__main__":
    main()
