"""Encoders for M2SNet: Res2Net-50 v1b 26w4s (the paper's) and a light VGG encoder for edge devices.

Both return five features `(x1, x2, x3, x4, x5)` at strides 4, 4, 8, 16, 32; M2SNet's reduction
convolutions bring their channel counts to 64.

Res2Net (Gao et al., "Res2Net: A New Multi-scale Backbone Architecture") replaces the 3x3 convolution
of a ResNet bottleneck by `scale` groups of `width` channels: group i is convolved after adding the
output of group i-1, so one block sees several receptive fields. "v1b" adds a deep stem (three 3x3
convolutions, 3->32->32->64) and average-pool down-sampling in the shortcuts. Module names follow the
usual Res2Net layout (`conv1`, `bn1`, `layerN.M.convs.i`, `downsample.1`, ...) so a converted ImageNet
checkpoint loads as is; its classifier (`fc.*`) is ignored.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from ..errors import EdgesegError, IntegrityError
from .layers import ConvBNReLU, VGGBlock

log = logging.getLogger(__name__)


class Bottle2neck(nn.Module):
    expansion = 4

    def __init__(
        self, cin: int, planes: int, stride: int = 1, base_width: int = 26, scale: int = 4, first: bool = False
    ):
        super().__init__()
        width = planes * base_width // 64
        cout = planes * self.expansion
        self.width, self.scale, self.first = width, scale, first
        self.conv1 = nn.Conv2d(cin, width * scale, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width * scale)
        self.convs = nn.ModuleList(nn.Conv2d(width, width, 3, stride, 1, bias=False) for _ in range(scale - 1))
        self.bns = nn.ModuleList(nn.BatchNorm2d(width) for _ in range(scale - 1))
        # The first block of a stage has no hierarchy between groups; its last group is pooled instead.
        self.pool = nn.AvgPool2d(3, stride, 1) if first else None
        self.conv3 = nn.Conv2d(width * scale, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if first and (stride != 1 or cin != cout):
            pool = (nn.AvgPool2d(stride, stride, ceil_mode=True, count_include_pad=False) if stride != 1
                    else nn.Identity())
            self.downsample = nn.Sequential(pool, nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        groups = torch.split(out, self.width, dim=1)
        outs = []
        sp = groups[0]
        for i, (conv, bn) in enumerate(zip(self.convs, self.bns)):
            if i > 0:
                sp = groups[i] if self.first else sp + groups[i]
            sp = self.relu(bn(conv(sp)))
            outs.append(sp)
        last = groups[-1]
        outs.append(self.pool(last) if self.pool is not None else last)
        out = self.bn3(self.conv3(torch.cat(outs, dim=1)))
        return self.relu(out + shortcut)


class Res2Net(nn.Module):
    """Res2Net v1b body without the classifier; `forward` returns (x1, x2, x3, x4, x5)."""

    def __init__(self, layers=(3, 4, 6, 3), in_channels: int = 3, base_width: int = 26, scale: int = 4):
        super().__init__()
        self.conv1 = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, 2, 1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
            nn.Conv2d(32, 32, 3, 1, 1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
            nn.Conv2d(32, 64, 3, 1, 1, bias=False),
        )
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = 64
        stages = []
        for i, (planes, blocks) in enumerate(zip((64, 128, 256, 512), layers)):
            stride = 1 if i == 0 else 2
            stage = [Bottle2neck(cin, planes, stride, base_width, scale, first=True)]
            cin = planes * Bottle2neck.expansion
            stage += [Bottle2neck(cin, planes, 1, base_width, scale) for _ in range(blocks - 1)]
            stages.append(nn.Sequential(*stage))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.channels = (64, 256, 512, 1024, 2048)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x1 = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x2 = self.layer1(x1)
        x3 = self.layer2(x2)
        x4 = self.layer3(x3)
        x5 = self.layer4(x4)
        return x1, x2, x3, x4, x5


class VGGLight(nn.Module):
    """Light encoder (VGG blocks, widths 32..512) with Res2Net's feature layout: strides 4, 4, 8, 16, 32.

    A strided stem reaches stride 4 cheaply (x1, 32 channels); each later level is one VGGBlock.
    """

    def __init__(self, in_channels: int = 3, widths=(32, 64, 128, 256, 512)):
        super().__init__()
        w1, w2, w3, w4, w5 = widths
        self.stem = nn.Sequential(ConvBNReLU(in_channels, w1, stride=2), ConvBNReLU(w1, w1), nn.MaxPool2d(2))
        self.pool = nn.MaxPool2d(2)
        self.block2 = VGGBlock(w1, w2)
        self.block3 = VGGBlock(w2, w3)
        self.block4 = VGGBlock(w3, w4)
        self.block5 = VGGBlock(w4, w5)
        self.channels = tuple(widths)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x1 = self.stem(x)
        x2 = self.block2(x1)
        x3 = self.block3(self.pool(x2))
        x4 = self.block4(self.pool(x3))
        x5 = self.block5(self.pool(x4))
        return x1, x2, x3, x4, x5


ENCODERS = ("res2net50", "vgg_light")
STRIDES = (4, 4, 8, 16, 32)  # of (x1, x2, x3, x4, x5), for every encoder


def build_encoder(name: str, in_channels: int = 3, weights: str | Path | None = None) -> nn.Module:
    """An encoder by name, initialised from a local safetensors file or, without one, from scratch."""
    if name == "res2net50":
        encoder = Res2Net((3, 4, 6, 3), in_channels)
    elif name == "vgg_light":
        encoder = VGGLight(in_channels)
    else:
        raise EdgesegError(f"unknown encoder {name!r}; valid: {', '.join(ENCODERS)}")
    if weights is None:
        log.info("%s encoder: no weights file given, training starts from scratch (random init)", name)
    else:
        load_encoder_weights(encoder, weights)
        log.info("%s encoder: weights loaded from %s", name, weights)
    return encoder


def load_encoder_weights(encoder: nn.Module, path: str | Path) -> None:
    """Load ImageNet-style weights from a safetensors file, checking every name and shape.

    A classifier (`fc.*`) in the file is ignored; BatchNorm's `num_batches_tracked` may be missing.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if path.suffix.lower() != ".safetensors":
        raise EdgesegError(
            f"{path.name}: encoder weights must be a .safetensors file (pickle files can run code); convert it first"
        )
    if not path.is_file():
        raise EdgesegError(f"encoder weights file {path} not found")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise IntegrityError(f"{path.name}: not a readable safetensors file ({exc})") from exc
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    expected = encoder.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        raise IntegrityError(
            f"{path.name} does not fit the {type(encoder).__name__} encoder: "
            f"{len(missing)} missing (e.g. {missing[:3]}), {len(unexpected)} unexpected (e.g. {unexpected[:3]})"
        )
    for key, tensor in state.items():
        if tensor.shape != expected[key].shape:
            raise IntegrityError(
                f"{path.name}: {key} has shape {tuple(tensor.shape)}, expected {tuple(expected[key].shape)}"
            )
        if key.endswith("num_batches_tracked"):
            continue
        if not tensor.is_floating_point():
            raise IntegrityError(f"{path.name}: {key} has dtype {tensor.dtype}, expected a float tensor")
    encoder.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()}, strict=False)
