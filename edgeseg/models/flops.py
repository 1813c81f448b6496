"""Parameters and FLOPs of deploy variants, counted by `torch.utils.flop_counter`.

`deploy_stats` runs its own copy of the deploy module on meta tensors (shapes only, no arithmetic),
so counting a 27M-parameter model at 352x352 costs milliseconds; the counts are those of the real graph.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DeployStats:
    params: int
    gflops: float  # 2 x multiply-accumulates, as torch's FlopCounterMode counts them
    size: int  # input height = width the variant ran at


def count_flops(module, x) -> int:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        module(x)
    return counter.get_total_flops()


def deploy_stats(model, variant: str, img_size: int, in_channels: int | None = None) -> DeployStats:
    import torch

    from ..errors import EdgesegError

    module = model.deploy(variant).eval().to("meta")
    size = model.input_size(variant, img_size)
    divisor = model.size_divisor
    if size < divisor or size % divisor:
        name = model.name or "this model"
        raise EdgesegError(f"input size {size} must be a positive multiple of {divisor} for {name}")
    channels = in_channels or model.config.get("in_channels", 3)
    params = sum(p.numel() for p in module.parameters())
    x = torch.zeros(1, channels, size, size, device="meta")
    return DeployStats(params=params, gflops=count_flops(module, x) / 1e9, size=size)
