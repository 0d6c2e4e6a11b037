"""The ``>>>`` examples in the docstrings of the public kernels, losses, planners and paste options run,
and every public one has an example (docs/STYLE.md)."""

from __future__ import annotations

import doctest
import importlib

import pytest

PUBLIC = {
    "lt_data.training.paste.kernels": ("PastePlan", "paste", "pasted_mask", "paste_figures"),
    "lt_data.training.paste.planners": ("MemoryBankPaste", "TailCutmixPaste", "work_planner"),
    "lt_data.training.paste.args": (),  # the module docstring
    "lt_data.training.losses": ("auc_loss", "pat_loss", "cross_entropy", "focal_loss", "class_balanced_loss", "ldam_loss",
                       "blv_loss", "balanced_softmax_loss", "build_loss"),
}


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_docstring_examples_run(module):
    mod = importlib.import_module(module)
    for name in PUBLIC[module]:
        assert ">>>" in (getattr(mod, name).__doc__ or ""), f"{module}.{name} has no example"
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted >= max(1, len(PUBLIC[module]))
