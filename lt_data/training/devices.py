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


def environment(device: torch.device) -> dict:
    """What a run's numbers depend on besides its options and data: torch's version, the device, the
    intra-op thread count (a CPU run with 1 thread differs from one with 2 after a few steps) and the
    CPU's vector capability. Same environment, same options, same seed: the same run, bit for bit."""
    env = {"torch": str(torch.__version__), "device": str(device), "threads": int(torch.get_num_threads()),
           "cpu_capability": str(torch.backends.cpu.get_cpu_capability())}
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
        env["cuda"] = str(torch.version.cuda)
    return env


def deterministic_kernels(on: bool) -> dict:
    """Ask torch for deterministic kernels (CUDA: cuDNN without autotuning, deterministic
    scatter/index ops; a warning, not an error, for ops that have none, such as the backward of
    bilinear upsampling). Returns the previous settings, for :func:`restore_kernels`."""
    before = {"algorithms": torch.are_deterministic_algorithms_enabled(),
              "warn_only": torch.is_deterministic_algorithms_warn_only_enabled(),
              "benchmark": torch.backends.cudnn.benchmark, "cudnn": torch.backends.cudnn.deterministic,
              "cublas": os.environ.get("CUBLAS_WORKSPACE_CONFIG")}
    if on:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS reductions in a fixed order
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    torch.use_deterministic_algorithms(on, warn_only=True)
    return before


def restore_kernels(before: dict) -> None:
    """Put back what :func:`deterministic_kernels` changed."""
    torch.use_deterministic_algorithms(before["algorithms"], warn_only=before["warn_only"])
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = before["benchmark"], before["cudnn"]
    if before["cublas"] is None:
        os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
    else:
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = before["cublas"]


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
