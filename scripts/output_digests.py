"""Run every lt-data command on a dataset and print a digest of each file it writes, timing fields aside.

For refactors that must keep outputs byte-identical: run it before and after, then diff the two
listings (``diff before.txt after.txt``: no line may differ). JSON files (and zarr's ``zarr.json``
attributes) are digested with their timing and run-environment fields removed (``seconds``,
``built_at``, ``environment``, ...), everything else byte for byte; the commands' printed lines are
digested too, with the work directory's path replaced.

    python scripts/output_digests.py ../shared/data/camvid --layout camvid --out /tmp/digests-before > before.txt

Run it from the checkout whose code you want (``python -m lt_data`` imports the working directory's
``lt_data`` first). Single-threaded torch, so two runs on the same machine give the same training bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

TIMING_KEYS = {"seconds", "built_at", "elapsed", "wall_seconds", "started", "finished", "environment", "time",
               "step_seconds", "images_per_second", "images_per_s", "duration", "created"}


def _strip(obj):
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k not in TIMING_KEYS and not k.endswith("_seconds")}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def _canonical(obj, root: Path):
    """A checkpoint's contents with tensors as digests of their bytes and the output folder's path replaced."""
    import torch

    if torch.is_tensor(obj):
        return f"{obj.dtype}{tuple(obj.shape)}:{hashlib.sha256(obj.contiguous().cpu().numpy().tobytes()).hexdigest()}"
    if isinstance(obj, dict):
        return {str(k): _canonical(v, root) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v, root) for v in obj]
    if isinstance(obj, str):
        return obj.replace(str(root), "ROOT")
    return repr(obj)


def _digest(path: Path, root: Path) -> str:
    data = path.read_bytes()
    if path.suffix == ".pt":  # a zip of pickles: the bytes hold the record names; compare what it holds
        import torch

        doc = _strip(_canonical(torch.load(path, map_location="cpu", weights_only=False), root))
        data = json.dumps(doc, sort_keys=True).encode()
    elif path.suffix in (".json", ".jsonl") or path.name == "zarr.json":
        try:
            lines = data.decode("utf-8").splitlines() if path.suffix == ".jsonl" else [data.decode("utf-8")]
            docs = [_strip(json.loads(line)) for line in lines if line.strip()]
            data = json.dumps(docs, sort_keys=False).replace(str(root), "ROOT").encode()
        except (UnicodeDecodeError, json.JSONDecodeError):
            pass
    elif path.suffix in (".md", ".html", ".txt", ".tex"):
        data = data.replace(str(root).encode(), b"ROOT")
    return hashlib.sha256(data).hexdigest()[:16]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", help="the dataset's root")
    ap.add_argument("--layout", default="camvid")
    ap.add_argument("--train-split", default="train")
    ap.add_argument("--val-split", default="val")
    ap.add_argument("--out", required=True, help="an empty (or absent) folder for the outputs")
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--digest-only", action="store_true", help="digest the files already in --out, run nothing")
    a = ap.parse_args()
    out = Path(a.out).resolve()
    if a.digest_only:
        return _print_digests(out)
    if out.exists() and any(out.iterdir()):
        sys.exit(f"error: {out} is not empty")
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    w, v = out / "work", out / "val"
    train_set = ["--set", "crop_size=[96,128]", "--set", "batch_size=2", "--set", "workers=0", "--set", "eval_every=0",
                 "--steps", str(a.steps), "-q"]
    commands = [
        ["stats", a.root, "--layout", a.layout, "--split", a.train_split, "--out", str(w), "-j", "2"],
        ["stats", a.root, "--layout", a.layout, "--split", a.val_split, "--out", str(v), "-j", "2"],
        ["buckets", str(w)],
        ["bank", "build", str(w), "-j", "2"],
        ["cutmix", "build", str(w), "-j", "2"],
        ["export", str(w)],
        ["report", str(w)],
        ["preview", str(w), "--out", str(out / "preview_bank.png")],
        ["preview", str(w), "--mode", "cutmix", "--out", str(out / "preview_cutmix.png"), "--crop", "128x160"],
        ["train", "--work", str(w), "--run-dir", str(out / "run_bank"), "--loss", "1*auc+ce", "--paste", "bank",
         *train_set],
        ["train", "--work", str(w), "--run-dir", str(out / "run_cutmix"), "--paste", "cutmix",
         "--set", 'paste_args={"prob": 0.5, "tail": [9, 10]}', *train_set],
        ["evaluate", str(out / "run_bank" / "checkpoint.pt"), "--work", str(v), "--json", "-q"],
    ]
    for cmd in commands:
        p = subprocess.run([sys.executable, "-m", "lt_data", *cmd], capture_output=True, text=True, env=env)
        printed = (p.stdout + p.stderr).replace(str(out), "OUT")
        printed = "\n".join(line for line in printed.splitlines() if "it/s" not in line and "img/s" not in line
                            and " in " not in line and "%|" not in line)
        print(f"$ lt-data {' '.join(c.replace(str(out), 'OUT') for c in cmd)}  -> rc {p.returncode} "
              f"printed {hashlib.sha256(printed.encode()).hexdigest()[:16]}")
        if p.returncode != 0:
            print(printed[-2000:], file=sys.stderr)
    return _print_digests(out)


def _print_digests(out: Path) -> int:
    for f in sorted(out.rglob("*")):
        if f.is_file() and "lock" not in f.name:
            print(f"{f.relative_to(out)}  {_digest(f, out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
