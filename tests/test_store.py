"""The store layer's promises, each tried the way a careful user breaks them.

Nothing that is not ours is deleted; artifacts built from other statistics are refused by name; an
identical re-run changes no fingerprint; one writer at a time; a reader keeps what it opened; a
missing, truncated or altered chunk file is an error naming it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import zarr
from typer.testing import CliRunner

import builders
from builders import make_block_folder
from lt_data.stores.bank import TailBank, build_bank
from lt_data.data.buckets import load_buckets, write_buckets
from lt_data.entry.cli import app
from lt_data.stores.cutmix import TailCutmix, build_cutmix
from lt_data.core.errors import ArtifactError
from lt_data.data.stats import load_stats, stats_fingerprint

runner = CliRunner()


def stats_of(root: Path, work: Path) -> Path:
    return builders.stats_of("folder", root, work)


@pytest.fixture
def work(tmp_path) -> Path:
    w = stats_of(make_block_folder(tmp_path / "data"), tmp_path / "work")
    write_buckets(w, "list", head_classes="road", tail_classes="bike")
    return w


def _cli(*args: str):
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output, result.output
    return result


# ---- nothing that is not ours is deleted ------------------------------------------------------------

@pytest.mark.parametrize("stage", ["bank", "cutmix"])
def test_out_on_a_user_folder_keeps_the_file_and_fails(work, tmp_path, stage):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my thesis")
    result = _cli(stage, "build", str(work), "--out", str(mine), "-q")
    assert result.exit_code == 2
    assert "refusing to replace" in result.output and str(mine) in result.output
    assert (mine / "notes.txt").read_text() == "my thesis"
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]


def test_out_on_the_work_directory_keeps_everything(work):
    before = sorted(p.name for p in work.iterdir())
    result = _cli("bank", "build", str(work), "--out", str(work), "-q")
    assert result.exit_code == 2 and "refusing to replace" in result.output
    assert sorted(p.name for p in work.iterdir()) == before
    load_stats(work)  # the statistics are intact


def test_out_on_a_file_or_a_store_of_another_kind_is_refused(work, tmp_path):
    f = tmp_path / "file.zarr"
    f.write_text("keep")
    assert _cli("bank", "build", str(work), "--out", str(f), "-q").exit_code == 2
    assert f.read_text() == "keep"
    cut = build_cutmix(work, progress=False)
    result = _cli("bank", "build", str(work), "--out", cut, "-q")
    assert result.exit_code == 2 and "lt-data/tail-cutmix" in result.output
    TailCutmix.open(cut, work=work)  # untouched


def test_rebuild_replaces_only_our_own_store(work):
    first = build_bank(work, progress=False)
    n = len(TailBank.open(first))
    again = build_bank(work, min_area=200, progress=False)  # other parameters: replaced
    assert again == first and len(TailBank.open(again)) < n
    assert not list(work.glob(".bank.zarr.*-*")), "no temporary or old sibling is left"


# ---- built from what you give it ---------------------------------------------------------------------

def test_identical_stats_rerun_keeps_the_fingerprint_and_what_was_built(work, tmp_path):
    fp = stats_fingerprint(work)
    bank = build_bank(work, progress=False)
    built_at = TailBank.open(bank).attrs["built_at"]
    stats_of(tmp_path / "data", work)
    assert stats_fingerprint(work) == fp
    load_buckets(work)  # still valid
    assert TailBank.open(build_bank(work, progress=False), work=work).attrs["built_at"] == built_at, "kept, not rebuilt"


def test_stats_of_another_dataset_make_every_later_artifact_refused(work, tmp_path):
    bank = build_bank(work, progress=False)
    cut = build_cutmix(work, progress=False)
    other = make_block_folder(tmp_path / "other", seed=1, names=("sky", "tree", "bird"))
    stats_of(other, work)
    with pytest.raises(ArtifactError, match="buckets.json: built from other statistics"):
        load_buckets(work)
    for stage in ("bank", "cutmix"):
        result = _cli(stage, "build", str(work), "-q")
        assert result.exit_code == 2 and "buckets.json: built from other statistics" in result.output
    with pytest.raises(ArtifactError, match=r"bank.zarr: refused: .*statistics differ"):
        TailBank.open(bank, work=work)
    with pytest.raises(ArtifactError, match=r"cutmix.zarr: refused: .*statistics differ"):
        TailCutmix.open(cut, work=work)


def test_edited_class_stats_are_refused(work):
    path = work / "class_stats.json"
    data = json.loads(path.read_text())
    data["classes"][2]["pixels"] *= 10  # a hand edit to weigh a class differently
    path.write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match="class_stats.json: its totals differ"):
        load_stats(work)


# ---- one writer; a reader keeps what it opened --------------------------------------------------------------

def test_a_second_writer_is_refused_while_the_first_holds_the_store(work):
    from lt_data.jobs.artifacts import lock

    out = work / "bank.zarr"
    with lock(out, "tail bank"):
        result = _cli("bank", "build", str(work), "-q")
    assert result.exit_code == 2 and "another lt-data process is writing" in result.output
    assert not out.exists()
    build_bank(work, progress=False)  # the lock went with its holder


def test_two_concurrent_builds_end_with_an_intact_store(camvid_work, camvid_small_bank, tmp_path):
    work = builders.copy_work(camvid_work, tmp_path / "w")
    out = tmp_path / "bank.zarr"
    reference = TailBank.open(camvid_small_bank)  # the same classes, built alone
    cmd = [sys.executable, "-m", "lt_data.entry.cli", "bank", "build", str(work), "--classes", "9,10", "--workers", "1",
           "--out", str(out), "--force", "-q"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    for code, err in results:
        assert "Traceback" not in err
        assert code == 0 or (code == 2 and "another lt-data process is writing" in err), err
    assert any(code == 0 for code, _ in results)
    bank = TailBank.open(out)
    assert len(bank) == len(reference)
    for i in range(0, len(bank), 11):
        assert np.array_equal(bank.get(i)[0], reference.get(i)[0]) and np.array_equal(bank.get(i)[1], reference.get(i)[1])


def _same_or_refused(reader, expected) -> int:
    """Read every object: each must equal ``expected``'s or be refused by name. Returns the reads."""
    reads = 0
    for i in range(len(expected)):
        try:
            p, m, _ = reader.get(i)
        except ArtifactError as e:
            assert "chunk file missing" in str(e)
            continue
        p0, m0, _ = expected.get(i)
        assert np.array_equal(p, p0) and np.array_equal(m, m0), f"object {i} changed under its reader"
        reads += 1
    return reads


def test_a_reader_open_during_a_forced_rebuild_reads_its_objects_not_zeros(work):
    out = build_bank(work, progress=False)
    expected = TailBank.open(out, mode="memory")  # loaded into RAM at open
    assert any(expected.get(i)[0].any() for i in range(len(expected)))
    lazy = TailBank.open(out)  # memory-maps chunk files on first touch: during the rebuild below
    build = threading.Thread(target=build_bank, args=(work,), kwargs={"force": True, "progress": False})
    build.start()
    try:
        while build.is_alive():
            _same_or_refused(lazy, expected)
    finally:
        build.join()


def test_a_reader_never_reads_the_bytes_of_a_store_rebuilt_after_it_opened(work):
    out = build_bank(work, progress=False)
    expected = TailBank.open(out, mode="memory")
    lazy = TailBank.open(out)  # nothing mapped yet
    build_bank(work, min_area=150, progress=False)  # other objects, other offsets, same path
    assert _same_or_refused(lazy, expected) == 0, "the old store is gone: every read is refused by name"
    assert len(TailBank.open(out)) < len(expected)


def test_readers_never_see_a_store_being_built(work):
    """While a build runs, ``--out`` holds either nothing or the previous complete store."""
    out = work / "bank.zarr"
    seen, stop = [], threading.Event()

    def watch():
        while not stop.is_set():
            if (out / "zarr.json").exists():
                try:
                    seen.append(TailBank.open(out).attrs["complete"])
                except ArtifactError as e:  # between the two renames of a swap: absent
                    seen.append(str(e))
    t = threading.Thread(target=watch)
    t.start()
    try:
        build_bank(work, progress=False)
        build_bank(work, force=True, progress=False)
    finally:
        stop.set()
        t.join()
    assert all(s is True or "not a readable zarr group" in s for s in seen), set(map(str, seen))


# ---- every file a store wrote is checked ----------------------------------------------------------------------

def test_a_deleted_or_truncated_chunk_is_an_error_naming_it(work):
    out = Path(build_bank(work, progress=False))
    chunk = out / "pixels" / "c" / "0"
    data = chunk.read_bytes()
    chunk.unlink()
    with pytest.raises(ArtifactError, match=r"pixels/c/0: missing"):
        TailBank.open(out)
    chunk.write_bytes(data[:-5])
    with pytest.raises(ArtifactError, match=r"pixels/c/0: \d+ bytes, the store wrote \d+ \(truncated"):
        TailBank.open(out)
    result = _cli("bank", "info", str(out))
    assert result.exit_code == 2 and "pixels/c/0" in result.output


def test_altered_chunk_content_is_found_by_verify(work):
    out = Path(build_bank(work, progress=False))
    chunk = out / "masks" / "c" / "0"
    data = bytearray(chunk.read_bytes())
    data[0] ^= 0xFF
    chunk.write_bytes(bytes(data))
    TailBank.open(out)  # sizes agree: opening stays cheap
    result = _cli("bank", "info", str(out), "--verify")
    assert result.exit_code == 2 and "masks/c/0: content differs" in result.output
    assert _cli("cutmix", "build", str(work), "-q").exit_code == 0
    cut = Path(work / "cutmix.zarr")
    (cut / "class_start" / "c" / "0").unlink()
    with pytest.raises(ArtifactError, match=r"class_start/c/0: missing"):
        TailCutmix.open(cut)


def test_store_files_are_listed_in_its_attributes(work):
    out = Path(build_bank(work, progress=False))
    files = zarr.open_group(str(out), mode="r").attrs["files"]
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} - {"zarr.json", ".lt-data-store"}
    assert set(files) == on_disk
    assert all(size == (out / rel).stat().st_size for rel, (size, _) in files.items())


@pytest.mark.parametrize("args", [["stats", "{data}", "--layout", "folder", "--out", "{file}"],
                                  ["stats", "{data}", "--layout", "folder", "--out", "{work}", "--workers", "-1"],
                                  ["bank", "build", "{work}", "--workers", "0"],
                                  ["cutmix", "build", "{work}", "--workers", "-1"],
                                  ["bank", "build", "{work}", "--out", "{file}/bank.zarr"]],
                         ids=["stats-out-file", "stats-workers", "bank-workers", "cutmix-workers", "bank-out-under-file"])
def test_output_and_worker_mistakes_are_one_line(work, tmp_path, args):
    f = tmp_path / "a-file"
    f.write_text("keep")
    before = sorted(p.name for p in work.iterdir())
    result = _cli(*[a.format(data=tmp_path / "data", work=work, file=f) for a in args], "-q")
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and result.output.strip().count("\n") == 0, result.output
    assert f.read_text() == "keep" and sorted(p.name for p in work.iterdir()) == before


def test_a_corrupt_buckets_file_is_one_line(work):
    (work / "buckets.json").write_text('{"head": [0], "tail"')
    result = _cli("bank", "build", str(work), "-q")
    assert result.exit_code == 2 and "buckets.json: not a buckets file written by lt-data" in result.output
