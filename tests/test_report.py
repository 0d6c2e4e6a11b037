"""The report: the HTML parses, every embedded image decodes, the numbers equal an independent computation,
and it works for 11 and for 171 classes."""

from __future__ import annotations

import base64
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from builders import copy_work
from lt_data.data.buckets import write_buckets
from lt_data.core.classes import load_class_table
from lt_data.entry.cli import app
from lt_data.core.errors import ArtifactError
from lt_data.data.layouts.base import Sample
from lt_data.views.report import PLOTS, build_figures, load_report, write_report
from lt_data.data.stats import ClassStats, write_stats

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


@pytest.fixture(scope="module")
def camvid_report(camvid_work, tmp_path_factory):
    """(work, index): a copy of the CamVid train statistics, its default buckets and the report
    ``write_report`` wrote into ``work/report``; written once for the tests that only read it."""
    work = copy_work(camvid_work, tmp_path_factory.mktemp("camvid_report") / "work")
    write_buckets(work)
    return work, write_report(work)


def test_camvid_report(camvid_report):
    work, index = camvid_report
    out = work / "report"
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
                   "Cumulative pixel share", "Image frequency", "Tail classes together", "Classes per image",
                   "Where each class lies in the frame", "References", "AUCSeg", "arXiv:2409.20398"):
        assert needed in text, needed
    html = index.read_text()
    # self-contained: nothing fetched (the references link out, but nothing loads from elsewhere)
    assert not re.search(r"""(src|srcset)\s*=\s*["']?(https?:)?//|<link|@import|url\(\s*["']?(https?:)?//""", html)
    assert '<a href="https://arxiv.org/abs/2409.20398">' in html

    # numbers: equal an independent computation from the raw artifacts
    data = json.loads((out / "report.json").read_text())
    counts = np.load(work / "pixel_counts.npy")
    buckets = json.loads((work / "buckets.json").read_text())
    total = counts.sum()
    for name in ("head", "middle", "tail"):
        ids = buckets[name]
        s = data["per_bucket"][name]
        assert s["ids"] == sorted(ids, key=lambda c: -counts[:, c].sum())
        assert s["pixel_share"] == pytest.approx(counts[:, ids].sum() / total)
        assert s["images_with_any"] == sum(1 for row in counts if (row[ids] > 0).any())
        p = counts[:, ids].sum(axis=0)
        assert s["imbalance_ratio"] == pytest.approx(p.max() / p.min())
    assert "cooccurrence" not in data and not (out / "cooccurrence.png").exists(), "the tail × head map is gone"
    co = data["tail_cooccurrence"]
    assert co["tail"] == data["per_bucket"]["tail"]["ids"] and len(co["tail"]) == 5
    for i, a in enumerate(co["tail"]):  # recomputed image by image from the per-image counts
        with_a = [row for row in counts if row[a] > 0]
        assert co["images"][i] == len(with_a) == co["both"][i][i]
        for j, b in enumerate(co["tail"]):
            both = sum(1 for row in with_a if row[b] > 0)
            assert co["both"][i][j] == both
            assert co["fraction"][i][j] == (None if i == j else pytest.approx(both / len(with_a)))
    per_image = data["classes_per_image"]
    n_all = [int((row > 0).sum()) for row in counts]
    n_tail = [int((row[buckets["tail"]] > 0).sum()) for row in counts]
    for key, ns in (("all", n_all), ("tail", n_tail)):
        got = per_image[key]
        assert got["histogram"] == [ns.count(v) for v in range(max(ns) + 1)]
        assert got["mean"] == pytest.approx(sum(ns) / len(ns)) and got["median"] == pytest.approx(np.median(ns))
        assert got["images_with_none"] == ns.count(0) and got["max"] == max(ns)
    sp = data["spatial_prior"]
    assert sp["status"] == "ok" and sp["frame"] == [360, 480]
    density = np.array(sp["density"])
    assert density.shape == (11, sp["grid"], sp["grid"])
    assert np.allclose(density.sum(axis=(1, 2)), 1, atol=1e-4)  # every class has pixels in CamVid train
    road, sky = 3, 0
    assert sp["summary"][road]["centre_y"] > 0.6 > 0.4 > sp["summary"][sky]["centre_y"], "road low, sky high"
    pixels = counts.sum(axis=0)
    assert data["most_frequent"][0] == int(np.argmax(pixels)) and data["least_frequent"][0] == int(np.argmin(pixels))
    assert data["buckets"]["from_file"] is True

    md = (out / "report.md").read_text()
    assert "| head | 3 |" in md and "![" in md and "pixel_histogram.png" in md
    assert "## Tail classes together" in md and "## Classes per image" in md and "spatial_prior.png" in md
    from lt_data.core.references import REFERENCES

    assert md.rstrip().splitlines()[-1].startswith(f"{len(REFERENCES)}. Gabriel J. Brostow"), "references close it"
    assert "[arXiv:2111.14887](https://arxiv.org/abs/2111.14887)" in md
    _check_spatial_panels(load_report(index))


def _check_spatial_panels(data):
    """One heat map per class, the class name as its title in its bucket's colour."""
    from matplotlib.image import AxesImage

    fig = build_figures(data)["spatial_prior"]
    panels = [ax for ax in fig.axes if any(isinstance(a, AxesImage) for a in ax.get_children())]
    assert len(panels) == data["dataset"]["num_classes"] == 11
    titles = [ax.get_title() for ax in panels]
    assert titles == [data["classes"][c]["name"] for c in data["frequency_order"]]
    from lt_data.core.plots import BUCKET_COLORS

    for ax, c in zip(panels, data["frequency_order"]):
        assert ax.title.get_color() == BUCKET_COLORS[data["classes"][c]["bucket"]]


def test_report_without_buckets_and_with_stale_buckets(small_work, tmp_path):
    work_copy = copy_work(small_work, tmp_path / "work", "buckets.json")
    index = write_report(work_copy)  # no buckets.json: default rule, said in the report
    assert "computed for this report" in index.read_text()
    assert not (work_copy / "buckets.json").exists(), "the report stage never writes another stage's artifact"
    write_buckets(work_copy)
    stale = json.loads((work_copy / "buckets.json").read_text())
    stale["source"]["stats"] = "0" * 16  # buckets of other statistics
    (work_copy / "buckets.json").write_text(json.dumps(stale))
    with pytest.raises(ArtifactError, match="built from other statistics"):
        write_report(work_copy)
    (work_copy / "buckets.json").write_text('{"num_classes": 11}')  # not a buckets file at all
    with pytest.raises(ArtifactError, match="not a buckets file"):
        write_report(work_copy)


def test_report_with_refined_and_one_sided_buckets(small_copy):
    iou = small_copy / "iou.json"  # its listed buckets: head road, middle car, tail bike
    iou.write_text(json.dumps({"per_class": [{"id": 0, "iou": 0.3}, {"id": 1, "iou": 0.3}, {"id": 2, "iou": 0.9}]}))
    write_buckets(small_copy, refine=iou)  # default thresholds: below 0.4 middle → tail, above 0.6 tail → middle
    page = _parse(write_report(small_copy))
    text = " ".join(page.text)
    assert "Refinement moves" in text and "bike" in text
    moves = json.loads((small_copy / "report" / "report.json").read_text())["buckets"]["moves"]
    assert sorted((m["name"], m["from"], m["to"]) for m in moves) == [("bike", "tail", "middle"),
                                                                     ("car", "middle", "tail")]
    for img in page.images:
        _decode_data_uri(img["src"])
    # one tail class and no head: nothing to pair, no tail × tail plot, and the page still works
    write_buckets(small_copy, "list", tail_classes="bike")
    page = _parse(write_report(small_copy))
    assert len(page.images) == len(PLOTS) - 1
    assert not (small_copy / "report" / "tail_cooccurrence.png").exists()
    assert "1 tail class: nothing to pair" in " ".join(page.text)


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
    assert len(page.images) == len(PLOTS) - 1  # no spatial prior: the labels under /coco are not here
    notes = [t for t in page.text if "label files could not be read" in t]
    assert len(notes) == 1 and "/coco" in notes[0] and "\n" not in notes[0]
    widths = [_decode_data_uri(img["src"]).width for img in page.images]
    assert max(widths) > 2000  # the class plots grow with the classes and scroll sideways
    data = json.loads((work / "report" / "report.json").read_text())
    assert data["dataset"]["num_classes"] == 171 and len(data["classes"]) == 171
    assert data["spatial_prior"]["status"] == "unavailable" and "spatial_prior.png" not in data["plots"]
    counts = np.load(work / "pixel_counts.npy")
    tail = data["buckets"]["ids"]["tail"]
    assert len(data["tail_cooccurrence"]["tail"]) == len(tail) > 100
    a, b = data["tail_cooccurrence"]["tail"][:2]  # one cell, recomputed
    assert data["tail_cooccurrence"]["fraction"][0][1] == pytest.approx(
        ((counts[:, a] > 0) & (counts[:, b] > 0)).sum() / (counts[:, a] > 0).sum())
    assert data["classes"][7]["pixels"] == 0 and data["classes"][7]["bucket"] == "tail"
    assert 7 in data["least_frequent"]
    assert any("no pixels" in n for n in data["buckets"]["notes"])
    text = " ".join(page.text)
    assert "Most frequent 10" in text and "Least frequent 10" in text


def _check_vector_files(out, names):
    for name in names:
        svg = (out / f"{name}.svg").read_bytes().lstrip()
        assert svg[:5] in (b"<?xml", b"<svg "), name
        assert b"</svg>" in svg[-64:]
        pdf = (out / f"{name}.pdf").read_bytes()
        assert pdf.startswith(b"%PDF") and b"%%EOF" in pdf[-32:], name


def test_report_figures_as_png_svg_and_pdf_and_sortable_tables(camvid_report):
    out = camvid_report[1].parent
    data = json.loads((out / "report.json").read_text())
    names = [p[:-4] for p in data["plots"]]
    assert names == list(PLOTS)
    _check_vector_files(out, names)
    html = (out / "index.html").read_text()
    assert html.count('class="sortable"') == 5  # all classes, one table per bucket, the spatial centres
    assert "<script>" in html and 'data-v="' in html
    text = " ".join(_parse(out / "index.html").text)
    assert "bank" not in text.split("References")[0].lower(), "no bank here: nothing said about one"
    for name in names:  # the vector files are linked from the page
        assert f'href="{name}.svg"' in html and f'href="{name}.pdf"' in html


def _bank_arrays(work):
    import zarr

    g = zarr.open_group(str(work / "bank.zarr"), mode="r")
    return g["class_id"][...], g["area"][...]


@pytest.fixture(scope="module")
def tiny_report(tiny_work, tmp_path_factory):
    """(work, result): a copy of ``tiny_work`` (bank included) and the result of ``lt-data report WORK
    --eval-work VAL`` on it, which wrote ``work/report``; run once for the tests that only read it."""
    work = copy_work(tiny_work[0], tmp_path_factory.mktemp("tiny_report") / "work", "eval-*")
    return work, CliRunner().invoke(app, ["report", str(work), "--eval-work", str(tiny_work[1])])


def test_report_with_bank_and_evaluation_split(tiny_report, tiny_work):
    val = tiny_work[1]
    tiny_copy, r = tiny_report
    assert r.exit_code == 0, r.output
    out = tiny_copy / "report"
    data = json.loads((out / "report.json").read_text())
    assert "object_sizes.png" in data["plots"] and "train_vs_eval.png" in data["plots"]
    _check_vector_files(out, [p[:-4] for p in data["plots"]])
    page = _parse(out / "index.html")
    assert len(page.images) == len(data["plots"]) + 1  # the figures and the bank's contact sheet
    for img in page.images:
        _decode_data_uri(img["src"])
    with Image.open(out / "bank_objects.png") as im:
        assert im.width > 300

    # bank numbers: equal a count over the store's own arrays, read with zarr
    class_id, area = _bank_arrays(tiny_copy)
    bank = data["bank"]
    assert bank["status"] == "ok" and bank["objects"] == len(class_id)
    for c in bank["classes"]:
        a = area[class_id == c["id"]]
        assert c["objects"] == len(a) and c["area_max"] == a.max() and c["area_min"] == a.min()
    text = " ".join(page.text)
    assert f"Tail bank: {len(class_id):,} objects" in text

    # evaluation shares: equal the evaluation split's pixel counts
    counts = np.load(val / "pixel_counts.npy")
    for c in data["classes"]:
        assert c["eval_pixel_share"] == pytest.approx(counts[:, c["id"]].sum() / counts.sum())
        assert c["eval_images"] == int((counts[:, c["id"]] > 0).sum())
    tail = data["buckets"]["ids"]["tail"]
    assert data["eval"]["per_bucket"]["tail"] == pytest.approx(counts[:, tail].sum() / counts.sum())
    assert data["eval"]["num_images"] == len(counts)
    assert "Training vs evaluation split" in text and "eval pixel share" in text
    md = (out / "report.md").read_text()
    assert "## Training vs evaluation split" in md and "bank_objects.png" in md


def test_report_says_in_one_line_why_a_bank_is_not_shown(small_copy):
    from lt_data.stores.bank import build_bank

    build_bank(small_copy, workers=1, progress=False)  # the tail class, bike
    meta = small_copy / "bank.zarr" / "zarr.json"
    doc = json.loads(meta.read_text())
    doc["attributes"]["fingerprints"]["stats"] = "0" * 16  # as if built from other statistics
    meta.write_text(json.dumps(doc))
    page = _parse(write_report(small_copy))
    notes = [t for t in page.text if t.startswith("Not shown:")]
    assert len(notes) == 1 and "refused" in notes[0] and "statistics differ" in notes[0]
    data = json.loads((small_copy / "report" / "report.json").read_text())
    assert data["bank"]["status"] == "refused" and "object_sizes.png" not in data["plots"]
    assert not (small_copy / "report" / "bank_objects.png").exists()


def test_report_refuses_an_evaluation_split_of_another_class_table(tiny_copy, tmp_path):
    other = _coco_sized(tmp_path / "coco")
    r = CliRunner().invoke(app, ["report", str(tiny_copy), "--eval-work", str(other)])
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(other) in lines[0]
    assert "another class table" in lines[0]
    assert not (tiny_copy / "report").exists()
    r = CliRunner().invoke(app, ["report", str(tiny_copy), "--eval-work", str(tmp_path / "nowhere")])
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1


def test_report_with_a_bank_runs_without_torch(tiny_copy, tiny_work):
    import subprocess
    import sys

    code = ("import sys; from lt_data.views.report import write_report; write_report(sys.argv[1], eval_work=sys.argv[2]); "
            "print('TORCH', sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))")
    p = subprocess.run([sys.executable, "-c", code, str(tiny_copy), str(tiny_work[1])], capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "TORCH []" in p.stdout, p.stdout
    assert (tiny_copy / "report" / "object_sizes.pdf").is_file()


def test_report_renders_and_sorts_in_a_browser(tiny_report, browser, tmp_path):
    import shutil

    assert tiny_report[1].exit_code == 0, tiny_report[1].output
    # a copy: the browser writes its probe page beside the page it opens
    index = Path(shutil.copytree(tiny_report[0] / "report", tmp_path / "report")) / "index.html"
    data = json.loads((index.parent / "report.json").read_text())
    probe = """
  var t = document.querySelectorAll('table.sortable')[0], h = t.tHead.rows[0].cells;
  function ids() { return Array.prototype.map.call(t.tBodies[0].rows, function (r) { return r.cells[1].textContent; }).join('|'); }
  h[4].click(); document.body.setAttribute('data-asc', ids());
  h[4].click(); document.body.setAttribute('data-desc', ids());
  document.body.setAttribute('data-tables', document.querySelectorAll('table').length);
"""
    dom = browser.dom(index, probe)
    body = re.search(r"<body([^>]*)>", dom).group(1)
    attrs = dict(re.findall(r'(data-[a-z]+)="([^"]*)"', body))
    n = len(data["plots"]) + 1  # and the contact sheet
    assert attrs["data-images"] == f"{n}/{n}", "every figure decoded and painted"
    assert int(attrs["data-tables"]) >= 8
    pixels = {c["id"]: c["pixels"] for c in data["classes"]}
    ascending = sorted(pixels, key=lambda c: (pixels[c], c))
    got = [int(x) for x in attrs["data-asc"].split("|")]
    assert [pixels[c] for c in got] == sorted(pixels.values()) and set(got) == set(ascending)
    assert [pixels[int(x)] for x in attrs["data-desc"].split("|")] == sorted(pixels.values(), reverse=True)
    for needed in ("Training vs evaluation split", "Tail bank", "Pixels per class"):
        assert needed in dom
    shot = browser.screenshot(index, tmp_path / "report.png")
    with Image.open(shot) as im:
        px = np.asarray(im.convert("RGB")).reshape(-1, 3).astype(int)
    assert (np.abs(px - np.array((0, 114, 178))).sum(1) < 30).sum() > 500, "the head-coloured bars are painted"


def test_report_into_another_directory_refuses_a_folder_it_did_not_write(small_copy, tmp_path):
    from lt_data.core.errors import LtDataError

    out = tmp_path / "paper" / "fig"
    index = write_report(small_copy, out=out)
    assert index == out / "index.html" and not (small_copy / "report").exists()
    data = load_report(index)
    assert data == json.loads((out / "report.json").read_text()) and load_report(out) == data
    assert (out / data["source"]["buckets"]).resolve() == (small_copy / "buckets.json").resolve()
    assert write_report(small_copy, out=out) == index  # its own report: replaced
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(LtDataError) as err:
        write_report(small_copy, out=mine)
    assert "\n" not in str(err.value) and "did not create" in str(err.value) and "notes.txt" in str(err.value)
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    with pytest.raises(LtDataError, match="not a report"):
        write_report(small_copy, out=small_copy)  # the work directory itself: statistics, not a report
    assert (small_copy / "pixel_counts.npy").is_file()


def test_report_figures_have_readable_text_and_a_bucket_legend(tiny_report):
    """Every text of every figure is at least 12 px at the saved size, and every figure names the
    bucket colours it uses in a legend."""
    from matplotlib.text import Text

    from lt_data.stores.bank.reader import TailBank
    from lt_data.data.buckets import BUCKET_NAMES
    from lt_data.core.plots import DPI

    work, r = tiny_report
    assert r.exit_code == 0, r.output
    data = load_report(work / "report" / "index.html")
    assert data["eval"]["num_images"] == 4 and data["bank"]["status"] == "ok"  # every figure is there
    figures = build_figures(data, TailBank.open(work / "bank.zarr", work=work))
    assert set(figures) == {p[:-4] for p in data["plots"]} and len(figures) == len(PLOTS) + 2
    for name, fig in figures.items():
        fig.draw_without_rendering()
        texts = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
        small = [(t.get_text(), t.get_fontsize()) for t in texts if t.get_fontsize() * DPI / 72 < 12]
        assert texts and not small, (name, small)
        legends = [ax.get_legend() for ax in fig.axes if ax.get_legend()] + list(fig.legends)
        legends += [a for ax in fig.axes for a in ax.artists if a.__class__.__name__ == "Legend"]
        words = " ".join(t.get_text() for lg in legends for t in lg.get_texts())
        assert any(b in words for b in BUCKET_NAMES), (name, words)
