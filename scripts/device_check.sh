#!/usr/bin/env bash
# One prepared check on a machine with one CUDA GPU (issue 14). From the repository root:
#
#     bash scripts/device_check.sh [OUT_DIR]          # OUT_DIR defaults to $OUT, else ./device-check
#     bash scripts/device_check.sh --prepare          # on a machine with a package index: fetch the
#                                                     # Kornia wheels into build/wheels (carry that folder)
#
# Parts, in order, each under its own time limit inside a total budget (BUDGET_S, default 450 s):
#   setup      lt-data installed without dependencies (torch is never touched); missing dependencies
#              and Kornia from the package index (or build/wheels), with torch pinned to the one there
#   tests      the CUDA tests: paste CPU == CUDA, every loss CPU == CUDA (1e-5), losses / paste /
#              apply_paste under torch.cuda.set_sync_debug_mode("error"); plus the loss, sync and paste
#              test files whole
#   loss       scripts/bench_loss.py --device cuda (fused AUC vs CE, strategies, published-style loop)
#   paste      scripts/bench_paste.py --device cuda --parts synthetic (batched kernel, Kornia's
#              RandomTransplantation on the same batch)
#   loader     scripts/bench_paste.py --device cuda --parts loader --dataset synthetic: the loader with
#              GPU paste against without. CamVid never travels to the GPU machine: this runs on
#              lt_data.training.synthetic's street scenes generated at CamVid's size (367 × 480×360)
#   train      200 training steps with bf16 autocast on the same synthetic data (AUC + CE, memory-bank
#              paste on the GPU), then 200 with CE and no paste: images/s and peak GPU memory
#
# DEVICE=cpu QUICK=1 PYTHON=.venv/bin/python bash scripts/device_check.sh /tmp/dc   runs the same
# plumbing on the CPU at tiny sizes (a smoke test of this script, not a measurement).
#
# Fail-soft: a part that fails or runs out of time is reported as such and the next one runs; every
# part appends its figures to OUT_DIR/device_check.md as soon as it ends (JSON and logs beside it).
# Nothing is downloaded except through pip from the configured package index.
set -u

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO" || exit 1
PY="${PYTHON:-python3}"

if [ "${1:-}" = "--prepare" ]; then
    # The GPU machine may reach no package index: carry these wheels (build/wheels, ~23 MB) to it.
    mkdir -p build/wheels
    for v in 3.10 3.11 3.12 3.13; do
        "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version "$v" \
            --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d build/wheels kornia-rs || exit 1
    done
    "$PY" -m pip download -q --no-deps -d build/wheels "kornia>=0.8" pytest pluggy iniconfig packaging || exit 1
    ls -la build/wheels
    exit 0
fi

OUT_DIR="${1:-${OUT:-$REPO/device-check}}"
mkdir -p "$OUT_DIR"
OUT_DIR="$(cd "$OUT_DIR" && pwd)"
REPORT="$OUT_DIR/device_check.md"
BUDGET_S="${BUDGET_S:-450}"
START=$(date +%s)
# Synthetic data, statistics, bank and training runs live outside OUT_DIR (hundreds of MB that need not
# come back): in SCRATCH, a temporary folder unless given.
MADE_SCRATCH=
if [ -z "${SCRATCH:-}" ]; then SCRATCH="$(mktemp -d -t lt-data-device-XXXXXX)"; MADE_SCRATCH=1; fi
WORK="$SCRATCH/work"
DEVICE="${DEVICE:-cuda}"
QUICK_ARGS=()
SYNTH=(--synthetic-images 367)
if [ "${QUICK:-0}" = 1 ]; then
    QUICK_ARGS=(--quick); SYNTH=(--synthetic-images 64 --loader-batches 3 --loader-repeats 1)
    export TRAIN_STEPS="${TRAIN_STEPS:-6}"
fi
STATUS=0

note() { printf '%s\n' "$@" | tee -a "$REPORT"; }
left() { echo $(( BUDGET_S - ($(date +%s) - START) )); }

# run_part NAME LIMIT_S COMMAND...: runs under min(LIMIT_S, time left), logs to OUT_DIR/NAME.log
run_part() {
    local name="$1" limit="$2"; shift 2
    local remaining; remaining=$(left)
    if [ "$remaining" -lt 20 ]; then
        note "" "## $name: SKIPPED (total budget of ${BUDGET_S} s spent)"; STATUS=1; return 1
    fi
    [ "$limit" -gt "$remaining" ] && limit=$remaining
    local t0; t0=$(date +%s)
    timeout --kill-after=10 "$limit" "$@" > "$OUT_DIR/$name.log" 2>&1
    local rc=$?
    local took=$(( $(date +%s) - t0 ))
    note "" "## $name: $( [ $rc -eq 0 ] && echo ok || { [ $rc -eq 124 ] && echo "TIMED OUT after ${limit} s" || echo "FAILED (exit $rc)"; } ) in ${took} s"
    [ $rc -ne 0 ] && STATUS=1
    return $rc
}

: > "$REPORT"
note "# Device check (issue 14)" ""
note "started $(date -u '+%Y-%m-%d %H:%M:%S') UTC, budget ${BUDGET_S} s, commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
note "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $("$PY" --version 2>&1)"
command -v nvidia-smi > /dev/null && note "gpu: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | head -1)"
note "data: CamVid does not travel to this machine; the loader and training parts run on lt_data.training.synthetic's street scenes generated here at CamVid's size (367 x 480x360, 10 classes, tail = pole, traffic sign, person, bicycle)."

# ---- setup ---------------------------------------------------------------------------------------------
setup() {
    set -x
    "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.is_available())" || return 1
    local torch_version; torch_version=$("$PY" -c "import torch; print(torch.__version__)")
    printf 'torch==%s\n' "$torch_version" > "$OUT_DIR/constraints.txt"   # pip may never change torch
    local pipargs=(--disable-pip-version-check --retries 0 --timeout 15 -c "$OUT_DIR/constraints.txt")
    local wheels=()
    [ -d build/wheels ] && wheels=(--no-index --find-links build/wheels)   # from scripts/device_check.sh --prepare
    "$PY" -m pip install --no-deps --no-build-isolation -e . || "$PY" -m pip install --no-deps -e . \
        || echo "lt-data not installed: using the source tree on PYTHONPATH"
    # the test runner and Kornia: from the carried wheels when there, else from the index
    local spec mod
    for spec in "pytest>=8" "kornia>=0.8"; do
        mod="${spec%%[<>=]*}"
        "$PY" -c "import $mod" 2>/dev/null && continue
        { [ ${#wheels[@]} -gt 0 ] && "$PY" -m pip install "${wheels[@]}" -c "$OUT_DIR/constraints.txt" "$spec"; } \
            || "$PY" -m pip install "${pipargs[@]}" "$spec" || echo "$mod not installed"
    done
    local missing
    missing=$("$PY" - <<'EOF'
import importlib.util
need = {"numpy": "numpy>=1.26", "cv2": "opencv-python-headless>=4.8", "PIL": "pillow>=10", "skimage": "scikit-image>=0.22",
        "typer": "typer>=0.12", "tqdm": "tqdm>=4.66", "zarr": "zarr>=3.1,<3.2", "matplotlib": "matplotlib>=3.8",
        "pycocotools": "pycocotools>=2.0.7"}
print(" ".join(f"'{spec}'" for mod, spec in need.items() if importlib.util.find_spec(mod) is None))
EOF
)
    if [ -n "$missing" ]; then
        eval "\"\$PY\" -m pip install \"\${pipargs[@]}\" $missing" || echo "some dependencies could not be installed: $missing"
    fi
    "$PY" -c "import torch; print('torch after setup', torch.__version__)"
    "$PY" -c "import kornia; print('kornia', kornia.__version__)" 2>/dev/null || true
}
export PY OUT_DIR WORK SCRATCH DEVICE
export -f setup
run_part setup 150 bash -c setup
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
grep -E "^(torch|torch after setup|kornia) " "$OUT_DIR/setup.log" | sed 's/^/    /' | tee -a "$REPORT"
grep -E "not installed|could not be installed" "$OUT_DIR/setup.log" | sed 's/^/    /' | tee -a "$REPORT"

# ---- the CUDA tests --------------------------------------------------------------------------------------
run_part tests 120 "$PY" -m pytest -q -rA -p no:cacheprovider --continue-on-collection-errors \
    tests/test_losses.py tests/test_sync_free.py tests/test_paste.py
grep -E "^(PASSED|FAILED|ERROR|SKIPPED).*cuda|^[0-9]+ (passed|failed)|passed|failed" "$OUT_DIR/tests.log" \
    | grep -iE "cuda|passed|failed|error" | tail -12 | sed 's/^/    /' | tee -a "$REPORT"

# ---- benchmarks --------------------------------------------------------------------------------------------
run_part loss 150 "$PY" scripts/bench_loss.py "${QUICK_ARGS[@]}" --device "$DEVICE" --json "$OUT_DIR/loss.json"
sed -n '/^K = /,/^  peak memory/p' "$OUT_DIR/loss.log" | sed 's/^/    /' | tee -a "$REPORT"
tail -3 "$OUT_DIR/loss.log" | grep -iE "error|assert" | sed 's/^/    /' | tee -a "$REPORT"

run_part paste 90 "$PY" scripts/bench_paste.py "${QUICK_ARGS[@]}" --device "$DEVICE" --parts synthetic \
    --json "$OUT_DIR/paste.json"
sed -n '/^\[synthetic/,$p' "$OUT_DIR/paste.log" | grep -v "^figures written" | sed 's/^/    /' | tee -a "$REPORT"

run_part loader 150 "$PY" scripts/bench_paste.py "${QUICK_ARGS[@]}" --device "$DEVICE" --parts loader --dataset synthetic \
    "${SYNTH[@]}" --work "$WORK" --workers "$(( $(nproc) > 8 ? 8 : $(nproc) ))" --json "$OUT_DIR/loader.json"
sed -n '/^\[loader/,$p' "$OUT_DIR/loader.log" | grep -v "^figures written" | sed 's/^/    /' | tee -a "$REPORT"

# ---- training ------------------------------------------------------------------------------------------------
train_part() {
    "$PY" - "$WORK" "$OUT_DIR" "$SCRATCH" <<'EOF'
import json, os, sys, time
from pathlib import Path

import torch

from lt_data.training.train import TrainConfig, train

work, out, scratch = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
if not (work / "bank.zarr").exists():
    raise SystemExit(f"{work}: no statistics and bank (the loader part builds them)")
workers = min(8, os.cpu_count() or 2)
steps = int(os.environ.get("TRAIN_STEPS", 200))
device = os.environ.get("DEVICE", "cuda")
cuda = device.startswith("cuda")
figures = {}
for name, loss, paste in (("auc+ce, bank paste", "1*auc+ce", "bank"), ("ce, no paste", "ce", "none")):
    run = scratch / f"train_{paste}"
    cfg = TrainConfig(work=str(work), run=str(run), model="deeplabv3plus_small", loss=loss, paste=paste,
                      paste_args={"per_image": True, "resize_ratio": [0.75, 1.25]} if paste == "bank" else {},
                      crop_size=(360, 480), batch_size=8, steps=steps, workers=workers, amp=True, device=device,
                      log_every=min(20, steps), checkpoint_every=10**9, warmup=min(20, steps // 2), lr=2e-3)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    train(cfg, progress=False, resume=False)
    if cuda:
        torch.cuda.synchronize()
    wall = time.perf_counter() - t
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line.strip()]
    after = min(40, steps // 2)
    steady = [r["images_per_s"] for r in log if r["step"] > after]
    figures[name] = {"steps": steps, "wall_s": wall, "images_per_s_overall": steps * 8 / wall,
                     "images_per_s_steady_median": sorted(steady)[len(steady) // 2] if steady else None,
                     "peak_gpu_mb": torch.cuda.max_memory_allocated() / 2**20 if cuda else float("nan"),
                     "loss_first": log[0]["loss"], "loss_last": log[-1]["loss"], "workers": workers}
    print(f"[train, {device}] {name}: {steps} steps, batch 8, crop 360x480, "
          f"{'bf16 autocast' if cuda else 'float32'}, {workers} workers: "
          f"{figures[name]['images_per_s_overall']:.1f} images/s overall (wall {wall:.1f} s, start-up included), "
          f"{figures[name]['images_per_s_steady_median'] or float('nan'):.1f} images/s median after step {after}, "
          f"peak GPU memory {figures[name]['peak_gpu_mb']:,.0f} MB, loss {log[0]['loss']:.3f} -> {log[-1]['loss']:.3f}",
          flush=True)
    (out / "train.json").write_text(json.dumps(figures, indent=1))
EOF
}
export -f train_part
run_part train 150 bash -c train_part
grep "^\[train" "$OUT_DIR/train.log" | sed 's/^/    /' | tee -a "$REPORT"

note "" "finished in $(( $(date +%s) - START )) s (budget ${BUDGET_S} s); logs and JSON beside this file in $OUT_DIR"
[ -n "$MADE_SCRATCH" ] && rm -rf "$SCRATCH"   # only the folder this run made
exit $STATUS
