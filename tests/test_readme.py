"""The README's Python snippet runs as written, on CamVid (only the work directory is substituted,
and the loader is cut to two batches so the test stays short)."""

from __future__ import annotations

import itertools
import re
import shutil

from conftest import REPO


def _snippet() -> str:
    text = (REPO / "README.md").read_text()
    start = text.index("In your own training loop")
    return re.search(r"```python\n(.*?)```", text[start:], re.S).group(1)


def test_readme_training_snippet_runs(camvid_work, tmp_path, monkeypatch):
    from lt_data import dataset
    from lt_data.bank import build_bank
    from lt_data.buckets import write_buckets

    work = tmp_path / "camvid"
    shutil.copytree(camvid_work, work)
    write_buckets(work)
    build_bank(work, progress=False)
    code = _snippet()
    assert 'work = "work/camvid"' in code and "normalize(images)" in code
    real = dataset.make_loader
    batches = []

    def two_batches(*args, **kwargs):
        loader = real(*args, **kwargs)
        for b in itertools.islice(loader, 2):
            batches.append(b)
            yield b

    monkeypatch.setattr(dataset, "make_loader", two_batches)
    scope: dict = {}
    exec(compile(code.replace('"work/camvid"', repr(str(work))), "README.md", "exec"), scope)
    assert len(batches) == 2
    assert scope["loss"].isfinite() and scope["loss"].requires_grad
    assert any(len(b["plan"]) for b in batches), "objects were pasted"
