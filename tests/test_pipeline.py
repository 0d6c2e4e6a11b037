"""Pipeline files and the demo, end to end through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from lt_data.entry.cli import app
from lt_data.entry.pipeline import STAGES, load_pipeline, packaged_pipeline

runner = CliRunner()
REPO = Path(__file__).resolve().parents[1]


def test_demo_runs_every_stage(tmp_path):
    res = runner.invoke(app, ["demo", "--out", str(tmp_path / "demo"), "-q"])
    assert res.exit_code == 0, res.output
    work = tmp_path / "demo" / "work"
    cs = json.loads((work / "class_stats.json").read_text())
    assert cs["num_images"] == 48 and cs["num_classes"] == 10
    # the counts agree with the generated label files, counted independently
    labels = sorted((tmp_path / "demo" / "data" / "labels" / "train").glob("*.png"))
    total = np.zeros(10, np.int64)
    for f in labels:
        a = np.array(Image.open(f))
        total += np.bincount(a[a < 10], minlength=10)
    assert [c["pixels"] for c in cs["classes"]] == total.tolist()
    # a real long tail: the rarest class holds well under 1% of the pixels
    assert min(c["pixel_share"] for c in cs["classes"]) < 0.01
    for stage in ("generate", "stats", "buckets", "report", "export", "bank", "cutmix", "preview", "train", "evaluate"):
        assert f"[{stage}]" in res.output, stage
    metrics = json.loads((work / "runs" / "deeplabv3plus_small-1xauc+ce-bank" / "metrics.json").read_text())
    assert metrics["miou"] > 0.3  # 60 steps learn the big classes of the synthetic scenes
    for png in ("preview_bank.png", "preview_cutmix.png"):
        assert Image.open(work / png).size[0] > 0


def test_packaged_demo_pipeline_is_the_repository_file():
    assert packaged_pipeline("demo").read_text() == (REPO / "pipelines" / "demo.toml").read_text()


def test_every_pipeline_file_parses():
    for f in sorted((REPO / "pipelines").glob("*.toml")):
        pipe = load_pipeline(f)
        assert pipe.dataset["layout"] and set(pipe.stages) <= set(STAGES)


def test_run_camvid_pipeline_with_overrides(camvid_root, tmp_path):
    res = runner.invoke(app, ["run", str(REPO / "pipelines" / "camvid.toml"), "--root", str(camvid_root),
                              "--work", str(tmp_path / "w"), "--stages", "stats,buckets,export", "-q"])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "w" / "class_stats.json").read_text())["num_images"] == len(list((camvid_root / "train").glob("*.png")))
    assert (tmp_path / "w" / "buckets.json").is_file() and (tmp_path / "w" / "exports").is_dir()
    assert not (tmp_path / "w" / "bank.zarr").exists()  # not asked for
    res = runner.invoke(app, ["run", str(REPO / "pipelines" / "camvid.toml"), "--stages", "stats,bogus"])
    assert res.exit_code != 0 and "bogus" in res.output


def test_bad_pipeline_files(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[dataset]\nlayout = 'camvid'\n")
    res = runner.invoke(app, ["run", str(bad)])
    assert res.exit_code != 0 and "needs 'root'" in res.output
    bad.write_text("[dataset\n")
    res = runner.invoke(app, ["run", str(bad)])
    assert res.exit_code != 0 and "not valid TOML" in res.output and str(bad) in res.output
    bad.write_text("[dataset]\nlayout='camvid'\nroot='x'\nsplit='train'\n[bogus]\n")
    res = runner.invoke(app, ["run", str(bad)])
    assert res.exit_code != 0 and "bogus" in res.output
    res = runner.invoke(app, ["run", str(tmp_path / "missing.toml")])
    assert res.exit_code != 0 and "not found" in res.output
