#!/usr/bin/env python
"""Benchmark the long-tail losses: forward+backward time and peak memory against cross-entropy.

On the same logits (B, K, H, W) float32 with requires_grad (default B·H·W = 2·1024·1024 ≈ 2.1M
pixels, K = 19 and K = 150) and labels drawn from a long-tailed (Zipf, p_c ∝ 1/(c+1)) distribution
with ``--ignore`` of the pixels set to 255, each variant runs forward + ``backward()`` into the
logits' gradient:

  cross_entropy       lt_data.losses.cross_entropy
  auc_loss            lt_data.losses.auc_loss (loop-free, per-class moments, no host sync)
  pat_loss            lt_data.losses.pat_loss
  auc_loop            the same AUC loss written the way the public AUCSeg code is described: flatten
                      to n×K, drop ignored pixels (boolean index: a host sync), build a one-hot n×K
                      matrix, find the classes present with torch.unique(...).tolist() (a host sync),
                      then a Python loop over them: class i's scores of its own pixels (positives)
                      and of all other pixels (negatives, weighted 1/N_c by their class's count)
                      give the square-surrogate terms, accumulated. Its value is checked equal to
                      auc_loss (relative 1e-4 on small inputs, 1e-3 on the benchmark inputs).

Time: best of ``--repeats`` (``--loop-repeats`` for auc_loop), after one warm-up call of each
variant, the variants interleaved (order reversed every other round) so that the machine's noise
hits them alike; on CUDA with torch.cuda.synchronize() before and after.

Peak memory: on CUDA, torch.cuda.max_memory_allocated() after reset_peak_memory_stats(), minus
what was allocated before the call. On the CPU, tracemalloc does not see torch's allocations and
the profiler's memory totals are unreliable, so each variant runs in a fresh subprocess: it builds
the same inputs, reads its resident set size (VmRSS), resets the kernel's high-water mark (writing
5 to /proc/self/clear_refs; where that is not allowed, ru_maxrss is used instead and may include the
inputs' construction), runs forward+backward once and reports VmHWM − VmRSS_before. glibc is told
to serve every allocation above 64 KiB with mmap (MALLOC_MMAP_THRESHOLD_) so that freed tensors
leave the resident set and are not reused silently. The figure includes the logits' gradient
(n·K·4 bytes), which every variant allocates.

Targets (issue): auc_loss ≤ 3× cross-entropy time at K = 19; auc_loss ≥ 3× faster than the loop
form at K = 150.

The loop form costs O(n·K) per class (autograd gives every per-class column selection an n×K
gradient), so the full-size CPU run at K = 150 takes minutes (about 50 s per loop call on a busy
2-core machine); on a GPU machine ``--device cuda`` skips the CPU part.

    .venv/bin/python scripts/bench_loss.py                  # 2·1024·1024 pixels, K = 19 and 150
    .venv/bin/python scripts/bench_loss.py --quick          # tiny sizes: a smoke test in seconds
    .venv/bin/python scripts/bench_loss.py --device cuda --json loss.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lt_data.losses import auc_loss, cross_entropy, pat_loss  # noqa: E402

IGNORE_INDEX = 255


# ---- the published-style loop form ----------------------------------------------------------------

def auc_loop(logits: torch.Tensor, labels: torch.Tensor, margin: float = 1.0,
             ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """AUCSeg's one-vs-one square AUC loss in the loop form (one-hot matrix, a Python loop over the
    classes present, host syncs). Same definition as ``auc_loss``::

        L = 1/(2·K_b·(K_b−1)) · Σ_i Σ_{c≠i} 1/(N_i·N_c) · Σ_{m∈i} Σ_{n∈c} (γ − (s_{m,i} − s_{n,i}))²

    For class i: with positives a = s[y = i, i] and negatives b_n = s[n, i] (y_n ≠ i) weighted by
    w_n = 1/N_{y_n}, the inner sums are Σ_n w_n · (E[(γ − a)²] + 2·b_n·(γ − E[a]) + b_n²).
    """
    k = logits.shape[1]
    flat = logits.permute(0, 2, 3, 1).reshape(-1, k)
    y = labels.reshape(-1)
    keep = y != ignore_index
    flat, y = flat[keep], y[keep]  # data-dependent size: a host sync
    s = torch.sigmoid(flat)
    onehot = torch.zeros_like(s).scatter_(1, y[:, None], 1.0)  # the n×K one-hot matrix
    counts = onehot.sum(0)
    weight = onehot @ (1.0 / counts.clamp_min(1.0))  # 1/N_y of each pixel
    present = torch.unique(y).tolist()  # a host sync
    kb = len(present)
    total = s.new_zeros(())
    for i in present:
        pos = onehot[:, i] > 0
        neg = ~pos
        col = s[:, i]
        a = col[pos]  # boolean indexing: one host sync per class
        b = col[neg]
        w = weight[neg]
        own = ((margin - a) ** 2).mean()
        total = total + (w * (own + 2 * b * (margin - a.mean()) + b * b)).sum()
    return total / (2 * kb * (kb - 1))


VARIANTS = {
    "cross_entropy": lambda lg, lb: cross_entropy(lg, lb),
    "auc_loss": lambda lg, lb: auc_loss(lg, lb),
    "pat_loss": lambda lg, lb: pat_loss(lg, lb),
    "auc_loop": lambda lg, lb: auc_loop(lg, lb),
}
LABELS = {"auc_loop": "auc_loop (published-style)"}


# ---- inputs ---------------------------------------------------------------------------------------

def make_inputs(b: int, k: int, h: int, w: int, ignore: float, seed: int, device: torch.device,
                dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (B, K, H, W) ~ 2·N(0, 1), requires_grad; Zipf labels with a share ``ignore`` of 255."""
    gen = torch.Generator().manual_seed(seed * 1000 + k)
    logits = (torch.randn(b, k, h, w, generator=gen, dtype=dtype) * 2).to(device).requires_grad_(True)
    rng = np.random.default_rng([seed, k])
    p = 1.0 / np.arange(1, k + 1)
    lab = rng.choice(k, size=(b, h, w), p=p / p.sum()).astype(np.int64)
    lab[rng.random((b, h, w)) < ignore] = IGNORE_INDEX
    return logits, torch.from_numpy(lab).to(device)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def fwd_bwd(name: str, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    logits.grad = None
    loss = VARIANTS[name](logits, labels)
    loss.backward()
    return loss.detach()


def check_agreement(device: torch.device, seed: int) -> float:
    """auc_loop equals auc_loss (value and gradient) on small float32 inputs, K = 5 and 19."""
    worst = 0.0
    for k in (5, 19):
        logits, labels = make_inputs(2, k, 24, 32, 0.1, seed, device)
        va = fwd_bwd("auc_loss", logits, labels)
        ga = logits.grad.clone()
        vl = fwd_bwd("auc_loop", logits, labels)
        gl = logits.grad.clone()
        rel = abs(float(va) - float(vl)) / max(abs(float(va)), 1e-12)
        worst = max(worst, rel)
        assert rel <= 1e-4, f"auc_loop {float(vl)} != auc_loss {float(va)} (K={k}, relative {rel:.2e})"
        assert torch.allclose(ga, gl, rtol=1e-3, atol=1e-3 * float(ga.abs().max())), f"gradients differ (K={k})"
    return worst


# ---- CPU peak memory in a fresh process -------------------------------------------------------------

def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        m = re.search(rf"^{field}:\s+(\d+) kB", f.read(), re.M)
    return int(m.group(1)) if m else -1


def child_peak(args) -> None:
    """Run one variant once in this (fresh) process and print its peak RSS increase as JSON."""
    name, k = args.child, args.child_k
    device = torch.device("cpu")
    small, small_lab = make_inputs(1, k, 8, 8, 0.1, args.seed, device)
    fwd_bwd(name, small, small_lab)  # load kernels, thread pools, autograd machinery
    logits, labels = make_inputs(args.batch, k, args.height, args.width, args.ignore, args.seed, device)
    del small, small_lab
    before = _status_kb("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM to the current RSS (Linux >= 4.0)
        method = "VmHWM"
    except OSError:
        method = "ru_maxrss"
    fwd_bwd(name, logits, labels)
    peak = _status_kb("VmHWM") if method == "VmHWM" else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"peak_mb": (peak - before) / 1024, "method": method}))


def cpu_peak_mb(args, name: str, k: int) -> tuple[float, str]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name, "--child-k", str(k),
           "--batch", str(args.batch), "--height", str(args.height), "--width", str(args.width),
           "--ignore", str(args.ignore), "--seed", str(args.seed), "--threads", str(args.threads)]
    env = os.environ | {"MALLOC_MMAP_THRESHOLD_": "65536"}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"memory subprocess for {name} (K={k}) failed:\n{out.stderr[-2000:]}")
    res = json.loads(out.stdout.strip().splitlines()[-1])
    return float(res["peak_mb"]), res["method"]


def cuda_peak_mb(name: str, logits: torch.Tensor, labels: torch.Tensor, device: torch.device) -> float:
    logits.grad = None
    _sync(device)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    fwd_bwd(name, logits, labels)
    _sync(device)
    peak = torch.cuda.max_memory_allocated(device) - base
    logits.grad = None
    return peak / 2**20


# ---- benchmark ------------------------------------------------------------------------------------

def bench(args, device: torch.device, k: int) -> dict:
    logits, labels = make_inputs(args.batch, k, args.height, args.width, args.ignore, args.seed, device)
    n = labels.numel()
    valid = int((labels != IGNORE_INDEX).sum())
    present = int(torch.unique(labels[labels != IGNORE_INDEX]).numel())
    names = list(VARIANTS)
    values = {}
    best = {name: float("inf") for name in names}
    for name in names:  # warm-up, and the values
        values[name] = float(fwd_bwd(name, logits, labels))
    rel = abs(values["auc_loss"] - values["auc_loop"]) / max(abs(values["auc_loss"]), 1e-12)
    tol = 1e-4 if args.quick else 1e-3
    assert rel <= tol, f"auc_loop {values['auc_loop']} != auc_loss {values['auc_loss']} (relative {rel:.2e})"
    for r in range(args.repeats):
        for name in (names if r % 2 == 0 else names[::-1]):
            if name == "auc_loop" and r >= args.loop_repeats:
                continue
            _sync(device)
            t = time.perf_counter()
            fwd_bwd(name, logits, labels)
            _sync(device)
            best[name] = min(best[name], time.perf_counter() - t)
    peak, method = {}, None
    if not args.no_memory:
        for name in names:
            if device.type == "cuda":
                peak[name], method = cuda_peak_mb(name, logits, labels, device), "cuda.max_memory_allocated"
            else:
                peak[name], method = cpu_peak_mb(args, name, k)
    del logits, labels

    ce_t, ce_m = best["cross_entropy"], peak.get("cross_entropy")
    print(f"\nK = {k}, {device}: logits {args.batch}x{k}x{args.height}x{args.width} float32 "
          f"({n * k * 4 / 2**20:,.1f} MB), n = {n:,} pixels ({1 - valid / n:.1%} ignored), {present} classes present; "
          f"best of {args.repeats} (auc_loop: {min(args.repeats, args.loop_repeats)}), interleaved")
    print(f"  {'variant':<28} {'fwd+bwd ms':>11} {'x CE':>7} {'peak MB':>10} {'x CE':>7}   loss")
    for name in names:
        mem = (f"{peak[name]:>10,.1f} {peak[name] / ce_m:>7.2f}" if peak and ce_m and ce_m > 0
               else f"{'-':>10} {'-':>7}")
        print(f"  {LABELS.get(name, name):<28} {best[name] * 1e3:>11.2f} {best[name] / ce_t:>7.2f} {mem}   "
              f"{values[name]:.6g}")
    auc_ce = best["auc_loss"] / ce_t
    speedup = best["auc_loop"] / best["auc_loss"]
    target = ""
    if k == 19:
        target = f"; target auc <= 3x CE at K = 19: {'met' if auc_ce <= 3 else 'NOT met'}"
    print(f"  auc_loss time = {auc_ce:.2f}x CE{target}")
    target = f" (target >= 3x at K = 150: {'met' if speedup >= 3 else 'NOT met'})" if k == 150 else ""
    print(f"  auc_loss is {speedup:.1f}x faster than the loop form{target}; values agree to {rel:.1e} relative")
    if method:
        print(f"  peak memory: {method}" + (" in a fresh subprocess per variant (RSS high-water mark minus RSS before "
                                            "the call; includes the logits' gradient)" if device.type == "cpu" else
                                            " minus memory allocated before the call"))
    return {"device": str(device), "K": k, "batch": args.batch, "height": args.height, "width": args.width,
            "pixels": n, "ignored_share": 1 - valid / n, "classes_present": present, "time_ms":
            {m: v * 1e3 for m, v in best.items()}, "time_vs_ce": {m: v / ce_t for m, v in best.items()},
            "peak_mb": peak or None, "peak_vs_ce": {m: v / ce_m for m, v in peak.items()} if peak and ce_m else None,
            "memory_method": method, "loss_values": values, "auc_vs_loop_relative_difference": rel,
            "auc_time_vs_ce": auc_ce, "auc_speedup_vs_loop": speedup}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test that runs in seconds)")
    ap.add_argument("--device", default="cpu,cuda" if torch.cuda.is_available() else "cpu",
                    help="comma-separated devices (default: %(default)s)")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    ap.add_argument("--classes", default="19,150", help="values of K (default: %(default)s)")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--height", type=int, default=1024)
    ap.add_argument("--width", type=int, default=1024)
    ap.add_argument("--ignore", type=float, default=0.05, help="share of ignored (255) pixels")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--loop-repeats", type=int, default=3, help="timed repeats of the (slow) loop form")
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurement")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch intra-op threads (default 1: on a shared, busy machine multi-threaded ops slow "
                         "down erratically from contention; 0 = torch's default)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--child-k", type=int, default=19, help=argparse.SUPPRESS)
    if "--quick" in sys.argv[1:]:  # tiny defaults; options given explicitly still win
        ap.set_defaults(batch=2, height=96, width=128, repeats=3, loop_repeats=2)
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.child:
        child_peak(args)
        return

    devices = [torch.device(d.strip()) for d in args.device.split(",") if d.strip()]
    if any(d.type == "cuda" for d in devices) and not torch.cuda.is_available():
        raise SystemExit("--device cuda: CUDA is not available")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {os.cpu_count()} cores, load average {load:.2f}, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), {platform.processor() or platform.machine()}"
          + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else "")
          + ("  [--quick: tiny sizes, not the benchmark]" if args.quick else ""))
    figures: dict = {"quick": args.quick, "cores": os.cpu_count(), "load_average": load, "torch": torch.__version__,
                     "threads": torch.get_num_threads(), "results": []}
    for d in devices:
        rel = check_agreement(d, args.seed)
        print(f"{d}: auc_loop == auc_loss on small inputs (K = 5, 19): values to {rel:.1e} relative, gradients close")
        for k in (int(x) for x in args.classes.split(",") if x.strip()):
            figures["results"].append(bench(args, d, k))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=1))
        print(f"\nfigures written to {args.json}")


if __name__ == "__main__":
    main()
