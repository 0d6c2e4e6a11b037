"""Head / middle / tail buckets of classes (``WORK/buckets.json``)."""

from __future__ import annotations

from pathlib import Path

from .errors import ArtifactError
from .io import read_json

BUCKETS_FILE = "buckets.json"
BUCKET_NAMES = ("head", "middle", "tail")


def load_buckets(work: str | Path) -> dict:
    """``buckets.json`` of a work directory: ``{"head": [ids], "middle": [ids], "tail": [ids], ...}``."""
    path = Path(work) / BUCKETS_FILE
    if not path.is_file():
        raise ArtifactError(f"{path}: not found; run `lt-data buckets {work}` first")
    return read_json(path)
