"""lt-data: long-tailed semantic segmentation data.

The code sits in one folder per layer (docs/ARCHITECTURE.md): ``core`` (foundations), ``jobs`` (artifacts
and worker processes), ``data`` (layouts, statistics, buckets, the work directory), ``stores`` (bank,
cutmix), ``training`` (paste, dataset, losses, models, trainer), ``views`` (report, compare, preview) and
``entry`` (stages, pipelines, the CLI, integrations).

The modules' earlier flat names (``lt_data.dataset``, ``lt_data.bank``, ``lt_data.cli``, ...) still import:
each is the same module object as its layered name (``lt_data.training.dataset``), so code written
against them keeps working.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

__version__ = "0.1.0"

# flat name -> its layer folder (the module or package moved there unchanged)
MOVED = {
    **dict.fromkeys(("names", "errors", "io", "fs", "rng", "classes", "outputs", "markdown", "plots", "page",
                     "raster", "references"), "core"),
    **dict.fromkeys(("artifacts", "parallel", "dask_worker"), "jobs"),
    **dict.fromkeys(("layouts", "stats", "buckets", "workdir", "spatial", "sampling", "exports", "geometry"), "data"),
    **dict.fromkeys(("provenance", "zarr_store", "bank", "cutmix"), "stores"),
    **dict.fromkeys(("paste", "dataset", "losses", "models", "metrics", "runs", "config", "checkpoints", "devices",
                     "evaluate", "train", "synthetic"), "training"),
    **dict.fromkeys(("report", "compare", "preview"), "views"),
    **dict.fromkeys(("stages", "pipeline", "cli", "integrations"), "entry"),
}


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports ``lt_data.<flat name>[.sub]`` as the module ``lt_data.<layer>.<flat name>[.sub]``."""

    def find_spec(self, fullname, path=None, target=None):
        parts = fullname.split(".")
        if len(parts) < 2 or parts[0] != __name__ or parts[1] not in MOVED:
            return None
        real = importlib.util.find_spec(self.layered(fullname))
        if real is None:
            return None
        return importlib.util.spec_from_loader(fullname, self, is_package=real.submodule_search_locations is not None)

    @staticmethod
    def layered(fullname: str) -> str:
        parts = fullname.split(".")
        return ".".join([parts[0], MOVED[parts[1]], *parts[1:]])

    def get_code(self, fullname):  # `python -m lt_data.<flat name>` runs the layered module's code
        return importlib.util.find_spec(self.layered(fullname)).loader.get_code(self.layered(fullname))

    def create_module(self, spec):
        module = importlib.import_module(self.layered(spec.name))
        self._specs[spec.name] = module.__spec__  # importlib sets __spec__ to the alias's next: restored below
        return module

    def exec_module(self, module):
        # the layered module ran already; the flat name is one more key for it in sys.modules
        module.__spec__ = self._specs.pop(module.__spec__.name)

    _specs: dict = {}


# First in line: a flat sub-name (lt_data.bank.reader) must not be found again through its parent's
# __path__ by the path finder, which would run the file a second time as another module.
if not any(isinstance(f, _Alias) for f in sys.meta_path):
    sys.meta_path.insert(0, _Alias())
