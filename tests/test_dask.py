"""The Dask backend: the same stages through a LocalCluster of 2 worker processes give the process pool's bytes."""

from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import pytest
import zarr

pytest.importorskip("distributed")

from lt_data.stores.bank import TailBank, build_bank  # noqa: E402
from lt_data.data.buckets import write_buckets  # noqa: E402
from lt_data.stores.cutmix import TailCutmix, build_cutmix  # noqa: E402
from lt_data.core.errors import LtDataError  # noqa: E402
from lt_data.data.layouts import get_layout  # noqa: E402
from lt_data.jobs.parallel import BadSamples, close_dask_clients, map_samples  # noqa: E402
from lt_data.data.stats import run_stats  # noqa: E402

DASK = {"backend": "dask", "scheduler": "local:2"}
TIME_KEYS = ("seconds", "built_at")


@pytest.fixture(scope="module", autouse=True)
def _one_cluster():
    yield
    close_dask_clients()


@pytest.fixture(scope="module")
def works(camvid_root, camvid_stores, tmp_path_factory):
    """CamVid train statistics and default buckets, once with the process pool (the session's
    ``camvid_stores``, whose bank and cutmix stores the pool built with 2 workers) and once through Dask."""
    work = tmp_path_factory.mktemp("dask") / "dask"
    run_stats(get_layout("camvid", camvid_root, "train"), work, workers=2, progress=False, **DASK)
    write_buckets(work)
    return {"pool": camvid_stores, "dask": work}


STATS_FILES = ("samples.jsonl", "dataset.json", "pixel_counts.npy", "ignored_pixels.npy", "class_stats.json",
               "buckets.json")


def _files(work):
    return {name: (work / name).read_bytes() for name in STATS_FILES}


def test_stats_through_dask_are_the_pools_bytes(works):
    pool, dask = _files(works["pool"]), _files(works["dask"])
    for name in pool:
        if name == "class_stats.json":  # its run duration differs, nothing else
            a, b = json.loads(pool[name]), json.loads(dask[name])
            for d in (a, b):
                d.pop("seconds")
            assert a == b
        else:
            assert pool[name] == dask[name], name
    counts = np.load(works["pool"] / "pixel_counts.npy")
    n = len((works["pool"] / "samples.jsonl").read_text().splitlines())
    assert counts.shape == (n, 11) and counts.sum() > 0


def _store_equal(a_url, b_url, reader):
    a, b = reader.open(a_url), reader.open(b_url)
    aa, ba = dict(a.attrs), dict(b.attrs)
    for d in (aa, ba):
        for k in TIME_KEYS:
            d.pop(k)
    # the manifest holds size + CRC-32 of every file of the store: equal manifests, equal bytes
    assert aa == ba and aa["files"]
    ga, gb = zarr.open_group(str(a_url), mode="r"), zarr.open_group(str(b_url), mode="r")
    with warnings.catch_warnings():  # zarr notes the store's marker file, which is not a zarr node
        warnings.simplefilter("ignore")
        names = sorted(name for name, _ in ga.arrays())
        assert names == sorted(name for name, _ in gb.arrays()) and "class_start" in names
    for name in names:
        assert np.array_equal(ga[name][:], gb[name][:]), name


def test_bank_through_dask_is_the_pools_bank(works, tmp_path):
    pool = works["pool"] / "bank.zarr"  # build_bank(work, workers=2): the defaults
    dask = build_bank(works["dask"], out=tmp_path / "dask.zarr", workers=2, progress=False, **DASK)
    _store_equal(pool, dask, TailBank)
    assert len(TailBank.open(dask)) > 100


def test_bank_with_a_cap_through_dask(works, tmp_path):
    """The two-pass build (label scan, then seeded choice) gives the same objects."""
    kw = {"max_per_class": 20, "workers": 2, "progress": False}
    pool = build_bank(works["pool"], out=tmp_path / "pool.zarr", **kw)
    dask = build_bank(works["dask"], out=tmp_path / "dask.zarr", **kw, **DASK)
    _store_equal(pool, dask, TailBank)


def test_cutmix_through_dask_is_the_pools_store(works, tmp_path):
    pool = works["pool"] / "cutmix.zarr"  # build_cutmix(work, workers=2): the defaults
    dask = build_cutmix(works["dask"], out=tmp_path / "dask.zarr", workers=2, progress=False, **DASK)
    _store_equal(pool, dask, TailCutmix)


def test_bad_labels_through_dask_are_named_and_skipped(camvid_root, tmp_path):
    root = tmp_path / "camvid"
    for d in ("val", "valannot"):
        shutil.copytree(camvid_root / d, root / d)
    labels = sorted((root / "valannot").glob("*.png"))
    labels[3].write_bytes(b"not a png")
    labels[7].write_bytes(labels[7].read_bytes()[:200])
    layout = get_layout("camvid", root, "val")
    with pytest.raises(BadSamples) as err:
        run_stats(layout, tmp_path / "w", workers=2, progress=False, **DASK)
    assert labels[3].name in str(err.value) and labels[7].name in str(err.value)
    stats = run_stats(layout, tmp_path / "w", workers=2, progress=False, skip_bad=True, **DASK)
    assert stats.num_images == len(labels) - 2
    assert sorted(b.path for b in stats.skipped) == sorted(str(p) for p in (labels[3], labels[7]))


def _crash(state, task):
    if task == 5:
        raise RuntimeError("a bug on task 5")
    return task * state


def test_a_crash_in_a_dask_task_names_the_sample():
    from lt_data.jobs.parallel import WorkerFailed

    got = dict(map_samples(_crash, list(range(4)), 10, workers=2, progress=False, **DASK))
    assert got == {0: 0, 1: 10, 2: 20, 3: 30}
    with pytest.raises(WorkerFailed, match="(?s)sample-5.png.*a bug on task 5"):
        list(map_samples(_crash, list(range(12)), 10, workers=2, progress=False, chunksize=2,
                         describe=lambda i: f"sample-{i}.png", **DASK))


@pytest.mark.parametrize("backend, scheduler, message", [
    ("spark", None, "--backend must be one of processes, dask"),
    ("processes", "local:2", "--scheduler applies to --backend dask only"),
    ("dask", "local:0", "at least 1 worker"),
    ("dask", "not an address", "give a scheduler address"),
])
def test_backend_mistakes(backend, scheduler, message):
    with pytest.raises(LtDataError, match=message):
        list(map_samples(_crash, [1], 1, backend=backend, scheduler=scheduler, progress=False))


def test_a_dashboard_port_in_use_prints_nothing(tmp_path):
    """Another Dask cluster on the machine (its dashboard on 8787) is no business of a user's stats run:
    the run's own cluster takes a free port and says nothing of it (it printed a 3-line warning)."""
    import socket
    import subprocess
    import sys

    from builders import make_folder_dataset

    root = make_folder_dataset(tmp_path / "data", n=2)
    holder = socket.socket()
    try:
        holder.bind(("127.0.0.1", 8787))
        holder.listen()
    except OSError:
        pass  # already held by something else: the same situation
    try:
        res = subprocess.run([sys.executable, "-m", "lt_data", "stats", "-l", "folder", str(root), "--out",
                              str(tmp_path / "w"), "--backend", "dask", "--scheduler", "local:1", "-q"],
                             capture_output=True, text=True, timeout=180)
    finally:
        holder.close()
    assert res.returncode == 0, res.stderr
    assert "8787" not in res.stderr and "already in use" not in res.stderr, res.stderr
