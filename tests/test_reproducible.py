"""The same `lt-data train` command twice on the same machine gives the same run, bit for bit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

TIMING = ("images_per_s",)  # the only fields of log.jsonl and metrics.json that measure the machine


def _train(work, val, run, *extra):
    cmd = [sys.executable, "-m", "lt_data", "train", "--work", str(work), "--val-work", str(val), "--run-dir", str(run),
           "--steps", "8", "--loss", "1*auc+ce", "--paste", "bank", "-q",
           "--set", "workers=2", "--set", "crop_size=[48,64]", "--set", "batch_size=2", "--set", "warmup=2",
           "--set", 'model_args={"base": 8}', "--set", "log_every=1", "--set", "threads=1", *extra]
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=300)
    log = [json.loads(line) for line in (Path(run) / "log.jsonl").read_text().splitlines()]
    for rec in log:
        for key in TIMING:
            rec.pop(key, None)
    return log, (Path(run) / "metrics.json").read_bytes()


def test_two_identical_runs_give_identical_losses_and_metrics(tiny_work, tmp_path):
    work, val = tiny_work
    log_a, metrics_a = _train(work, val, tmp_path / "a", "--set", "seed=3")
    log_b, metrics_b = _train(work, val, tmp_path / "b", "--set", "seed=3")
    losses = [r["loss"] for r in log_a if "loss" in r]
    assert len(losses) == 8 and all("pasted_share" in r for r in log_a if "loss" in r)
    assert log_a == log_b                      # every step's loss, learning rate and paste figures
    assert metrics_a == metrics_b              # byte for byte (metrics.json holds no timing field)
    assert json.loads(metrics_a)["step"] == 8
    record = json.loads((tmp_path / "a" / "config.json").read_text())
    assert record["environment"]["threads"] == 1 and record["environment"]["device"] == "cpu"
    # the comparison can fail: another seed is another run
    log_c, metrics_c = _train(work, val, tmp_path / "c", "--set", "seed=4")
    assert [r["loss"] for r in log_c if "loss" in r] != losses and metrics_c != metrics_a


def test_deterministic_option_leaves_cpu_numbers_and_global_state_as_they_were(tiny_work, tmp_path):
    import torch

    from lt_data.training.config import TrainConfig
    from lt_data.training.train import train

    work, _ = tiny_work
    base = dict(work=str(work), model_args={"base": 8}, loss="1*auc+ce", paste="bank", crop_size=(48, 64),
                batch_size=2, steps=3, warmup=1, workers=0, log_every=1, threads=1)

    def losses(run):
        return [json.loads(line).get("loss") for line in (run / "log.jsonl").read_text().splitlines()]

    train(TrainConfig(run=str(tmp_path / "plain"), **base), progress=False)
    assert not torch.are_deterministic_algorithms_enabled()
    train(TrainConfig(run=str(tmp_path / "det"), deterministic=True, **base), progress=False)
    assert not torch.are_deterministic_algorithms_enabled()  # restored after the run
    assert losses(tmp_path / "plain") == losses(tmp_path / "det")


@pytest.mark.parametrize("threads", [1, 2])
def test_environment_is_recorded_not_compared_on_resume(threads):
    from lt_data.training.runs import resume_conflicts

    saved = {"config": {"steps": 4, "seed": 0}, "inputs": {}, "world_size": 1, "environment": {"threads": 1}}
    now = {"config": {"steps": 8, "seed": 0}, "inputs": {}, "world_size": 1, "environment": {"threads": threads}}
    assert resume_conflicts(saved, now, 4) == []
