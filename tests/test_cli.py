"""The command line people expect: --version, python -m lt_data, completion, shipped pipelines by
name, --json summaries, help texts that print every word."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from lt_data import __version__
from lt_data.entry.cli import app

runner = CliRunner()


def test_version_and_python_dash_m():
    assert runner.invoke(app, ["--version"]).output.strip() == f"lt-data {__version__}"
    p = subprocess.run([sys.executable, "-m", "lt_data", "--version"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stdout.strip() == f"lt-data {__version__}"


def test_shell_completion_is_offered():
    out = runner.invoke(app, ["--help"]).output
    assert "--install-completion" in out and "--show-completion" in out


@pytest.mark.parametrize("command", [["train"], ["bank", "build"], ["stats"], ["buckets"], ["cutmix", "build"]])
def test_help_texts_print_every_word(command):
    """Square brackets are text, not markup: the train help names the pipeline's [train] table."""
    out = runner.invoke(app, [*command, "--help"], terminal_width=200).output
    assert "  table" not in out and "[]" not in out
    if command == ["train"]:
        assert "its [train] table" in out


def test_run_finds_the_pipelines_shipped_in_the_package(camvid_root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no pipelines/ folder here: the name must resolve to the package's file
    result = runner.invoke(app, ["run", "camvid", "--root", str(camvid_root), "--work", str(tmp_path / "w"),
                                 "--stages", "stats", "-q"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "w" / "class_stats.json").is_file()
    bad = runner.invoke(app, ["run", "nosuch"])
    assert bad.exit_code == 2 and "shipped: " in bad.output and "camvid" in bad.output


def test_json_summaries(camvid_root, tmp_path):
    w = tmp_path / "w"
    stats = runner.invoke(app, ["stats", str(camvid_root), "--layout", "camvid", "--out", str(w), "--json"])
    assert stats.exit_code == 0
    data = json.loads(stats.stdout)
    assert data["num_images"] == len(list((camvid_root / "train").glob("*.png"))) and len(data["classes"]) == 11 and len(data["fingerprint"]) == 16
    buckets = json.loads(runner.invoke(app, ["buckets", str(w), "--json"]).stdout)
    assert buckets["tail"] == [2, 6, 7, 9, 10] and buckets["path"].endswith("buckets.json")
    export = json.loads(runner.invoke(app, ["export", str(w), "--json"]).stdout)
    assert "sample_class_stats.json" in export["files"] and "class_weight_class_balanced.npy" in export["files"]


# an S3 endpoint where nothing listens, tried once: storage failures are one line naming the URL
UNREACHABLE = json.dumps({"key": "k", "secret": "s", "endpoint_url": "http://127.0.0.1:9",
                          "config_kwargs": {"retries": {"max_attempts": 1}, "connect_timeout": 1}})


@pytest.mark.parametrize("args, says", [
    (["stats", "{camvid}", "--layout", "nope", "--out", "{tmp}/w"], "'nope' is not one of 'cityscapes'"),
    (["stats", "s3://bucket/camvid", "--layout", "camvid", "--out", "{tmp}/w", "--storage-options", "{unreachable}"],
     "s3://bucket/camvid: storage error"),
    (["stats", "{camvid}", "--layout", "camvid", "--out", "memory://x"], "memory://x: a memory:// --out lives only"),
    (["buckets", "gs://bucket/work"], "gs://bucket/work: gs:// needs a package that is not installed"),
    (["train", "--work", "{work}", "--model", "nope", "--steps", "1"], "unknown model 'nope'"),
    (["train", "--work", "{work}", "--loss", "nope", "--steps", "1"], "unknown loss 'nope'"),
    (["train", "--work", "s3://b/w", "--steps", "1"], "s3://b/w: the work must be a local path, not a URL"),
], ids=["layout", "url-root", "url-out", "url-work", "model", "loss", "url-train"])
def test_user_errors_are_one_line_with_exit_code_2(args, says, camvid_root, work_copy, tmp_path):
    # a copy: a refused train still leaves its run directory's lock file under WORK/runs
    fill = {"camvid": camvid_root, "tmp": tmp_path, "work": work_copy, "unreachable": UNREACHABLE}
    p = subprocess.run([sys.executable, "-m", "lt_data", *[a.format(**fill) for a in args], "-q"] if args[0] != "buckets"
                       else [sys.executable, "-m", "lt_data", *args], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr and p.stderr.startswith("error: ") and p.stderr.count("\n") == 1, p.stderr
    assert says in p.stderr


@pytest.mark.parametrize("args, says", [
    (["stats", "/data"], "error: Missing option '--layout' / '-l'. Choose from: cityscapes, ade20k, coco_stuff164k, "
                         "camvid, folder, hf (see 'lt-data stats --help')"),
    (["stats", "/data", "-l", "camvid", "-o", "w", "--workers", "two"], "Invalid value for '--workers'"),
    (["nosuch"], "error: No such command 'nosuch' (see 'lt-data --help')"),
    (["bank", "build"], "error: Missing argument"),
])
def test_usage_mistakes_are_one_line_too(args, says, tmp_path):
    """Click's usage box (Usage:, Try --help, a blank line, Error:) becomes the one line every user error is."""
    p = subprocess.run([sys.executable, "-m", "lt_data", *args], capture_output=True, text=True, timeout=60,
                       cwd=tmp_path)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.count("\n") == 1 and says in p.stderr, p.stderr
    assert list(tmp_path.iterdir()) == []


def test_help_and_no_arguments_still_print_help():
    for args in ([], ["--help"], ["bank"]):
        p = subprocess.run([sys.executable, "-m", "lt_data", *args], capture_output=True, text=True, timeout=60)
        assert "Usage: lt-data" in p.stdout + p.stderr and "Commands:" in p.stdout + p.stderr
        assert p.returncode == (0 if args == ["--help"] else 2)


def test_choice_options_are_the_registries():
    """Each choice type of the CLI lists exactly what the module behind it accepts."""
    import typing

    from lt_data import cli
    from lt_data.stores.bank.extract import CHOICES as CHOOSE
    from lt_data.data.buckets import RULES
    from lt_data.training.paste.dose import STORES
    from lt_data.training.evaluate import PRED_IDS
    from lt_data.data.layouts import LAYOUTS
    from lt_data.data.layouts.coco_stuff import SOURCES
    from lt_data.jobs.parallel import BACKENDS
    from lt_data.data.sampling import SAMPLERS

    pairs = {cli.LayoutName: tuple(LAYOUTS), cli.TrainPaste: ("none", *STORES), cli.PasteMode: tuple(STORES),
             cli.SamplerName: SAMPLERS, cli.BucketRule: RULES, cli.Backend: BACKENDS, cli.CocoSource: SOURCES,
             cli.Choose: tuple(CHOOSE), cli.PredIds: tuple(PRED_IDS)}
    for lit, names in pairs.items():
        assert set(typing.get_args(lit)) == set(names), (lit, names)
    out = runner.invoke(app, ["stats", "--help"], terminal_width=200).output
    assert "<cityscapes|ade20k|coco_stuff164k|camvid|folder|hf>" in out and "stats [OPTIONS] ROOT" in out and "{" not in out.splitlines()[0]
    res = runner.invoke(app, ["train", "--work", "w", "--paste", "banks"])
    assert res.exit_code == 2


def test_train_help_lists_every_option_with_its_default():
    from dataclasses import fields

    from lt_data.training.config import TrainConfig

    out = runner.invoke(app, ["train", "--help"], terminal_width=400).output
    for f in fields(TrainConfig):
        assert f"{f.name} (" in out, f.name
    assert "lr (0.002)" in out and "steps (1000)" in out and "paste_args ({})" in out and "placement" in out
    for option, default in (("--steps", "1000"), ("--loss", "ce"), ("--paste", "none"), ("--model", "deeplabv3plus")):
        line = next(ln for ln in out.splitlines() if ln.strip().startswith(option))
        assert f"[default: ({default}" in line, line


def test_one_learning_rate_for_cli_pipelines_and_readme():
    import re

    from conftest import REPO

    from lt_data.training.config import default

    readme = (REPO / "README.md").read_text()
    assert re.findall(r"AdamW\(model\.parameters\(\), lr=([0-9.e-]+)\)", readme) == [str(default("lr")).replace("0.002", "2e-3")]
    for toml in (REPO / "pipelines").glob("*.toml"):
        assert not re.search(r"^lr\s*=", toml.read_text(), re.M), f"{toml.name} sets its own lr"


def test_warmup_longer_than_the_run_is_said(tiny_work, tmp_path):
    work, _ = tiny_work
    res = runner.invoke(app, ["train", "--work", str(work), "--run-dir", str(tmp_path / "run"), "--steps", "2",
                              "--set", "warmup=10", "--set", "batch_size=2", "--set", "workers=0",
                              "--set", "crop_size=[32,32]", "-q"])
    assert res.exit_code == 0, res.output
    assert "warning: warmup (10 steps) is longer than the run (2 steps)" in res.output


def test_pictures_go_beside_the_work_not_into_the_current_directory(tiny_copy, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["bank", "show", str(tiny_copy)])
    assert res.exit_code == 0, res.output
    assert (tiny_copy / "bank_sheet.png").is_file() and not list(tmp_path.glob("*.png"))
    res = runner.invoke(app, ["preview", str(tiny_copy), "--batches", "1", "--batch-size", "2"])
    assert res.exit_code == 0, res.output
    assert (tiny_copy / "preview-bank.png").is_file() and not list(tmp_path.glob("*.png"))


def test_a_dataset_root_through_a_symlink_is_recorded_as_typed(camvid_root, tmp_path):
    link = tmp_path / "camvid-link"
    link.symlink_to(camvid_root)
    res = runner.invoke(app, ["stats", str(link), "-l", "camvid", "-s", "val", "-o", str(tmp_path / "w"), "-q"])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "w" / "dataset.json").read_text())["root"] == str(link)
    res = runner.invoke(app, ["stats", str(link), "-l", "camvid", "-s", "nosuchsplit", "-o", str(tmp_path / "x")])
    assert res.exit_code == 2 and str(link) in res.output and str(camvid_root) not in res.output


def test_report_out_quiet_and_json(small_work, tmp_path):
    out = tmp_path / "rep"
    res = runner.invoke(app, ["report", str(small_work), "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["path"] == str(out / "index.html") and (out / "report.json").is_file()
    assert data == {"path": str(out / "index.html"), **json.loads((out / "report.json").read_text())}
    assert not (small_work / "report").exists()  # --out, not WORK/report
    res = runner.invoke(app, ["report", str(small_work), "--out", str(out), "-q"])
    assert res.exit_code == 0 and res.stdout.strip() == str(out / "index.html")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    res = runner.invoke(app, ["report", str(small_work), "--out", str(tmp_path / "mine")])
    assert res.exit_code == 2 and (tmp_path / "mine" / "notes.txt").read_text() == "mine"


def test_help_names_the_methods_in_one_line_and_points_to_the_citations():
    out = runner.invoke(app, ["--help"], terminal_width=300).output
    line = next(l for l in out.splitlines() if l.strip().startswith("Methods: "))
    for text in ("AUCSeg (2024)", "PAT (2024)", "Multi-level tail pixel cutmix", "DAFormer (2022)", "LVIS (2019)",
                 "README's References"):
        assert text in line, text
    assert "arxiv.org" not in out  # the links are the README's


def test_usage_lines_name_required_arguments_plainly():
    out = runner.invoke(app, ["buckets", "--help"], terminal_width=200).output
    assert out.splitlines()[0].endswith(" buckets [OPTIONS] WORK")
    assert "{" not in runner.invoke(app, ["stats", "--help"], terminal_width=200).output.splitlines()[0]
