"""The deploy interface every family implements (docs/models.md, "Common to every family").

A family is an `nn.Module` whose `forward` returns what training needs (deep-supervision heads,
per-stage logits, ...). Its speed/accuracy dial is a list of named deploy variants:
`variants()` names them and `deploy(variant)` returns a *new*, plain, single-output module ready for
`torch.onnx.export`, holding only the layers that variant needs. Training-only parts never reach it.

A family is built from its options dataclass (`Options`, nanoGPT's `GPTConfig` style), which
`create_model` fills from user input through `typecheck.parse`; `model.config` is that dataclass as
the JSON dict checkpoints and manifests store.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import torch
from torch import nn

from ..errors import EdgesegError
from ..typecheck import PositiveFloat, PositiveInt


@dataclass(frozen=True)
class DeployStep:
    """One step of a progressive deploy variant: a plain module whose `forward(*inputs)` returns a tuple
    in the order of `outputs`; `inputs` name the image (`input`) or outputs of earlier steps."""

    level: str  # the level its prediction is: "L2", "stage1", "fused"
    module: nn.Module
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]  # the prediction first, then the maps later steps read
    reference: str | None = None  # the standalone variant computing the same prediction, if any

    @property
    def prediction(self) -> str:
        return self.outputs[0]


@dataclass(frozen=True)
class SegOptions:
    """What every family is built from; a family's options extend it."""

    num_classes: PositiveInt = 1  # output channels: 1 = binary (sigmoid), more = softmax over classes
    in_channels: PositiveInt = 3  # 3 for RGB, 1 for gray: the data source's normalization decides


@dataclass(frozen=True)
class WidthOptions(SegOptions):
    width_mult: PositiveFloat = 1.0  # scales every layer width (rounded, at least 1 channel)


def not_saved(default=None):
    """A field that shapes how the model is built but not its weights (an initialisation file): left
    out of `model.config`, so a checkpoint never needs it to be rebuilt."""
    return field(default=default, metadata={"saved": False})


class SegModel(nn.Module):
    Options: type[SegOptions] = SegOptions  # the family's options dataclass
    size_divisor: int = 16  # input height and width must be multiples of this
    name: str = ""  # set by create_model

    def __init__(self, options: SegOptions):
        super().__init__()
        self.options = options

    @property
    def config(self) -> dict:
        """The options as stored in checkpoints and manifests: what `create_model(name, **config)` needs
        to rebuild this model."""
        return {f.name: getattr(self.options, f.name) for f in fields(self.options) if f.metadata.get("saved", True)}

    # --- deploy interface -------------------------------------------------------------------------
    def variants(self) -> list[str]:
        raise NotImplementedError

    def default_variant(self) -> str:
        return self.variants()[-1]

    def deploy(self, variant: str) -> nn.Module:
        raise NotImplementedError

    def progressive_variants(self) -> list[str]:
        """Variants deployed as a chain of steps, each refining the last one's prediction (none by default)."""
        return []

    def deploy_steps(self, variant: str) -> list[DeployStep]:
        """The steps of a progressive variant, first to last (modules in eval mode, sharing no state).

        Families with progressive variants override it; here there are none, so every name is refused."""
        self.check_progressive_variant(variant)
        return []

    def output_kind(self, variant: str) -> str:
        """What the deploy module returns: "logits" (default) or "probabilities"."""
        return "logits"

    def input_size(self, variant: str, img_size: int) -> int:
        """The input size the deploy variant runs at (PGU-net+ stages fix their own)."""
        return img_size

    def reference_variant(self, variant: str) -> str | None:
        """The variant that `variant` rewrites into a cheaper graph of the same function (None: it
        rewrites none). The exporter measures both and checks their outputs agree."""
        return None

    def graph_facts(self, graph) -> dict[str, Any]:
        """What the exporter records about an exported ONNX graph (`onnx.ModelProto`) of a variant
        and of its reference variant, to show what the rewrite removed."""
        return {}

    # --- helpers for subclasses -------------------------------------------------------------------
    def check_variant(self, variant: str) -> None:
        if variant not in self.variants():
            name = self.name or type(self).__name__
            raise EdgesegError(f"{name} has no variant {variant!r}; valid: {', '.join(self.variants())}")

    def check_progressive_variant(self, variant: str) -> None:
        if variant not in self.progressive_variants():
            name = self.name or type(self).__name__
            valid = ", ".join(self.progressive_variants()) or "none"
            raise EdgesegError(f"{name} has no progressive variant {variant!r}; valid: {valid}")

    def check_input(self, x: torch.Tensor) -> None:
        """Eager-mode input check (skipped while tracing for export)."""
        check_input_size(x, self.size_divisor)


def check_input_size(x: torch.Tensor, divisor: int) -> None:
    if torch.jit.is_tracing() or torch.compiler.is_compiling() or torch.onnx.is_in_onnx_export():
        return
    if x.ndim != 4:
        raise EdgesegError(f"expected an (N, C, H, W) input, got shape {tuple(x.shape)}")
    h, w = x.shape[-2:]
    if h % divisor or w % divisor:
        ph, pw = -(-h // divisor) * divisor, -(-w // divisor) * divisor
        raise EdgesegError(f"input {h}x{w} is not divisible by {divisor}; pad or resize to {ph}x{pw}")
