import pytest
import torch
from torch import nn


def _wear(model, x=None, seed=0):
    """Eval-mode model with trained-looking BatchNorm: random affine parameters and running statistics;
    with an input `x`, the running statistics are then set to the batch statistics on `x` (one
    train-mode pass with momentum 1) so activations keep their scale through deep stacks."""
    gen = torch.Generator().manual_seed(seed)
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen) * 0.2)
        m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
        if m.affine:
            m.weight.data.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
    if x is not None:
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.momentum = 1.0
        with torch.no_grad():
            model.train()(x)
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
    return model.eval()


@pytest.fixture
def worn():
    """`worn(model, x=None)`: the model in eval mode with BatchNorm statistics that are not fresh."""
    return _wear
