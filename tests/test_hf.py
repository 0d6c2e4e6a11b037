"""A Hugging Face SegFormer trains through `lt-data train` with memory-bank paste and AUCSeg's loss,
and evaluates: its SemanticSegmenterOutput (.logits at 1/4 resolution) is taken as it is."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from typer.testing import CliRunner

from lt_data.entry.cli import app

transformers = pytest.importorskip("transformers")

TINY = {"hidden_sizes": [8, 16, 32, 64], "depths": [1, 1, 1, 1], "num_attention_heads": [1, 1, 2, 4],
        "decoder_hidden_size": 32}


def test_segformer_trains_with_bank_paste_and_auc_then_evaluates(camvid_work, camvid_small_bank, camvid_val_work,
                                                                 tmp_path):
    from lt_data.data.buckets import write_buckets

    work = tmp_path / "train"
    shutil.copytree(camvid_work, work)
    write_buckets(work)
    shutil.copytree(camvid_small_bank, work / "bank.zarr")  # Pedestrian, Bicyclist: a small bank
    val = camvid_val_work
    run = tmp_path / "run"
    result = CliRunner().invoke(app, [
        "train", "--work", str(work), "--run-dir", str(run), "--model", "segformer", "--loss", "1*auc+ce",
        "--paste", "bank", "--steps", "3", "-q",
        "--set", f"model_args={json.dumps(TINY)}", "--set", "crop_size=[96,128]", "--set", "batch_size=2",
        "--set", "workers=0", "--set", "warmup=1", "--set", 'paste_args={"tail": [9, 10]}'])
    assert result.exit_code == 0, result.output
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in log if "loss" in r]
    assert losses and all(torch.isfinite(torch.tensor(losses)))
    ckpt = torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=False)
    assert ckpt["step"] == 3 and any("decode_head" in k for k in ckpt["model"])
    ev = CliRunner().invoke(app, ["evaluate", str(run / "checkpoint.pt"), "--work", str(val), "--json", "-q"])
    assert ev.exit_code == 0, ev.output
    metrics = json.loads(ev.stdout)
    assert metrics["split"]["images"] == len((val / "samples.jsonl").read_text().splitlines()) and len(metrics["per_class"]) == 11
    assert 0.0 <= metrics["miou"] <= 1.0


def test_missing_transformers_is_one_line(monkeypatch, tiny_copy, tmp_path):
    import builtins

    real = builtins.__import__

    def no_transformers(name, *args, **kwargs):
        if name.startswith("transformers"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)  # as a missing package does
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_transformers)
    result = CliRunner().invoke(app, ["train", "--work", str(tiny_copy), "--run-dir", str(tmp_path / "r"),
                                      "--model", "segformer", "--steps", "1", "-q"])
    assert result.exit_code == 2 and "pip install 'lt-data[hf]'" in result.output and "Traceback" not in result.output
