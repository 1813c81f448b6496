"""BatchNorm that looks trained, for parity checks and benchmarks on random weights.

Fresh BatchNorm (mean 0, var 1, weight 1, bias 0) hides bugs that trained statistics expose (a fold
that forgets the running mean, a ReLU that never cuts), and leaves deep stacks with activations
that explode or vanish, which makes timings and probabilities meaningless.
"""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def trained_looking(model: nn.Module, size: int = 64, seed: int = 0, negative: float = 0.2) -> nn.Module:
    """Random BN weights (a `negative` share flipped) and biases; running statistics measured in one
    train-mode pass on a random (2, C, size, size) batch, then perturbed. Returns the model in eval mode."""
    g = torch.Generator().manual_seed(seed)
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for bn in norms:
        n = bn.num_features
        sign = torch.where(torch.rand(n, generator=g) < negative, -1.0, 1.0)
        bn.weight.copy_(sign * (0.5 + torch.rand(n, generator=g)))
        bn.bias.copy_(0.2 * torch.randn(n, generator=g))
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average: the one pass sets the statistics
    channels = getattr(model, "config", {}).get("in_channels", 3)
    model.train()
    model(torch.randn(2, channels, size, size, generator=g))
    for bn in norms:
        n = bn.num_features
        bn.running_mean.add_(0.1 * bn.running_var.sqrt() * torch.randn(n, generator=g))
        bn.running_var.mul_(0.8 + 0.4 * torch.rand(n, generator=g))
        bn.momentum = 0.1
    return model.eval()
