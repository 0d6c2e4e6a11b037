"""Which OpenCV build ``import cv2`` loads, when two wheels write the one ``cv2`` package.

lt-data needs ``opencv-python-headless`` (no GUI libraries, so it imports on a server without
libGL). mmcv-lite, which lt-data's ``[mmseg]`` extra installs, requires ``opencv-python``, the GUI
build of the same library: pip then installs both, and whichever it installed last owns the files
under ``cv2/``. The choice documented in the README: keep the headless build's files, and leave
``opencv-python``'s metadata in place so that pip still sees mmcv-lite's requirement met.
:func:`opencv_problem` tells whether cv2 is the expected build, by comparing the compiled module on
disk with the hashes each wheel recorded when it was installed.
"""

from __future__ import annotations

import base64
import hashlib
from importlib import metadata
from pathlib import Path

HEADLESS = "opencv-python-headless"
OTHERS = ("opencv-python", "opencv-contrib-python", "opencv-contrib-python-headless")


def _cv2_module(dist) -> tuple[Path, str] | None:
    """(path on disk, recorded sha256) of the compiled cv2 module a distribution installed."""
    for f in dist.files or ():
        name = str(f)
        if name.startswith("cv2/cv2") and name.endswith((".so", ".pyd")) and f.hash is not None:
            return Path(f.locate()), f.hash.value
    return None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return base64.urlsafe_b64encode(h.digest()).rstrip(b"=").decode()


def cv2_owner() -> tuple[str | None, dict[str, str]]:
    """(the distribution whose compiled cv2 module is on disk, or None when none matches; the
    installed OpenCV distributions and their versions)."""
    installed = {}
    owner = None
    for name in (HEADLESS, *OTHERS):
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        installed[name] = dist.version
        found = _cv2_module(dist)
        if owner is None and found is not None and found[0].is_file() and _sha256(found[0]) == found[1]:
            owner = name
    return owner, installed


def opencv_problem() -> str | None:
    """A one-line warning when several OpenCV wheels are installed and ``cv2`` is not the headless
    build lt-data requires (None when only one is installed, or the headless files are in place)."""
    installed = {}
    for name in (HEADLESS, *OTHERS):
        try:
            installed[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    if len(installed) < 2:
        return None
    owner, installed = cv2_owner()
    if owner == HEADLESS:
        return None
    listed = ", ".join(f"{k} {v}" for k, v in installed.items())
    which = f"{owner}'s build" if owner else "a mix of their files"
    version = installed.get(HEADLESS)
    fix = (f"`pip install --force-reinstall --no-deps {HEADLESS}=={version}`" if version
           else f"`pip install {HEADLESS}`")
    return (f"warning: {listed} are installed and write one cv2 package, and cv2 is now {which}, not the headless "
            f"one lt-data requires (a GUI build fails to import where libGL is missing); {fix} puts the headless "
            f"files back (the other wheel's metadata stays, so what required it is still satisfied)")


__all__ = ["HEADLESS", "cv2_owner", "opencv_problem"]
