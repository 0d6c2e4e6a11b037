"""The tail bank on real data: objects equal an independent connected-components computation, stored
pixels equal the source pixels, masks are whole components, integrity and concurrent reads hold."""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import pickle
import signal
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.measure
import zarr
from PIL import Image

from lt_data.stores.bank import TailBank, build_bank, extract_objects
from lt_data.data.buckets import write_buckets
from lt_data.core.errors import ArtifactError, LtDataError
from lt_data.data.layouts import get_layout
from lt_data.data.stats import run_stats

CAMVID_TAIL = [2, 6, 7, 9, 10]  # Pole, SignSymbol, Fence, Pedestrian, Bicyclist
CITYSCAPES_ID_TO_TRAIN = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11,
                          25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}
CITYSCAPES_CLASSES = [4, 5, 7, 11, 13]  # the classes of the fixture frame with small objects


def _write_buckets(work: Path, tail: list[int], k: int) -> None:
    head = [c for c in range(k) if c not in tail]
    write_buckets(work, "list", head_classes=head, tail_classes=tail)


@pytest.fixture(scope="module")
def camvid_bank(camvid_stores) -> Path:
    """The session's CamVid work directory with its default bank (tail bucket, 8-connectivity, min area 64)."""
    from lt_data.data.buckets import load_buckets

    assert load_buckets(camvid_stores).tail == CAMVID_TAIL
    return camvid_stores


@pytest.fixture(scope="module")
def camvid_labels(camvid_root) -> dict[str, np.ndarray]:
    """Train ids read straight from the files (CamVid stores train ids; 11 = void)."""
    return {f.stem: np.array(Image.open(f)) for f in sorted((camvid_root / "trainannot").glob("*.png"))}


@pytest.fixture(scope="module")
def cityscapes_work(cityscapes_fixture_root, tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("cityscapes_work")
    run_stats(get_layout("cityscapes", cityscapes_fixture_root, "val"), work, workers=1, progress=False)
    build_bank(work, classes=",".join(map(str, CITYSCAPES_CLASSES)), min_area=10, workers=1, progress=False)
    return work


def _independent_objects(labels: dict[str, np.ndarray], classes, min_area: int, connectivity: int) -> dict:
    """{(sample id, class): sorted [(y0, x0, h, w, area), ...]} from skimage.measure.label."""
    out = {}
    for sid, lab in labels.items():
        for c in classes:
            cc = skimage.measure.label(lab == c, connectivity=1 if connectivity == 4 else 2)
            objs = []
            for r in skimage.measure.regionprops(cc):
                if r.area >= min_area:
                    y0, x0, y1, x1 = r.bbox
                    objs.append((y0, x0, y1 - y0, x1 - x0, int(r.area)))
            if objs:
                out[(sid, c)] = sorted(objs)
    return out


def _bank_objects(bank: TailBank) -> dict:
    out: dict = {}
    ids = [s["id"] for s in bank.samples]
    box, area, cls, smp = bank.column("box"), bank.column("area"), bank.column("class_id"), bank.column("sample")
    for i in range(len(bank)):
        out.setdefault((ids[smp[i]], int(cls[i])), []).append((*map(int, box[i]), int(area[i])))
    return {k: sorted(v) for k, v in out.items()}


def _check_objects_against_source(bank: TailBank, image_of, label_of, connectivity: int = 8) -> int:
    """Every object: pixels equal the source under the mask, and the mask is one whole component."""
    kernel = np.ones((3, 3), np.uint8) if connectivity == 8 else cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    ids = [s["id"] for s in bank.samples]
    pixels, masks, cols = bank.get_many(np.arange(len(bank)))
    order = np.argsort(cols["sample"], kind="stable")
    current, image, label = None, None, None
    for j in order:
        sid = ids[cols["sample"][j]]
        if sid != current:
            current, image, label = sid, image_of(sid), label_of(sid)
        y0, x0, h, w = cols["box"][j].tolist()
        c = int(cols["class_id"][j])
        p, m = pixels[j], masks[j]
        assert p.shape == (h, w, 3) and p.dtype == np.uint8 and m.shape == (h, w) and m.dtype == bool
        np.testing.assert_array_equal(p[m], image[y0:y0 + h, x0:x0 + w][m])
        assert int(m.sum()) == cols["area"][j]
        assert m[0].any() and m[-1].any() and m[:, 0].any() and m[:, -1].any()  # the box is tight
        assert skimage.measure.label(m, connectivity=1 if connectivity == 4 else 2).max() == 1  # connected
        # maximal: no pixel of the class touches the mask without belonging to it (box padded by one)
        cls_pad = np.pad(label == c, 1)[y0:y0 + h + 2, x0:x0 + w + 2]
        m_pad = np.pad(m, 1)
        assert cls_pad[m_pad].all()  # the mask lies on pixels of its class
        grown = cv2.dilate(m_pad.view(np.uint8), kernel).astype(bool)
        assert not (grown & cls_pad & ~m_pad).any()
    return len(order)


# ---- extraction on hand-made masks --------------------------------------------------------------

def test_extract_objects_connectivity_min_area_and_own_mask():
    label = np.full((12, 12), 255, np.uint8)
    label[1:3, 1:3] = 1  # 4 px
    label[3:5, 3:5] = 1  # 4 px, touching the first only diagonally
    label[6:11, 2:10] = 1  # a ring of class 1 ...
    label[7:10, 3:9] = 0
    label[8, 5] = 1  # ... with a separate speck of class 1 inside its box
    image = np.random.default_rng(0).integers(0, 256, (12, 12, 3), dtype=np.uint8)
    meta8, pix8, msk8 = extract_objects(image, label, [1], min_area=1, connectivity=8)
    meta4, _, _ = extract_objects(image, label, [1], min_area=1, connectivity=4)
    assert sorted(meta8[:, 6].tolist()) == [1, 8, 22]
    assert sorted(meta4[:, 6].tolist()) == [1, 4, 4, 22]
    big, _, _ = extract_objects(image, label, [1], min_area=9, connectivity=8)
    assert big[:, 6].tolist() == [22]
    # the ring's mask excludes the speck, although it is of the same class and inside the box
    ring = int(np.flatnonzero(meta8[:, 6] == 22)[0])
    sizes = meta8[:, 4] * meta8[:, 5]
    off = int(np.sum((sizes[:ring] + 7) // 8))
    y0, x0, h, w = meta8[ring, 2:6].tolist()
    assert (y0, x0, h, w) == (6, 2, 5, 8)
    mask = np.unpackbits(np.frombuffer(msk8, np.uint8)[off:off + (h * w + 7) // 8], count=h * w).reshape(h, w)
    assert mask[2, 3] == 0 and mask.sum() == 22
    poff = int(np.sum(sizes[:ring] * 3))
    crop = np.frombuffer(pix8, np.uint8)[poff:poff + h * w * 3].reshape(h, w, 3)
    np.testing.assert_array_equal(crop, image[6:11, 2:10])


# ---- CamVid -------------------------------------------------------------------------------------

def test_camvid_objects_equal_independent_components(camvid_bank, camvid_labels):
    bank = TailBank.open(camvid_bank)
    assert bank.classes == CAMVID_TAIL
    expected = _independent_objects(camvid_labels, CAMVID_TAIL, 64, 8)
    got = _bank_objects(bank)
    for c in CAMVID_TAIL:
        n_expected = sum(len(v) for (s, k), v in expected.items() if k == c)
        assert bank.count(c) == n_expected, bank.table.names[c]
    assert got == expected  # same objects: sample, class, box and area
    assert bank.count(0) == 0 and len(bank) == sum(bank.count(c) for c in CAMVID_TAIL)
    # objects are grouped by class
    cls = bank.column("class_id")
    assert (np.diff(cls) >= 0).all()
    for c in CAMVID_TAIL:
        assert (cls[bank.objects_of(c).start:bank.objects_of(c).stop] == c).all()


def test_camvid_stored_pixels_equal_source_and_masks_are_components(camvid_bank, camvid_root, camvid_labels):
    bank = TailBank.open(camvid_bank)

    def image_of(sid):
        return np.array(Image.open(camvid_root / "train" / f"{sid}.png").convert("RGB"))

    n = _check_objects_against_source(bank, image_of, camvid_labels.__getitem__)
    assert n == len(bank) > 100  # real CamVid: over 4,000


@pytest.mark.real_data
def test_camvid_readme_region_counts_4_connectivity(camvid_bank, camvid_labels, tmp_path):
    """The data README's 753 Pedestrian / 167 Bicyclist regions of ≥100 px (its figures match 4-connectivity;
    with 8-connectivity skimage and the bank both find 757 / 167)."""
    out = build_bank(camvid_bank, classes="Pedestrian,Bicyclist", min_area=100, connectivity=4, workers=2,
                     progress=False, out=tmp_path / "b4.zarr")
    bank = TailBank.open(out)
    assert (bank.count(9), bank.count(10)) == (753, 167)
    expected = _independent_objects(camvid_labels, [9, 10], 100, 4)
    assert _bank_objects(bank) == expected
    full = TailBank.open(camvid_bank)
    assert int((full.column("area")[full.objects_of(9).start:full.objects_of(9).stop] >= 100).sum()) == 757


def test_readers_agree_across_modes_and_urls(camvid_bank, tmp_path, monkeypatch):
    path = camvid_bank / "bank.zarr"
    mm = TailBank.open(path)
    assert mm.resolved_mode == "mmap"
    idx = np.random.default_rng(0).integers(0, len(mm), 300)
    ref = [mm.get(i) for i in idx]
    for kw in ({"mode": "memory"}, {"mode": "ranges"}, {"mode": "zarr"}):
        other = TailBank.open(path, **kw)
        for (p, m, meta), i in zip(ref, idx):
            p2, m2, meta2 = other.get(i)
            np.testing.assert_array_equal(p, p2)
            np.testing.assert_array_equal(m, m2)
            assert meta == meta2
    url = TailBank.open(f"file://{path}")  # fsspec URL: not local-path mmap, "auto" picks RAM or ranges
    assert url.resolved_mode in ("mmap", "memory")
    ranges = TailBank.open(f"file://{path}", mode="ranges")
    pixels, masks, cols = ranges.get_many(idx)
    for (p, m, meta), p2, m2, j in zip(ref, pixels, masks, range(len(idx))):
        np.testing.assert_array_equal(p, p2)
        np.testing.assert_array_equal(m, m2)
        assert meta["box"] == tuple(cols["box"][j]) and meta["class_id"] == cols["class_id"][j]
    # the documented recipe with zarr alone (docs/BANK_FORMAT.md) reads the same object
    g = zarr.open_group(str(path), mode="r")
    assert g.attrs["complete"] is True and g.attrs["schema_version"] == 1
    c, j = 9, 5
    i = int(g["class_start"][c]) + j
    y0, x0, h, w = (int(v) for v in g["box"][i])
    po, mo = int(g["pixel_offset"][i]), int(g["mask_offset"][i])
    pixels = g["pixels"][po:po + h * w * 3].reshape(h, w, 3)
    mask = np.unpackbits(g["masks"][mo:mo + (h * w + 7) // 8], count=h * w).reshape(h, w).astype(bool)
    p, m, meta = mm.get(i)
    np.testing.assert_array_equal(p, pixels)
    np.testing.assert_array_equal(m, mask)
    assert meta["class_id"] == c and meta["box"] == (y0, x0, h, w)
    # an object that straddles two pixel chunks reads whole (chunks of 64 KiB, so that many do)
    from lt_data.stores.bank import build as bank_build

    monkeypatch.setattr(bank_build, "PIXEL_CHUNK", 64 << 10)
    path = Path(build_bank(camvid_bank, classes="9,10", workers=1, progress=False, out=tmp_path / "small_chunks.zarr"))
    mm, ranges = TailBank.open(path), TailBank.open(f"file://{path}", mode="ranges")
    po, sz = mm.column("pixel_offset"), mm.column("h") * mm.column("w") * 3
    chunk = zarr.open_array(str(path / "pixels"), mode="r").chunks[0]
    assert chunk == 64 << 10
    straddle = np.flatnonzero(po // chunk != (po + sz - 1) // chunk)
    assert len(straddle)
    i = int(straddle[0])
    flat = zarr.open_array(str(path / "pixels"), mode="r")[po[i]:po[i] + sz[i]]  # zarr alone
    np.testing.assert_array_equal(mm.get(i)[0].ravel(), flat)
    np.testing.assert_array_equal(ranges.get(i)[0].ravel(), flat)


def test_sample_uniform_per_class_and_skips_empty_classes(camvid_bank):
    import torch

    bank = TailBank.open(camvid_bank)
    draws = bank.sample([10, 0, 9], np.random.default_rng(0))
    assert len(draws) == 2  # Sky (0) holds no object: skipped
    assert bank.column("class_id")[draws].tolist() == [10, 9]
    np.testing.assert_array_equal(draws, bank.sample([10, 0, 9], np.random.default_rng(0)))
    many = bank.sample(np.full(60_000, 10), np.random.default_rng(1))
    r = bank.objects_of(10)
    assert many.min() >= r.start and many.max() < r.stop
    hist = np.bincount(many - r.start, minlength=len(r))
    assert hist.min() > 0.5 * hist.mean() and hist.max() < 1.5 * hist.mean()  # mean ≈ 303 per object
    t = bank.sample([2, 6], torch.Generator().manual_seed(0))
    assert bank.column("class_id")[t].tolist() == [2, 6]
    np.testing.assert_array_equal(t, bank.sample([2, 6], torch.Generator().manual_seed(0)))
    with pytest.raises(IndexError):
        bank.sample([11], np.random.default_rng(0))
    with pytest.raises(TypeError):
        bank.sample([2], 0)


def test_max_per_class_largest_and_seeded_uniform(camvid_bank, tmp_path):
    full = TailBank.open(camvid_bank)
    r = full.objects_of(10)
    all_objects = {o + (k[0],) for k, v in _bank_objects(full).items() if k[1] == 10 for o in v}
    areas = np.sort(full.column("area")[r.start:r.stop])[::-1]
    k = min(20, len(areas) // 2)  # real CamVid: 20 of 167
    largest = TailBank.open(build_bank(camvid_bank, classes="10", max_per_class=k, choose="largest", workers=2,
                                       progress=False, out=tmp_path / "largest.zarr"))
    assert largest.count(10) == k
    np.testing.assert_array_equal(np.sort(largest.column("area"))[::-1], areas[:k])
    picks = []
    for seed in (0, 0, 1):
        b = TailBank.open(build_bank(camvid_bank, classes="10", max_per_class=k, seed=seed, workers=2,
                                     progress=False, out=tmp_path / f"uniform{len(picks)}.zarr"))
        objs = _bank_objects(b)
        chosen = {o + (key[0],) for key, v in objs.items() for o in v}
        assert b.count(10) == k and chosen <= all_objects
        picks.append(chosen)
    assert picks[0] == picks[1] and picks[0] != picks[2]


# ---- Cityscapes fixture -------------------------------------------------------------------------

def test_cityscapes_fixture_objects(cityscapes_work, cityscapes_fixture_root):
    bank = TailBank.open(cityscapes_work)
    lut = np.full(256, 255, np.uint8)
    for i, t in CITYSCAPES_ID_TO_TRAIN.items():
        lut[i] = t
    files = sorted(cityscapes_fixture_root.glob("gtFine/val/*/*_gtFine_labelIds.png"))
    labels = {f"{f.parent.name}/{f.name.replace('_gtFine_labelIds.png', '')}": lut[np.array(Image.open(f))]
              for f in files}
    expected = _independent_objects(labels, CITYSCAPES_CLASSES, 10, 8)
    assert _bank_objects(bank) == expected and len(bank) > 0

    def image_of(sid):
        return np.array(Image.open(cityscapes_fixture_root / "leftImg8bit" / "val" / f"{sid}_leftImg8bit.png")
                        .convert("RGB"))

    assert _check_objects_against_source(bank, image_of, lambda sid: labels[sid]) == len(bank)


# ---- integrity ----------------------------------------------------------------------------------

def test_incomplete_or_corrupt_store_is_refused_then_rebuilt(cityscapes_work, tmp_path):
    out = build_bank(cityscapes_work, classes="4,5", min_area=10, workers=1, progress=False, out=tmp_path / "b.zarr")
    ok = len(TailBank.open(out))
    zarr.open_group(out, mode="r+").attrs["complete"] = False
    with pytest.raises(ArtifactError, match="incomplete store"):
        TailBank.open(out)
    meta = Path(out) / "zarr.json"
    meta.write_text(meta.read_text()[:100])  # a torn metadata file
    with pytest.raises(ArtifactError, match="not a readable zarr group"):
        TailBank.open(out)
    with pytest.raises(ArtifactError, match="not a readable zarr group"):
        TailBank.open(tmp_path / "nothing.zarr")
    out = build_bank(cityscapes_work, classes="4,5", min_area=10, workers=1, progress=False, out=tmp_path / "b.zarr")
    assert len(TailBank.open(out)) == ok


def _kill_build_midway(work: Path, out: Path, *extra: str) -> None:
    """Start ``lt-data bank build`` and SIGKILL it while it writes its temporary store."""
    cmd = [sys.executable, "-m", "lt_data.entry.cli", "bank", "build", str(work), "--classes", "9,10",
           "--workers", "1", "--out", str(out), "-q", *extra]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while (not any(out.parent.glob(f".{out.name}.tmp-*/zarr.json")) and time.time() < deadline
               and proc.poll() is None):
            time.sleep(0.005)
        time.sleep(0.2)  # midway: the temporary store exists, objects are being written
        assert proc.poll() is None, "the build ended before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL


def test_kill_9_midway_leaves_no_store_and_a_rerun_recovers(camvid_bank, tmp_path):
    out = tmp_path / "killed.zarr"
    _kill_build_midway(camvid_bank, out)
    assert not out.exists(), "a killed first build must leave nothing at --out"
    assert list(tmp_path.glob(".killed.zarr.tmp-*")), "the killed build wrote aside"
    with pytest.raises(ArtifactError, match="not a readable zarr group"):
        TailBank.open(out)
    rebuilt = TailBank.open(build_bank(camvid_bank, classes="9,10", workers=2, progress=False, out=out))
    full = TailBank.open(camvid_bank)
    assert (rebuilt.count(9), rebuilt.count(10)) == (full.count(9), full.count(10))
    assert not list(tmp_path.glob(".killed.zarr.tmp-*")), "the next build removes what a killed one left"


def test_kill_9_during_a_rebuild_keeps_the_complete_store(camvid_bank, camvid_small_bank, tmp_path):
    out = tmp_path / "kept.zarr"
    shutil.copytree(camvid_small_bank, out)  # a complete bank of classes 9, 10
    before = TailBank.open(out)
    objects = [before.get(i)[0].tobytes() for i in range(0, len(before), 7)]
    _kill_build_midway(camvid_bank, out, "--force")
    after = TailBank.open(out)
    assert len(after) == len(before)
    assert [after.get(i)[0].tobytes() for i in range(0, len(after), 7)] == objects


def test_refuses_bank_of_other_statistics_or_class_table(camvid_bank, camvid_val_work, cityscapes_work, camvid_root):
    bank = TailBank.open(camvid_bank, work=camvid_bank)  # its own work directory: accepted
    val = camvid_val_work
    n_train, n_val = (len(list((camvid_root / d).glob("*.png"))) for d in ("train", "val"))
    with pytest.raises(ArtifactError, match=rf"statistics differ: built from statistics \w+ \({n_train} images of "
                                            rf"camvid/train.*expected \w+ \({n_val} images of camvid/val"):
        bank.check_compatible(val)
    with pytest.raises(ArtifactError, match="class table differs: built for 'camvid' \\(11 classes.*expected "
                                            "'cityscapes' \\(19 classes"):
        bank.check_compatible(cityscapes_work)
    from lt_data.core.classes import load_class_table

    with pytest.raises(ArtifactError, match="class table differs"):
        TailBank.open(camvid_bank, expect_table=load_class_table("cityscapes"))
    TailBank.open(camvid_bank, expect_table=load_class_table("camvid"), expect_stats=bank.attrs["fingerprints"]["stats"])


def test_rerun_keeps_an_up_to_date_bank(cityscapes_work):
    path = Path(cityscapes_work) / "bank.zarr"
    before = (path / "zarr.json").stat().st_mtime_ns
    build_bank(cityscapes_work, classes=",".join(map(str, CITYSCAPES_CLASSES)), min_area=10, workers=1,
               progress=False)
    assert (path / "zarr.json").stat().st_mtime_ns == before


# ---- processes ----------------------------------------------------------------------------------

def _digest(bank_or_path, indices) -> str:
    bank = bank_or_path if isinstance(bank_or_path, TailBank) else TailBank.open(bank_or_path)
    h = hashlib.sha256()
    for i in indices:
        p, m, meta = bank.get(int(i))
        h.update(p.tobytes())
        h.update(np.packbits(m).tobytes())
        h.update(repr(sorted(meta.items())).encode())
    return h.hexdigest()


def test_processes_read_identical_objects(camvid_bank):
    bank = TailBank.open(camvid_bank)
    assert len(pickle.dumps(bank)) < 1000  # pickling carries the path, not the data
    idx = np.random.default_rng(3).integers(0, len(bank), 400).tolist()
    ctx = mp.get_context("spawn")
    with ctx.Pool(2) as pool:  # two processes at once: one opens the path, one gets the pickled bank
        a = pool.apply_async(_digest, (str(camvid_bank / "bank.zarr"), idx))
        b = pool.apply_async(_digest, (bank, idx))
        da, db = a.get(120), b.get(120)
    assert da == db == _digest(bank, idx)


class _Objects:
    def __init__(self, bank):
        self.bank = bank

    def __len__(self):
        return 64

    def __getitem__(self, i):
        p, m, meta = self.bank.get(i * 7 % len(self.bank))
        return hashlib.sha256(p.tobytes() + m.tobytes()).hexdigest(), os.getpid()


def test_forked_dataloader_workers_read_the_bank(camvid_bank):
    import torch.utils.data as tud

    bank = TailBank.open(camvid_bank)
    loader = tud.DataLoader(_Objects(bank), batch_size=None, num_workers=2, multiprocessing_context="fork")
    got = list(loader)
    assert [d for d, _ in got] == [_Objects(bank)[i][0] for i in range(64)]
    assert len({pid for _, pid in got}) == 2 and os.getpid() not in {pid for _, pid in got}


# ---- command line -------------------------------------------------------------------------------

def test_cli_bank_build_info_show(cityscapes_work, tmp_path):
    from typer.testing import CliRunner

    from lt_data.entry.cli import app

    runner = CliRunner()
    out = tmp_path / "cli.zarr"
    res = runner.invoke(app, ["bank", "build", str(cityscapes_work), "--classes", "person,car,5", "--min-area", "10",
                              "--workers", "1", "--out", str(out), "-q"])
    assert res.exit_code == 0, res.output
    assert "wrote" in res.output
    res = runner.invoke(app, ["bank", "info", str(out)])
    assert res.exit_code == 0 and "person" in res.output and "on disk" in res.output
    info = json.loads(runner.invoke(app, ["bank", "info", str(out), "--json"]).output)
    bank = TailBank.open(out)
    assert {c["name"]: c["objects"] for c in info["classes"]} == {bank.table.names[c]: bank.count(c)
                                                                  for c in bank.classes}
    sheet = tmp_path / "sheet.png"
    res = runner.invoke(app, ["bank", "show", str(out), "--out", str(sheet), "--per-class", "4", "--cell", "32"])
    assert res.exit_code == 0 and sheet.is_file()
    assert Image.open(sheet).size[1] == 3 * (32 + 4) + 4
    res = runner.invoke(app, ["bank", "build", str(cityscapes_work), "--connectivity", "6", "--out", str(out)])
    assert res.exit_code == 2 and "connectivity must be 4 or 8" in res.output
    res = runner.invoke(app, ["bank", "build", str(cityscapes_work), "--classes", "unicorn", "--out", str(out)])
    assert res.exit_code == 2 and "unicorn" in res.output
    zarr.open_group(str(out), mode="r+").attrs["complete"] = False
    res = runner.invoke(app, ["bank", "info", str(out)])
    assert res.exit_code == 2 and "incomplete store" in res.output


def test_tail_default_needs_buckets(cityscapes_work):
    with pytest.raises(LtDataError, match="buckets"):
        build_bank(cityscapes_work, workers=1, progress=False, out=Path(cityscapes_work) / "never.zarr")


@pytest.mark.parametrize("workers", [1, 2])
def test_unreadable_image_names_the_file(camvid_root, tmp_path, workers):
    root = tmp_path / "camvid"
    for d in ("train", "trainannot"):
        (root / d).mkdir(parents=True)
        for f in sorted((camvid_root / d).glob("*.png"))[:3]:
            (root / d / f.name).symlink_to(f)
    work = tmp_path / "work"
    run_stats(get_layout("camvid", root, "train"), work, workers=1, progress=False)
    bad = sorted((root / "train").glob("*.png"))[1]
    bad.unlink()
    bad.write_bytes(b"not a png")
    with pytest.raises(LtDataError, match=f"{bad.name}.*unreadable"):
        build_bank(work, classes="Pole", min_area=1, workers=workers, progress=False)
    assert not (work / "bank.zarr").exists() and not list(work.glob(".bank.zarr.tmp-*")), \
        "a failed build leaves nothing behind"
    with pytest.raises(ArtifactError, match="without bank.zarr"):
        TailBank.open(work)
    bank = TailBank.open(build_bank(work, classes="Pole", min_area=1, workers=workers, skip_bad=True, progress=False))
    assert [Path(b["path"]).name for b in bank.attrs["skipped"]] == [bad.name]
    assert set(bank.column("sample").tolist()) <= {0, 2}
