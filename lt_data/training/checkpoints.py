"""Checkpoints of the reference trainer: written atomically, read as tensors and plain types only
(``weights_only=True``: a checkpoint from elsewhere cannot run code while it is read), restored with
exact RNG states. What a run directory holds and when it resumes: :mod:`lt_data.training.runs`."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from .devices import unwrap
from ..core.errors import ArtifactError


def rng_state() -> dict:
    """The RNG states as tensors and plain types (what ``torch.load(weights_only=True)`` reads back)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {"torch": torch.get_rng_state(),
            "numpy": {"kind": str(kind), "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                      "has_gauss": int(has_gauss), "gauss": float(gauss)},
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    npst = state["numpy"]
    if isinstance(npst, dict):
        np.random.set_state((npst["kind"], npst["keys"].numpy().astype(np.uint32), npst["pos"], npst["has_gauss"],
                             npst["gauss"]))
    else:  # a trusted checkpoint of an older lt-data: numpy's own tuple
        np.random.set_state(npst)
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, model, opt, scaler, step: int, epoch: int, record: dict) -> None:
    """Write ``path`` atomically: model, optimiser, scaler, step, epoch, RNG states and the run's
    record (``config``, ``inputs``, ``world_size``: see :func:`lt_data.training.runs.run_record`)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    torch.save({"model": unwrap(model).state_dict(), "optimizer": opt.state_dict(), "scaler": scaler.state_dict(),
                "step": step, "epoch": epoch, "rng": rng_state(), **record}, tmp)
    os.replace(tmp, path)


def read_checkpoint(path: str | Path, *, trust: bool = False) -> dict:
    """A checkpoint's content, read on the CPU; ArtifactError (one line) when it is unreadable,
    truncated, or not a checkpoint of this trainer.

    Read with ``weights_only=True``: tensors and plain types only, so a checkpoint from elsewhere (a
    download, a shared run directory) cannot run code while it is read. One that needs more (written
    by an older lt-data, or by something else) is refused unless ``trust`` (``--trust-checkpoint``),
    which unpickles it in full: only for a file whose origin you trust."""
    import pickle

    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path}: checkpoint not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=not trust)
    except pickle.UnpicklingError as e:
        if "weights_only" not in str(e) and "Weights only" not in str(e):
            first = (str(e).strip().splitlines() or [""])[0][:200]
            raise ArtifactError(f"{path}: unreadable checkpoint, damaged or truncated (UnpicklingError: {first}); "
                                "train again with --fresh") from None
        raise ArtifactError(f"{path}: holds objects beyond tensors and plain types (an older lt-data's checkpoint, "
                            "or not lt-data's), which loading could run as code; refused. If you trust where it "
                            "came from, pass --trust-checkpoint") from None
    except Exception as e:  # torch.load fails with zip, pickle, EOF or runtime errors, depending on the damage
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise ArtifactError(f"{path}: unreadable checkpoint, damaged or truncated ({type(e).__name__}: {first}); "
                            "train again with --fresh") from None
    missing = [key for key in ("model", "optimizer", "scaler", "step", "epoch", "rng", "config")
               if not isinstance(ckpt, dict) or key not in ckpt]
    if missing:
        raise ArtifactError(f"{path}: not a checkpoint of lt-data's trainer (no {', '.join(missing)})")
    return ckpt


def restore(path: Path, ckpt: dict, model: nn.Module, opt, scaler) -> None:
    """Load a checkpoint's states; one that does not fit the model it claims to be for is refused."""
    try:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        scaler.load_state_dict(ckpt["scaler"])
        set_rng_state(ckpt["rng"])
    except (RuntimeError, KeyError, ValueError, TypeError) as e:
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise ArtifactError(f"{path}: does not fit the model and optimiser of its config ({first})") from None


__all__ = ["read_checkpoint", "restore", "rng_state", "save_checkpoint", "set_rng_state"]
