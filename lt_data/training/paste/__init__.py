"""Pasting tail objects into training batches: the typed options, the planners, the dose, the kernels.

- :mod:`.args`: ``BankPasteArgs`` / ``CutmixPasteArgs``, the one list of the ``paste_args`` keys;
- :mod:`.planners`: ``MemoryBankPaste`` (AUCSeg's T-Memory Bank) and ``TailCutmixPaste`` (paper 003)
  draw a :class:`PastePlan` in the DataLoader worker; ``work_planner`` is the one route from a work
  directory to a planner (trainer, preview and integrations use it; its dose is ``planner.dose``);
- :mod:`.dose`: how many objects, how large, derived from the data (docs/DOSE.md);
- :mod:`.kernels`: ``paste`` applies a plan to a batch on its device; ``paste_figures`` measures it.

The names below are imported on first use, so ``lt_data.training.paste.args`` (the CLI's help, the config)
imports no torch.
"""

from __future__ import annotations

import importlib

_WHERE = {
    "PASTE_ARGS": "args", "BankPasteArgs": "args", "CutmixPasteArgs": "args", "PasteArgs": "args",
    "paste_args_of": "args",
    "MemoryBankPaste": "planners", "TailCutmixPaste": "planners", "work_planner": "planners",
    "planner_keys": "planners", "PLACEMENTS": "planners",
    "Dose": "dose", "bank_dose": "dose", "cutmix_dose": "dose", "resolve_dose": "dose", "dose_warning": "dose",
    "crop_draws": "dose", "bank_expectation": "dose", "object_areas": "dose",
    "PastePlan": "kernels", "paste": "kernels", "pasted_mask": "kernels", "paste_figures": "kernels",
}


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_WHERE))


__all__ = sorted(_WHERE)
