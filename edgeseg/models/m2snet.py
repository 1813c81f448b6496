"""M2SNet (`m2snet`): multi-scale subtraction units on a Res2Net-50 (or light VGG) encoder.

Zhao et al., "M2SNet: Multi-scale in Multi-scale Subtraction Network for Medical Image Segmentation".
The encoder's five features are brought to 64 channels (x1 as is when it already has 64). A
multi-scale subtraction unit (MSU) on a pair (A = deeper feature resized to B, B) computes

    Conv3x3+BN+ReLU( |A-B| + |F3(A)-F3(B)| + |F5(A)-F5(B)| ),   Fk(x) = ReLU(BN_k(conv(x, ONES_k)))

with ONES_k a fixed all-ones (64, 64, k, k) weight: a full convolution, so every output channel is
the same k x k box-sum over all channels, told apart only by BN_k. One F3 and one F5 are shared by
the ten units of the pyramid (4 first-order, 3 second, 2 third, 1 fourth order). The decoder adds the
units' outputs per level and runs top-down from a separate reduction of x5 to one logit map, resized
bilinearly to the input size.

Decisions (docs/models.md; the paper leaves them open or the authors' code is the only source):
- `x5_dem_4` (here `fourth_in`): the authors pass the third-order x5_4_3_2 through one more
  Conv3x3+BN+ReLU before the fourth-order unit, and the decoder starts from its own reduction of x5
  (`top`, the authors' `x5_dem_5`). Both are kept: they make the 4.02M head and the 27.69M total.
- Resizing uses bilinear with align_corners=True everywhere (docs/models.md, "Common to every family"); the authors used
  `F.upsample`'s default (align_corners=False).
- `encoder_weights` initialises the encoder only and is not stored in `config`: a checkpoint carries
  the trained weights, so rebuilding a model never needs the ImageNet file.

Deploy variants (single output, new modules): `unfolded` keeps the fixed convolutions, `folded`
uses the exact cheap form of F_k (see `FoldedScaleDiffs`) and holds no (64, 64, k, k) tensor.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .base import SegModel, SegOptions, check_input_size, not_saved
from .layers import ConvBNReLU, up
from .registry import register
from .res2net import STRIDES, build_encoder

CHANNELS = 64
KERNELS = (3, 5)
ORDERS = (4, 3, 2, 1)  # units per order of the subtraction pyramid


class BoxSum(nn.Module):
    """F_k as the paper defines it: ReLU(BN(conv(x, ONES))) with a fixed all-ones (C, C, k, k) weight."""

    def __init__(self, channels: int, kernel: int):
        super().__init__()
        self.kernel = kernel
        # Non-persistent: rebuilt from the shape, never saved, and follows .to() / .half().
        self.register_buffer("ones", torch.ones(channels, channels, kernel, kernel), persistent=False)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(F.conv2d(x, self.ones, padding=self.kernel // 2)))


class ScaleDiffs(nn.Module):
    """sum_k |F_k(a) - F_k(b)| for k = 3, 5: the multi-scale part of every MSU, shared by all units."""

    def __init__(self, channels: int = CHANNELS, kernels: tuple[int, ...] = KERNELS):
        super().__init__()
        self.branches = nn.ModuleList(BoxSum(channels, k) for k in kernels)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        diffs = [torch.abs(f(a) - f(b)) for f in self.branches]
        return sum(diffs[1:], diffs[0])

    def folded(self) -> FoldedScaleDiffs:
        """The exact cheap form, with each BN (eval statistics) folded into a per-channel affine."""
        scale, shift = [], []
        for f in self.branches:
            bn = f.bn
            s = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
            scale.append(s)
            shift.append(bn.bias.double() - bn.running_mean.double() * s)
        dtype = self.branches[0].bn.weight.dtype
        kernels = tuple(f.kernel for f in self.branches)
        return FoldedScaleDiffs(kernels, torch.stack(scale).to(dtype), torch.stack(shift).to(dtype))


class FoldedScaleDiffs(nn.Module):
    """ScaleDiffs without the (C, C, k, k) convolutions, exact up to float rounding.

    conv(x, ONES_k) puts the same map in every output channel: the k x k box-sum (zero padding) of
    sum_c x, i.e. k*k * avgpool_k(sum_c x) with padded zeros counted. So F_k(x) = ReLU(scale_k *
    box_k(sum_c x) + shift_k): a 1-channel box filter, broadcast to C channels by the folded BN
    (written as a 1x1 convolution 1 -> C with bias, which runtimes fuse with the ReLU).

    Sharing: sum_c of each input is computed once and used by both kernel sizes. Linearity stops at
    the ReLU: |F_k(a) - F_k(b)| needs box(sum a) and box(sum b) separately, box(sum a - sum b) would
    not be exact. Measured on ONNX Runtime (CPU): stacking [sum a, sum b] into one 2-channel pool,
    or Mul/Add instead of the 1x1 affine, ran no faster; a 1-channel k x k conv producing the C
    channels directly ran ~10x slower than AveragePool + affine (benchmarks/m2snet_fold.py).
    """

    def __init__(self, kernels: tuple[int, ...], scale: torch.Tensor, shift: torch.Tensor):
        super().__init__()
        self.kernels = kernels
        channels = scale.shape[1]
        # box_k is computed as an average (k*k folded into the scale); the affine is a 1x1 conv 1 -> C.
        area = torch.tensor([float(k * k) for k in kernels], dtype=scale.dtype).view(-1, 1)
        self.register_buffer("scale", (scale * area).view(len(kernels), channels, 1, 1, 1))
        self.register_buffer("shift", shift.clone())

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        sa, sb = a.sum(1, keepdim=True), b.sum(1, keepdim=True)
        diffs = []
        for i, k in enumerate(self.kernels):
            fa = F.relu(F.conv2d(F.avg_pool2d(sa, k, 1, k // 2, count_include_pad=True), self.scale[i], self.shift[i]))
            fb = F.relu(F.conv2d(F.avg_pool2d(sb, k, 1, k // 2, count_include_pad=True), self.scale[i], self.shift[i]))
            diffs.append(torch.abs(fa - fb))
        return sum(diffs[1:], diffs[0])


def box_filter_weights(graph) -> list[list[int]]:
    """Shapes of the (C, C, k, k) conv weights, k > 1, of an ONNX graph whose every filter is one
    constant: the fixed box sums that the folded variant removes."""
    import numpy as np
    import onnx.numpy_helper as nh

    shapes = []
    for init in graph.graph.initializer:
        dims = list(init.dims)
        if len(dims) == 4 and dims[0] == dims[1] and dims[2] == dims[3] > 1:
            w = nh.to_array(init).reshape(dims[0], -1)
            if np.all(w == w[:, :1]):
                shapes.append(dims)
    return shapes


def resize(x: torch.Tensor, ref: torch.Tensor, same_size: bool) -> torch.Tensor:
    if same_size:
        return x
    return F.interpolate(x, size=ref.shape[-2:], mode="bilinear", align_corners=True)


class M2SNetBody(nn.Module):
    """The network itself (a plain module: the deploy variants are instances of it)."""

    def __init__(self, encoder: nn.Module, scales: nn.Module, num_classes: int = 1, channels: int = CHANNELS):
        super().__init__()
        c = channels
        self.encoder = encoder
        self.reduce = nn.ModuleList(
            nn.Identity() if i == 0 and cin == c else ConvBNReLU(cin, c, bias=True)
            for i, cin in enumerate(encoder.channels)
        )
        self.scales = scales
        self.pyramid = nn.ModuleList(nn.ModuleList(ConvBNReLU(c, c, bias=True) for _ in range(n)) for n in ORDERS)
        self.fourth_in = ConvBNReLU(c, c, bias=True)
        self.levels = nn.ModuleList(ConvBNReLU(c, c, bias=True) for _ in range(len(ORDERS) - 1))
        self.top = ConvBNReLU(encoder.channels[-1], c, bias=True)
        self.outputs = nn.ModuleList(
            [*(ConvBNReLU(c, c, bias=True) for _ in range(3)), nn.Conv2d(c, num_classes, 3, padding=1)]
        )
        # Which pairs already share a size (x2 and x1 do), decided here so the graph has no shape tests.
        strides = STRIDES[::-1]
        self.same_size = []
        for _ in ORDERS:
            self.same_size.append([deep == shallow for deep, shallow in zip(strides, strides[1:])])
            strides = strides[1:]
        level_strides = STRIDES[::-1][1:]
        self.level_same_size = [deep == shallow for deep, shallow in zip(STRIDES[-1:] + level_strides, level_strides)]

    def subtract(self, unit: nn.Module, deep: torch.Tensor, shallow: torch.Tensor, same_size: bool) -> torch.Tensor:
        deep = resize(deep, shallow, same_size)
        return unit(torch.abs(deep - shallow) + self.scales(deep, shallow))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_size(x, M2SNet.size_divisor)
        feats = self.encoder(x)
        row = [reduce(f) for reduce, f in zip(self.reduce, feats)][::-1]  # x5 .. x1, 64 channels each
        rows = []
        for order, (units, same) in enumerate(zip(self.pyramid, self.same_size)):
            deep = row[:-1] if order < len(ORDERS) - 1 else [self.fourth_in(row[0])]
            row = [self.subtract(*args) for args in zip(units, deep, row[1:], same)]
            rows.append(row)
        out = self.top(feats[-1])
        for i, (conv, same) in enumerate(zip(self.outputs, self.level_same_size)):
            level = sum((rows[order][i - order] for order in range(1, i + 1)), rows[0][i])
            if i > 0:
                level = self.levels[i - 1](level)
            out = conv(resize(out, level, same) + level)
        return up(out, STRIDES[0])


@dataclass(frozen=True)
class M2SNetOptions(SegOptions):
    encoder: str = "res2net50"  # or "vgg_light" (res2net.ENCODERS)
    encoder_weights: str | Path | None = not_saved()  # local safetensors file; None = from scratch


@register("m2snet")
class M2SNet(SegModel):
    Options = M2SNetOptions
    size_divisor = 32

    def __init__(self, options: M2SNetOptions):
        super().__init__(options)
        encoder = build_encoder(options.encoder, options.in_channels, options.encoder_weights)
        self.body = M2SNetBody(encoder, ScaleDiffs(), options.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def variants(self) -> list[str]:
        return ["unfolded", "folded"]

    def reference_variant(self, variant: str) -> str | None:
        return "unfolded" if variant == "folded" else None

    def graph_facts(self, graph) -> dict[str, Any]:
        return {"box_filter_weights": box_filter_weights(graph)}

    def deploy(self, variant: str = "folded") -> nn.Module:
        self.check_variant(variant)
        if variant == "unfolded":
            return copy.deepcopy(self.body).eval()
        scales = self.body.scales.folded()
        ref = next(self.parameters())
        body = M2SNetBody(copy.deepcopy(self.body.encoder), scales, self.options.num_classes).to(ref.device, ref.dtype)
        state = {k: v for k, v in self.body.state_dict().items() if not k.startswith("scales.")}
        state.update({f"scales.{k}": v for k, v in scales.state_dict().items()})
        body.load_state_dict(state)
        return body.eval()

