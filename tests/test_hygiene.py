"""Every process a command starts ends with it, however it ends; the lock is the holder's alone.

Each command that starts processes is run on a dataset large enough to be caught mid-way, killed
(SIGKILL) or terminated (SIGTERM) as soon as its workers exist (a store build: as soon as its workers
and its temporary store exist), and then: no process it started is alive 5 s later (read from the
process table), its lock is free, nothing half-written is left, and a re-run gives the same bytes as
an uninterrupted run.

The store builds run on CamVid train (the session's ``camvid_stores``: its bank and cutmix stores are
the uninterrupted runs); statistics, evaluation and the Dask backend on CamVid train repeated
``STATS_REPEAT`` times, since counting is fast.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

from builders import repeated_camvid

LT = [sys.executable, "-m", "lt_data"]
STATS_REPEAT = 8  # CamVid train 8 times over: 2936 samples, 2 s of counting on 2 cores (1 s after start-up)


def _children(pid: int) -> set[int]:
    """Every descendant of ``pid`` now alive, from /proc."""
    parent_of = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                parent_of[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    out, frontier = set(), {pid}
    while frontier:
        frontier = {c for c, p in parent_of.items() if p in frontier and c not in out}
        out |= frontier
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"  # a zombie has ended; only its parent's reaping is left


def _cpu_seconds(pids: set[int]) -> float:
    """User + system CPU seconds the processes have used so far (from /proc)."""
    total = 0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


def _kill_midway(cmd: list[str], sig: int, want: int = 2, timeout: float = 60,
                 ready=None) -> tuple[int, set[int], str]:
    """Start ``cmd``, wait until it has ``want`` descendant processes (and, given ``ready``, until
    ``ready()`` is true: the command is in the middle of its work), send ``sig`` to the main process
    alone; returns (exit code, the descendants seen, stderr)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen: set[int] = set()
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout and proc.poll() is None:
        seen |= _children(proc.pid)
        if len(seen) >= want and (ready is None or ready()):
            if ready is None:
                time.sleep(0.1)  # let them take work
            seen |= _children(proc.pid)
            break
        time.sleep(0.01)
    assert proc.poll() is None and len(seen) >= want, f"{cmd} ended before its workers could be caught"
    os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, seen, err


def _all_gone(pids: set[int], within: float = 5.0) -> set[int]:
    t0 = time.monotonic()
    while time.monotonic() - t0 < within:
        left = {p for p in pids if _alive(p)}
        if not left:
            return set()
        time.sleep(0.1)
    left = {p for p in pids if _alive(p)}
    for p in left:  # do not leave them to the rest of the suite
        os.kill(p, signal.SIGKILL)
    return left


def _files(directory: Path) -> dict[str, tuple[int, int]]:
    """Relative path → (size, CRC-32) of every file under ``directory``, timing records left out."""
    out = {}
    for p in sorted(directory.rglob("*")):
        if p.is_file() and not p.name.startswith(".") and p.name not in ("zarr.json",):
            out[str(p.relative_to(directory))] = (p.stat().st_size, zlib.crc32(p.read_bytes()))
    return out


def _stats_cmd(root: Path, out: Path) -> list[str]:
    return LT + ["stats", "-l", "folder", str(root), "--ignore-index", "11", "--out", str(out), "-j", "2", "-q"]


@pytest.fixture(scope="module")
def stats_folder(camvid_root, tmp_path_factory) -> tuple[Path, Path]:
    """A dataset big enough that counting it takes seconds (statistics are fast), and its statistics."""
    root = repeated_camvid(camvid_root, tmp_path_factory.mktemp("stats_data"), STATS_REPEAT)
    work = tmp_path_factory.mktemp("stats_ref")
    subprocess.run(_stats_cmd(root, work), check=True)
    return root, work


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_stats_killed_leaves_no_worker(stats_folder, tmp_path, sig):
    root, reference = stats_folder
    out = tmp_path / "stats"
    code, seen, err = _kill_midway(_stats_cmd(root, out), sig)
    assert code == -signal.SIGKILL if sig == signal.SIGKILL else code == 143
    if sig == signal.SIGTERM:
        assert err.strip().splitlines()[-1].startswith("terminated") and "Traceback" not in err
    assert not _all_gone(seen), "workers outlived the command"
    subprocess.run(_stats_cmd(root, out), check=True)
    a, b = _files(out), _files(reference)
    for name in ("pixel_counts.npy", "ignored_pixels.npy", "samples.jsonl"):
        assert a[name] == b[name]


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
@pytest.mark.parametrize("stage", ["bank", "cutmix"])
def test_store_build_killed_leaves_no_worker_and_a_free_lock(camvid_stores, tmp_path, sig, stage):
    import shutil

    work = tmp_path / "work"  # camvid_stores' bank and cutmix stores: the uninterrupted builds
    shutil.copytree(camvid_stores, work, ignore=shutil.ignore_patterns("*.zarr", ".*"))
    cmd = LT + [stage, "build", str(work), "-j", "2", "-q"]
    code, seen, err = _kill_midway(cmd, sig, ready=lambda: any(work.glob(f".{stage}.zarr.tmp-*")))
    assert code == -signal.SIGKILL if sig == signal.SIGKILL else code == 143
    if sig == signal.SIGKILL:
        assert list(work.glob(f".{stage}.zarr.tmp-*")), "killed while it wrote its temporary store"
    if sig == signal.SIGTERM:
        assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("terminated")
        assert not list(work.glob(f".{stage}.zarr.tmp-*")), "SIGTERM left the temporary sibling"
    assert not _all_gone(seen), "workers outlived the command"
    again = subprocess.run(cmd, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr  # the lock died with its holder
    assert not list(work.glob(f".{stage}.zarr.tmp-*"))
    assert _files(work / f"{stage}.zarr") == _files(camvid_stores / f"{stage}.zarr")


def test_leftovers_removed_when_the_store_is_up_to_date(camvid_stores, tmp_path):
    import shutil

    work = tmp_path / "work"
    shutil.copytree(camvid_stores, work, ignore=shutil.ignore_patterns(".*", "bank.zarr"))
    stale = work / ".cutmix.zarr.tmp-99999-abcdef"   # what a killed --force build leaves
    (stale / "boxes").mkdir(parents=True)
    (stale / "boxes" / "c0").write_bytes(b"x" * 1000)
    user = work / "cutmix-notes"                     # not ours: never touched
    user.mkdir()
    r = subprocess.run(LT + ["cutmix", "build", str(work), "-j", "1", "-q"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert not stale.exists() and user.is_dir()


def test_lock_is_not_kept_by_forked_children(tmp_path):
    """A child forked while the lock is held (a worker) does not keep it after the holder is gone."""
    code = f"""
import os, sys, time
sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})
from lt_data.jobs.artifacts import lock
with lock({str(tmp_path / 'artifact')!r}, "x"):
    child = os.fork()
    if child == 0:
        time.sleep(30)
        os._exit(0)
    open({str(tmp_path / 'child.pid')!r}, "w").write(str(child))
    os.kill(os.getpid(), 9)
"""
    subprocess.run([sys.executable, "-c", code])
    from lt_data.core.errors import ArtifactError
    from lt_data.jobs.artifacts import lock

    t0 = time.monotonic()
    while True:  # free although the forked child sleeps 30 s (once it has run its fork hook: a moment)
        try:
            with lock(tmp_path / "artifact", "x"):
                break
        except ArtifactError:
            assert time.monotonic() - t0 < 5, "the forked child kept the lock"
            time.sleep(0.05)
    os.kill(int((tmp_path / "child.pid").read_text()), signal.SIGKILL)  # the sleeping child, by its pid


def _ended(code: int, err: str, sig: int) -> None:
    if sig == signal.SIGKILL:
        assert code == -signal.SIGKILL
    else:
        assert code == 143 and "Traceback" not in err and err.strip().splitlines()[-1].startswith("terminated"), err


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_evaluate_pred_killed_leaves_no_worker(stats_folder, tmp_path, sig):
    root, reference = stats_folder
    pred = root / "labels" / "train"  # the labels themselves as predictions: train ids 0..10, 11 void
    cmd = LT + ["evaluate", "--pred", str(pred), "--work", str(reference), "-j", "2", "-q", "--out",
                str(tmp_path / "m.json"), "--skip-bad"]
    code, seen, err = _kill_midway(cmd, sig)
    _ended(code, err, sig)
    assert not _all_gone(seen), "workers outlived the command"


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_train_killed_leaves_no_dataloader_worker(tiny_work, tmp_path, sig):
    work, _ = tiny_work
    cmd = LT + ["train", "--work", str(work), "--run-dir", str(tmp_path / "run"), "--steps", "500", "--set",
                "workers=2", "--set", "crop_size=[48,64]", "--set", "batch_size=2", "--set",
                'model_args={"base": 8}', "--set", "threads=1", "-q"]
    code, seen, err = _kill_midway(cmd, sig)
    _ended(code, err, sig)
    assert not _all_gone(seen), "DataLoader workers outlived the trainer"
    r = subprocess.run(cmd[:-1] + ["--steps", "2", "--fresh", "-q"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr  # the run directory's lock is free


def test_dask_ctrl_c_is_one_line(camvid_root, tmp_path):
    pytest.importorskip("distributed")
    data = repeated_camvid(camvid_root, tmp_path / "data", 80)  # long enough to be interrupted while counting
    cmd = LT + ["stats", "-l", "folder", str(data), "--ignore-index", "11", "--out", str(tmp_path / "s"),
                "--backend", "dask", "--scheduler", "local:2", "-q"]
    # as from a terminal: Ctrl-C handled (a test run in the background inherits it ignored)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    t0 = time.monotonic()
    # until both workers have run their preload (SIGINT ignored: past importing distributed; a Ctrl-C
    # before that still prints their tracebacks, a known gap) and are busy counting
    while time.monotonic() - t0 < 90 and proc.poll() is None:
        workers = {p for p in _children(proc.pid) if b"spawn_main" in _cmdline(p)}
        before = _cpu_seconds(workers)
        time.sleep(0.3)
        if len(workers) >= 2 and all(_ignores_sigint(p) for p in workers) and _cpu_seconds(workers) - before > 0.1:
            break
    seen = _children(proc.pid)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole process group
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == ["interrupted: nothing half-written was left marked complete"], err
    assert not _all_gone(seen, within=10)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _ignores_sigint(pid: int) -> bool:
    """Whether the process ignores SIGINT now (its SigIgn mask in /proc has bit 1 set)."""
    try:
        line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("SigIgn:"))
    except (OSError, StopIteration):
        return False
    return bool(int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)))


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_dask_backend_killed_leaves_no_worker(stats_folder, tmp_path, sig):
    pytest.importorskip("distributed")
    root = stats_folder[0]
    cmd = LT + ["stats", "-l", "folder", str(root), "--ignore-index", "11", "--out", str(tmp_path / "s"),
                "--backend", "dask", "--scheduler", "local:2", "-q"]
    code, seen, err = _kill_midway(cmd, sig)
    _ended(code, err, sig)
    assert not _all_gone(seen), "Dask's worker processes outlived the command"


def test_after_the_one_line_threads_at_shutdown_print_nothing():
    """multiprocessing's resource-sharer thread reports its listener closing under it at shutdown through
    sys.excepthook (seen once after SIGTERM with DataLoader workers): after the "terminated" line, silent."""
    code = ("import sys, threading\n"
            "from lt_data.entry.cli.exits import _quiet_exit\n"
            "_quiet_exit()\n"
            "try:\n    raise OSError('listener closed')\nexcept OSError:\n    sys.excepthook(*sys.exc_info())\n"
            "t = threading.Thread(target=lambda: 1 / 0)\nt.start()\nt.join()\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=Path(__file__).resolve().parents[1])
    assert p.returncode == 0 and p.stderr == "", p.stderr
