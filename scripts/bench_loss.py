#!/usr/bin/env python
"""Benchmark the long-tail losses: forward+backward time and peak memory against cross-entropy.

On the same logits (B, K, H, W) float32 with requires_grad (default B·H·W = 2·1024·1024 ≈ 2.1M
pixels, K = 19 and K = 150) and labels drawn from a long-tailed (Zipf, p_c ∝ 1/(c+1)) distribution
with ``--ignore`` of the pixels set to 255, each variant runs forward + ``backward()`` into the
logits' gradient:

  cross_entropy       lt_data.training.losses.cross_entropy (F.cross_entropy on the logits as they are)
  torch_ce            F.cross_entropy(logits, labels, ignore_index=255), torch's own, for reference
  auc_loss            lt_data.training.losses.auc_loss: the fused loss (per-class sums in one pass, the
                      gradient written in one pass), with the device's default AUC_STRATEGY
  auc:<strategy>      the same loss with another AUC_STRATEGY (``--strategies``; on by default on
                      CUDA, where the choice is still to be measured): all pixels in one step or in
                      spans, the per-class sums tiled or not (untiled: every atomic add of the own-
                      class sums lands on K+1 addresses)
  auc_index_add       the previous auc_loss (per-class moments through two index_add_ on the n×K
                      score matrix, autograd for the backward), kept here for comparison
  pat_loss            lt_data.training.losses.pat_loss
  auc_published       AUCSeg's published SquareAUCLoss (mmseg loss module), re-expressed: sigmoid,
                      transpose to n×K, drop ignored pixels through torch.where (a host sync), a
                      one-hot matrix stacked from K comparisons, then a Python loop over all K
                      classes that skips absent ones (a host sync per class) and evaluates
                      ½·A − B from dot products of class i's column. Its value and gradient are
                      checked equal to auc_loss (relative 1e-4 on small inputs, 1e-3 on the
                      benchmark inputs).

CPU timings depend on how the allocator serves tensors of the logits' size: with glibc's defaults
every one above 32 MB is a fresh mmap whose pages fault in on first touch (cross-entropy allocates
two such tensors per call, auc_loss one); ``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=<large>``
makes glibc reuse its heap (no page faults after the first call); ``THP_MEM_ALLOC_ENABLE=1`` asks
torch for transparent huge pages. The header prints which of these variables are set.

Time: best of ``--repeats`` (``--loop-repeats`` for auc_published, whose first call also counts),
after one warm-up call of each variant, the variants interleaved (order reversed every other round)
so that the machine's noise hits them alike; on CUDA with torch.cuda.synchronize() before and after.

Peak memory: on CUDA, torch.cuda.max_memory_allocated() after reset_peak_memory_stats(), minus
what was allocated before the call. On the CPU, tracemalloc does not see torch's allocations and
the profiler's memory totals are unreliable, so each variant runs in a fresh subprocess: it builds
the same inputs, reads its resident set size (VmRSS), resets the kernel's high-water mark (writing
5 to /proc/self/clear_refs; where that is not allowed, ru_maxrss is used instead and may include the
inputs' construction), runs forward+backward once and reports VmHWM − VmRSS_before. glibc is told
to serve every allocation above 64 KiB with mmap (MALLOC_MMAP_THRESHOLD_) so that freed tensors
leave the resident set and are not reused silently. The figure includes the logits' gradient
(n·K·4 bytes), which every variant allocates.

Targets (issue 14): auc_loss forward + backward ≤ 1.5× cross-entropy (the faster of the two CE
rows) and ≥ 10× faster than the published-style loop, at K = 19 and K = 150.

The published loop costs O(n·K) per class (autograd gives every column selection an n×K
gradient), so the full-size CPU run at K = 150 takes minutes; ``--skip`` leaves variants out.

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

from lt_data.training.losses import AUC_STRATEGY, auc_loss, cross_entropy, pat_loss  # noqa: E402

IGNORE_INDEX = 255


# ---- the published-style loop, and the previous auc_loss --------------------------------------------

def auc_published(logits: torch.Tensor, labels: torch.Tensor, margin: float = 1.0,
                  ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """AUCSeg's SquareAUCLoss (one-vs-one, square surrogate) computed the way the published mmseg
    module does, step for step, in our own code. For class i, with y_i the one-hot column,
    d_n = 1/N_{y_n}, negative weights v_n = d_n·(1 − y_{n,i})/N_i and e = s_i − γ·y_i::

        A = Σ_n (N_i·v_n + (K_b − 1)·y_{n,i}/N_i)·e_n²,   B = (e·v)·(e·y_i),   L = Σ_i (½A − B) / (K_b(K_b − 1))

    which is the pairwise definition (SPEC.md) term for term.
    """
    k = logits.shape[1]
    s = torch.sigmoid(logits).transpose(0, 1).reshape(k, -1).transpose(0, 1)  # (n, K)
    y = labels.reshape(-1)
    keep = torch.where(y != ignore_index)[0]  # data-dependent size: a host sync
    s, y = s[keep, :], y[keep]
    onehot = torch.stack([y.eq(i).float() for i in range(k)], 1)  # (n, K), one pass over the labels per class
    count = onehot.sum(0)
    d = 1 / count[y]
    kb = k - torch.where(count == 0)[0].size()[0]  # a host sync
    total = s.new_zeros(1)
    for i in range(k):
        if count[i] == 0:  # a host sync per class
            continue
        yi, si = onehot[:, i], s[:, i]
        neg = (d / count[i]) * (1 - yi)
        e = si - margin * yi
        weight = count[i] * neg + (kb - 1) * yi / count[i]
        total = total + 0.5 * (e * weight).dot(e) - e.dot(neg) * yi.dot(e)
    return (total / (kb * (kb - 1)))[0]


def auc_index_add(logits: torch.Tensor, labels: torch.Tensor, margin: float = 1.0,
                  ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """auc_loss before issue 14: per-class moments of s = sigmoid(logits) on the n×K score matrix
    through two ``index_add_`` (and a bincount), autograd for the backward."""
    k = logits.shape[1]
    flat = logits.permute(0, 2, 3, 1).reshape(-1, k)
    y = labels.reshape(-1).long()
    y = torch.where((y != ignore_index) & (y >= 0) & (y < k), y, torch.full_like(y, k))
    s = torch.sigmoid(flat)
    m1 = s.new_zeros(k + 1, k).index_add_(0, y, s)[:k]
    m2 = s.new_zeros(k + 1, k).index_add_(0, y, s * s)[:k]
    n = torch.bincount(y, minlength=k + 1)[:k].to(s.dtype)
    present = n > 0
    inv_n = torch.where(present, 1.0 / n.clamp_min(1.0), torch.zeros_like(n))
    mu1, mu2 = m1 * inv_n[:, None], m2 * inv_n[:, None]
    d1, d2 = torch.diagonal(mu1), torch.diagonal(mu2)
    own = d2 - 2 * margin * d1 + margin * margin
    term = own[:, None] + mu2.T - 2 * (d1 - margin)[:, None] * mu1.T
    pair = present[:, None] & present[None, :] & ~torch.eye(k, dtype=torch.bool, device=s.device)
    kb = present.sum().to(s.dtype)
    total = torch.where(pair, term, torch.zeros_like(term)).sum()
    return total / (2 * kb * (kb - 1)).clamp_min(1.0)


# Alternative AUC_STRATEGY settings timed with --strategies (the default is the device's own).
STRATEGIES = {
    "auc:one step, tiled sums": {"chunk": 0, "tile": 4096},
    "auc:one step, untiled sums": {"chunk": 0, "tile": 0},
    "auc:spans of 16M, tiled sums": {"chunk": 1 << 24, "tile": 4096},
    "auc:spans of 512K, untiled sums": {"chunk": 1 << 19, "tile": 0},
}


def _with_strategy(strategy: dict):
    def run(lg, lb):
        key = lg.device.type
        saved = AUC_STRATEGY.get(key)
        AUC_STRATEGY[key] = strategy
        try:
            return auc_loss(lg, lb)
        finally:
            AUC_STRATEGY[key] = saved
    return run


VARIANTS = {
    "cross_entropy": lambda lg, lb: cross_entropy(lg, lb),
    "torch_ce": lambda lg, lb: F.cross_entropy(lg, lb, ignore_index=IGNORE_INDEX),
    "auc_loss": lambda lg, lb: auc_loss(lg, lb),
    **{name: _with_strategy(st) for name, st in STRATEGIES.items()},
    "auc_index_add": lambda lg, lb: auc_index_add(lg, lb),
    "pat_loss": lambda lg, lb: pat_loss(lg, lb),
    "auc_published": lambda lg, lb: auc_published(lg, lb),
}
SLOW = {"auc_published"}
AUC_VARIANTS = [name for name in VARIANTS if name.startswith("auc")]


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


def check_agreement(device: torch.device, seed: int, names: list[str]) -> float:
    """Every other AUC variant equals auc_loss (value and gradient) on small float32 inputs."""
    worst = 0.0
    for k in (5, 19, 150):
        logits, labels = make_inputs(2, k, 24, 32, 0.1, seed, device)
        va = fwd_bwd("auc_loss", logits, labels)
        ga = logits.grad.clone()
        for name in names:
            if name == "auc_loss":
                continue
            vl = fwd_bwd(name, logits, labels)
            rel = abs(float(va) - float(vl)) / max(abs(float(va)), 1e-12)
            worst = max(worst, rel)
            assert rel <= 1e-4, f"{name} {float(vl)} != auc_loss {float(va)} (K={k}, relative {rel:.2e})"
            assert torch.allclose(ga, logits.grad, rtol=1e-3, atol=1e-4 * float(ga.abs().max())), \
                f"{name}: gradients differ from auc_loss (K={k})"
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

def variant_names(args, device: torch.device) -> list[str]:
    strategies = args.strategies if args.strategies is not None else device.type == "cuda"
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    return [name for name in VARIANTS if name not in skip and (strategies or name not in STRATEGIES)]


def bench(args, device: torch.device, k: int) -> dict:
    logits, labels = make_inputs(args.batch, k, args.height, args.width, args.ignore, args.seed, device)
    n = labels.numel()
    valid = int((labels != IGNORE_INDEX).sum())
    present = int(torch.unique(labels[labels != IGNORE_INDEX]).numel())
    names = variant_names(args, device)
    values, best, runs = {}, {name: float("inf") for name in names}, {name: 0 for name in names}
    for name in names:  # warm-up, and the values; the slow loop's first call is also timed
        _sync(device)
        t = time.perf_counter()
        values[name] = float(fwd_bwd(name, logits, labels))
        _sync(device)
        if name in SLOW:
            best[name], runs[name] = time.perf_counter() - t, 1
    rel = {name: abs(values[name] - values["auc_loss"]) / max(abs(values["auc_loss"]), 1e-12)
           for name in names if name in AUC_VARIANTS}
    tol = 1e-4 if args.quick else 1e-3
    bad = {name: r for name, r in rel.items() if r > tol}
    assert not bad, f"AUC variants disagree with auc_loss {values['auc_loss']}: {bad}"
    for r in range(args.repeats):
        for name in (names if r % 2 == 0 else names[::-1]):
            if name in SLOW and runs[name] >= args.loop_repeats:
                continue
            _sync(device)
            t = time.perf_counter()
            fwd_bwd(name, logits, labels)
            _sync(device)
            best[name] = min(best[name], time.perf_counter() - t)
            runs[name] += 1
    peak, method = {}, None
    if not args.no_memory:
        for name in names:
            if device.type == "cuda":
                peak[name], method = cuda_peak_mb(name, logits, labels, device), "cuda.max_memory_allocated"
            else:
                peak[name], method = cpu_peak_mb(args, name, k)
    del logits, labels

    ce_name = min(("cross_entropy", "torch_ce"), key=lambda m: best.get(m, float("inf")))
    ce_t, ce_m = best[ce_name], peak.get("cross_entropy")
    print(f"\nK = {k}, {device}: logits {args.batch}x{k}x{args.height}x{args.width} float32 "
          f"({n * k * 4 / 2**20:,.1f} MB), n = {n:,} pixels ({1 - valid / n:.1%} ignored), {present} classes present; "
          f"best of {args.repeats} (auc_published: {runs.get('auc_published', 0)}), interleaved")
    print(f"  {'variant':<34} {'fwd+bwd ms':>11} {'x CE':>7} {'peak MB':>10} {'x CE':>7}   loss")
    for name in names:
        mem = (f"{peak[name]:>10,.1f} {peak[name] / ce_m:>7.2f}" if peak and ce_m and ce_m > 0
               else f"{'-':>10} {'-':>7}")
        print(f"  {name:<34} {best[name] * 1e3:>11.2f} {best[name] / ce_t:>7.2f} {mem}   {values[name]:.6g}")
    auc_ce = best["auc_loss"] / ce_t
    print(f"  x CE: against {ce_name}, the faster cross-entropy row")
    print(f"  auc_loss fwd+bwd = {auc_ce:.2f}x CE (target <= 1.5x: {'met' if auc_ce <= 1.5 else 'NOT met'})")
    speedup = best["auc_published"] / best["auc_loss"] if "auc_published" in best else None
    if speedup is not None:
        print(f"  auc_loss is {speedup:.1f}x faster than the published-style loop (target >= 10x: "
              f"{'met' if speedup >= 10 else 'NOT met'}); values agree to {rel['auc_published']:.1e} relative")
    previous = best["auc_index_add"] / best["auc_loss"] if "auc_index_add" in best else None
    if previous is not None:
        print(f"  auc_loss is {previous:.1f}x faster than the previous auc_loss (index_add_ moments)")
    if method:
        print(f"  peak memory: {method}" + (" in a fresh subprocess per variant (RSS high-water mark minus RSS before "
                                            "the call; includes the logits' gradient)" if device.type == "cpu" else
                                            " minus memory allocated before the call"))
    return {"device": str(device), "K": k, "batch": args.batch, "height": args.height, "width": args.width,
            "pixels": n, "ignored_share": 1 - valid / n, "classes_present": present, "timed_runs": runs,
            "time_ms": {m: v * 1e3 for m, v in best.items()}, "ce_reference": ce_name,
            "time_vs_ce": {m: v / ce_t for m, v in best.items()}, "peak_mb": peak or None,
            "peak_vs_ce": {m: v / ce_m for m, v in peak.items()} if peak and ce_m else None,
            "memory_method": method, "loss_values": values, "auc_relative_difference": rel,
            "auc_time_vs_ce": auc_ce, "auc_speedup_vs_published": speedup, "auc_speedup_vs_previous": previous,
            "default_strategy": AUC_STRATEGY.get(device.type), "strategies": {m: STRATEGIES[m] for m in names
                                                                            if m in STRATEGIES}}


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
    ap.add_argument("--loop-repeats", type=int, default=2, help="timed runs of the (slow) published-style loop")
    ap.add_argument("--skip", default="", help="comma-separated variants to leave out (e.g. auc_published)")
    ap.add_argument("--strategies", action=argparse.BooleanOptionalAction, default=None,
                    help="also time the alternative AUC strategies (default: on CUDA only)")
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
    alloc = {k: v for k, v in os.environ.items() if k.startswith("MALLOC_") or k == "THP_MEM_ALLOC_ENABLE"}
    print(f"allocator: {' '.join(f'{k}={v}' for k, v in sorted(alloc.items())) or 'glibc defaults'}")
    figures: dict = {"quick": args.quick, "cores": os.cpu_count(), "load_average": load, "torch": torch.__version__,
                     "threads": torch.get_num_threads(), "allocator_env": alloc, "results": []}
    for d in devices:
        rel = check_agreement(d, args.seed, [m for m in variant_names(args, d) if m in AUC_VARIANTS])
        print(f"{d}: every AUC variant == auc_loss on small inputs (K = 5, 19, 150): values to {rel:.1e} relative, "
              f"gradients close")
        for k in (int(x) for x in args.classes.split(",") if x.strip()):
            figures["results"].append(bench(args, d, k))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=1))
        print(f"\nfigures written to {args.json}")


if __name__ == "__main__":
    main()
