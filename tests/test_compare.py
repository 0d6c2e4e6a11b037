"""lt-data compare: the numbers equal an independent computation over hand-made metrics files (mean and
sample standard deviation with numpy, ddof=1), deltas, recipes grouped by seed, the LaTeX and Markdown
tables, the figures as PNG/SVG/PDF, one-line errors with exit code 2, and no torch."""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from lt_data.entry.cli import app
from lt_data.views.compare import FIGURES, Run, group_runs, write_comparison

NAMES = ["road", "sky", "car", "sign_post", "bike"]
BUCKETS = ["head", "head", "middle", "tail", "tail"]
GT = [5000, 4000, 900, 60, 20]
# hand-made per-class IoUs; None: the class is absent from that evaluation
CE = {0: [0.90, 0.80, 0.60, 0.20, 0.10], 1: [0.92, 0.78, 0.61, 0.25, 0.05], 2: [0.91, 0.82, 0.58, 0.18, 0.12]}
AUC = {0: [0.89, 0.79, 0.63, 0.30, 0.20], 1: [0.90, 0.81, 0.64, 0.28, None]}
EXTERNAL = [0.85, 0.70, 0.50, 0.35, 0.30]


def _mean(xs):
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None


def metrics(ious, names=NAMES, buckets=BUCKETS) -> dict:
    """A metrics.json as lt-data evaluate writes it (the fields compare reads)."""
    per_class = []
    for i, (n, iou) in enumerate(zip(names, ious)):
        entry = {"id": i, "name": n, "iou": iou, "acc": iou, "gt_pixels": GT[i] if iou is not None else 0,
                 "pred_pixels": 10, "bucket": buckets[i]}
        if iou is None:
            entry["absent"] = True
        per_class.append(entry)
    out = {"per_class": per_class, "miou": _mean(ious), "pixel_accuracy": 0.9, "mean_accuracy": 0.8}
    for b in ("head", "middle", "tail"):
        out[f"miou_{b}"] = _mean([x for x, bb in zip(ious, buckets) if bb == b])
    return out


def make_run(root: Path, name: str, loss: str, seed: int, ious, **config) -> Path:
    run = root / name
    run.mkdir(parents=True)
    (run / "metrics.json").write_text(json.dumps(metrics(ious)))
    cfg = {"work": f"/data/copy{seed}/work", "run": str(run), "model": "unet_small", "loss": loss, "paste": "none",
           "sampler": "uniform", "seed": seed, "steps": 200, "lr": 0.001, "workers": 2 + seed, "device": "cpu"}
    cfg.update(config)
    record = {"config": cfg, "inputs": {"work": cfg["work"], "work_statistics": "f" * 16, "val_work": "/data/val",
                                        "val_work_statistics": "e" * 16}, "world_size": 1}
    (run / "config.json").write_text(json.dumps(record))
    return run


def _make_runs(tmp_path: Path) -> list[Path]:
    root = tmp_path / "runs"
    paths = [make_run(root, f"ce-s{s}", "ce", s, v) for s, v in CE.items()]
    paths += [make_run(root, f"auc-s{s}", "1*auc+ce", s, v) for s, v in AUC.items()]
    ext = tmp_path / "external.json"
    ext.write_text(json.dumps(metrics(EXTERNAL)))
    return paths + [ext]


@pytest.fixture
def runs(tmp_path) -> list[Path]:
    return _make_runs(tmp_path)


@pytest.fixture(scope="module")
def comparison(tmp_path_factory) -> tuple[list[Path], Path, dict]:
    """(runs, out, data): the hand-made runs and ``write_comparison(runs, out)`` with the defaults,
    written once for the tests that only read it."""
    base = tmp_path_factory.mktemp("comparison")
    runs = _make_runs(base)
    return runs, base / "cmp", write_comparison(runs, base / "cmp")


def _std(xs):
    xs = [x for x in xs if x is not None]
    return float(np.std(xs, ddof=1)) if len(xs) > 1 else None


def _expected_groups():
    """name → (runs' per-class IoUs, their metrics) computed here, independently of lt_data.views.compare."""
    return {"ce": [metrics(v) for v in CE.values()], "1*auc+ce": [metrics(v) for v in AUC.values()],
            "external": [metrics(EXTERNAL)]}


def test_numbers_equal_an_independent_computation(comparison):
    _, out, data = comparison
    groups = {g["name"]: g for g in data["groups"]}
    expected = _expected_groups()
    assert list(groups) == ["ce", "1*auc+ce", "external"]  # seeds grouped; named by what differs: the loss
    assert data["baseline"] == "ce" and groups["ce"]["baseline"]
    assert groups["ce"]["seeds"] == [0, 1, 2] and groups["1*auc+ce"]["n"] == 2 and groups["external"]["n"] == 1
    base = expected["ce"]
    for name, members in expected.items():
        g = groups[name]
        for m in ("miou", "miou_head", "miou_middle", "miou_tail"):
            vals = [x[m] for x in members]
            assert g["measures"][m]["mean"] == pytest.approx(np.mean(vals))
            std = _std(vals)
            assert (g["measures"][m]["std"] is None) if std is None else g["measures"][m]["std"] == pytest.approx(std)
            assert g["delta"][m] == pytest.approx(np.mean(vals) - np.mean([x[m] for x in base]))
        for c in range(len(NAMES)):
            vals = [x["per_class"][c]["iou"] for x in members]
            present = [v for v in vals if v is not None]
            s = g["per_class"][c]
            assert s["n"] == len(present) and s["mean"] == pytest.approx(np.mean(present))
            assert (s["std"] is None) if len(present) < 2 else s["std"] == pytest.approx(np.std(present, ddof=1))
            assert g["delta_per_class"][c] == pytest.approx(
                np.mean(present) - np.mean([x["per_class"][c]["iou"] for x in base]))
    # the absent class: AUC seed 1 has no bike, so bike's AUC IoU is over one run and has no std
    assert groups["1*auc+ce"]["per_class"][4] == {"mean": 0.20, "std": None, "n": 1}
    assert data["class_order"] == [0, 1, 2, 3, 4]  # head, middle, tail; most ground-truth pixels first
    assert {r["name"] for r in data["runs"]} == {"ce-s0", "ce-s1", "ce-s2", "auc-s0", "auc-s1", "external"}
    assert "sample standard deviation" in data["std"]
    saved = json.loads((out / "compare.json").read_text())
    assert saved["groups"][1]["measures"]["miou"]["mean"] == pytest.approx(groups["1*auc+ce"]["measures"]["miou"]["mean"])


def test_baseline_by_recipe_or_run_name(runs, tmp_path):
    a = write_comparison(runs, tmp_path / "a", baseline="1*auc+ce")
    b = write_comparison(runs, tmp_path / "b", baseline="auc-s1")  # a run: its recipe's group
    for data in (a, b):
        g = {x["name"]: x for x in data["groups"]}
        assert data["baseline"] == "1*auc+ce" and g["1*auc+ce"]["delta"]["miou"] == 0.0
        auc = np.mean([metrics(v)["miou_tail"] for v in AUC.values()])
        assert g["external"]["delta"]["miou_tail"] == pytest.approx(metrics(EXTERNAL)["miou_tail"] - auc)


def _tex_rows(text: str) -> list[list[str]]:
    """The body rows of a booktabs tabular: cells split on &, rules dropped."""
    assert "\\toprule" in text and "\\bottomrule" in text
    body = text.split("\\toprule", 1)[1].split("\\bottomrule", 1)[0]
    rows = [r.replace("\\midrule", "").strip() for r in body.split("\\\\")]
    return [[c.strip() for c in r.split("&")] for r in rows if r]


CELL = re.compile(r"^(?P<bold>\\textbf\{)?(?P<mean>\d+\.\d\d)\}?(?: \$\\pm\$ (?P<std>\d+\.\d\d))?"
                  r"(?: \{\\scriptsize\(\$(?P<delta>[+-]\d+\.\d\d)\$\)\})?$")


def test_latex_tables_parse_as_expected_rows(runs, tmp_path):
    write_comparison(runs, tmp_path / "cmp", names=None)
    text = (tmp_path / "cmp" / "miou_table.tex").read_text()
    assert text.count("\\begin{tabular}{lcrrrr}") == 1 and "\\end{table}" in text
    rows = _tex_rows(text)
    assert rows[0] == ["Method", "$n$", "Overall", "Head", "Middle", "Tail"]
    expected = _expected_groups()
    assert [r[0] for r in rows[1:]] == ["ce", "1*auc+ce", "external"] and [r[1] for r in rows[1:]] == ["3", "2", "1"]
    base = {m: np.mean([x[m] for x in expected["ce"]]) for m in ("miou", "miou_head", "miou_middle", "miou_tail")}
    for row in rows[1:]:
        members = expected[row[0]]
        for cell, m in zip(row[2:], ("miou", "miou_head", "miou_middle", "miou_tail")):
            got = CELL.match(cell)
            assert got, cell
            vals = [x[m] for x in members]
            assert got["mean"] == f"{100 * np.mean(vals):.2f}"
            std = _std(vals)
            assert got["std"] == (None if std is None else f"{100 * std:.2f}")
            if row[0] == "ce":
                assert got["delta"] is None  # the baseline
            else:
                assert float(got["delta"]) == pytest.approx(100 * (np.mean(vals) - base[m]), abs=0.006)
            best = max(np.mean([x[m] for x in g]) for g in expected.values())
            assert bool(got["bold"]) == (f"{100 * np.mean(vals):.2f}" == f"{100 * best:.2f}")
    per_class = _tex_rows((tmp_path / "cmp" / "per_class_table.tex").read_text())
    assert per_class[0][:2] == ["Class", "Bucket"] and len(per_class[0]) == 5
    assert [r[0] for r in per_class[1:]] == ["road", "sky", "car", "sign\\_post", "bike"]  # escaped for LaTeX
    assert [r[1] for r in per_class[1:]] == BUCKETS
    assert CELL.match(per_class[5][3])["mean"] == "20.00" and CELL.match(per_class[5][3])["std"] is None
    assert "\u00b1" not in text and all(ord(ch) < 128 for ch in text), "ASCII only: pastes into any LaTeX"

    md = (tmp_path / "cmp" / "compare.md").read_text()
    assert "| ce (baseline) | 3 |" in md and "| bike | tail |" in md.replace("| 4 | bike", "| bike")


def test_figures_and_page(comparison):
    _, out, data = comparison
    for name in FIGURES:
        assert (out / f"{name}.svg").read_bytes().lstrip()[:5] in (b"<?xml", b"<svg ")
        assert (out / f"{name}.pdf").read_bytes().startswith(b"%PDF")
        with Image.open(out / f"{name}.png") as im:
            im.load()
            assert im.width >= 600
    for f in data["files"]:
        assert (out / f).is_file(), f

    class Page(HTMLParser):
        def __init__(self):
            super().__init__()
            self.images, self.tables, self.ths = [], [], []

        def handle_starttag(self, tag, attrs):
            if tag == "img":
                self.images.append(dict(attrs)["src"])
            elif tag == "table":
                self.tables.append(dict(attrs).get("class", ""))

    page = Page()
    html = (out / "index.html").read_text()
    page.feed(html)
    assert len(page.images) == 2
    for src in page.images:
        with Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))) as im:
            im.load()
    assert sum("sortable" in t for t in page.tables) == 3  # summary, per class, runs
    assert "http://" not in html and "https://" not in html and "<script>" in html


def test_recipes_group_by_everything_but_seed_and_operational_options(tmp_path):
    root = tmp_path / "r"
    paths = [make_run(root, "a0", "ce", 0, CE[0]), make_run(root, "a1", "ce", 1, CE[1]),
             make_run(root, "b0", "ce", 0, CE[2], lr=0.01), make_run(root, "b1", "ce", 1, CE[0], lr=0.01),
             make_run(root, "c0", "ce", 0, CE[1], steps=400)]
    from lt_data.views.compare import load_runs

    runs = load_runs(paths)
    groups = group_runs(runs)
    assert [[runs[i].name for i in g.runs] for g in groups] == [["a0", "a1"], ["b0", "b1"], ["c0"]]
    assert groups[0].name == "ce (lr=0.001)" and groups[1].name == "ce (lr=0.01)" and groups[2].name == "c0"
    # a metrics file without a run record is a group of its own, even with the same numbers
    bare = [Run(name=f"m{i}", path=f"m{i}.json", metrics=metrics(CE[0]), record=None) for i in range(2)]
    assert [g.runs for g in group_runs(bare)] == [[0], [1]]


def _cli(args):
    return CliRunner().invoke(app, ["compare", *map(str, args)])


def test_cli_summary_json_and_names(runs, tmp_path):
    r = _cli([*runs[:3], "--out", tmp_path / "o", "--names", "x,y,z"])
    assert r.exit_code == 0, r.output
    assert "ce" in r.stdout and "± is the sample standard deviation" in r.stdout
    r = _cli([runs[0], runs[5], "--out", tmp_path / "o", "--names", "first,second", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert [g["name"] for g in data["groups"]] == ["first", "second"] and data["out"] == str(tmp_path / "o")


def _expect_error(args, *needles, out=None):
    r = _cli(args)
    assert r.exit_code == 2, (r.exit_code, r.output, r.exception)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])
    if out is not None:
        assert not out.exists(), "an error leaves no output"


def test_errors_are_one_line_naming_the_file(runs, tmp_path):
    out = tmp_path / "out"
    missing = tmp_path / "nosuch.json"
    _expect_error([runs[0], missing, "--out", out], str(missing), "no such file", out=out)
    bad = tmp_path / "bad.json"
    bad.write_text('{"per_class": [')
    _expect_error([bad, "--out", out], str(bad), "invalid JSON", out=out)
    for content, needle in [([1, 2], "expected an object"), ({"miou": 0.5}, "no per_class"),
                            (metrics([1.5, 0.1, 0.1, 0.1, 0.1]), "iou must be a number in [0, 1]"),
                            ({**metrics(CE[0]), "miou": "high"}, "miou must be a number")]:
        bad.write_text(json.dumps(content))
        _expect_error([runs[0], bad, "--out", out], str(bad), needle, out=out)
    other = tmp_path / "other.json"
    other.write_text(json.dumps(metrics(CE[0][:4], NAMES[:4], BUCKETS[:4])))
    _expect_error([runs[0], other, "--out", out], str(other), "another class table", "4 classes", out=out)
    other.write_text(json.dumps(metrics(CE[0], NAMES[:4] + ["bicycle"])))
    _expect_error([runs[0], other, "--out", out], str(other), "'bicycle'", out=out)
    empty = tmp_path / "empty"
    empty.mkdir()
    _expect_error([empty, "--out", out], str(empty), "without metrics.json", out=out)
    (runs[1] / "config.json").write_text("[]")
    _expect_error([runs[1], "--out", out], str(runs[1] / "config.json"), "not a run record", out=out)
    _expect_error([runs[0], runs[0] / "metrics.json", "--out", out], "given twice", out=out)
    _expect_error([runs[0], runs[2], "--names", "a", "--out", out], "--names gives 1 name(s) for 2", out=out)
    _expect_error([runs[0], runs[2], "--baseline", "nope", "--out", out], "--baseline nope", "ce-s0", out=out)
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    _expect_error([runs[0], "--out", blocker], str(blocker), "refusing to replace")
    assert blocker.read_text() == "x"


def test_compare_is_torch_free(runs, tmp_path):
    code = ("import sys, lt_data.views.compare as c; c.write_comparison(sys.argv[1:], sys.argv[1] + '.cmp'); "
            "bad = sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')); "
            "print('TORCH', bad)")
    p = subprocess.run([sys.executable, "-c", code, *map(str, runs)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "TORCH []" in p.stdout, p.stdout


class _Dom(HTMLParser):
    """Tables (class, row texts), images and the body's probe attributes of a dumped DOM."""

    def __init__(self):
        super().__init__()
        self.tables, self.images, self.body = [], 0, {}
        self._cell = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body":
            self.body = a
        elif tag == "table":
            self.tables.append({"class": a.get("class", ""), "rows": []})
        elif tag == "tr" and self.tables:
            self.tables[-1]["rows"].append([])
        elif tag in ("td", "th") and self.tables:
            self._cell = []
        elif tag == "img":
            self.images += 1

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1]["rows"][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _column(table: dict, col: int) -> list[str]:
    return [r[col] for r in table["rows"][1:]]


def test_compare_page_renders_and_sorts_in_a_browser(comparison, tmp_path, browser):
    import shutil

    runs = comparison[0]
    out = Path(shutil.copytree(comparison[1], tmp_path / "cmp"))  # a copy: the browser writes its probe beside it
    probe = """
  var t = document.querySelectorAll('table.sortable')[1], h = t.tHead.rows[0].cells;
  function names() { return Array.prototype.map.call(t.tBodies[0].rows, function (r) { return r.cells[1].textContent; }).join('|'); }
  h[4].click(); document.body.setAttribute('data-asc', names());
  h[4].click(); document.body.setAttribute('data-desc', names());
  h[1].click(); document.body.setAttribute('data-byname', names());
"""
    dom = _Dom()
    dom.feed(browser.dom(out / "index.html", probe))
    assert dom.body["data-images"] == "2/2", "both figures decoded and painted"
    sortable = [t for t in dom.tables if "sortable" in t["class"]]
    assert len(sortable) == 3
    assert _column(sortable[0], 0)[:3] == ["ce (baseline)", "1*auc+ce", "external"]
    assert len(sortable[1]["rows"]) == 1 + len(NAMES) and len(sortable[2]["rows"]) == 1 + len(runs)
    ce_mean = {n: np.mean([v[i] for v in CE.values()]) for i, n in enumerate(NAMES)}
    ascending = sorted(NAMES, key=lambda n: ce_mean[n])
    assert dom.body["data-asc"].split("|") == ascending
    assert dom.body["data-desc"].split("|") == ascending[::-1]
    assert dom.body["data-byname"].split("|") == sorted(NAMES)

    shot = browser.screenshot(out / "index.html", tmp_path / "compare.png")
    with Image.open(shot) as im:
        px = np.asarray(im.convert("RGB")).reshape(-1, 3).astype(int)
    assert im.size == (1200, 2000)
    near = lambda rgb: (np.abs(px - np.array(rgb)).sum(1) < 30).sum()  # noqa: E731
    assert near((0, 114, 178)) > 500 and near((213, 94, 0)) > 500, "head and tail bars painted"
    assert (px.sum(1) < 600).mean() > 0.05, "a page with content, not a blank one"


def test_runs_with_other_derived_doses_are_other_recipes(tmp_path):
    """Two runs without paste_args whose doses were derived differently (another rule, another bank)
    are two recipes; the same resolved dose over two seeds is one."""
    from lt_data.views.compare import load_runs

    root = tmp_path / "r"
    paths = [make_run(root, f"{n}{s}", "ce", s, CE[s], paste="bank") for n in "ab" for s in (0, 1)]
    for p, ratio in zip(paths, (0.2, 0.2, 0.6, 0.6)):
        record = json.loads((p / "config.json").read_text())
        record["paste"] = {"mode": "bank", "args": {"sample_ratio": ratio, "resize_ratio": 1.0, "per_image": True},
                           "source": {"sample_ratio": "rule"}, "figures": {}}
        (p / "config.json").write_text(json.dumps(record))
    groups = group_runs(load_runs(paths))
    assert [g.runs for g in groups] == [[0, 1], [2, 3]]


def test_notes_say_what_differs_beyond_the_method_and_where_n_is_one(tmp_path):
    from lt_data.views.compare import compare_data, load_runs

    root = tmp_path / "r"
    paths = [make_run(root, "ce0", "ce", 0, CE[0]), make_run(root, "ce1", "ce", 1, CE[1]),
             make_run(root, "auc0", "1*auc+ce", 0, AUC[0], steps=400, warmup=20),
             make_run(root, "auc1", "1*auc+ce", 1, AUC[1], steps=400, warmup=20)]
    notes = compare_data(load_runs(paths))["notes"]
    assert any(n.startswith("The recipes differ in more than the method (steps: 200 vs 400; warmup: null vs 20)")
               for n in notes), notes
    assert not any("n = 1" in n for n in notes)
    # same schedule, one recipe measured once
    paths = [make_run(root / "b", "ce0", "ce", 0, CE[0]), make_run(root / "b", "ce1", "ce", 1, CE[1]),
             make_run(root / "b", "auc0", "1*auc+ce", 0, AUC[0])]
    notes = compare_data(load_runs(paths))["notes"]
    assert [n for n in notes if "n = 1" in n] == ["auc0: n = 1, no spread; a difference from another recipe may be "
                                                  "seed to seed noise (run more seeds: --set seed=N)."]
    assert not any("more than the method" in n for n in notes)
    # runs of one recipe from two environments
    for name, threads in (("ce0", 1), ("ce1", 2)):
        record = json.loads((root / "b" / name / "config.json").read_text())
        record["environment"] = {"torch": "2.13.0", "device": "cpu", "threads": threads}
        (root / "b" / name / "config.json").write_text(json.dumps(record))
    notes = compare_data(load_runs(paths[:2]))["notes"]
    assert len(notes) == 1 and "different environments" in notes[0]
