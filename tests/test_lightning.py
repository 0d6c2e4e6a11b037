"""LtDataModule: lt-data's loader, the paste on the device in on_after_batch_transfer, through a real Trainer.fit."""

from __future__ import annotations

import pytest
import torch

pl = pytest.importorskip("pytorch_lightning")


class Seg(pl.LightningModule):
    """The README's LightningModule, recording what each training step received."""

    def __init__(self, num_classes: int, work):
        super().__init__()
        from lt_data.training.losses import build_loss, class_counts_from_stats
        from lt_data.training.models import build_model

        self.model = build_model("deeplabv3plus_small", num_classes, base=8)
        self.criterion = build_loss("1*auc+ce", class_counts=class_counts_from_stats(work))
        self.seen = []

    def training_step(self, batch, batch_idx):
        from lt_data.training.dataset import normalize

        self.seen.append({k: batch[k].clone() if torch.is_tensor(batch[k]) else batch[k] for k in batch})
        loss = self.criterion(self.model(normalize(batch["images"])), batch["labels"])
        self.log("pasted_share", batch["pasted_share"])
        return loss

    def validation_step(self, batch, batch_idx):
        from lt_data.training.dataset import normalize

        self.log("val_loss", self.criterion(self.model(normalize(batch["images"])), batch["labels"]))

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=2e-3)


def _fit(work, val, tmp_path, **kw):
    from lt_data.entry.integrations.lightning import LtDataModule

    steps = kw.pop("steps", 3)
    dm = LtDataModule(work, val_work=val, paste="bank", crop_size=(48, 64), batch_size=2, workers=kw.pop("workers", 0),
                      seed=3, **kw)
    model = Seg(dm.num_classes, work)
    trainer = pl.Trainer(max_steps=steps, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
                         limit_val_batches=2, num_sanity_val_steps=0)
    trainer.fit(model, datamodule=dm)
    return dm, model


def test_three_steps_with_bank_paste_on_the_device(tiny_work, tmp_path):
    from lt_data.training.paste.planners import work_planner
    from lt_data.training.dataset import SegmentationDataset, apply_paste, make_loader

    work, val = tiny_work
    dm, model = _fit(work, val, tmp_path, steps=6)  # 8 images, batch 2: epoch 0, then 2 steps of epoch 1
    assert len(model.seen) == 6 and dm.dose is not None and set(dm.dose.source.values()) == {"rule"}
    for batch in model.seen:
        assert batch["images"].dtype == torch.uint8 and batch["labels"].dtype == torch.int64
        assert "plan" not in batch and 0 <= float(batch["pasted_share"]) <= 1
    assert sum(float(b["pasted_share"]) for b in model.seen) > 0
    # independent: lt-data's own loader and apply_paste with the same seed give the same pasted batches
    planner = work_planner("bank", work, crop_size=(48, 64))
    ds = SegmentationDataset(work, crop_size=(48, 64), scale_range=dm.scale_range, seed=3)
    ref = make_loader(ds, batch_size=2, seed=3, planner=planner)
    batches = list(ref) + list(ref)  # epochs 0 and 1
    for batch, seen in zip(batches, model.seen):
        images, labels = apply_paste(batch)
        assert torch.equal(images, seen["images"]) and torch.equal(labels, seen["labels"])


def test_workers_give_the_same_batches(tiny_work, tmp_path):
    work, val = tiny_work
    _, a = _fit(work, None, tmp_path / "a", workers=0)
    _, b = _fit(work, None, tmp_path / "b", workers=2)
    assert all(torch.equal(x["labels"], y["labels"]) for x, y in zip(a.seen, b.seen))


def test_a_bad_paste_mode_is_one_line(tiny_work):
    from lt_data.core.errors import LtDataError
    from lt_data.entry.integrations.lightning import LtDataModule

    with pytest.raises(LtDataError, match="paste must be bank, cutmix or none"):
        LtDataModule(tiny_work[0], paste="banks")
