"""Where training runs: the device a name stands for, and the process group of a ``torchrun`` launch
(rank, world size, set-up and tear-down, the model under DDP)."""

from __future__ import annotations

import os

import torch
import torch.nn as nn


def resolve_device(name: str) -> torch.device:
    """``auto`` → CUDA when available, else the CPU; any other name as torch reads it."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def rank_and_world() -> tuple[int, int]:
    """(rank, world size) of the initialised process group, (0, 1) without one."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel wrapper (the model itself otherwise)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def main_process() -> bool:
    """True on rank 0 of a process group, and without one: the process that prints and writes."""
    return rank_and_world()[0] == 0


def ddp_setup() -> bool:
    """Initialise torch.distributed from torchrun's environment; returns True when distributed."""
    if "RANK" not in os.environ or torch.distributed.is_initialized():
        return torch.distributed.is_available() and torch.distributed.is_initialized()
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    torch.distributed.init_process_group(backend)
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    return True


def ddp_teardown() -> None:
    """Destroy the process group :func:`ddp_setup` created (torch warns at exit otherwise)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


__all__ = ["ddp_setup", "ddp_teardown", "main_process", "rank_and_world", "resolve_device", "unwrap"]
