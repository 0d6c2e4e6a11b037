"""Training-side mistakes end in one `error: ...` line and exit code 2, never a traceback; stale
artifacts (a bank or cutmix store, edited statistics) never reach training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from lt_data.entry.cli import app
from lt_data.core.errors import ArtifactError

runner = CliRunner()

TINY = ["--set", "threads=1", "--set", "workers=0", "--set", "crop_size=[48,64]", "--set", "batch_size=2",
        "--set", 'model_args={"base": 8}', "--set", "warmup=1", "-q"]


def _one_error_line(res, *words) -> str:
    assert res.exit_code == 2, (res.exit_code, res.output, res.exception)
    err = res.stderr.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in res.output, res.output
    for w in words:
        assert w in err, (w, err)
    return err


def _train(work, *args):
    return runner.invoke(app, ["train", "--work", str(work), *TINY, *args])


@pytest.mark.parametrize("args, word", [
    (["--set", "batch_size=0"], "batch_size"),
    (["--set", "crop_size=[0,0]"], "crop_size"),
    (["--set", "crop_size=[-48,64]"], "crop_size"),
    (["--steps", "0"], "steps"),
    (["--set", "workers=-1"], "workers"),
    (["--set", "bogus=1"], "bogus"),
    (["--loss", "bogus"], "bogus"),
    (["--model", "nope"], "nope"),
    (["--paste", "bank", "--set", 'paste_args={"sample_ratio": 2}'], "sample_ratio"),
    (["--paste", "cutmix"], "cutmix.zarr"),
], ids=["batch0", "crop0", "crop-negative", "steps0", "workers-1", "unknown-set", "unknown-loss", "unknown-model",
        "bad-paste-args", "paste-without-store"])
def test_bad_training_options(tiny_work, tmp_path, args, word):
    work, _ = tiny_work
    before = sorted(p.relative_to(work) for p in work.rglob("*"))
    _one_error_line(_train(work, "--run-dir", str(tmp_path / "runs" / "r"), "--steps", "1", *args), word)
    assert list(tmp_path.iterdir()) == [], "a refused training leaves nothing: no run directory, no lock file"
    assert sorted(p.relative_to(work) for p in work.rglob("*")) == before


def test_paste_bank_without_a_bank(tiny_copy, tmp_path):
    import shutil

    shutil.rmtree(tiny_copy / "bank.zarr")
    _one_error_line(_train(tiny_copy, "--run-dir", str(tmp_path / "r"), "--steps", "1", "--paste", "bank"), "bank.zarr")


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_checkpoint_on_resume_and_evaluate(tiny_work, tmp_path, damage):
    work, val = tiny_work
    run = tmp_path / "r"
    assert _train(work, "--run-dir", str(run), "--steps", "1").exit_code == 0
    ckpt = run / "checkpoint.pt"
    data = ckpt.read_bytes()
    ckpt.write_bytes(b"not a checkpoint" if damage == "garbage" else data[: len(data) // 2])
    _one_error_line(_train(work, "--run-dir", str(run), "--steps", "2"), str(ckpt))
    _one_error_line(runner.invoke(app, ["evaluate", str(ckpt), "--work", str(val), "-q"]), str(ckpt))
    _one_error_line(runner.invoke(app, ["evaluate", str(ckpt), "--split", "val", "-q"]), str(ckpt))


def test_truncated_image_found_by_a_loader_worker(tmp_path):
    """The statistics read labels and image headers only, so a truncated image is first decoded by
    a DataLoader worker; its DataError must reach the user as that one line."""
    from lt_data.data.layouts import get_layout
    from lt_data.data.stats import run_stats
    from lt_data.training.synthetic import generate_street_scenes

    root = generate_street_scenes(tmp_path / "data", num_train=8, num_val=0, size=(96, 64), seed=3)
    work = tmp_path / "work"
    run_stats(get_layout("folder", root, "train"), work, workers=1, progress=False)
    bad = sorted((root / "images" / "train").glob("*.png"))[2]
    bad.write_bytes(bad.read_bytes()[:200])
    res = _train(work, "--run-dir", str(tmp_path / "r"), "--steps", "8", "--set", "workers=1")
    _one_error_line(res, f"error: {bad}: ", "truncated")


def _stale_work(tmp_path: Path, tiny_copy: Path) -> Path:
    """tiny_copy's bank and cutmix stores, then statistics and buckets of another dataset written over
    the same work directory: only the stores are stale."""
    from lt_data.data.buckets import write_buckets
    from lt_data.stores.cutmix import build_cutmix
    from lt_data.data.layouts import get_layout
    from lt_data.data.stats import run_stats
    from lt_data.training.synthetic import generate_street_scenes

    build_cutmix(tiny_copy, workers=1, progress=False)
    root = generate_street_scenes(tmp_path / "other", num_train=6, num_val=0, size=(80, 64), seed=5)
    run_stats(get_layout("folder", root, "train"), tiny_copy, workers=1, progress=False)
    write_buckets(tiny_copy)
    return tiny_copy


def test_train_and_preview_refuse_stale_stores(tiny_copy, tmp_path):
    work = _stale_work(tmp_path, tiny_copy)
    for mode, store in (("bank", "bank.zarr"), ("cutmix", "cutmix.zarr")):
        _one_error_line(_train(work, "--run-dir", str(tmp_path / mode), "--steps", "1", "--paste", mode), store,
                        "statistics differ")
        res = runner.invoke(app, ["preview", str(work), "--mode", mode, "--out", str(tmp_path / f"{mode}.png")])
        _one_error_line(res, store, "statistics differ")
        assert not (tmp_path / f"{mode}.png").exists()


def test_class_counts_come_from_verified_statistics(tiny_copy):
    from lt_data.training.losses import class_counts_from_stats
    from lt_data.data.stats import load_stats

    true = load_stats(tiny_copy).pixels
    assert class_counts_from_stats(tiny_copy).tolist() == true.tolist()
    # an edited class_stats.json never feeds loss weights: refused, or ignored for the verified counts
    cs = json.loads((tiny_copy / "class_stats.json").read_text())
    cs["classes"][0]["pixels"] = 1
    (tiny_copy / "class_stats.json").write_text(json.dumps(cs))
    try:
        assert class_counts_from_stats(tiny_copy).tolist() == true.tolist()
    except ArtifactError:
        pass
    # altered counts are refused
    counts = np.load(tiny_copy / "pixel_counts.npy")
    np.save(tiny_copy / "pixel_counts.npy", counts + 1)
    with pytest.raises(ArtifactError):
        class_counts_from_stats(tiny_copy)
