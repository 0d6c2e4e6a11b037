"""Trust boundaries: nothing runs that the user did not ask for, nothing is overwritten that lt-data did not write."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

LT = [sys.executable, "-m", "lt_data"]
TINY = ["--set", "threads=1", "--set", "workers=0", "--set", "crop_size=[48,64]", "--set", "batch_size=2",
        "--set", 'model_args={"base": 8}', "--set", "warmup=1"]


class _Payload:
    """Unpickling this runs a shell command: what a hostile checkpoint carries."""

    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def _run(*args, cwd=None):
    return subprocess.run(LT + list(args), capture_output=True, text=True, cwd=cwd)


def _one_error_line(r) -> str:
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in r.stderr, r.stderr
    return lines[0]


@pytest.fixture(scope="module")
def trained_run(tiny_work, tmp_path_factory) -> Path:
    """A run directory of one training step on ``tiny_work`` (``lt-data train`` in a process of its own),
    trained once for the module; the tests copy it (``_run_copy``) before using it."""
    run = tmp_path_factory.mktemp("trust") / "run"
    r = _run("train", "--work", str(tiny_work[0]), "--run-dir", str(run), "--steps", "1", *TINY, "-q")
    assert r.returncode == 0, r.stderr
    return run


def _run_copy(trained_run: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(trained_run, tmp_path / "run"))


def test_a_hostile_checkpoint_never_runs(tiny_work, trained_run, tmp_path):
    work, val = tiny_work
    run = _run_copy(trained_run, tmp_path)
    ckpt = torch.load(run / "checkpoint.pt", weights_only=True)  # ours loads safely
    target = tmp_path / "pwned"
    ckpt["model"] = _Payload(target)
    torch.save(ckpt, run / "checkpoint.pt")
    line = _one_error_line(_run("evaluate", str(run / "checkpoint.pt"), "--work", str(val), "--out",
                                str(tmp_path / "m.json")))
    assert "--trust-checkpoint" in line and "checkpoint.pt" in line
    line = _one_error_line(_run("train", "--work", str(work), "--run-dir", str(run), "--steps", "2", *TINY, "-q"))
    assert "--trust-checkpoint" in line
    assert not target.exists()


def test_checkpoints_round_trip_the_numpy_rng(tiny_work, tmp_path):
    """The trainer's checkpoint holds tensors and plain types only, and resuming restores numpy's state."""
    import numpy as np

    from lt_data.training.checkpoints import rng_state as _rng_state, set_rng_state as _set_rng_state

    np.random.seed(7)
    state = _rng_state()
    torch.save({"rng": state}, tmp_path / "c.pt")
    expected = np.random.random(5)
    np.random.seed(0)
    _set_rng_state(torch.load(tmp_path / "c.pt", weights_only=True)["rng"])
    assert np.array_equal(np.random.random(5), expected)


def test_a_hostile_pipeline_never_runs(tiny_work, tmp_path):
    work, _ = tiny_work
    target = tmp_path / "pwned"
    (tmp_path / "evil.py").write_text(f"import pathlib\npathlib.Path({str(target)!r}).touch()\n"
                                      "def model(num_classes, **kw):\n    raise SystemExit(0)\n")
    pipe = tmp_path / "p.toml"
    pipe.write_text(f'work = "{work}"\n[dataset]\nlayout = "folder"\nroot = "{tmp_path}"\nsplit = "train"\n'
                    '[train]\nmodel = "evil:model"\nsteps = 1\n')
    env = dict(os.environ, PYTHONPATH=str(tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    for args in (["run", str(pipe), "--stages", "train"], ["train", str(pipe)]):
        r = subprocess.run(LT + args, capture_output=True, text=True, env=env)
        line = _one_error_line(r)
        assert "evil" in line and "--allow-code" in line, line
    assert not target.exists()


def test_stats_refuses_a_user_folder(camvid_root, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "dataset.json").write_text('{"my": "notes"}')
    line = _one_error_line(_run("stats", "-l", "camvid", str(camvid_root), "--out", str(out), "-q"))
    assert "dataset.json" in line and "did not write" in line
    assert json.loads((out / "dataset.json").read_text()) == {"my": "notes"}
    assert not (out / "pixel_counts.npy").exists()


def test_stats_rewrites_its_own_work_directory(tiny_copy):
    from lt_data.data.layouts import get_layout
    from lt_data.data.stats import load_stats, open_layout, run_stats

    before = (tiny_copy / "pixel_counts.npy").read_bytes()
    run_stats(open_layout(tiny_copy), tiny_copy, workers=1, progress=False)
    assert (tiny_copy / "pixel_counts.npy").read_bytes() == before and load_stats(tiny_copy).num_images == 8
    assert get_layout  # imported for the layout registry


def test_evaluate_refuses_to_overwrite_a_foreign_file(tiny_work, trained_run, tmp_path):
    val = tiny_work[1]
    run = _run_copy(trained_run, tmp_path)
    notes = tmp_path / "notes.json"
    notes.write_text("my notes")
    line = _one_error_line(_run("evaluate", str(run / "checkpoint.pt"), "--work", str(val), "--out", str(notes)))
    assert "notes.json" in line
    assert notes.read_text() == "my notes"
    ok = _run("evaluate", str(run / "checkpoint.pt"), "--work", str(val), "--out", str(tmp_path / "m.json"), "-q")
    assert ok.returncode == 0, ok.stderr
    again = _run("evaluate", str(run / "checkpoint.pt"), "--work", str(val), "--out", str(tmp_path / "m.json"), "-q")
    assert again.returncode == 0, again.stderr  # its own metrics file may be replaced


def test_evaluate_into_a_run_being_trained_is_refused(tiny_work, trained_run, tmp_path):
    from lt_data.jobs.artifacts import lock

    val = tiny_work[1]
    run = _run_copy(trained_run, tmp_path)
    with lock(run, "this training run"):  # as a training in progress holds it
        line = _one_error_line(_run("evaluate", str(run / "checkpoint.pt"), "--work", str(val)))
    assert "--out" in line and "training" in line
    assert not (run / "metrics.json").exists()


def test_train_fresh_refuses_a_user_folder(tiny_work, tmp_path):
    work, _ = tiny_work
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "checkpoint.pt").write_bytes(b"my own model")
    line = _one_error_line(_run("train", "--work", str(work), "--run-dir", str(folder), "--steps", "1", *TINY,
                                "--fresh", "-q"))
    assert "checkpoint.pt" in line and "did not write" in line
    assert (folder / "checkpoint.pt").read_bytes() == b"my own model"
