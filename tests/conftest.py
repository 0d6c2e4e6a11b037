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


@pytest.fixture(scope="session")
def camvid_stores(camvid_work, tmp_path_factory):
    """CamVid train statistics with the default buckets (share rule: head Sky, Building, Road; tail
    Pole, SignSymbol, Fence, Pedestrian, Bicyclist), the default bank and cutmix stores, built once
    per session. Shared: copy before writing into it."""
    import shutil

    from lt_data.bank import build_bank
    from lt_data.buckets import write_buckets
    from lt_data.cutmix import build_cutmix

    work = tmp_path_factory.mktemp("camvid_stores") / "work"
    shutil.copytree(camvid_work, work)
    write_buckets(work)
    build_bank(work, workers=2, progress=False)
    build_cutmix(work, workers=2, progress=False)
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
    from lt_data.evaluate import split_work

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
