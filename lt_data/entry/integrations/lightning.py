"""lt-data's Dataset, paste collate, samplers and derived dose as a PyTorch Lightning ``LightningDataModule``.

::

    from lt_data.entry.integrations.lightning import LtDataModule

    dm = LtDataModule("work/camvid", val_work="work/camvid-val", paste="bank", crop_size=(240, 320))
    trainer.fit(model, datamodule=dm)   # training_step gets batch["images"] (uint8) and batch["labels"]

The training loader is :func:`lt_data.training.dataset.make_loader`'s: the paste plan is drawn and its crops
read in the DataLoader workers (seeded by (seed, epoch, the batch's indices), so a seed gives the
same batches with any number of workers), images and labels travel as uint8 / int64 with the plan,
and the paste itself runs **on the device**, in :meth:`LtDataModule.on_after_batch_transfer`, as
one batched kernel call (:func:`lt_data.training.dataset.apply_paste`), which also puts ``pasted_share`` and
``pasted_objects`` on the batch. The dose is the one ``lt-data train`` derives for ``crop_size``
(:mod:`lt_data.training.paste.dose`; ``paste_args`` override it key by key), in :attr:`LtDataModule.dose`. Under
DDP each rank draws its share of every epoch (the loader picks a DistributedSampler, or the
sampler's own rank split). Built on ``pytorch_lightning`` when installed (the ``[lightning]`` extra),
else on ``lightning.pytorch``: use the Trainer of the same package.
"""

from __future__ import annotations

from pathlib import Path

try:  # the [lightning] extra's package first; a Trainer of the other package would not recognise the module
    import pytorch_lightning as pl
except ImportError:
    try:
        import lightning.pytorch as pl
    except ImportError as e:  # pragma: no cover - exercised in a subprocess by the tests
        raise ImportError(f"lt_data.entry.integrations.lightning needs PyTorch Lightning ({e}): `pip install "
                          f"'lt-data[lightning]'` (or `pip install pytorch-lightning`)") from e

from torch.utils.data import DataLoader

from ...training.config import TrainConfig
from ...training.dataset import CarryErrors, PasteCollate, SegmentationDataset, apply_paste, make_loader, raise_carried
from ...core.errors import LtDataError


class LtDataModule(pl.LightningDataModule):
    """Training batches of work directory ``work`` with online pasting; evaluation batches of ``val_work``.

    Args:
        work: statistics work directory of the training split (with ``buckets.json`` and the store
            of the paste mode).
        val_work: statistics work directory of the evaluation split (``val_dataloader``), or None.
        paste: ``"bank"`` (AUCSeg's T-Memory Bank), ``"cutmix"`` (paper 003) or ``"none"``.
        paste_args: planner options; what is left out of the dose is derived from the data.
        crop_size, scale_range, batch_size, workers, seed, sampler, sampler_args: as ``lt-data train``'s
            options of those names (``sampler``: ``"uniform"``, ``"rcs"``, ``"rfs"``).
        val_size: resize evaluation images to ``(h, w)`` (default: as stored; batch 1).
    """

    def __init__(self, work: str | Path, val_work: str | Path | None = None, *, paste: str = "bank",
                 paste_args: dict | None = None, crop_size: tuple[int, int] = TrainConfig.crop_size,
                 scale_range: tuple[float, float] = TrainConfig.scale_range, batch_size: int = TrainConfig.batch_size,
                 workers: int = TrainConfig.workers, seed: int = 0, sampler: str = "uniform",
                 sampler_args: dict | None = None, val_size: tuple[int, int] | None = None):
        super().__init__()
        if paste not in ("bank", "cutmix", "none"):
            raise LtDataError(f"paste must be bank, cutmix or none, not {paste!r}")
        self.work, self.val_work = str(work), str(val_work) if val_work is not None else None
        self.paste, self.paste_args = paste, dict(paste_args or {})
        self.crop_size, self.scale_range = tuple(crop_size), tuple(scale_range)
        self.batch_size, self.workers, self.seed = int(batch_size), int(workers), int(seed)
        self.sampler, self.sampler_args = sampler, dict(sampler_args or {})
        self.val_size = tuple(val_size) if val_size is not None else None
        self.planner = None
        if paste != "none":
            from ...training.paste.planners import work_planner

            self.planner = work_planner(paste, self.work, self.paste_args, crop_size=self.crop_size,
                                        scale_range=self.scale_range)
        self.dose = self.planner.dose if self.planner is not None else None
        self.train_set = SegmentationDataset(self.work, crop_size=self.crop_size, scale_range=self.scale_range,
                                             seed=self.seed)

    @property
    def num_classes(self) -> int:
        return self.train_set.num_classes

    def train_dataloader(self):
        """lt-data's seeded loader (an iterable of batch dicts), its epoch the trainer's current epoch
        (Lightning iterates a loader once before training to check it: the epochs must not count that)."""
        loader = make_loader(self.train_set, batch_size=self.batch_size, num_workers=self.workers, seed=self.seed,
                             planner=self.planner, sampler=self.sampler, sampler_args=self.sampler_args)
        return _TrainerEpochs(loader, self)

    def val_dataloader(self):
        if self.val_work is None:
            return []
        ds = SegmentationDataset(self.val_work, train=False, size=self.val_size)
        loader = DataLoader(CarryErrors(ds), batch_size=1 if self.val_size is None else self.batch_size,
                            num_workers=self.workers, collate_fn=PasteCollate())
        return _Carried(loader)

    def transfer_batch_to_device(self, batch, device, dataloader_idx: int):
        """Images, labels and the paste plan to ``device`` (the plan's crops are uint8: small)."""
        out = {k: (v.to(device, non_blocking=True) if hasattr(v, "to") else v) for k, v in batch.items()}
        return out

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        """The paste, on the device the batch now lives on: one batched kernel call (training batches
        only; evaluation batches carry no plan). Adds ``pasted_share`` and ``pasted_objects``."""
        if "plan" in batch:
            images, labels = apply_paste(batch, None, figures=True)
            batch["images"], batch["labels"] = images, labels
            del batch["plan"]
        return batch

    def __repr__(self) -> str:
        dose = self.dose.describe() if self.dose is not None else "no paste"
        return f"LtDataModule({self.work!r}, batch_size={self.batch_size}, crop_size={self.crop_size}; {dose})"


class _TrainerEpochs:
    """A :class:`lt_data.training.dataset.SeededLoader` whose every iteration is the trainer's current epoch."""

    def __init__(self, loader, module: "LtDataModule"):
        self.loader, self.module = loader, module

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        trainer = getattr(self.module, "trainer", None)
        if trainer is not None:
            self.loader.set_epoch(trainer.current_epoch)
        return iter(self.loader)


class _Carried:
    """An evaluation DataLoader whose items' one-line errors are raised in the main process."""

    def __init__(self, loader: DataLoader):
        self.loader = loader

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        return raise_carried(self.loader)


__all__ = ["LtDataModule"]
