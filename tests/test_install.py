"""lt-data installs next to any torch >= 2.1: the built wheel goes into a fresh environment that keeps
its own torch, pip's resolver accepts it together with torch==2.4.1, the offline stages run from the
installed wheel (shipped pipelines included), and `--help` starts without importing torch."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from conftest import REPO


def _run(cmd, **kw):
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=600, **kw)
    assert p.returncode == 0, f"{cmd}: {p.stdout[-2000:]}\n{p.stderr[-2000:]}"
    return p


def _fake_torch_wheel(directory: Path, version: str) -> Path:
    """A metadata-only wheel named torch (what pip's resolver reads), so no gigabyte is downloaded."""
    name = f"torch-{version}.dist-info"
    path = directory / f"torch-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{name}/METADATA", f"Metadata-Version: 2.1\nName: torch\nVersion: {version}\n")
        z.writestr(f"{name}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr(f"{name}/RECORD", "")
    return path


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(python of a fresh venv holding only the lt-data wheel; the test environment's packages, torch
    2.13 among them, visible to it as already installed; the wheel)."""
    tmp = tmp_path_factory.mktemp("install")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", tmp / "dist", REPO])
    wheel = next((tmp / "dist").glob("lt_data-*.whl"))
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", venv])
    py = venv / "bin" / "python"
    purelib = _run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    here = sysconfig.get_paths()["purelib"]  # numpy, zarr, torch ... of the test environment, no lt-data finder
    Path(purelib, "test-env.pth").write_text(here + "\n")
    _run([py, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel])
    return py, wheel, tmp


def test_the_wheel_is_what_runs(installed):
    py, _, tmp = installed
    where = _run([py, "-c", "import lt_data; print(lt_data.__file__)"], cwd=tmp).stdout.strip()
    assert str(tmp / "venv") in where, where


def test_resolver_accepts_the_wheel_with_another_torch(installed):
    py, wheel, tmp = installed
    links = tmp / "links"
    links.mkdir(exist_ok=True)
    _fake_torch_wheel(links, "2.4.1")
    p = _run([py, "-m", "pip", "install", "--dry-run", "--no-index", "--find-links", links, wheel, "torch==2.4.1"],
             env={**os.environ, "PIP_CONSTRAINT": "", "PIP_FIND_LINKS": ""})
    assert "Would install" in p.stdout and "torch-2.4.1" in p.stdout, p.stdout


def test_offline_stages_run_from_the_installed_wheel(installed, camvid_root):
    py, _, tmp = installed
    lt = Path(py).parent / "lt-data"
    _run([lt, "stats", camvid_root, "--layout", "camvid", "--out", tmp / "w", "-q"], cwd=tmp)
    assert (tmp / "w" / "class_stats.json").is_file()
    _run([lt, "run", "camvid", "--root", camvid_root, "--work", tmp / "w2", "--stages", "stats", "-q"], cwd=tmp)
    assert (tmp / "w2" / "class_stats.json").is_file()


def test_help_starts_without_torch(installed):
    py, _, tmp = installed
    p = _run([py, "-X", "importtime", "-m", "lt_data", "--help"], cwd=tmp)
    modules = {line.rsplit("|", 1)[-1].strip() for line in p.stderr.splitlines() if line.startswith("import time:")}
    assert "typer" in modules and "lt_data.entry.cli" in modules
    assert not {m for m in modules if m == "torch" or m.startswith("torch.")}, "lt-data --help imported torch"
    for stage in ("lt_data.data.stats", "lt_data.data.buckets", "lt_data.views.report", "lt_data.data.exports", "lt_data.stores.bank",
                  "lt_data.stores.cutmix", "lt_data.views.compare", "lt_data.stores.bank.reader", "lt_data.stores.bank.display"):
        p = _run([py, "-X", "importtime", "-c", f"import {stage}"], cwd=tmp)
        assert "| torch\n" not in p.stderr + "\n" and not any(
            line.rsplit("|", 1)[-1].strip() == "torch" for line in p.stderr.splitlines()), f"{stage} imports torch"
