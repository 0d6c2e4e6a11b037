"""Past one machine: the process pool against Dask with the same workers, and peak memory against dataset size.

    .venv/bin/python scripts/bench_scale.py [--images 20000] [--small 5000] [--workers 2] [--data DIR]
                                            [--camvid ../shared/data/camvid] [--repeat 2]

1. Throughput: `stats` on a generated folder dataset of --images small label maps (64x48, 8 classes,
   one rare class in ~5% of images) and `stats` + `bank build` on CamVid train, each with the process
   pool and with Dask (a LocalCluster of --workers single-threaded worker processes, started and
   warmed up before the clock starts; its start-up time is printed apart). Interleaved, best of
   --repeat. Prints images/s of both and Dask / pool (target >= 0.8).
2. Memory: peak RSS (VmHWM) of the main process of `stats` and of `bank build` (each run in a fresh
   process), and the largest worker's (ru_maxrss, which counts the pages it shares with the main
   process at fork), at --small and --images images; the growth per 1,000 images is set against the
   per-image tables the stage keeps (pixel counts and the sample list as written).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

H, W, K = 48, 64, 8


def make_dataset(root: Path, n: int) -> Path:
    """ROOT/images/train/*.png, ROOT/labels/train/*.png, ROOT/classes.txt; reused when complete."""
    done = root / f"done-{n}"
    if done.is_file():
        return root
    labels, images = root / "labels" / "train", root / "images" / "train"
    labels.mkdir(parents=True, exist_ok=True)
    images.mkdir(parents=True, exist_ok=True)
    (root / "classes.txt").write_text("".join(f"class{i}\n" for i in range(K)))
    rng = np.random.default_rng(0)
    for i in range(n):
        lab = np.zeros((H, W), np.uint8)
        lab[H // 2:] = 1
        for _ in range(3):
            y, x = rng.integers(0, H - 12), rng.integers(0, W - 12)
            lab[y:y + rng.integers(4, 12), x:x + rng.integers(4, 12)] = rng.integers(2, K - 1)
        if rng.random() < 0.05:  # the rare class: one object of 10..14 pixels a side
            y, x = rng.integers(0, H - 14), rng.integers(0, W - 14)
            lab[y:y + rng.integers(10, 14), x:x + rng.integers(10, 14)] = K - 1
        Image.fromarray(lab).save(labels / f"{i:06d}.png", compress_level=1)
        Image.fromarray(np.dstack([lab * 30] * 3)).save(images / f"{i:06d}.png", compress_level=1)
    done.write_text("")
    return root


def subset(root: Path, n: int, where: Path) -> Path:
    """A folder dataset with the first n samples of root, by symlinks."""
    if (where / "classes.txt").is_file():
        return where
    for d in ("images", "labels"):
        (where / d / "train").mkdir(parents=True, exist_ok=True)
        for f in sorted((root / d / "train").iterdir())[:n]:
            (where / d / "train" / f.name).symlink_to(f)
    (where / "classes.txt").write_text((root / "classes.txt").read_text())
    return where


# ---- throughput -------------------------------------------------------------------------------------

def time_stage(stage: str, layout_args: tuple, work: Path, workers: int, backend: str) -> float:
    from lt_data.stores.bank import build_bank
    from lt_data.data.layouts import get_layout
    from lt_data.data.stats import run_stats

    kw = {"workers": workers, "progress": False}
    if backend == "dask":
        kw |= {"backend": "dask", "scheduler": f"local:{workers}"}
    t = time.perf_counter()
    if stage == "stats":
        run_stats(get_layout(*layout_args), work, **kw)
    else:
        build_bank(work, force=True, **kw)
    return time.perf_counter() - t


def throughput(name: str, layout_args: tuple, n: int, workers: int, repeat: int, tmp: Path, bank: bool) -> list[dict]:
    from lt_data.data.buckets import write_buckets

    rows = []
    stages = ["stats", "bank build"] if bank else ["stats"]
    for stage in stages:
        best = {"processes": float("inf"), "dask": float("inf")}
        for r in range(repeat):
            for backend in ("processes", "dask"):
                work = tmp / f"{name}-{backend}"
                if stage == "bank build" and not (work / "buckets.json").is_file():
                    write_buckets(work)
                best[backend] = min(best[backend], time_stage(stage, layout_args, work, workers, backend))
        row = {"dataset": name, "stage": stage, "images": n, "workers": workers,
               "pool_img_s": n / best["processes"], "dask_img_s": n / best["dask"],
               "dask_over_pool": best["processes"] / best["dask"]}
        print(f"{name:<22} {stage:<10} {n:>6} images, {workers} workers: pool {row['pool_img_s']:8.0f} img/s, "
              f"dask {row['dask_img_s']:8.0f} img/s, dask/pool {row['dask_over_pool']:.2f}", flush=True)
        rows.append(row)
    return rows


# ---- memory -----------------------------------------------------------------------------------------

_CHILD = r"""
import json, resource, sys
sys.path.insert(0, {repo!r})
from lt_data.data.layouts import get_layout
from lt_data.data.stats import run_stats
from lt_data.stores.bank import build_bank
def kib(field):  # this process's own figures (ru_maxrss would count the parent's pages from before exec)
    return int(open("/proc/self/status").read().split(field + ":")[1].split()[0])
stage, root, work, workers = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
base = kib("VmRSS")
if stage == "stats":
    run_stats(get_layout("folder", root, "train"), work, workers=workers, progress=False)
else:
    build_bank(work, workers=workers, progress=False, force=True)
print(json.dumps({{"self": kib("VmHWM"), "base": base,
                  "children": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}}))
"""


def peak_rss(stage: str, root: Path, work: Path, workers: int) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD.format(repo=str(REPO)), stage, str(root), str(work),
                          str(workers)], capture_output=True, text=True, check=True)
    kib = json.loads(out.stdout.strip().splitlines()[-1])
    return {k: v / 1024 for k, v in kib.items()}  # MiB (Linux reports KiB)


def memory(root: Path, sizes: list[int], workers: int, tmp: Path) -> list[dict]:
    from lt_data.data.buckets import write_buckets

    rows = []
    for n in sizes:
        data = subset(root, n, tmp / f"subset-{n}")
        work = tmp / f"mem-{n}"
        st = peak_rss("stats", data, work, workers)
        write_buckets(work)
        bk = peak_rss("bank", data, work, workers)
        counts = np.load(work / "pixel_counts.npy")
        samples = (work / "samples.jsonl").stat().st_size
        rows.append({"images": n, "stats_main_mib": st["self"], "stats_worker_mib": st["children"],
                     "bank_main_mib": bk["self"], "bank_worker_mib": bk["children"], "imports_mib": st["base"],
                     "tables_mib": (counts.nbytes + samples) / 2**20})
        print(f"{n:>6} images: peak RSS of the main process: stats {st['self']:6.1f} MiB, bank build "
              f"{bk['self']:6.1f} MiB (after imports {st['base']:.1f}); largest worker: stats {st['children']:5.1f}, "
              f"bank build {bk['children']:5.1f} MiB; per-image tables {rows[-1]['tables_mib']:.1f} MiB", flush=True)
    if len(rows) == 2:
        a, b = rows
        per_k = 1000 / (b["images"] - a["images"])
        print(f"growth per 1,000 images: stats {per_k * (b['stats_main_mib'] - a['stats_main_mib']):.2f} MiB, "
              f"bank build {per_k * (b['bank_main_mib'] - a['bank_main_mib']):.2f} MiB, "
              f"tables {per_k * (b['tables_mib'] - a['tables_mib']):.2f} MiB", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=20000)
    ap.add_argument("--small", type=int, default=5000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--data", type=Path, default=None, help="where the generated dataset goes (default: a temp dir)")
    ap.add_argument("--camvid", type=Path, default=REPO.parent / "shared" / "data" / "camvid")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()

    from lt_data.jobs.parallel import close_dask_clients, dask_client, map_samples

    with tempfile.TemporaryDirectory(prefix="lt-data-bench-scale-") as tmp_:
        tmp = Path(tmp_)
        t = time.perf_counter()
        root = make_dataset(args.data or tmp / "data", args.images)
        print(f"generated {args.images} label maps of {W}x{H} in {time.perf_counter() - t:.0f} s", flush=True)

        t = time.perf_counter()
        dask_client(f"local:{args.workers}", args.workers)
        list(map_samples(_noop, list(range(4 * args.workers)), None, workers=args.workers, progress=False,
                         backend="dask", scheduler=f"local:{args.workers}"))
        print(f"LocalCluster of {args.workers} worker processes: started and warm in {time.perf_counter() - t:.1f} s "
              f"(not in the figures below)", flush=True)

        rows = throughput("generated 64x48", ("folder", root, "train"), args.images, args.workers, args.repeat, tmp,
                          bank=False)
        if args.camvid.is_dir():
            n = len(list((args.camvid / "trainannot").glob("*.png")))
            rows += throughput("CamVid train 480x360", ("camvid", args.camvid, "train"), n, args.workers,
                               args.repeat, tmp, bank=True)
        close_dask_clients()
        mem = memory(root, [args.small, args.images], args.workers, tmp)
        if args.json:
            args.json.write_text(json.dumps({"throughput": rows, "memory": mem}, indent=1))


def _noop(state, task):
    return task


if __name__ == "__main__":
    main()
