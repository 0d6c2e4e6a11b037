"""Reference segmenters: the (B, 3, H, W) → (B, K, H, W) contract, and loading by import path."""

from __future__ import annotations

import pytest
import torch

from lt_data.training.models import DeepLabV3PlusSmall, build_model


@pytest.mark.parametrize("name", ["deeplabv3plus_small", "unet_small"])
@pytest.mark.parametrize("size", [(64, 96), (50, 70)])
def test_output_matches_input_size(name, size):
    m = build_model(name, 7, base=8)
    out = m(torch.randn(2, 3, *size))
    assert out.shape == (2, 7, *size)


def test_model_by_import_path_and_errors():
    m = build_model("lt_data.training.models:DeepLabV3PlusSmall", 5, base=8)
    assert isinstance(m, DeepLabV3PlusSmall)
    with pytest.raises(ValueError, match="unknown model"):
        build_model("resnet", 5)
    with pytest.raises(ValueError, match="cannot load"):
        build_model("nowhere.module:thing", 5)


def test_a_few_steps_fit_a_batch():
    torch.manual_seed(0)
    m = build_model("deeplabv3plus_small", 3, base=8)
    y = torch.zeros(2, 32, 32, dtype=torch.long)
    y[:, :, 16:] = 1
    y[:, 20:, :8] = 2
    x = torch.nn.functional.one_hot(y, 3).permute(0, 3, 1, 2).float() + 0.1 * torch.randn(2, 3, 32, 32)
    opt = torch.optim.AdamW(m.parameters(), 1e-2)
    losses = []
    for _ in range(15):
        loss = torch.nn.functional.cross_entropy(m(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_a_broken_transformers_install_shows_its_real_error(tmp_path):
    """transformers present but failing to import: the message is its error, not 'pip install'."""
    import subprocess
    import sys

    fake = tmp_path / "transformers"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise ImportError('libfoo.so: cannot open shared object file')\n")
    code = ("from lt_data.training.models import build_model\n"
            "try:\n    build_model('segformer', 3)\nexcept ValueError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}).stdout
    assert "libfoo.so" in out and "pip install" not in out, out
