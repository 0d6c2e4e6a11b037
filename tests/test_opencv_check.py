"""Which OpenCV wheel's files `import cv2` loads, when mmcv-lite's opencv-python sits beside lt-data's headless one."""

from __future__ import annotations

import base64
import hashlib
from importlib import metadata
from types import SimpleNamespace

import pytest

from lt_data.entry.integrations import opencv


def _dist(root, version, content: bytes, on_disk: bytes | None):
    """A stand-in distribution that recorded cv2/cv2.abi3.so with ``content``'s hash; ``on_disk`` is what the file holds."""
    path = root / "cv2" / "cv2.abi3.so"
    path.parent.mkdir(parents=True, exist_ok=True)
    if on_disk is not None:
        path.write_bytes(on_disk)
    digest = base64.urlsafe_b64encode(hashlib.sha256(content).digest()).rstrip(b"=").decode()
    return SimpleNamespace(version=version, files=[_Record(digest, path)])


class _Record:
    """One RECORD entry as importlib.metadata gives it (a PackagePath: str, .hash, .locate())."""

    def __init__(self, digest, path):
        self.hash, self._path = SimpleNamespace(value=digest), path

    def __str__(self):
        return "cv2/cv2.abi3.so"

    def locate(self):
        return self._path


def _install(monkeypatch, dists: dict):
    def distribution(name):
        if name not in dists:
            raise metadata.PackageNotFoundError(name)
        return dists[name]

    monkeypatch.setattr(opencv.metadata, "distribution", distribution)
    monkeypatch.setattr(opencv.metadata, "version", lambda name: distribution(name).version)


def test_one_wheel_is_no_problem(monkeypatch, tmp_path):
    _install(monkeypatch, {"opencv-python-headless": _dist(tmp_path, "5.1.0", b"headless", b"headless")})
    assert opencv.opencv_problem() is None


def test_gui_build_over_the_headless_one_is_named_with_the_fix(monkeypatch, tmp_path):
    # the GUI wheel was installed last: the file on disk is the GUI build's
    _install(monkeypatch, {"opencv-python-headless": _dist(tmp_path, "5.1.0", b"headless", None),
                           "opencv-python": _dist(tmp_path, "5.1.0", b"gui", b"gui")})
    assert opencv.cv2_owner()[0] == "opencv-python"
    problem = opencv.opencv_problem()
    assert problem.startswith("warning: ") and "\n" not in problem
    assert "cv2 is now opencv-python's build" in problem
    assert "pip install --force-reinstall --no-deps opencv-python-headless==5.1.0" in problem


def test_headless_files_in_place_beside_the_gui_metadata_is_fine(monkeypatch, tmp_path):
    _install(monkeypatch, {"opencv-python-headless": _dist(tmp_path, "5.1.0", b"headless", b"headless"),
                           "opencv-python": _dist(tmp_path, "5.1.0", b"gui", None)})
    assert opencv.cv2_owner()[0] == "opencv-python-headless" and opencv.opencv_problem() is None


def test_the_real_environment_has_an_owner():
    """The hashes recorded at install time find which wheel's cv2 is on disk here."""
    owner, installed = opencv.cv2_owner()
    if not installed:
        pytest.skip("OpenCV not installed from a wheel")
    assert owner in installed
