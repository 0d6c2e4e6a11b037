"""Confusion-matrix IoU against an independent per-class computation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lt_data.training.metrics import ConfusionMatrix, evaluate_confusion


def test_iou_matches_set_counting():
    rng = np.random.default_rng(0)
    k = 6
    cm = ConfusionMatrix(k)
    preds, labels = [], []
    for _ in range(3):  # several batches: one matrix accumulated over the split
        y = rng.integers(0, k, (2, 7, 9))
        y[y == 4] = 255  # class 4 never in the ground truth
        y[0, 0, :3] = 255
        p = rng.integers(0, k, (2, 7, 9))
        cm.update(torch.from_numpy(p), torch.from_numpy(y))
        preds.append(p.ravel())
        labels.append(y.ravel())
    p, y = np.concatenate(preds), np.concatenate(labels)
    keep = y != 255
    p, y = p[keep], y[keep]
    m = evaluate_confusion(cm.matrix, [f"c{i}" for i in range(k)], {"head": [0, 1], "middle": [2, 3], "tail": [4, 5]})
    ious = {}
    for c in range(k):
        inter = np.sum((p == c) & (y == c))
        union = np.sum((p == c) | (y == c))
        if np.sum(y == c):
            ious[c] = inter / union
            assert m["per_class"][c]["iou"] == pytest.approx(ious[c])
    assert m["per_class"][4]["iou"] is None and m["per_class"][4]["absent"]
    assert m["absent"] == ["c4"]
    assert m["miou"] == pytest.approx(np.mean(list(ious.values())))
    assert m["miou_head"] == pytest.approx((ious[0] + ious[1]) / 2)
    assert m["miou_tail"] == pytest.approx(ious[5])  # the absent class 4 is not a zero
    assert m["pixel_accuracy"] == pytest.approx(np.mean(p == y))


def test_logits_and_out_of_range_predictions():
    cm = ConfusionMatrix(3)
    logits = torch.zeros(1, 3, 1, 2)
    logits[0, 2, 0, 0] = 1
    logits[0, 1, 0, 1] = 1
    cm.update(logits, torch.tensor([[[2, 255]]]))
    assert cm.matrix.tolist() == [[0, 0, 0], [0, 0, 0], [0, 0, 1]]
