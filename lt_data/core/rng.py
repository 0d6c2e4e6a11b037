"""Random numbers from whichever generator the caller holds (numpy's or torch's), one stream each."""

from __future__ import annotations

import numpy as np


def uniform(generator, n: int) -> np.ndarray:
    """(n,) float64 uniform in [0, 1) from a numpy or torch generator."""
    if isinstance(generator, np.random.Generator):
        return generator.random(n)
    if type(generator).__name__ == "Generator" and type(generator).__module__.startswith("torch"):
        import torch

        return torch.rand(n, generator=generator, dtype=torch.float64).numpy()
    raise TypeError(f"generator must be a numpy.random.Generator or a torch.Generator, got {type(generator).__name__}")


__all__ = ["uniform"]
