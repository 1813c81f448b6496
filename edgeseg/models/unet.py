"""Baseline U-Net (`unet`): VGGBlocks, widths 32..512, bilinear up-sampling; ~7.8M parameters."""

from __future__ import annotations

import torch
from torch import nn

from .base import SegModel, WidthOptions
from .layers import VGGBlock, up, widths
from .registry import register


@register("unet")
class UNet(SegModel):
    Options = WidthOptions

    def __init__(self, options: WidthOptions):
        super().__init__(options)
        in_channels, w = options.in_channels, widths(options.width_mult)
        self.pool = nn.MaxPool2d(2)
        self.encoder = nn.ModuleList(VGGBlock(cin, cout) for cin, cout in zip([in_channels, *w[:-1]], w))
        self.decoder = nn.ModuleList(VGGBlock(skip + deep, skip) for skip, deep in zip(w[-2::-1], w[:0:-1]))
        self.head = nn.Conv2d(w[0], options.num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        skips = []
        for i, block in enumerate(self.encoder):
            x = block(x if i == 0 else self.pool(x))
            skips.append(x)
        x = skips.pop()
        for block in self.decoder:
            x = block(torch.cat([skips.pop(), up(x)], dim=1))
        return self.head(x)

    def variants(self) -> list[str]:
        return ["default"]

    def deploy(self, variant: str = "default") -> nn.Module:
        self.check_variant(variant)
        clone = UNet(self.options)
        clone.load_state_dict(self.state_dict())
        return clone.eval()

