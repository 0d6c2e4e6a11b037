"""Names defined once, below every module that spells them: the buckets, and the files and folders
of a work directory (``lt_data.data.workdir.WorkDir`` builds every path from these). Their homes re-export them (``lt_data.data.buckets.BUCKET_NAMES``, ``lt_data.stores.bank.BANK_DIR``,
``lt_data.stores.cutmix.CUTMIX_DIR``, ``lt_data.training.paste.dose.STORES``); this module imports nothing of lt_data, so the
foundations (``plots``) and the data layer can both use them without an import cycle."""

from typing import Literal

Bucket = Literal["head", "middle", "tail"]
PasteMode = Literal["bank", "cutmix"]  # the stores a paste reads (training adds "none")
BUCKET_NAMES = ("head", "middle", "tail")  # frequent → rare; the order of every table and legend
BANK_DIR = "bank.zarr"       # WORK/bank.zarr: the tail-object memory bank (lt_data.stores.bank)
CUTMIX_DIR = "cutmix.zarr"   # WORK/cutmix.zarr: the tail cutmix subsets (lt_data.stores.cutmix)
STORES = {"bank": BANK_DIR, "cutmix": CUTMIX_DIR}  # paste mode → its store in the work directory

# the statistics (lt_data.data.stats; docs/FORMATS.md): class_stats.json is written last and marks them complete
SAMPLES_FILE = "samples.jsonl"
DATASET_FILE = "dataset.json"
COUNTS_FILE = "pixel_counts.npy"
IGNORED_FILE = "ignored_pixels.npy"
CLASS_STATS_FILE = "class_stats.json"
STATS_FILES = (SAMPLES_FILE, DATASET_FILE, COUNTS_FILE, IGNORED_FILE, CLASS_STATS_FILE)
BUCKETS_FILE = "buckets.json"  # lt_data.data.buckets
REPORT_DIR = "report"          # lt_data.views.report
EXPORTS_DIR = "exports"        # lt_data.data.exports
RUNS_DIR = "runs"              # WORK/runs/RECIPE: the reference trainer's run directories (lt_data.training.runs)

__all__ = ["BANK_DIR", "BUCKETS_FILE", "BUCKET_NAMES", "Bucket", "CLASS_STATS_FILE", "COUNTS_FILE", "CUTMIX_DIR",
           "DATASET_FILE", "EXPORTS_DIR", "IGNORED_FILE", "PasteMode", "REPORT_DIR", "RUNS_DIR", "SAMPLES_FILE",
           "STATS_FILES", "STORES"]
