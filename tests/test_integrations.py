"""lt-data's losses called exactly as mmsegmentation's decode heads call a loss module.

mmcv does not build here, so mmseg cannot be imported: the decode head's loss step is rewritten
below from reading mmseg's ``BaseDecodeHead.loss_by_feat`` (1.x) / ``losses`` (0.x), and its
registry is stood in for by a minimal one with mmengine's ``get`` / ``register_module`` / ``build``.
"""

from __future__ import annotations

import importlib
import sys
import types

import pytest
import torch
import torch.nn.functional as F

from lt_data.training.losses import auc_loss, cross_entropy, pat_loss


def decode_head_losses(loss_decode: list, seg_logits: torch.Tensor, gt_sem_seg: torch.Tensor,
                       ignore_index: int = 255, seg_weight=None) -> dict:
    """mmseg's decode-head loss step: resize the logits to the labels, squeeze the label channel,
    call every loss module with weight and ignore_index, sum the values that share a loss_name."""
    seg_logits = F.interpolate(seg_logits, size=gt_sem_seg.shape[2:], mode="bilinear", align_corners=False)
    seg_label = gt_sem_seg.squeeze(1)
    out: dict = {}
    for loss in loss_decode:
        value = loss(seg_logits, seg_label, weight=seg_weight, ignore_index=ignore_index)
        out[loss.loss_name] = out.get(loss.loss_name, 0) + value
    return out


def _batch(seed=0, k=6, b=2, h=32, w=40, scale=4):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(b, k, h // scale, w // scale, generator=g, requires_grad=True)
    labels = torch.randint(0, k, (b, 1, h, w), generator=g)
    labels[:, :, :3] = 255
    return logits, labels


class _Registry:
    """The part of mmengine's Registry that registration and config building use."""

    def __init__(self):
        self.modules = {}

    def get(self, name):
        return self.modules.get(name)

    def register_module(self, name=None, module=None, force=False):
        key = name or module.__name__
        if key in self.modules and not force:
            raise KeyError(f"{key} is already registered")
        self.modules[key] = module
        return module

    def build(self, cfg):
        cfg = dict(cfg)
        return self.modules[cfg.pop("type")](**cfg)


@pytest.fixture
def mmseg_registry(monkeypatch):
    """A stand-in ``mmseg.registry`` module, so that importing the integration registers its losses."""
    registry = _Registry()
    mmseg = types.ModuleType("mmseg")
    sub = types.ModuleType("mmseg.registry")
    sub.MODELS = registry
    mmseg.registry = sub
    mmseg.datasets = types.ModuleType("mmseg.datasets")  # the integration checks a config could use it
    monkeypatch.setitem(sys.modules, "mmseg", mmseg)
    monkeypatch.setitem(sys.modules, "mmseg.registry", sub)
    monkeypatch.setitem(sys.modules, "mmseg.datasets", mmseg.datasets)
    name = "lt_data.entry.integrations.mmseg"
    integration = importlib.reload(sys.modules[name]) if name in sys.modules else importlib.import_module(name)
    yield registry, integration
    for module in ("mmseg", "mmseg.registry", "mmseg.datasets"):
        monkeypatch.delitem(sys.modules, module)
    importlib.reload(integration)


def test_importing_registers_both_losses_in_mmsegs_registry(mmseg_registry):
    registry, integration = mmseg_registry
    assert integration.REGISTERED == ["LtDataAUCLoss", "LtDataPATLoss"]
    auc = registry.build(dict(type="LtDataAUCLoss", loss_weight=4.0))
    assert isinstance(auc, integration.LtDataAUCLoss) and auc.loss_weight == 4.0 and auc.loss_name == "loss_auc"
    assert integration.register(registry) == ["LtDataAUCLoss", "LtDataPATLoss"], "registering twice is harmless"


def test_without_mmseg_nothing_is_registered():
    import lt_data.entry.integrations.mmseg as integration

    assert integration.REGISTERED == []


def test_decode_head_call_equals_lt_data_losses(mmseg_registry):
    registry, _ = mmseg_registry
    logits, labels = _batch()
    heads = [registry.build(dict(type="LtDataAUCLoss", loss_weight=4.0)),
             registry.build(dict(type="LtDataPATLoss", loss_weight=0.5, temperature=10.0))]
    got = decode_head_losses(heads, logits, labels)
    up = F.interpolate(logits, size=labels.shape[2:], mode="bilinear", align_corners=False)
    want_auc = 4.0 * auc_loss(up, labels[:, 0], ignore_index=255)
    want_pat = 0.5 * pat_loss(up, labels[:, 0], temperature=10.0, ignore_index=255)
    assert set(got) == {"loss_auc", "loss_pat"}
    torch.testing.assert_close(got["loss_auc"], want_auc, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(got["loss_pat"], want_pat, rtol=1e-6, atol=1e-7)
    (got["loss_auc"] + got["loss_pat"]).backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


def test_same_loss_name_is_summed_as_mmseg_does():
    from lt_data.entry.integrations.mmseg import LtDataAUCLoss

    logits, labels = _batch(1)
    two = decode_head_losses([LtDataAUCLoss(loss_weight=1.0), LtDataAUCLoss(loss_weight=2.0)], logits, labels)
    one = decode_head_losses([LtDataAUCLoss(loss_weight=3.0)], logits, labels)
    torch.testing.assert_close(two["loss_auc"], one["loss_auc"])


def test_ohem_mask_weight_ignores_the_pixels_it_drops():
    from lt_data.entry.integrations.mmseg import LtDataAUCLoss

    logits, labels = _batch(2)
    up = F.interpolate(logits, size=labels.shape[2:], mode="bilinear", align_corners=False)
    mask = (torch.arange(labels.shape[-1]) % 3 == 0).expand(labels.shape[0], labels.shape[2], -1).float()
    got = decode_head_losses([LtDataAUCLoss()], logits, labels, seg_weight=mask)["loss_auc"]
    dropped = torch.where(mask > 0, labels[:, 0], torch.full_like(labels[:, 0], 255))
    torch.testing.assert_close(got, auc_loss(up, dropped, ignore_index=255))
    with pytest.raises(ValueError, match="0/1 pixel mask"):
        LtDataAUCLoss()(up, labels[:, 0], weight=mask * 0.5)


def test_low_resolution_logits_and_channel_labels_are_accepted_directly():
    from lt_data.entry.integrations.mmseg import LtDataPATLoss

    logits, labels = _batch(3)
    up = F.interpolate(logits, size=labels.shape[2:], mode="bilinear", align_corners=False)
    torch.testing.assert_close(LtDataPATLoss()(logits, labels), pat_loss(up, labels[:, 0]))
    assert cross_entropy(up, labels[:, 0]).isfinite()


def test_loss_name_must_start_with_loss_():
    from lt_data.entry.integrations.mmseg import LtDataAUCLoss

    with pytest.raises(ValueError, match="must start with 'loss_'"):
        LtDataAUCLoss(loss_name="auc")
    assert LtDataAUCLoss(loss_name="loss_aucseg").loss_name == "loss_aucseg"
