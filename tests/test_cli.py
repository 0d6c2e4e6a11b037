"""The command line people expect: --version, python -m lt_data, completion, shipped pipelines by
name, --json summaries, help texts that print every word."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from lt_data import __version__
from lt_data.cli import app

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
    assert data["num_images"] == 367 and len(data["classes"]) == 11 and len(data["fingerprint"]) == 16
    buckets = json.loads(runner.invoke(app, ["buckets", str(w), "--json"]).stdout)
    assert buckets["tail"] == [2, 6, 7, 9, 10] and buckets["path"].endswith("buckets.json")
    export = json.loads(runner.invoke(app, ["export", str(w), "--json"]).stdout)
    assert "sample_class_stats.json" in export["files"] and "class_weight_class_balanced.npy" in export["files"]


# an S3 endpoint where nothing listens, tried once: storage failures are one line naming the URL
UNREACHABLE = json.dumps({"key": "k", "secret": "s", "endpoint_url": "http://127.0.0.1:9",
                          "config_kwargs": {"retries": {"max_attempts": 1}, "connect_timeout": 1}})


@pytest.mark.parametrize("args, says", [
    (["stats", "{camvid}", "--layout", "nope", "--out", "{tmp}/w"], "unknown layout 'nope'"),
    (["stats", "s3://bucket/camvid", "--layout", "camvid", "--out", "{tmp}/w", "--storage-options", "{unreachable}"],
     "s3://bucket/camvid: storage error"),
    (["stats", "{camvid}", "--layout", "camvid", "--out", "memory://x"], "memory://x: a memory:// --out lives only"),
    (["buckets", "gs://bucket/work"], "gs://bucket/work: gs:// needs a package that is not installed"),
    (["train", "--work", "{work}", "--model", "nope", "--steps", "1"], "unknown model 'nope'"),
    (["train", "--work", "{work}", "--loss", "nope", "--steps", "1"], "unknown loss 'nope'"),
    (["train", "--work", "s3://b/w", "--steps", "1"], "s3://b/w: the work must be a local path, not a URL"),
], ids=["layout", "url-root", "url-out", "url-work", "model", "loss", "url-train"])
def test_user_errors_are_one_line_with_exit_code_2(args, says, camvid_root, camvid_work, tmp_path):
    fill = {"camvid": camvid_root, "tmp": tmp_path, "work": camvid_work, "unreachable": UNREACHABLE}
    p = subprocess.run([sys.executable, "-m", "lt_data", *[a.format(**fill) for a in args], "-q"] if args[0] != "buckets"
                       else [sys.executable, "-m", "lt_data", *args], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr and p.stderr.startswith("error: ") and p.stderr.count("\n") == 1, p.stderr
    assert says in p.stderr


@pytest.mark.parametrize("args, says", [
    (["stats", "/data"], "error: Missing option '--layout' / '-l' (see 'lt-data stats --help')"),
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
