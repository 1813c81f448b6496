"""Training recipes, one per family (MODELS.md): losses, phases, optimizer and what to evaluate.

A recipe turns the family's training forward into a loss and into named probability maps to score
(`predictions`); `primary` names the map that picks the best checkpoint. Phases cover the papers'
multi-step schedules: PL-Net's EPL (stage 1, then both stages with stage 1 still learning) and
PGU-net+'s progressive growing (a bigger network and resolution per phase, fresh optimizer).
Options (`edgeseg train --option key=value`) are recipe-specific and validated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from ..errors import EdgesegError
from . import losses

RECIPES: dict[str, type["Recipe"]] = {}


def recipe_for(model: str, **options) -> "Recipe":
    cls = RECIPES.get(model)
    if cls is None:
        raise EdgesegError(f"no training recipe for model {model!r}; recipes exist for: {', '.join(sorted(RECIPES))}")
    return cls(**options)


def register(cls: type["Recipe"]) -> type["Recipe"]:
    RECIPES[cls.model] = cls
    return cls


@dataclass(frozen=True)
class Phase:
    index: int
    name: str
    start: int  # first epoch (0-based)
    stop: int  # one past the last epoch
    img_size: int | None = None  # None: the run's --img-size
    fresh_optimizer: bool = False  # build a new optimizer (and schedule) when this phase starts
    forward: dict[str, Any] = field(default_factory=dict)  # keyword arguments for model(x, ...)


class Recipe:
    model = ""
    loss_name = ""
    optimizer = "adam"
    lr = 1e-3
    epochs = 40
    batch = 8
    schedule = "cosine"  # or "constant"
    primary = "output"
    find_unused_parameters = False  # DDP: some parameters get no gradient in some phase
    OPTIONS: dict[str, Any] = {}

    def __init__(self, **options):
        unknown = sorted(set(options) - set(self.OPTIONS))
        if unknown:
            valid = ", ".join(sorted(self.OPTIONS)) or "none"
            raise EdgesegError(f"recipe {self.model!r} has no option {unknown[0]!r}; valid options: {valid}")
        self.options = {**self.OPTIONS, **{k: _coerce(v, self.OPTIONS[k], k) for k, v in options.items()}}

    # --- schedule ------------------------------------------------------------------------------
    def phases(self, epochs: int) -> list[Phase]:
        return [Phase(0, "train", 0, epochs, fresh_optimizer=True)]

    def build(self, config: dict):
        from ..models import create_model

        return create_model(self.model, **config)

    def enter(self, model, phase: Phase, device) -> tuple[Any, list[str]]:
        """The model to train in `phase` and the parameter names carried over from the previous one."""
        return model, []

    def param_groups(self, model, lr: float, carried: list[str]) -> list[dict]:
        return [{"params": [p for p in model.parameters() if p.requires_grad], "lr": lr}]

    def make_optimizer(self, groups: list[dict]) -> torch.optim.Optimizer:
        if self.optimizer == "rmsprop":
            return torch.optim.RMSprop(groups)
        return torch.optim.Adam(groups)

    # --- per batch -----------------------------------------------------------------------------
    def forward(self, model, x: torch.Tensor, phase: Phase):
        return model(x, **phase.forward)

    def loss(self, output, target: torch.Tensor, phase: Phase) -> tuple[torch.Tensor, dict[str, float]]:
        raise NotImplementedError

    def predictions(self, output, phase: Phase) -> dict[str, torch.Tensor]:
        """Named probability maps (N, 1, H, W) to score on the validation set."""
        return {"output": torch.sigmoid(output.float())}

    def primary_for(self, phase: Phase) -> str:
        return self.primary

    def describe(self) -> dict[str, Any]:
        return {"name": self.model, "loss": self.loss_name, "optimizer": self.optimizer, "schedule": self.schedule, "options": self.options}


def _coerce(value, default, key):
    if isinstance(value, str) and default is not None and not isinstance(default, str):
        try:
            if isinstance(default, bool):
                if value.lower() not in ("true", "false", "1", "0"):
                    raise ValueError(value)
                return value.lower() in ("true", "1")
            return type(default)(value)
        except ValueError:
            raise EdgesegError(f"option {key}={value!r}: expected a {type(default).__name__}") from None
    return value


@register
class UNetRecipe(Recipe):
    model = "unet"
    loss_name = "0.5*BCE + Laplace-smoothed Dice"

    def loss(self, output, target, phase):
        loss = losses.dice_bce(output.float(), target)
        return loss, {}


@register
class UNetSharpRecipe(Recipe):
    """All 8 heads with the mixed loss, averaged ("embedded training"); hierarchy heads against the
    max-pooled mask; with CGM, the mean has-target BCE of the 8 classifiers is added."""

    model = "unet_sharp"
    loss_name = "mean over 8 heads of 0.5*focal + Laplace Dice + 0.5*Lovasz hinge (+ CGM BCE)"
    lr = 3e-4
    primary = "L4"

    def loss(self, output, target, phase):
        heads = [losses.mixed(logits.float(), target) for logits in output["prune"]]
        for logits in output["hier"]:
            heads.append(losses.mixed(logits.float(), F.adaptive_max_pool2d(target, logits.shape[-2:])))
        loss = torch.stack(heads).mean()
        parts = {f"L{k}": h.item() for k, h in enumerate(heads[:4], 1)}
        if "cls" in output:
            cgm = torch.stack([losses.has_target_bce(s, target) for s in output["cls"]]).mean()
            loss = loss + cgm
            parts["cgm_bce"] = cgm.item()
        return loss, parts

    def predictions(self, output, phase):
        from ..models.unet_sharp import gated_probabilities

        maps = {}
        for k, logits in enumerate(output["prune"], 1):
            if "cls" in output:
                maps[f"L{k}"] = gated_probabilities(logits.float(), output["cls"][k - 1].float())
            else:
                maps[f"L{k}"] = torch.sigmoid(logits.float())
        return maps
