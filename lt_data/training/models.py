"""Small reference segmenters in plain torch that train on a CPU in minutes.

Both map ``(B, 3, H, W)`` float images to ``(B, K, H, W)`` logits. ``DeepLabV3PlusSmall`` reaches 1/4
resolution in two strided convolutions before any heavy work (measured here: ~0.2 s per batch of 8
at 240×320 on 2 cores, fwd+bwd), which is what makes CPU training practical; ``UNetSmall`` keeps
full-resolution features and is several times slower. Any ``nn.Module`` with the same contract works
with the trainer, named as ``package.module:callable``.
"""

from __future__ import annotations

import importlib

import torch
import torch.nn as nn
import torch.nn.functional as F


def conv_bn_relu(cin: int, cout: int, stride: int = 1, dilation: int = 1, k: int = 3) -> nn.Sequential:
    pad = dilation * (k // 2)
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, pad, dilation=dilation, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class ResBlock(nn.Module):
    """Basic residual block (two 3×3 convolutions), optionally strided or dilated."""

    def __init__(self, cin: int, cout: int, stride: int = 1, dilation: int = 1):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, dilation, dilation=dilation, bias=False), nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, 1, dilation, dilation=dilation, bias=False), nn.BatchNorm2d(cout))
        self.skip = (nn.Identity() if stride == 1 and cin == cout else
                     nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)))

    def forward(self, x):
        return F.relu(self.body(x) + self.skip(x), inplace=True)


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling: 1×1, three dilated 3×3 and an image-level branch."""

    def __init__(self, cin: int, cout: int, rates=(2, 4, 6)):
        super().__init__()
        self.branches = nn.ModuleList([conv_bn_relu(cin, cout, k=1)] +
                                      [conv_bn_relu(cin, cout, dilation=r) for r in rates])
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(cin, cout, 1, bias=False), nn.ReLU(inplace=True))
        self.project = conv_bn_relu(cout * (len(rates) + 2), cout, k=1)

    def forward(self, x):
        feats = [b(x) for b in self.branches]
        feats.append(self.pool(x).expand(-1, -1, x.shape[2], x.shape[3]))
        return self.project(torch.cat(feats, 1))


class DeepLabV3PlusSmall(nn.Module):
    """A DeepLabV3+-style segmenter: residual encoder to 1/16, ASPP, decoder at 1/4, bilinear logits."""

    def __init__(self, num_classes: int, base: int = 32):
        super().__init__()
        c = base
        self.stem = nn.Sequential(conv_bn_relu(3, c, stride=2), conv_bn_relu(c, c, stride=2))  # 1/4
        self.layer1 = ResBlock(c, c)
        self.layer2 = ResBlock(c, 2 * c, stride=2)  # 1/8
        self.layer3 = nn.Sequential(ResBlock(2 * c, 4 * c, stride=2), ResBlock(4 * c, 4 * c, dilation=2))  # 1/16
        self.aspp = ASPP(4 * c, 4 * c)
        self.low = conv_bn_relu(c, c, k=1)
        self.decoder = nn.Sequential(conv_bn_relu(5 * c, 2 * c), conv_bn_relu(2 * c, 2 * c))
        self.classifier = nn.Conv2d(2 * c, num_classes, 1)

    def forward(self, x):
        h, w = x.shape[2:]
        low = self.layer1(self.stem(x))
        deep = self.aspp(self.layer3(self.layer2(low)))
        deep = F.interpolate(deep, size=low.shape[2:], mode="bilinear", align_corners=False)
        out = self.classifier(self.decoder(torch.cat([deep, self.low(low)], 1)))
        return F.interpolate(out, size=(h, w), mode="bilinear", align_corners=False)


class UNetSmall(nn.Module):
    """A plain UNet with ``base`` channels at full resolution and four down/up levels."""

    def __init__(self, num_classes: int, base: int = 16, depth: int = 4):
        super().__init__()
        chans = [base * 2 ** i for i in range(depth + 1)]
        self.inc = nn.Sequential(conv_bn_relu(3, chans[0]), conv_bn_relu(chans[0], chans[0]))
        self.downs = nn.ModuleList(nn.Sequential(nn.MaxPool2d(2), conv_bn_relu(chans[i], chans[i + 1]),
                                                 conv_bn_relu(chans[i + 1], chans[i + 1])) for i in range(depth))
        self.ups = nn.ModuleList(nn.ConvTranspose2d(chans[i + 1], chans[i], 2, 2) for i in reversed(range(depth)))
        self.convs = nn.ModuleList(nn.Sequential(conv_bn_relu(2 * chans[i], chans[i]), conv_bn_relu(chans[i], chans[i]))
                                   for i in reversed(range(depth)))
        self.classifier = nn.Conv2d(chans[0], num_classes, 1)

    def forward(self, x):
        h, w = x.shape[2:]
        m = 2 ** len(self.downs)
        ph, pw = (-h) % m, (-w) % m  # pad to a multiple of 2^depth, crop back at the end
        x = F.pad(x, (0, pw, 0, ph))
        skips = [self.inc(x)]
        for d in self.downs:
            skips.append(d(skips[-1]))
        y = skips.pop()
        for up, conv in zip(self.ups, self.convs):
            y = conv(torch.cat([up(y), skips.pop()], 1))
        return self.classifier(y)[:, :, :h, :w]


# SegFormer's Mix Transformer encoders B0..B5 (Xie et al. 2021, Table 6) and their decoder widths.
SEGFORMER_VARIANTS = {
    "b0": {"hidden_sizes": [32, 64, 160, 256], "depths": [2, 2, 2, 2], "decoder_hidden_size": 256},
    "b1": {"hidden_sizes": [64, 128, 320, 512], "depths": [2, 2, 2, 2], "decoder_hidden_size": 256},
    "b2": {"hidden_sizes": [64, 128, 320, 512], "depths": [3, 4, 6, 3], "decoder_hidden_size": 768},
    "b3": {"hidden_sizes": [64, 128, 320, 512], "depths": [3, 4, 18, 3], "decoder_hidden_size": 768},
    "b4": {"hidden_sizes": [64, 128, 320, 512], "depths": [3, 8, 27, 3], "decoder_hidden_size": 768},
    "b5": {"hidden_sizes": [64, 128, 320, 512], "depths": [3, 6, 40, 3], "decoder_hidden_size": 768},
}


def segformer(num_classes: int, variant: str = "b0", weights: str | None = None, **config) -> nn.Module:
    """Hugging Face's ``SegformerForSemanticSegmentation`` (``pip install 'lt-data[hf]'``).

    Without ``weights``: randomly initialised from ``SegformerConfig`` with the MiT ``variant``'s sizes
    (``b0`` … ``b5``) and any other ``SegformerConfig`` field in ``config`` (e.g. ``hidden_sizes``,
    ``depths`` for a smaller model). With ``weights``: a local directory saved by ``save_pretrained``
    (nothing is downloaded), its classifier replaced when the class count differs. The model returns
    a ``SemanticSegmenterOutput`` whose ``.logits`` are at 1/4 of the input resolution; the trainer,
    evaluation and losses take that as it is (:mod:`lt_data.core.outputs`).
    """
    try:
        from transformers import SegformerConfig, SegformerForSemanticSegmentation
    except ImportError as e:
        missing = isinstance(e, ModuleNotFoundError) and (e.name or "").split(".")[0] == "transformers"
        if not missing:  # present but broken: the real import error is what the user needs to see
            raise ValueError(f"Hugging Face transformers is installed but does not import: "
                             f"{type(e).__name__}: {e}") from None
        raise ValueError("needs Hugging Face transformers: pip install 'lt-data[hf]'") from None
    if weights is not None:
        from pathlib import Path

        if not Path(weights).is_dir():
            raise ValueError(f"weights {weights!r}: not a local directory saved by save_pretrained")
        return SegformerForSemanticSegmentation.from_pretrained(weights, num_labels=num_classes, local_files_only=True,
                                                                ignore_mismatched_sizes=True, **config)
    if variant not in SEGFORMER_VARIANTS:
        raise ValueError(f"variant {variant!r}: one of {', '.join(SEGFORMER_VARIANTS)}")
    return SegformerForSemanticSegmentation(SegformerConfig(num_labels=num_classes,
                                                            **(SEGFORMER_VARIANTS[variant] | config)))


MODELS = {"deeplabv3plus_small": DeepLabV3PlusSmall, "unet_small": UNetSmall, "segformer": segformer}


def build_model(name: str, num_classes: int, **kwargs) -> nn.Module:
    """A model by short name (``deeplabv3plus_small``, ``unet_small``, ``segformer``) or
    ``package.module:callable`` (called with ``num_classes`` and the keyword arguments). The model
    may return a tensor, an object with ``.logits`` or a dict with ``"out"``, at any resolution."""
    if name in MODELS:
        return MODELS[name](num_classes, **kwargs)
    module, sep, attr = name.partition(":")
    if not sep:
        raise ValueError(f"unknown model {name!r}: use one of {', '.join(MODELS)} or package.module:callable")
    try:
        factory = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"cannot load model {name!r}: {e}") from None
    return factory(num_classes=num_classes, **kwargs)
