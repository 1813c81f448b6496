"""PL-Net (`plnet`): two EPL stages, each an encoder-decoder run in two IPL steps.

Paper only, no public code: the wiring below is ours. Widths W = [32, 64, 128, 256, 512] * width_mult
(the paper's Ocs); blocks are VGGBlocks, down = MaxPool2d(2), up = bilinear (align_corners=True).

Stage (`IPLStage`, levels 0..L-1; stage 1: L = 3, W[:3]; stage 2: L = 5, all of W)
    Each step t has its own encoder blocks (levels 0..L-2) and decoder blocks (levels L-2..0); the
    bottleneck block at level L-1 (VGG(W[L-2], W[L-1]) on the pooled level L-2 feature) is one block
    run in both steps. Step t:
      encoder  e[l] = VGG(cat[pool(e[l-1]) (or the step input at l = 0), back[l]])
      middle   m    = VGG(pool(e[L-2]))
      decoder  d[l] = VGG(cat[e[l], up(d[l+1])]), d[L-1] = m          (forward skips: concatenation)
    Step 1 reads the image; step 2 reads x_out^1 = d[0] of step 1 (paper: x_out^2 = K2(x_out^1)).
    `back` are the backward skips: step 2's encoder at level l >= 1 concatenates step 1's d[l]; at
    level 0 step 1's d[0] already is step 2's input, so it is not concatenated twice. A stage returns
    its last step's d[0..L-1] (finest first).

EPL fusion: stage 2 treats stage 1 as one more step before its own. Stage 1's d[0], d[1] and its
    bottleneck output (levels 0, 1, 2) are concatenated into stage 2's step-1 encoder at the same
    levels, exactly like a backward skip (level 0: cat[image, d[0]]). Stage 2 thus starts from stage
    1's coarse-grained result and refines it (the paper's "coarse to fine"); stage 1 keeps receiving
    gradients through this path while stage 2 trains, as the paper's stage-2 schedule wants.

Heads: one Conv1x1 per stage on its d[0] (sigmoid + Dice loss in training, applied by the loss).

Why the bottleneck is shared by the two steps of a stage: two 32..512 VGG U-Nets with their own
    weights are 2 x 7.85M before any skip or stage 1, and with every block per step the model has
    17.67M parameters, 18% above the paper's 15.03M; the paper's 10.33M -> 15.03M step ablation
    cannot hold for a full own-weight second step. BiO-Net, which PL-Net builds on, runs one
    "middle" block in every pass; keeping that single bottleneck and giving each step its own
    encoder and decoder (the blocks that carry the skips) gives 13.91M (-7.5%) at width 1.0 and
    3.48M at 0.5 (paper 3.77M). We do not reproduce the paper's 1-step count (10.33M; ours 8.52M).

Training forward contract: `model(x, stages=2)` returns {"stage1": logits, "stage2": logits}, each
    (N, num_classes, H, W); `stages=1` computes stage 1 only and returns {"stage1": logits}. Train
    stage 1 with stages=1, then both with stages=2 (stage-1 parameters keep training) and a loss on
    each head or on the fused logits `stage1 + stage2` (paper eq. 5: sigmoid of the sum).

Deploy variants (single output, logits; the runtime applies the sigmoid):
    final  stage-2 logits; the stage-1 head is gone (stage 1's body stays: stage 2 reads it).
    fused  stage1 + stage2 logits (eq. 5 without the sigmoid). The default.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import EdgesegError
from .base import DeployStep, SegModel, WidthOptions, check_input_size
from .layers import VGGBlock, up, widths
from .registry import register

STEPS = 2


class IPLStage(nn.Module):
    """One EPL stage: the encoder-decoder over `w` run in two steps; `side[l]` channels of earlier
    decoder features enter the first step's encoder at level l (0 when none)."""

    def __init__(self, in_channels: int, w: list[int], side: list[int]):
        super().__init__()
        self.pool = nn.MaxPool2d(2)
        first = [in_channels, *w[:-2]]
        later = [w[0], *(c + back for c, back in zip(w[:-2], w[1:-1]))]
        self.encoders = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for step in range(STEPS):
            inputs = [c + s for c, s in zip(first, side)] if step == 0 else later
            self.encoders.append(nn.ModuleList(VGGBlock(cin, cout) for cin, cout in zip(inputs, w[:-1])))
            self.decoders.append(nn.ModuleList(VGGBlock(skip + deep, skip) for skip, deep in zip(w[-2::-1], w[:0:-1])))
        self.middle = VGGBlock(w[-2], w[-1])

    def forward(self, x: torch.Tensor, side: list[torch.Tensor] | None = None) -> list[torch.Tensor]:
        back = list(side or [])
        for step, (encoder, decoder) in enumerate(zip(self.encoders, self.decoders)):
            if step > 0:
                x, back[0] = back[0], None
            skips = []
            for level, block in enumerate(encoder):
                if level > 0:
                    x = self.pool(x)
                if level < len(back) and back[level] is not None:
                    x = torch.cat([x, back[level]], dim=1)
                x = block(x)
                skips.append(x)
            x = self.middle(self.pool(x))
            outs = [x]
            for block, skip in zip(decoder, reversed(skips)):
                x = block(torch.cat([skip, up(x)], dim=1))
                outs.append(x)
            back = outs[::-1]
        return back


def _stages(in_channels: int, width_mult: float) -> tuple[IPLStage, IPLStage, int]:
    w = widths(width_mult)
    stage1 = IPLStage(in_channels, w[:3], side=[0, 0])
    stage2 = IPLStage(in_channels, w, side=[w[0], w[1], w[2], 0])
    return stage1, stage2, w[0]


@register("plnet")
class PLNet(SegModel):
    Options = WidthOptions

    def __init__(self, options: WidthOptions):
        super().__init__(options)
        self.stage1, self.stage2, head_channels = _stages(options.in_channels, options.width_mult)
        self.head1 = nn.Conv2d(head_channels, options.num_classes, 1)
        self.head2 = nn.Conv2d(head_channels, options.num_classes, 1)

    def forward(self, x: torch.Tensor, stages: int = 2) -> dict[str, torch.Tensor]:
        self.check_input(x)
        if stages not in (1, 2):
            raise EdgesegError(f"plnet has stages 1 and 2, not {stages}")
        features = self.stage1(x)
        out = {"stage1": self.head1(features[0])}
        if stages == 2:
            out["stage2"] = self.head2(self.stage2(x, side=features)[0])
        return out

    def variants(self) -> list[str]:
        return ["final", "fused"]

    def deploy(self, variant: str) -> nn.Module:
        self.check_variant(variant)
        return self._deployed(PLNetDeploy(**self.config, fused=variant == "fused"))

    def progressive_variants(self) -> list[str]:
        return ["progressive", "progressive-final"]  # stage 1, then stage 2 fused (the default) or final

    def deploy_steps(self, variant: str) -> list[DeployStep]:
        """Step 1: stage 1 and its head; step 2: stage 2 and the `fused` (or `final`) prediction."""
        self.check_progressive_variant(variant)
        final = variant.endswith("-final")
        level = "final" if final else "fused"
        first = self._deployed(PLNetStage1(**self.config))
        second = self._deployed(PLNetStage2(**self.config, fused=not final))
        maps = tuple(f"d{i}" for i in range(first.levels))
        fused_in = () if final else ("output_stage1",)
        return [
            DeployStep("stage1", first, ("input",), ("output_stage1", *maps)),
            DeployStep(level, second, ("input", *maps, *fused_in), (f"output_{level}",), reference=level),
        ]

    def _deployed(self, module: nn.Module) -> nn.Module:
        source = self.state_dict()
        module.load_state_dict({name: source[name] for name in module.state_dict()})
        return module.eval()


class PLNetDeploy(nn.Module):
    """Both stages and the stage-2 head; with `fused`, the stage-1 head too and the logits summed."""

    size_divisor = 16

    def __init__(self, num_classes: int, in_channels: int, width_mult: float, fused: bool):
        super().__init__()
        self.stage1, self.stage2, head_channels = _stages(in_channels, width_mult)
        self.head1 = nn.Conv2d(head_channels, num_classes, 1) if fused else None
        self.head2 = nn.Conv2d(head_channels, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_size(x, self.size_divisor)
        features = self.stage1(x)
        logits = self.head2(self.stage2(x, side=features)[0])
        if self.head1 is not None:
            logits = logits + self.head1(features[0])
        return logits



class PLNetStage1(nn.Module):
    """Progressive step 1: stage 1 -> (stage-1 logits, its decoder features d[0..2]), finest first."""

    def __init__(self, num_classes: int, in_channels: int, width_mult: float):
        super().__init__()
        self.stage1, _, head_channels = _stages(in_channels, width_mult)
        self.head1 = nn.Conv2d(head_channels, num_classes, 1)
        self.levels = 3

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        features = self.stage1(x)
        return (self.head1(features[0]), *features)


class PLNetStage2(nn.Module):
    """Progressive step 2: (image, d[0..2] of stage 1[, stage-1 logits when fused]) -> the final or fused logits."""

    def __init__(self, num_classes: int, in_channels: int, width_mult: float, fused: bool):
        super().__init__()
        _, self.stage2, head_channels = _stages(in_channels, width_mult)
        self.head2 = nn.Conv2d(head_channels, num_classes, 1)
        self.fused = fused

    def forward(self, x: torch.Tensor, *maps: torch.Tensor) -> tuple[torch.Tensor]:
        features = list(maps[:3])
        logits = self.head2(self.stage2(x, side=features)[0])
        if self.fused:
            logits = logits + maps[3]
        return (logits,)
