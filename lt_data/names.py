"""Names defined once, below every module that spells them: the buckets and the stores of a work
directory. Their homes re-export them (``lt_data.buckets.BUCKET_NAMES``, ``lt_data.bank.BANK_DIR``,
``lt_data.cutmix.CUTMIX_DIR``, ``lt_data.dose.STORES``); this module imports nothing of lt_data, so the
foundations (``plots``) and the data layer can both use them without an import cycle."""

from typing import Literal

Bucket = Literal["head", "middle", "tail"]
PasteMode = Literal["bank", "cutmix"]  # the stores a paste reads (training adds "none")
BUCKET_NAMES = ("head", "middle", "tail")  # frequent → rare; the order of every table and legend
BANK_DIR = "bank.zarr"       # WORK/bank.zarr: the tail-object memory bank (lt_data.bank)
CUTMIX_DIR = "cutmix.zarr"   # WORK/cutmix.zarr: the tail cutmix subsets (lt_data.cutmix)
STORES = {"bank": BANK_DIR, "cutmix": CUTMIX_DIR}  # paste mode → its store in the work directory

__all__ = ["BANK_DIR", "BUCKET_NAMES", "Bucket", "CUTMIX_DIR", "PasteMode", "STORES"]
