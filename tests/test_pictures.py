"""Pictures for a person: the preview grid has column titles and a legend of the classes it shows,
the bank's contact sheet labels its rows in text a person reads (>= 12 px), and the references the
report and the README cite are complete."""

from __future__ import annotations

import re

import numpy as np
import torch

from lt_data.training.paste.kernels import PastePlan
from lt_data.views.preview import COLUMN_TITLES, batch_rows, legend_entries, render_batch, text_px


def _dark_run(band: np.ndarray) -> int:
    """Height in pixels of the rows of ``band (h, w, 3)`` that hold dark (text) pixels."""
    rows = np.flatnonzero((band.min(axis=2) < 100).any(axis=1))
    return int(rows.max() - rows.min() + 1) if len(rows) else 0


def _batch():
    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.integers(0, 256, (2, 3, 48, 64), dtype=np.uint8))
    labels = torch.zeros(2, 48, 64, dtype=torch.int64)
    labels[:, 24:] = 1
    labels[1, :4] = 255  # ignore
    mask = torch.zeros(1, 8, 8, dtype=torch.bool)
    mask[0, 2:6, 2:6] = True
    plan = PastePlan(crops=torch.full((1, 3, 8, 8), 200, dtype=torch.uint8), crop_labels=torch.full((1, 8, 8), 2),
                     masks=mask, image_index=torch.tensor([0]), offsets=torch.tensor([[10, 10]]),
                     classes=torch.tensor([2]))
    colors = np.array([[128, 128, 128], [128, 64, 128], [0, 0, 192]], np.uint8)
    return images, labels, plan, colors, ["sky", "road", "bicyclist"]


def test_preview_grid_has_column_titles_and_a_legend_of_the_classes_shown():
    images, labels, plan, colors, names = _batch()
    plain = render_batch(images, labels, plan, colors, titles=False, legend=False)
    assert plain.shape == (2 * 50, 4 * 66, 3)  # the grid as before: rows of 4 cells with a 1-pixel frame
    titled = render_batch(images, labels, plan, colors, names, legend=False)
    band = titled.shape[0] - plain.shape[0]
    assert band >= 2 * 16, "the column titles (16 px, bold) wrap to two lines in 64-pixel cells"
    assert np.array_equal(titled[band:, :2 * 66], plain[:, :2 * 66]), "the band sits above the grid, not over it"
    assert _dark_run(titled[:band]) >= 12, "title text at least 12 px high"
    full = render_batch(images, labels, plan, colors, names)
    assert full.shape[0] > titled.shape[0] and full.shape[1] == plain.shape[1]
    assert _dark_run(full[titled.shape[0]:]) >= 10, "legend text drawn below the grid"

    _, shown, ignore, pasted = batch_rows(images, labels, plan, colors, names, text_px(64))
    after = labels.clone()
    after[0, 12:16, 12:16] = 2  # what the plan pastes
    expected = {int(v) for v in torch.unique(torch.cat([labels, after]))} - {255}
    assert shown == expected == {0, 1, 2} and ignore and pasted
    entries = legend_entries(shown, ignore, pasted, colors, names)
    assert [n for n, _ in entries] == ["sky", "road", "bicyclist", "pasted object (outlined)", "ignore: not coloured"]
    assert entries[2][1] == (0, 0, 192)
    assert len(COLUMN_TITLES) == 4


def test_preview_pasted_text_is_readable_on_any_background():
    images, labels, plan, colors, names = _batch()
    images[:] = 255  # a white image: the text sits on a dark box
    grid = render_batch(images, labels, plan, colors, names, titles=False, legend=False)
    cell = grid[1:49, 2 * 66 + 1:2 * 66 + 65]  # the "after paste" cell of the first row
    box = cell[:text_px(64) + 4]
    assert (box.max(axis=2) < 130).mean() > 0.3, "a dark box behind the text"
    assert (box.min(axis=2) > 200).any(), "white text on it"
    assert text_px(64) >= 12 and text_px(480) == 20


def test_contact_sheet_labels_are_at_least_12_px(tiny_work):
    from lt_data.stores.bank import TailBank, contact_sheet

    work = tiny_work[0]
    bank = TailBank.open(work / "bank.zarr", work=work)
    sheet = contact_sheet(bank, per_class=2, cell=32)
    rows = len(bank.classes)
    assert sheet.shape[0] == rows * (32 + 4) + 4, "two label lines fit a 32-pixel row"
    label = sheet[4:36, :150]  # the first row's label column
    assert _dark_run(label) >= 20, "two lines of text, each at least 12 px"
    big = contact_sheet(bank, per_class=2, cell=96)
    assert big.shape[0] == rows * (96 + 4) + 4


def test_references_are_complete_and_render():
    from html.parser import HTMLParser

    from lt_data.core.references import REFERENCES, reference, render_html, render_markdown

    keys = [r["key"] for r in REFERENCES]
    assert len(keys) == len(set(keys))
    for r in REFERENCES:
        assert r["authors"] and r["title"] and r["venue"] and 2000 < r["year"] < 2030 and r["what"], r["key"]
        if "arxiv" in r:
            assert re.fullmatch(r"\d{4}\.\d{5}", r["arxiv"]), r["key"]
    assert reference("aucseg")["arxiv"] == "2409.20398" and reference("daformer")["arxiv"] == "2111.14887"
    assert reference("lvis")["arxiv"] == "1908.03195" and reference("class-balanced")["arxiv"] == "1901.05555"
    assert "Pixel-wise Adaptive Training" in reference("pat")["title"]
    assert "ECCV" in reference("tail-cutmix")["venue"] and reference("tail-cutmix")["year"] == 2020
    md = render_markdown()
    items = [line for line in md.splitlines() if re.match(r"\d+\. ", line)]
    assert len(items) == len(REFERENCES) and md.startswith("## References")
    html = render_html()

    class Check(HTMLParser):
        def __init__(self):
            super().__init__()
            self.stack, self.links = [], []

        def handle_starttag(self, tag, attrs):
            self.stack.append(tag)
            if tag == "a":
                self.links.append(dict(attrs)["href"])

        def handle_endtag(self, tag):
            assert self.stack.pop() == tag

    p = Check()
    p.feed(html)
    assert p.stack == [] and "https://arxiv.org/abs/2409.20398" in p.links
    assert "https://doi.org/10.1016/j.patrec.2008.04.005" in p.links
