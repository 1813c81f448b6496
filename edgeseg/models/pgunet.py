"""PGU-net+ (`pgunet`): a bilinear U-Net grown one level at a time, with a residual output module.

Levels l = 0..4 at resolution 256 / 2^l, encoder widths W = [64, 128, 256, 512, 512] * width_mult
(level 4 is the bottleneck), VGGBlocks (Conv3x3 with bias, BN, ReLU, twice), max-pool down, bilinear
up with align_corners=True. Decoder block l = VGG(cat[enc_l, up(dec_{l+1})]) with outputs
[64, 64, 128, 256] for levels 0..3 (the bottleneck feeds level 3). Stage 4 is the classic bilinear
U-Net (13.4M parameters with 4 classes).

Stage j (1..4) reads a 32 * 2^(j-1) image at its top level t = 4 - j and runs levels t..4:
    - level 0 reads the image directly (its first conv takes in_channels); each level l = 1..3 has
      its own input stem (Conv3x3-BN-ReLU, in_channels -> W[l-1]) used only when l is the top, in
      place of the pooled features of the level above, so the level's own block is the same in every
      stage that runs it (and survives growing unchanged);
    - residual module: each decoder level l has its own 1x1 prediction; the output is the sum of the
      predictions of levels t..3, each upsampled bilinearly straight to the output size (the
      coarsest gives the rough shape, every finer one a residual).

`create_model("pgunet", stages=k)` builds the stage-k network, able to run stages 1..k (it holds
the stems of levels 4-k..3). Module names use absolute level numbers (`net.encoder.3...`), so
growing k -> k+1 is `grow(model)`: build stages=k+1 and copy every tensor whose name and shape
match; it returns the new model and the copied names (train those at lr 1e-6, the rest at 1e-4).

Training forward contract: `model(x, stage=j)` (default: the model's top stage k) returns the logits
(N, num_classes, H, W) at the input's size; train stage j on images and masks resized to
32 * 2^(j-1) (masks nearest). H and W must be multiples of 2^j.

Deploy variants `stage1`..`stagek`: a new module with only what stage j runs (its top stem, levels
t..4, decoders and predictions of t..3); `input_size("stagej", _)` = 32 * 2^(j-1) whatever size is
asked (the runtime resizes). Outputs logits.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Annotated

import torch
from torch import nn

from ..errors import EdgesegError
from ..typecheck import Limits
from .base import SegModel, WidthOptions, check_input_size
from .layers import ConvBNReLU, VGGBlock, up, widths
from .registry import register

MAX_STAGES = 4
BASE = (64, 128, 256, 512, 512)


def stage_size(stage: int) -> int:
    return 32 * 2 ** (stage - 1)


def top_level(stage: int) -> int:
    return MAX_STAGES - stage


class GrowingUNet(nn.Module):
    """Levels min(tops)..4 of the U-Net; every level in `tops` can be the top and read the image."""

    def __init__(self, num_classes: int, in_channels: int, width_mult: float, tops: list[int]):
        super().__init__()
        w = widths(width_mult, BASE)
        levels = range(min(tops), len(w))
        enc_in = [in_channels, *w[:-1]]
        dec_out = [w[0], w[0], *w[1:-2]]
        dec_deep = [*dec_out[1:], w[-1]]
        self.bottom = len(w) - 1
        self.pool = nn.MaxPool2d(2)
        self.stems = nn.ModuleDict({str(l): ConvBNReLU(in_channels, enc_in[l]) for l in tops if l > 0})
        self.encoder = nn.ModuleDict({str(l): VGGBlock(enc_in[l], w[l]) for l in levels})
        self.decoder = nn.ModuleDict({str(l): VGGBlock(w[l] + dec_deep[l], dec_out[l]) for l in levels[:-1]})
        self.heads = nn.ModuleDict({str(l): nn.Conv2d(dec_out[l], num_classes, 1) for l in levels[:-1]})

    def forward(self, x: torch.Tensor, top: int) -> torch.Tensor:
        if top > 0:
            x = self.stems[str(top)](x)
        skips = []
        for level in range(top, self.bottom + 1):
            if level > top:
                x = self.pool(x)
            x = self.encoder[str(level)](x)
            skips.append(x)
        x = skips.pop()
        out = None
        for level in reversed(range(top, self.bottom)):
            x = self.decoder[str(level)](torch.cat([skips.pop(), up(x)], dim=1))
            prediction = self.heads[str(level)](x)
            if level > top:
                prediction = up(prediction, 2 ** (level - top))
            out = prediction if out is None else out + prediction
        return out


@dataclass(frozen=True)
class PGUNetOptions(WidthOptions):
    stages: Annotated[int, Limits(ge=1, le=MAX_STAGES)] = MAX_STAGES  # the network grown so far


@register("pgunet")
class PGUNet(SegModel):
    Options = PGUNetOptions
    size_divisor = 16  # stage 4 pools four times; stage j alone needs multiples of 2^j

    def __init__(self, options: PGUNetOptions):
        super().__init__(options)
        tops = [top_level(stage) for stage in range(1, options.stages + 1)]
        self.net = GrowingUNet(options.num_classes, options.in_channels, options.width_mult, tops)

    def forward(self, x: torch.Tensor, stage: int | None = None) -> torch.Tensor:
        stages = self.options.stages
        stage = stages if stage is None else stage
        if not 1 <= stage <= stages:
            raise EdgesegError(f"this pgunet runs stages 1..{stages}, not {stage}")
        check_input_size(x, 2**stage)
        return self.net(x, top=top_level(stage))

    def variants(self) -> list[str]:
        return [f"stage{stage}" for stage in range(1, self.options.stages + 1)]

    def input_size(self, variant: str, img_size: int) -> int:
        self.check_variant(variant)
        return stage_size(int(variant.removeprefix("stage")))

    def deploy(self, variant: str) -> nn.Module:
        self.check_variant(variant)
        config = {k: v for k, v in self.config.items() if k != "stages"}
        module = PGUNetStage(**config, stage=int(variant.removeprefix("stage")))
        source = self.state_dict()
        module.load_state_dict({name: source[name] for name in module.state_dict()})
        return module.eval()


class PGUNetStage(nn.Module):
    """Deploy module of stage j: its top stem and levels 4-j..4 only."""

    def __init__(self, num_classes: int, in_channels: int, width_mult: float, stage: int):
        super().__init__()
        self.top = top_level(stage)
        self.size_divisor = 2**stage
        self.net = GrowingUNet(num_classes, in_channels, width_mult, [self.top])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_size(x, self.size_divisor)
        return self.net(x, top=self.top)


def grow(model: PGUNet) -> tuple[PGUNet, list[str]]:
    """The stage-(k+1) network with every tensor of `model` whose name and shape match copied in;
    returns it with the copied names (parameters and BN buffers)."""
    stages = model.options.stages
    if stages >= MAX_STAGES:
        raise EdgesegError(f"pgunet has {MAX_STAGES} stages; a stage-{stages} model cannot grow")
    grown = PGUNet(replace(model.options, stages=stages + 1))
    grown.name = model.name
    source = model.state_dict()
    copied = [name for name, t in grown.state_dict().items() if name in source and source[name].shape == t.shape]
    grown.load_state_dict({name: source[name] for name in copied}, strict=False)
    return grown, copied

