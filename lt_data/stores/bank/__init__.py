"""The tail-object memory bank: every tail object of the training split, extracted once, in one zarr store.

One module per concept:

- :mod:`~lt_data.stores.bank.extract`: connected components and object crops, pure functions over arrays;
- :mod:`~lt_data.stores.bank.build`: ``build_bank``, the ``bank build`` stage (worker processes, streaming
  appends, a store written aside and moved into place complete);
- :mod:`~lt_data.stores.bank.reader`: :class:`TailBank`, the reader (index in RAM, bytes from
  :mod:`~lt_data.stores.bank.buffers` without a zarr call per object);
- :mod:`~lt_data.stores.bank.display`: ``bank info`` text and the ``bank show`` contact sheet.

Writing and locking are the artifact layer's (:mod:`lt_data.jobs.artifacts`), fingerprints :mod:`lt_data.stores.provenance`'s, the readers' life cycle :mod:`lt_data.stores.zarr_store`'s;
class selection (``--classes tail``) is :func:`lt_data.stores.provenance.select_classes`.
"""

from ..provenance import select_classes
from .build import build_bank
from .display import contact_sheet, format_info
from .extract import DEFAULT_MIN_AREA, choose_objects, components, extract_objects, scan_components
from .reader import BANK_DIR, TailBank

resolve_classes = select_classes  # its name before the split, kept importable; select_classes is the one resolver

__all__ = ["BANK_DIR", "DEFAULT_MIN_AREA", "TailBank", "build_bank", "choose_objects", "components",
           "contact_sheet", "extract_objects", "format_info", "resolve_classes", "scan_components", "select_classes"]
