"""The trainer: exact resume, DDP on CPU with gloo, evaluation output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from lt_data.bank import build_bank
from lt_data.buckets import write_buckets
from lt_data.layouts import get_layout
from lt_data.stats import run_stats
from lt_data.synthetic import generate_street_scenes
from lt_data.train import TrainConfig, evaluate_checkpoint, split_work, train


@pytest.fixture(scope="module")
def tiny_work(tmp_path_factory):
    root = generate_street_scenes(tmp_path_factory.mktemp("data"), num_train=8, num_val=4, size=(96, 64), seed=1)
    work = tmp_path_factory.mktemp("work")
    run_stats(get_layout("folder", root, "train"), work, workers=1, progress=False)
    write_buckets(work)
    build_bank(work, min_area=8, progress=False, workers=1)
    val = split_work(work, "val", work / "eval-val", workers=1, progress=False)
    return work, val


def _cfg(work, run, **kw):
    base = dict(work=str(work), run=str(run), model="deeplabv3plus_small", model_args={"base": 8}, loss="1*auc+ce",
                paste="bank", paste_args={"per_image": True}, crop_size=(48, 64), batch_size=2, steps=6, warmup=2,
                workers=0, log_every=1, checkpoint_every=100, threads=1)
    base.update(kw)
    return TrainConfig(**base)


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


def _ddp_worker(rank, world, init, work, run):
    torch.distributed.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        train(_cfg(work, run, steps=2, workers=0), progress=False, resume=False)
        # DDP keeps replicas identical: compare a parameter across ranks
        ckpt_param = torch.zeros(1)
        if rank == 0:
            state = torch.load(Path(run) / "checkpoint.pt", weights_only=False)["model"]
            ckpt_param = next(iter(v for v in state.values() if v.dtype.is_floating_point)).flatten()[:1].clone()
        torch.distributed.broadcast(ckpt_param, 0)
    finally:
        torch.distributed.destroy_process_group()


def test_two_process_gloo_ddp(tiny_work, tmp_path):
    work, _ = tiny_work
    init = f"file://{tmp_path / 'init'}"
    mp.spawn(_ddp_worker, args=(2, init, str(work), str(tmp_path / "ddp")), nprocs=2, join=True)
    ckpt = torch.load(tmp_path / "ddp" / "checkpoint.pt", weights_only=False)
    assert ckpt["step"] == 2
    assert len(_losses(tmp_path / "ddp")) == 2


def test_unknown_option_is_refused():
    from lt_data.errors import LtDataError

    with pytest.raises(LtDataError, match="unknown training option"):
        TrainConfig.from_dict({"work": "w", "run": "r", "epochs": 3})
