"""The deploy interface every family implements (MODELS.md, "Common").

A family is an `nn.Module` whose `forward` returns what training needs (deep-supervision heads,
per-stage logits, ...). Its speed/accuracy dial is a list of named deploy variants:
`variants()` names them and `deploy(variant)` returns a *new*, plain, single-output module ready for
`torch.onnx.export`, holding only the layers that variant needs. Training-only parts never reach it.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import EdgesegError


class SegModel(nn.Module):
    size_divisor: int = 16  # input height and width must be multiples of this
    name: str = ""  # set by create_model

    def __init__(self, config: dict):
        super().__init__()
        check_config(config)
        self.config = dict(config)  # what create_model(name, **config) needs to rebuild this model

    # --- deploy interface -------------------------------------------------------------------------
    def variants(self) -> list[str]:
        raise NotImplementedError

    def default_variant(self) -> str:
        return self.variants()[-1]

    def deploy(self, variant: str) -> nn.Module:
        raise NotImplementedError

    def output_kind(self, variant: str) -> str:
        """What the deploy module returns: "logits" (default) or "probabilities"."""
        return "logits"

    def input_size(self, variant: str, img_size: int) -> int:
        """The input size the deploy variant runs at (PGU-net+ stages fix their own)."""
        return img_size

    # --- helpers for subclasses -------------------------------------------------------------------
    def check_variant(self, variant: str) -> None:
        if variant not in self.variants():
            raise EdgesegError(f"{self.name or type(self).__name__} has no variant {variant!r}; valid: {', '.join(self.variants())}")

    def check_input(self, x: torch.Tensor) -> None:
        """Eager-mode input check (skipped while tracing for export)."""
        check_input_size(x, self.size_divisor)


def check_config(config: dict) -> None:
    """The config keys every family shares must be positive numbers (a 0 or -1 would build a broken model)."""
    for key in ("num_classes", "in_channels"):
        value = config.get(key)
        if key in config and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise EdgesegError(f"{key} must be a positive integer, got {value!r}")
    value = config.get("width_mult")
    if "width_mult" in config and (not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0):
        raise EdgesegError(f"width_mult must be a positive number, got {value!r}")


def check_input_size(x: torch.Tensor, divisor: int) -> None:
    if torch.jit.is_tracing() or torch.compiler.is_compiling() or torch.onnx.is_in_onnx_export():
        return
    if x.ndim != 4:
        raise EdgesegError(f"expected an (N, C, H, W) input, got shape {tuple(x.shape)}")
    h, w = x.shape[-2:]
    if h % divisor or w % divisor:
        ph, pw = -(-h // divisor) * divisor, -(-w // divisor) * divisor
        raise EdgesegError(f"input {h}x{w} is not divisible by {divisor}; pad or resize to {ph}x{pw}")
