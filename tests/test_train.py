"""The trainer: exact resume, DDP on CPU with gloo, evaluation output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from lt_data.data.stats import load_stats
from lt_data.training.config import TrainConfig
from lt_data.training.evaluate import evaluate_checkpoint
from lt_data.training.train import train


def _cfg(work, run, **kw):
    base = dict(work=str(work), run=str(run), model="deeplabv3plus_small", model_args={"base": 8}, loss="1*auc+ce",
                paste="bank", paste_args={"per_image": True}, crop_size=(48, 64), batch_size=2, steps=6, warmup=2,
                workers=0, log_every=1, checkpoint_every=100, threads=1)
    base.update(kw)
    return TrainConfig(**base)


# a few-second training through the command line
TINY = ["--set", "threads=1", "--set", "workers=0", "--set", "crop_size=[48,64]", "--set", "batch_size=2",
        "--set", 'model_args={"base": 8}', "--set", "warmup=1", "--set", "log_every=1"]


def _losses(run):
    return [r["loss"] for r in map(json.loads, (Path(run) / "log.jsonl").read_text().splitlines()) if "loss" in r]


def test_resume_reproduces_the_uninterrupted_run(tiny_work, tmp_path):
    work, _ = tiny_work
    train(_cfg(work, tmp_path / "a"), progress=False)
    full = _losses(tmp_path / "a")
    assert len(full) == 6
    train(_cfg(work, tmp_path / "b"), progress=False, stop_after=3)  # 8 images / batch 2: mid-epoch stop
    assert len(_losses(tmp_path / "b")) == 3
    train(_cfg(work, tmp_path / "b"), progress=False)  # resumes from the checkpoint
    assert _losses(tmp_path / "b") == full


def test_evaluation_writes_bucketed_metrics(tiny_work, tmp_path):
    work, val = tiny_work
    m = train(_cfg(work, tmp_path / "r", steps=2, val_work=str(val), paste="none", loss="pat"), progress=False)
    assert set(m) >= {"per_class", "miou", "miou_head", "miou_middle", "miou_tail", "pixel_accuracy", "mean_accuracy"}
    assert [c["id"] for c in m["per_class"]] == list(range(10))
    assert all(c["iou"] is None or 0 <= c["iou"] <= 1 for c in m["per_class"])
    again = evaluate_checkpoint(tmp_path / "r" / "checkpoint.pt", val, out=tmp_path / "m.json", progress=False)
    assert again["confusion_matrix"] == m["confusion_matrix"]
    assert json.loads((tmp_path / "m.json").read_text())["miou"] == pytest.approx(m["miou"])


def _ddp_worker(rank, world, init, work, run, out):
    import lt_data.training.dataset
    import lt_data.training.models

    torch.distributed.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        # record what this rank trained on and keep its model, through the functions train() calls
        seen, models = [], []
        apply_paste, build_model = lt_data.training.dataset.apply_paste, lt_data.training.models.build_model

        def recording_paste(batch, *args, **kwargs):
            seen.append(batch["indices"].tolist())
            return apply_paste(batch, *args, **kwargs)

        def kept_model(*args, **kwargs):
            models.append(build_model(*args, **kwargs))
            return models[-1]

        lt_data.training.dataset.apply_paste, lt_data.training.models.build_model = recording_paste, kept_model
        train(_cfg(work, run, steps=2, workers=0), progress=False, resume=False)
        params = {name: p.detach().clone() for name, p in models[0].named_parameters()}
        torch.save({"indices": seen, "params": params}, Path(out) / f"rank{rank}.pt")
    finally:
        torch.distributed.destroy_process_group()


def test_two_process_gloo_ddp(tiny_work, tmp_path):
    work, _ = tiny_work
    init = f"file://{tmp_path / 'init'}"
    mp.spawn(_ddp_worker, args=(2, init, str(work), str(tmp_path / "ddp"), str(tmp_path)), nprocs=2, join=True)
    ckpt = torch.load(tmp_path / "ddp" / "checkpoint.pt", weights_only=False)
    assert ckpt["step"] == 2
    assert len(_losses(tmp_path / "ddp")) == 2
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    # DDP keeps the replicas identical, and rank 0's checkpoint is that model
    assert ranks[0]["params"].keys() == ranks[1]["params"].keys() and ranks[0]["params"].keys() <= ckpt["model"].keys()
    for name, p in ranks[0]["params"].items():
        assert torch.equal(p, ranks[1]["params"][name]) and torch.equal(p, ckpt["model"][name]), name
    # 8 images, batch 2 per rank, 2 ranks: the 2 steps are one epoch, each image seen by exactly one rank
    seen = [sum(r["indices"], []) for r in ranks]
    assert len(seen[0]) == len(seen[1]) == 4
    assert not set(seen[0]) & set(seen[1]) and set(seen[0]) | set(seen[1]) == set(range(8))


def test_torchrun_cli_trains_and_evaluates(tiny_work, tmp_path):
    """Two gloo processes through the command line with a validation split: the final evaluation
    runs after DDP training and writes metrics.json, as a single-process evaluation would."""
    import os
    import subprocess
    import sys

    work, val = tiny_work
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "lt_data.entry.cli", "train", "--work", str(work), "--val-work", str(val), "--run-dir", str(run),
           "--steps", "2", "--paste", "none", "-q", *TINY]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["step"] == 2 and metrics["split"]["images"] == 4
    assert json.loads((run / "config.json").read_text())["world_size"] == 2
    # the shards' confusion matrices add up to the whole split, as the checkpoint evaluates alone
    alone = evaluate_checkpoint(run / "checkpoint.pt", val, out=tmp_path / "alone.json", progress=False)
    cm, cm1 = torch.tensor(metrics["confusion_matrix"]), torch.tensor(alone["confusion_matrix"])
    assert cm.sum() == cm1.sum() == load_stats(val).labelled_pixels  # every labelled pixel, once
    assert (cm - cm1).abs().sum() <= cm.sum() // 1000  # batching may flip a rare tied pixel, no more


def test_unknown_option_is_refused():
    from lt_data.core.errors import LtDataError

    with pytest.raises(LtDataError, match="unknown training option"):
        TrainConfig.from_dict({"work": "w", "run": "r", "epochs": 3})


def test_a_redirected_log_gets_no_evaluation_bar_and_few_bar_updates(tiny_work, tmp_path):
    """stderr to a file (not a terminal): the training bar writes every 30 s at most, and the
    evaluations inside the run draw no bar of their own."""
    import subprocess
    import sys

    work, val = tiny_work
    with open(tmp_path / "log.txt", "w") as err:
        subprocess.run([sys.executable, "-m", "lt_data", "train", "--work", str(work), "--val-work", str(val),
                        "--run-dir", str(tmp_path / "r"), "--steps", "6", "--set", "eval_every=2", *TINY],
                       stdout=subprocess.DEVNULL, stderr=err, check=True, timeout=300)
    text = (tmp_path / "log.txt").read_text()
    assert "train r" in text  # the bar is there
    assert "evaluate" not in text and text.count("\r") <= 4, text[-2000:]
