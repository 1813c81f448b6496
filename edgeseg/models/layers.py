"""Building blocks shared by the families (docs/models.md, "Common to every family")."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class VGGBlock(nn.Sequential):
    """(Conv3x3 with bias -> BatchNorm -> ReLU) x 2."""

    def __init__(self, cin: int, cout: int, mid: int | None = None):
        mid = cout if mid is None else mid
        super().__init__(
            nn.Conv2d(cin, mid, 3, padding=1),
            nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, cout, 3, padding=1),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )


class ConvBNReLU(nn.Sequential):
    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, bias: bool = False):
        super().__init__(
            nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=bias),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )


def widths(width_mult: float = 1.0, base: tuple[int, ...] = (32, 64, 128, 256, 512)) -> list[int]:
    return [max(1, int(round(w * width_mult))) for w in base]


def up(x: torch.Tensor, scale: int = 2) -> torch.Tensor:
    """Bilinear upsampling with align_corners=True (the authors' choice; TensorRT >= 8 supports it)."""
    return F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=True)
