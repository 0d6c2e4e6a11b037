"""Shared test fixtures: the real data beside the checkout (``../shared``), skipped cleanly when absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LT_DATA_SHARED", REPO.parent / "shared"))


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real data not available: {path}")
    return path


@pytest.fixture(scope="session")
def shared() -> Path:
    return _need(SHARED)


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return _need(SHARED / "fixtures")


@pytest.fixture(scope="session")
def camvid_root() -> Path:
    return _need(SHARED / "data" / "camvid")


@pytest.fixture(scope="session")
def cityscapes_fixture_root() -> Path:
    return _need(SHARED / "fixtures" / "open-mmlab" / "mmsegmentation" / "tests" / "data" / "pseudo_cityscapes_dataset")


@pytest.fixture(scope="session")
def ade_fixture_dir() -> Path:
    return _need(SHARED / "fixtures" / "CSAILVision" / "sceneparsing")


@pytest.fixture(scope="session")
def coco_fixture_dir() -> Path:
    return _need(SHARED / "fixtures" / "nightrome")


@pytest.fixture(scope="session")
def camvid_work(camvid_root, tmp_path_factory):
    """Statistics of CamVid train, computed once per session; copy before writing into it."""
    from lt_data.layouts import get_layout
    from lt_data.stats import run_stats

    work = tmp_path_factory.mktemp("camvid_stats")
    run_stats(get_layout("camvid", camvid_root, "train"), work, workers=2, progress=False)
    return work


@pytest.fixture
def work_copy(camvid_work, tmp_path):
    """A private copy of the CamVid statistics work directory."""
    import shutil

    dst = tmp_path / "work"
    shutil.copytree(camvid_work, dst)
    return dst


@pytest.fixture(scope="session")
def tiny_work(tmp_path_factory):
    """(work, val): statistics, buckets and a bank of 8 generated 96x64 training images, and the
    statistics of their 4 validation images. Shared: copy before writing into it."""
    from lt_data.bank import build_bank
    from lt_data.buckets import write_buckets
    from lt_data.layouts import get_layout
    from lt_data.stats import run_stats
    from lt_data.synthetic import generate_street_scenes
    from lt_data.train import split_work

    root = generate_street_scenes(tmp_path_factory.mktemp("data"), num_train=8, num_val=4, size=(96, 64), seed=1)
    work = tmp_path_factory.mktemp("work")
    run_stats(get_layout("folder", root, "train"), work, workers=1, progress=False)
    write_buckets(work)
    build_bank(work, min_area=8, progress=False, workers=1)
    val = split_work(work, "val", work / "eval-val", workers=1, progress=False)
    return work, val


@pytest.fixture
def tiny_copy(tiny_work, tmp_path):
    """A private copy of ``tiny_work``'s training work directory (bank included)."""
    import shutil

    dst = tmp_path / "work"
    shutil.copytree(tiny_work[0], dst, ignore=shutil.ignore_patterns("eval-*"))
    return dst
