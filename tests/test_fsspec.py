"""Datasets and artifacts at fsspec URLs: an S3-compatible server on 127.0.0.1 (moto), memory://, refusals."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest

from lt_data.data.layouts import get_layout
from lt_data.data.stats import compute_stats, run_stats

N_IMAGES = 24  # a subset of CamVid val keeps the uploads small


@pytest.fixture(scope="module")
def camvid_subset(camvid_root, tmp_path_factory):
    """A local CamVid with the first N_IMAGES of val: the reference the URL copies must match."""
    root = tmp_path_factory.mktemp("camvid") / "camvid"
    for d in ("val", "valannot"):
        (root / d).mkdir(parents=True)
        for f in sorted((camvid_root / d).glob("*.png"))[:N_IMAGES]:
            shutil.copyfile(f, root / d / f.name)
    return root


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3(camvid_subset):
    """(storage options, bucket URL) of a moto S3 server on 127.0.0.1 holding the CamVid subset."""
    pytest.importorskip("s3fs")
    server_mod = pytest.importorskip("moto.server")
    port = _free_port()
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    opts = {"key": "testing", "secret": "testing", "endpoint_url": f"http://127.0.0.1:{port}",
            "client_kwargs": {"region_name": "eu-west-1"}}
    import s3fs

    fs = s3fs.S3FileSystem(**opts)
    fs.mkdir("lt-data-test")
    fs.put(str(camvid_subset), "lt-data-test/camvid", recursive=True)
    yield opts, "s3://lt-data-test"
    server.stop()


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "lt_data.entry.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


@pytest.mark.parametrize("backend", [[], ["--backend", "dask", "--scheduler", "local:2"]], ids=["pool", "dask"])
def test_statistics_of_a_bucket_equal_the_local_copy(s3, camvid_subset, backend):
    opts, bucket = s3
    work = f"work-{len(backend)}"
    local = compute_stats(get_layout("camvid", camvid_subset, "val"), workers=1, progress=False)
    r = _cli("stats", f"{bucket}/camvid", "-l", "camvid", "-s", "val", "-o", f"{bucket}/{work}", "-j", "2",
             "--storage-options", json.dumps(opts), "--json", *backend)
    assert r.returncode == 0, r.stderr
    printed = json.loads(r.stdout)
    assert printed["work"] == f"{bucket}/{work}" and printed["num_images"] == N_IMAGES
    import s3fs

    fs = s3fs.S3FileSystem(**opts)
    summary = json.loads(fs.cat_file(f"lt-data-test/{work}/class_stats.json"))
    assert [c["pixels"] for c in summary["classes"]] == local.pixels.tolist()
    assert [c["images"] for c in summary["classes"]] == local.images.tolist()
    with fs.open(f"lt-data-test/{work}/pixel_counts.npy", "rb") as f:
        assert np.array_equal(np.load(f), local.counts)
    dataset = json.loads(fs.cat_file(f"lt-data-test/{work}/dataset.json"))
    assert dataset["root"] == f"{bucket}/camvid"
    assert "key" not in json.dumps(dataset) and "testing" not in json.dumps(dataset), "no credentials in artifacts"


def test_bank_written_to_a_bucket_opens_from_there(s3, camvid_subset, tmp_path):
    from lt_data.stores.bank import TailBank, build_bank
    from lt_data.data.buckets import write_buckets

    opts, bucket = s3
    so = json.dumps(opts)
    assert _cli("stats", f"{bucket}/camvid", "-l", "camvid", "-s", "val", "-o", f"{bucket}/work2", "-q",
                "--storage-options", so).returncode == 0
    assert _cli("buckets", f"{bucket}/work2", "-q", "--storage-options", so).returncode == 0
    r = _cli("bank", "build", f"{bucket}/work2", "-q", "-j", "2", "--storage-options", so)
    assert r.returncode == 0, r.stderr
    assert f"wrote {bucket}/work2/bank.zarr" in r.stdout
    remote = TailBank.open(f"{bucket}/work2/bank.zarr", storage_options=opts)

    work = tmp_path / "work"
    run_stats(get_layout("camvid", camvid_subset, "val"), work, workers=1, progress=False)
    write_buckets(work)
    local = TailBank.open(build_bank(work, workers=1, progress=False))
    assert remote.classes == local.classes and len(remote) == len(local) > 0
    for i in (0, len(local) // 2, len(local) - 1):
        (pa, ma, ia), (pb, mb, ib) = remote.get(i), local.get(i)
        assert ia == ib and np.array_equal(pa, pb) and np.array_equal(ma, mb)
    remote.verify()  # every file the build wrote, read back from the bucket, matches its CRC-32
    r = _cli("bank", "info", f"{bucket}/work2/bank.zarr", "--json", "--storage-options", so)
    assert r.returncode == 0 and json.loads(r.stdout)["objects"] == len(local)


def test_a_layout_reads_memory_urls(camvid_subset):
    import fsspec

    fs = fsspec.filesystem("memory")
    fs.put(str(camvid_subset), "/camvid-mem", recursive=True)
    try:
        layout = get_layout("camvid", "memory://camvid-mem", "val")
        samples, bad = layout.scan()
        assert len(samples) == N_IMAGES and not bad
        got = compute_stats(layout, workers=2, progress=False)  # forked workers read the parent's memory fs
        want = compute_stats(get_layout("camvid", camvid_subset, "val"), workers=1, progress=False)
        assert np.array_equal(got.counts, want.counts) and [s.id for s in got.samples] == [s.id for s in want.samples]
        assert np.array_equal(layout.read_image(samples[3]), get_layout("camvid", camvid_subset, "val").read_image(samples[3]))
        fs.rm_file(f"/camvid-mem/valannot/{samples[5].id}.png")
        with pytest.raises(Exception, match="missing label"):
            compute_stats(get_layout("camvid", "memory://camvid-mem", "val"), workers=1, progress=False)
    finally:
        fs.rm("/camvid-mem", recursive=True)


@pytest.mark.parametrize("args, message", [
    (["stats", "ROOT", "-l", "camvid", "-s", "val", "-o", "memory://work"], "gone when the command ends"),
    (["stats", "memory://camvid", "-l", "camvid", "-s", "val", "-o", "OUT"], "gone when the command ends"),
    (["stats", "ROOT", "-l", "camvid", "-s", "val", "-o", "file:/tmp/x"], "looks like a URL but is not one"),
    (["stats", "s3:/bucket/camvid", "-l", "camvid", "-s", "val", "-o", "OUT"], "looks like a URL but is not one"),
    (["stats", "ROOT", "-l", "camvid", "-s", "val", "-o", "nosuch://w"], "unknown URL protocol nosuch://"),
    (["stats", "ROOT", "-l", "camvid", "-s", "val", "-o", "OUT", "--storage-options", "{bad"], "not JSON"),
    (["bank", "build", "WORK", "--out", "memory://bank"], "gone when the command ends"),
    (["cutmix", "build", "WORK", "--out", "file:bank"], "looks like a URL but is not one"),
    (["bank", "info", "memory://bank"], "gone when the command ends"),
    (["stats", "ROOT", "-l", "camvid", "-s", "val", "-o", "OUT", "--scheduler", "local:2"], "--backend dask only"),
])
def test_refused_locations_exit_2(args, message, camvid_subset, tmp_path):
    fill = {"ROOT": camvid_subset, "OUT": tmp_path / "out", "WORK": tmp_path / "work"}
    r = _cli(*[fill.get(a, a) for a in args], cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "a refused command creates nothing"


def test_file_urls_are_local_paths(camvid_subset, tmp_path):
    r = _cli("stats", f"file://{camvid_subset}", "-l", "camvid", "-s", "val", "-o", f"file://{tmp_path}/w", "-q")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "w" / "class_stats.json").is_file() and not (tmp_path / "file:").exists()
    r = _cli("bank", "build", f"file://{tmp_path}/w", "--classes", "9,10", "-q", "-j", "1")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "w" / "bank.zarr" / "zarr.json").is_file()


def test_library_stages_write_and_read_work_directories_at_urls(camvid_subset):
    """In Python, memory:// is allowed (the process keeps it): statistics, buckets, bank and cutmix at URLs,
    through one local copy each (lt_data.entry.stages.on_local_copy); the stage functions themselves refuse a URL."""
    import fsspec

    from lt_data.stores.bank import TailBank, build_bank
    from lt_data.stores.cutmix import TailCutmix
    from lt_data.core.errors import LtDataError
    from lt_data.entry.stages import on_local_copy

    fs = fsspec.filesystem("memory")
    try:
        layout = get_layout("camvid", camvid_subset, "val")
        stats = on_local_copy("stats", "memory://lib/work", layout, workers=1, progress=False)
        assert fs.isfile("/lib/work/class_stats.json") and stats.num_images == N_IMAGES
        on_local_copy("buckets", "memory://lib/work")
        assert fs.isfile("/lib/work/buckets.json")
        url = on_local_copy("bank", "memory://lib/work", classes="9,10", workers=1, progress=False)
        assert url == "memory://lib/work/bank.zarr"
        bank = TailBank.open(url)
        assert len(bank) > 0 and bank.classes == [9, 10]
        cm = TailCutmix.open(on_local_copy("cutmix", "memory://lib/work", workers=1, progress=False))
        assert sum(len(cm.subset(c)) for c in cm.classes) > 0
        assert not any(p.name.startswith("lt-data-work") for p in camvid_subset.parent.iterdir())
        for call in (lambda: build_bank("memory://lib/work", progress=False),
                     lambda: run_stats(layout, "memory://lib/work2", progress=False)):
            with pytest.raises(LtDataError, match="on_local_copy"):
                call()
        assert not fs.exists("/lib/work2")
    finally:
        fs.rm("/lib", recursive=True)
