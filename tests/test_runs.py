"""A run directory is an experiment: one recipe per directory, resumed only with the same recipe and inputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from lt_data.entry.cli import app
from lt_data.training.runs import recipe_name
from lt_data.training.config import TrainConfig

runner = CliRunner()

# a few-second training through the command line
TINY = ["--set", "threads=1", "--set", "workers=0", "--set", "crop_size=[48,64]", "--set", "batch_size=2",
        "--set", 'model_args={"base": 8}', "--set", "warmup=1", "--set", "log_every=1", "-q"]


def _train(work, *args):
    return runner.invoke(app, ["train", "--work", str(work), *TINY, *args])


def _logged_steps(run: Path) -> list[int]:
    return [r["step"] for r in map(json.loads, (run / "log.jsonl").read_text().splitlines()) if "loss" in r]


def _refused(res, *words):
    assert res.exit_code == 2, res.output
    err = res.stderr.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in res.output, res.output
    for w in words:
        assert w in err, (w, err)
    return err


def test_recipe_names_are_readable_and_safe():
    assert recipe_name("deeplabv3plus_small", "1*auc+ce", "bank") == "deeplabv3plus_small-1xauc+ce-bank"
    assert recipe_name("unet_small", "focal", "none") == "unet_small-focal-none"
    name = recipe_name("my.models:Net", {"pat": {"temperature": 10}, "ce": 1}, "cutmix")
    assert "/" not in name and ":" not in name and " " not in name and not name.startswith(".")
    assert "pat" in name and "ce" in name and name.endswith("-cutmix")
    assert recipe_name("m", "a" * 500, "none") != recipe_name("m", "a" * 499 + "b", "none")
    assert len(recipe_name("m", "a" * 500, "none")) <= 120


def test_two_recipes_never_share_a_default_run_directory(tiny_copy):
    """The bug this replaces: a focal run silently resumed the CE run's checkpoint, trained 0 steps,
    and wrote focal into the CE run's config.json."""
    assert _train(tiny_copy, "--steps", "2").exit_code == 0
    res = _train(tiny_copy, "--steps", "2", "--loss", "focal")
    assert res.exit_code == 0, res.output
    ce, focal = tiny_copy / "runs" / "deeplabv3plus_small-ce-none", tiny_copy / "runs" / "deeplabv3plus_small-focal-none"
    assert str(focal) in res.stdout
    assert json.loads((ce / "config.json").read_text())["config"]["loss"] == "ce"
    assert torch.load(focal / "checkpoint.pt", weights_only=False)["config"]["loss"] == "focal"
    assert _logged_steps(focal) == [1, 2]


def test_resume_with_another_recipe_is_refused_unless_fresh(tiny_copy, tmp_path):
    run = tmp_path / "run"
    assert _train(tiny_copy, "--steps", "2", "--run-dir", str(run)).exit_code == 0
    before = (run / "checkpoint.pt").read_bytes(), (run / "config.json").read_text()
    err = _refused(_train(tiny_copy, "--steps", "2", "--run-dir", str(run), "--loss", "focal", "--set", "lr=0.01"),
                   str(run), "loss", "lr", "--fresh")
    assert "batch_size" not in err  # only what differs is named
    assert ((run / "checkpoint.pt").read_bytes(), (run / "config.json").read_text()) == before
    # --fresh starts over in the same directory: a new log, a new config, a new checkpoint
    res = _train(tiny_copy, "--steps", "2", "--run-dir", str(run), "--loss", "focal", "--set", "lr=0.01", "--fresh")
    assert res.exit_code == 0, res.output
    assert json.loads((run / "config.json").read_text())["config"]["loss"] == "focal"
    assert _logged_steps(run) == [1, 2]


def test_more_steps_continue_and_a_complete_run_says_so(tiny_copy, tmp_path):
    run = tmp_path / "run"
    assert _train(tiny_copy, "--steps", "2", "--run-dir", str(run)).exit_code == 0
    # operational options (workers, logging, checkpoint cadence) may change on resume; steps may grow
    res = _train(tiny_copy, "--steps", "4", "--run-dir", str(run), "--set", "checkpoint_every=50")
    assert res.exit_code == 0, res.output
    assert _logged_steps(run) == [1, 2, 3, 4]
    assert torch.load(run / "checkpoint.pt", weights_only=False)["step"] == 4
    assert json.loads((run / "config.json").read_text())["config"]["steps"] == 4
    res = _train(tiny_copy, "--steps", "4", "--run-dir", str(run))
    assert res.exit_code == 0 and "already complete" in res.output and "step 4" in res.output, res.output
    assert _logged_steps(run) == [1, 2, 3, 4]
    _refused(_train(tiny_copy, "--steps", "3", "--run-dir", str(run)), "steps")


def test_resume_with_other_statistics_or_work_directory_is_refused(tiny_copy, tmp_path):
    from lt_data.data.layouts import get_layout
    from lt_data.data.stats import run_stats
    from lt_data.training.synthetic import generate_street_scenes

    run = tmp_path / "run"
    assert _train(tiny_copy, "--steps", "2", "--run-dir", str(run)).exit_code == 0
    link = tmp_path / "link"  # the same directory through a symlink is the same input: resumed
    link.symlink_to(tiny_copy)
    res = _train(link, "--steps", "3", "--run-dir", str(run))
    assert res.exit_code == 0, res.output
    assert _logged_steps(run) == [1, 2, 3]
    other = tmp_path / "moved"
    shutil.copytree(tiny_copy, other)
    _refused(_train(other, "--steps", "4", "--run-dir", str(run)), "work")
    root = generate_street_scenes(tmp_path / "data2", num_train=8, num_val=0, size=(96, 64), seed=7, progress=False)
    run_stats(get_layout("folder", root, "train"), tiny_copy, workers=1, progress=False)
    _refused(_train(tiny_copy, "--steps", "4", "--run-dir", str(run)), "statistics")


def test_default_run_directory_is_named_after_the_recipe(tmp_path):
    cfg = TrainConfig.from_dict({"work": str(tmp_path / "w"), "loss": "pat", "paste": "none"})
    assert Path(cfg.run) == tmp_path / "w" / "runs" / "deeplabv3plus_small-pat-none"
    assert TrainConfig.from_dict({"work": "w", "run": "elsewhere"}).run == "elsewhere"


def test_config_validation_names_the_option():
    from lt_data.core.errors import LtDataError

    for bad, word in [({"batch_size": 0}, "batch_size"), ({"crop_size": (0, 0)}, "crop_size"),
                      ({"crop_size": (-4, 8)}, "crop_size"), ({"steps": 0}, "steps"), ({"workers": -1}, "workers"),
                      ({"paste": "sometimes"}, "paste"), ({"lr": 0}, "lr"), ({"threads": 0}, "threads"),
                      ({"device": "toaster"}, "device"), ({"scale_range": (2, 1)}, "scale_range")]:
        with pytest.raises(LtDataError, match=word):
            TrainConfig.from_dict({"work": "w", **bad})


def test_a_second_training_into_the_same_run_directory_is_refused(tiny_copy, tmp_path):
    from lt_data.jobs.artifacts import lock

    run = tmp_path / "run"
    with lock(run, "this training run"):  # as a training in another process holds it
        result = CliRunner().invoke(app, ["train", "--work", str(tiny_copy), "--run-dir", str(run), "--steps", "1",
                                          "-q"])
    assert result.exit_code == 2 and "another lt-data process is writing this training run" in result.output
    assert "Traceback" not in result.output
