"""Small datasets the tests write: built the same way wherever a test needs one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def make_folder_dataset(root: Path, n: int = 3) -> Path:
    """A folder-layout dataset of n 16x12 samples (random labels of 3 classes, black images)."""
    (root / "images" / "train").mkdir(parents=True)
    (root / "labels" / "train").mkdir(parents=True)
    (root / "classes.txt").write_text("road\ncar\nbike\n")
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 3, (12, 16), dtype=np.uint8)).save(root / "labels" / "train" / f"s{i}.png")
        Image.new("RGB", (16, 12)).save(root / "images" / "train" / f"s{i}.png")
    return root


def one_error_line(res, *must_contain: str) -> str:
    """A CliRunner result that failed as a user's mistake: exit 2, exactly one stderr line
    ``error: ...`` (containing each of ``must_contain``), no traceback. Returns the line."""
    assert not isinstance(res.exception, Exception), f"uncaught {res.exception!r}\n{res.output}"
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and lines[0][7:].strip(), res.stderr
    for text in must_contain:
        assert text in lines[0], lines[0]
    return lines[0]


class EntryPoint:
    """``lt_data.entry.cli.main`` (the console script: click's usage errors become one line) in the shape of a
    click command, for ``click.testing.CliRunner().invoke(EntryPoint(), argv)``."""

    name = "lt-data"

    def main(self, args=None, prog_name=None, **extra):
        from lt_data.entry.cli import main

        main(list(args or ()))


# ---- work directories: statistics, buckets, bank and cutmix stores ----------------------------------
# The session fixtures in conftest.py build the shared ones once with these; a test that writes into a
# work directory copies a shared one (copy_work) or builds its own with the same functions.

def copy_work(src: Path, dst: Path, *ignore: str) -> Path:
    """A private copy of the work directory ``src`` at ``dst`` (``ignore``: glob patterns left out)."""
    import shutil

    return Path(shutil.copytree(src, dst, ignore=shutil.ignore_patterns(*ignore) if ignore else None))


def stats_of(layout: str, root: Path, work: Path, split: str = "train", workers: int = 1) -> Path:
    """Statistics of ``split`` of the dataset at ``root`` written into ``work``; returns ``work``."""
    from lt_data.data.layouts import get_layout
    from lt_data.data.stats import run_stats

    run_stats(get_layout(layout, root, split), work, workers=workers, progress=False)
    return work


def camvid_stats(camvid_root: Path, work: Path, split: str = "train") -> Path:
    """Statistics of a CamVid split (2 workers)."""
    return stats_of("camvid", camvid_root, work, split, workers=2)


def add_stores(work: Path, *, bank: dict | None = None, cutmix: dict | None = None, workers: int = 2) -> Path:
    """Default buckets (share rule) of ``work``, then a bank and a cutmix store with these build
    arguments (None: that store is not built; ``{}``: the defaults); returns ``work``."""
    from lt_data.stores.bank import build_bank
    from lt_data.data.buckets import write_buckets
    from lt_data.stores.cutmix import build_cutmix

    write_buckets(work)
    if bank is not None:
        build_bank(work, **{"workers": workers, "progress": False, **bank})
    if cutmix is not None:
        build_cutmix(work, **{"workers": workers, "progress": False, **cutmix})
    return work


def street_scenes_work(base: Path, *, num_train: int, size: tuple[int, int], seed: int, num_val: int = 0,
                       extra_tail: int = 0, cutmix: bool = False) -> tuple[Path, Path | None]:
    """(work, val): generated street scenes under ``base/data``; their training statistics, default
    buckets, a bank (min_area 8) and, with ``cutmix``, a default cutmix store in ``base/work``; with
    ``num_val``, the validation split's statistics in ``work/eval-val`` (else None). One worker."""
    from lt_data.training.evaluate import split_work
    from lt_data.training.synthetic import generate_street_scenes

    root = generate_street_scenes(base / "data", num_train=num_train, num_val=num_val, size=size, seed=seed,
                                  extra_tail=extra_tail)
    work = stats_of("folder", root, base / "work")
    add_stores(work, bank={"min_area": 8}, cutmix={} if cutmix else None, workers=1)
    val = split_work(work, "val", work / "eval-val", workers=1, progress=False) if num_val else None
    return work, val


# ---- generated folder datasets --------------------------------------------------------------------

def make_block_folder(root: Path, n: int = 6, seed: int = 0, names=("road", "car", "bike")) -> Path:
    """A folder dataset of n 64x48 samples: class 0 everywhere, one class-1 block at a random place and
    two class-2 blocks per image, random images."""
    rng = np.random.default_rng(seed)
    (root / "images" / "train").mkdir(parents=True)
    (root / "labels" / "train").mkdir(parents=True)
    (root / "classes.txt").write_text("\n".join(names) + "\n")
    for i in range(n):
        lab = np.zeros((48, 64), np.uint8)
        y, x = rng.integers(0, 20, 2)
        lab[y:y + 20, x:x + 30] = 1
        lab[30:40, 2:12] = 2
        lab[36:46, 50:60] = 2
        Image.fromarray(lab).save(root / "labels" / "train" / f"s{i:02d}.png")
        Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(root / "images" / "train" / f"s{i:02d}.png")
    return root


def make_small_blocks(root: Path, n: int = 4) -> Path:
    """A folder dataset of n 32x24 images: background road (0), a car block (1) and a small bike block (2)."""
    (root / "images" / "train").mkdir(parents=True)
    (root / "labels" / "train").mkdir(parents=True)
    (root / "classes.txt").write_text("road\ncar\nbike\n")
    for i in range(n):
        label = np.zeros((24, 32), np.uint8)
        label[2:12, 3 + i:20 + i] = 1
        label[15:20, 22:27] = 2
        Image.fromarray(label).save(root / "labels" / "train" / f"s{i}.png")
        Image.fromarray(np.full((24, 32, 3), 40 * i, np.uint8)).save(root / "images" / "train" / f"s{i}.png")
    return root


CAMVID_NAMES = ("Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol", "Fence", "Car", "Pedestrian",
                "Bicyclist")


def repeated_camvid(camvid_root: Path, root: Path, repeat: int) -> Path:
    """CamVid train, repeated, as a folder-layout dataset of symbolic links (nothing copied)."""
    (root / "images" / "train").mkdir(parents=True)
    (root / "labels" / "train").mkdir(parents=True)
    (root / "classes.txt").write_text("\n".join(CAMVID_NAMES) + "\n")
    for f in sorted((camvid_root / "train").glob("*.png")):
        for k in range(repeat):
            (root / "images" / "train" / f"{f.stem}_{k}.png").symlink_to(f)
            (root / "labels" / "train" / f"{f.stem}_{k}.png").symlink_to(camvid_root / "trainannot" / f.name)
    return root
