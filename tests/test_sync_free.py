"""The losses, ``paste`` and ``apply_paste`` never wait for the GPU (no host synchronisation).

On CUDA the check is the real one: everything runs under ``torch.cuda.set_sync_debug_mode("error")``,
which raises on any call that blocks the host on the device. Without CUDA a stand-in runs the same
calls, with the same code paths as on CUDA (the GPU strategy of ``auc_loss``, the ``scatter`` paste),
under a dispatch mode that records every operator known to synchronise on CUDA (``.item()``,
``nonzero``, boolean indexing, ``bincount``, ``unique``, ...) and every ``tolist()``. It cannot see a
blocking host-to-device copy; the CUDA test can.
"""

from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from lt_data.training.dataset import apply_paste
from lt_data.training.losses import AUC_STRATEGY, build_loss
from lt_data.training.paste.kernels import PastePlan, paste

K = 6
COUNTS = [5000.0, 1200.0, 300.0, 60.0, 9.0, 1.0]
LOSSES = ["ce", "auc", "pat", "focal", "cb", "ldam", "blv", "balanced_softmax", "4*auc+ce"]

# Operators that make the host wait for a CUDA device (data-dependent output sizes or values read back).
SYNCING = {"aten::_local_scalar_dense", "aten::item", "aten::is_nonzero", "aten::equal", "aten::nonzero",
           "aten::nonzero_numpy", "aten::argwhere", "aten::masked_select", "aten::masked_scatter",
           "aten::masked_scatter_", "aten::_unique", "aten::_unique2", "aten::unique_dim",
           "aten::unique_consecutive", "aten::unique_dim_consecutive", "aten::bincount", "aten::histc",
           "aten::_nested_tensor_from_mask"}


class _SyncRecorder(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.found: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = func._schema.name
        if name in SYNCING:
            self.found.append(name)
        elif name in ("aten::index", "aten::index_put", "aten::index_put_", "aten::_index_put_impl_"):
            indices = args[1] if len(args) > 1 else kwargs.get("indices", [])
            if any(i is not None and i.dtype in (torch.bool, torch.uint8) for i in indices):
                self.found.append(f"{name} with a boolean mask")
        elif name == "aten::repeat_interleave" and func._overloadname.startswith("Tensor") \
                and kwargs.get("output_size") is None:
            self.found.append("aten::repeat_interleave without output_size")
        return func(*args, **kwargs)


def _batch(device, seed=0, b=2, h=12, w=16):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(b, K, h, w, generator=g)
    labels = torch.randint(0, K, (b, h, w), generator=g)
    labels[:, 0] = 255
    return logits.to(device), labels.to(device)


def _plan(b=2, h=12, w=16, p=5, seed=0) -> tuple[torch.Tensor, torch.Tensor, PastePlan]:
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (b, 3, h, w), generator=g, dtype=torch.uint8)
    labels = torch.randint(0, K, (b, h, w), generator=g)
    plan = PastePlan(torch.randint(0, 256, (p, 3, 5, 6), generator=g, dtype=torch.uint8),
                     torch.randint(0, K, (p, 5, 6), generator=g).to(torch.uint8),
                     torch.rand(p, 5, 6, generator=g) > 0.3, torch.randint(0, b, (p,), generator=g),
                     torch.stack([torch.randint(-2, h - 2, (p,), generator=g),
                                  torch.randint(-2, w - 2, (p,), generator=g)], 1),
                     torch.arange(p))
    return images, labels, plan


def _workload(device, paste_strategy="auto"):
    """(name, call) pairs; every input already lives on ``device`` except the loader-style batch."""
    device = torch.device(device)
    logits, labels = _batch(device)
    calls = []
    for spec in LOSSES:
        loss_fn = build_loss(spec, class_counts=COUNTS).to(device)
        z = logits.clone().requires_grad_(True)
        for dtype in (torch.float32, torch.bfloat16):
            calls.append((f"{spec} {dtype}", lambda f=loss_fn, z=z, d=dtype: f(z.to(d), labels).backward()))
    zc = logits.contiguous(memory_format=torch.channels_last).requires_grad_(True)
    calls.append(("auc channels-last", lambda: build_loss("auc")(zc, labels).backward()))

    def no_grad_auc():
        with torch.no_grad():
            build_loss("auc")(zc, labels)
    calls.append(("auc no-grad", no_grad_auc))
    images, plabels, plan = _plan()
    dev_images, dev_labels, dev_plan = images.to(device), plabels.to(device), plan.to(device)
    calls.append(("paste", lambda: paste(dev_images, dev_labels, dev_plan, strategy=paste_strategy)))
    calls.append(("paste inplace", lambda: paste(dev_images, dev_labels, dev_plan, strategy=paste_strategy,
                                                 inplace=True)))
    pin = device.type == "cuda"
    batch = {"images": images.pin_memory() if pin else images, "labels": plabels.pin_memory() if pin else plabels,
             "plan": plan.pin_memory() if pin else plan}
    calls.append(("apply_paste", lambda: apply_paste(batch, device, strategy=paste_strategy)))
    return calls


@pytest.mark.parametrize("auc_strategy", ["cpu", "cuda"])
def test_no_syncing_operators(auc_strategy, monkeypatch):
    """CPU stand-in: the CUDA code paths call no operator that would synchronise on CUDA."""
    monkeypatch.setitem(AUC_STRATEGY, "cpu", dict(AUC_STRATEGY[auc_strategy], tile=64))
    tolist_calls = []
    original = torch.Tensor.tolist

    def tolist(self):
        tolist_calls.append(tuple(self.shape))
        return original(self)

    calls = _workload("cpu", paste_strategy="scatter")  # "auto" picks scatter on CUDA
    found = {}
    monkeypatch.setattr(torch.Tensor, "tolist", tolist)
    for name, call in calls:
        with _SyncRecorder() as rec:
            call()
        if rec.found or tolist_calls:
            found[name] = rec.found + [f"tolist {s}" for s in tolist_calls]
            tolist_calls.clear()
    assert not found, f"operators that synchronise on CUDA: {found}"


def test_recorder_catches_syncs():
    """The stand-in is not vacuous: it flags the usual culprits."""
    x = torch.arange(6.0)
    for bad in (lambda: x.sum().item(), lambda: x[x > 2], lambda: torch.bincount(x.long()), lambda: x.nonzero(),
                lambda: torch.unique(x), lambda: bool(x[0] > 1), lambda: torch.nn.functional.one_hot(x.long())):
        with _SyncRecorder() as rec:
            bad()
        assert rec.found


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_sync_free():
    calls = _workload("cuda")
    for name, call in calls:  # warm-up outside the check: first calls load kernels and the allocator
        call()
    torch.cuda.synchronize()
    failed = {}
    torch.cuda.set_sync_debug_mode("error")
    try:
        for name, call in calls:
            try:
                call()
            except RuntimeError as e:
                failed[name] = str(e).splitlines()[0]
    finally:
        torch.cuda.set_sync_debug_mode(0)
    torch.cuda.synchronize()
    assert not failed, f"host synchronisations: {failed}"
