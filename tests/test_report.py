"""The report: the HTML parses, every embedded image decodes, the numbers equal an independent computation,
and it works for 11 and for 171 classes."""

from __future__ import annotations

import base64
import io
import json
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from lt_data.buckets import write_buckets
from lt_data.classes import load_class_table
from lt_data.cli import app
from lt_data.errors import ArtifactError
from lt_data.layouts.base import Sample
from lt_data.report import PLOTS, write_report
from lt_data.stats import ClassStats, write_stats

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _Page(HTMLParser):
    """Collects <img> sources, text and checks that every non-void element is closed in order."""

    def __init__(self):
        super().__init__()
        self.stack, self.images, self.text, self.errors = [], [], [], []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs))
        elif tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def _parse(path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    assert page.errors == [] and page.stack == [], (page.errors, page.stack)
    return page


def _decode_data_uri(src: str) -> Image.Image:
    prefix = "data:image/png;base64,"
    assert src.startswith(prefix), src[:40]
    im = Image.open(io.BytesIO(base64.b64decode(src[len(prefix):], validate=True)))
    im.load()
    return im


def test_camvid_report(work_copy):
    write_buckets(work_copy)
    index = write_report(work_copy)
    out = work_copy / "report"
    assert index == out / "index.html"
    page = _parse(index)
    assert len(page.images) == len(PLOTS)
    for img in page.images:
        im = _decode_data_uri(img["src"])
        assert im.format == "PNG" and im.width > 300 and im.height > 200
        assert img.get("alt")
    for name in PLOTS:  # the same plots as files
        with Image.open(out / f"{name}.png") as im:
            im.load()
    text = " ".join(page.text)
    for needed in ("camvid", "train", "Road", "Bicyclist", "head", "middle", "tail", "imbalance ratio",
                   "Cumulative pixel share", "Image frequency", "Tail classes with head classes"):
        assert needed in text, needed
    html = index.read_text()
    assert "http://" not in html and "https://" not in html, "self-contained: nothing fetched"

    # numbers: equal an independent computation from the raw artifacts
    data = json.loads((out / "report.json").read_text())
    counts = np.load(work_copy / "pixel_counts.npy")
    buckets = json.loads((work_copy / "buckets.json").read_text())
    total = counts.sum()
    for name in ("head", "middle", "tail"):
        ids = buckets[name]
        s = data["per_bucket"][name]
        assert s["ids"] == sorted(ids, key=lambda c: -counts[:, c].sum())
        assert s["pixel_share"] == pytest.approx(counts[:, ids].sum() / total)
        assert s["images_with_any"] == sum(1 for row in counts if (row[ids] > 0).any())
        p = counts[:, ids].sum(axis=0)
        assert s["imbalance_ratio"] == pytest.approx(p.max() / p.min())
    co = data["cooccurrence"]
    assert co["tail"] == data["per_bucket"]["tail"]["ids"] and co["head"] == data["per_bucket"]["head"]["ids"]
    for i, t in enumerate(co["tail"]):
        for j, h in enumerate(co["head"]):
            both = sum(1 for row in counts if row[t] > 0 and row[h] > 0)
            assert co["images"][i][j] == both
            assert co["fraction"][i][j] == pytest.approx(both / (counts[:, t] > 0).sum())
    assert data["most_frequent"][0] == 3 and data["least_frequent"][0] == 10  # Road, Bicyclist
    assert data["buckets"]["from_file"] is True

    md = (out / "report.md").read_text()
    assert "| head | 3 |" in md and "![" in md and "pixel_histogram.png" in md


def test_report_without_buckets_and_with_stale_buckets(work_copy, tmp_path):
    index = write_report(work_copy)  # no buckets.json: default rule, said in the report
    assert "computed for this report" in index.read_text()
    assert not (work_copy / "buckets.json").exists(), "the report stage never writes another stage's artifact"
    stale = json.loads(json.dumps({"source": {"stats": "0" * 16}, "num_classes": 11}))
    (work_copy / "buckets.json").write_text(json.dumps(stale))
    with pytest.raises(ArtifactError, match="built from other statistics"):
        write_report(work_copy)


def test_report_with_refined_and_one_sided_buckets(work_copy):
    iou = work_copy / "iou.json"
    iou.write_text(json.dumps({"per_class": [{"id": k, "iou": 0.9 if k in (2, 9) else 0.3} for k in range(11)]}))
    write_buckets(work_copy, refine=iou)
    page = _parse(write_report(work_copy))
    text = " ".join(page.text)
    assert "Refinement moves" in text and "Pedestrian" in text
    for img in page.images:
        _decode_data_uri(img["src"])
    # only a tail bucket and no head: no co-occurrence plot, and the page still works
    write_buckets(work_copy, "list", tail_classes="Bicyclist")
    page = _parse(write_report(work_copy))
    assert len(page.images) == len(PLOTS) - 1
    assert not (work_copy / "report" / "cooccurrence.png").exists()


def _coco_sized(tmp_path, n=400):
    """171-class statistics with a long tail and a class that never occurs."""
    rng = np.random.default_rng(1)
    table = load_class_table("coco_stuff164k")
    k = table.num_classes
    p = np.maximum(0.9 * (np.arange(k) + 1.0) ** -0.8, 0.01)[rng.permutation(k)]
    present = rng.random((n, k)) < p
    counts = (present * rng.integers(1, 5000, size=(n, k)) * (1 + 50 * p)).astype(np.int64)
    counts[:, 7] = 0
    samples = [Sample(f"{i}", f"im/{i}.jpg", f"lb/{i}.png", 100, 100) for i in range(n)]
    stats = ClassStats(table=table, samples=samples, counts=counts, ignored=np.zeros(n, dtype=np.int64),
                       dataset={"layout": "coco_stuff164k", "root": "/coco", "split": "train2017",
                                "class_table": table.to_json()})
    write_stats(stats, tmp_path)
    return tmp_path


def test_report_171_classes(tmp_path):
    work = _coco_sized(tmp_path)
    r = CliRunner().invoke(app, ["buckets", str(work), "-q"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, ["report", str(work)])
    assert r.exit_code == 0, r.output
    page = _parse(work / "report" / "index.html")
    assert len(page.images) == len(PLOTS)
    widths = [_decode_data_uri(img["src"]).width for img in page.images]
    assert max(widths) > 2000  # the class plots grow with the classes and scroll sideways
    data = json.loads((work / "report" / "report.json").read_text())
    assert data["dataset"]["num_classes"] == 171 and len(data["classes"]) == 171
    assert data["classes"][7]["pixels"] == 0 and data["classes"][7]["bucket"] == "tail"
    assert 7 in data["least_frequent"]
    assert any("no pixels" in n for n in data["buckets"]["notes"])
    text = " ".join(page.text)
    assert "Most frequent 10" in text and "Least frequent 10" in text
