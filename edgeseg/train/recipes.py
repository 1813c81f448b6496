"""Training recipes, one per family (docs/models.md): losses, phases, optimizer and what to evaluate.

A recipe turns the family's training forward into a loss and into named probability maps to score
(`predictions`); `primary` names the map that picks the best checkpoint. Phases cover the papers'
multi-step schedules: PL-Net's EPL (stage 1, then both stages with stage 1 still learning) and
PGU-net+'s progressive growing (a bigger network and resolution per phase, fresh optimizer).
Options (`edgeseg train --option key=value`) are a recipe's own dataclass (`Options`), read from user
input by `typecheck.parse`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Annotated, Any

import torch
import torch.nn.functional as F

from ..errors import EdgesegError
from ..models.pgunet import MAX_STAGES
from ..typecheck import Limits, PositiveFloat, parse
from . import losses

RECIPES: dict[str, type[Recipe]] = {}


def recipe_for(model: str, **options) -> Recipe:
    cls = RECIPES.get(model)
    if cls is None:
        raise EdgesegError(f"no training recipe for model {model!r}; recipes exist for: {', '.join(sorted(RECIPES))}")
    return cls(**options)


def register(cls: type[Recipe]) -> type[Recipe]:
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


@dataclass(frozen=True)
class NoOptions:
    """The options of a recipe that has none."""


class Recipe:
    Options: type = NoOptions  # the recipe's options dataclass
    model = ""
    loss_name = ""
    optimizer = "adam"
    lr = 1e-3
    epochs = 40
    batch = 8
    schedule = "cosine"  # or "constant"
    primary = "output"
    find_unused_parameters = False  # DDP: some parameters get no gradient in some phase

    def __init__(self, **options):
        self.options = parse(self.Options, options, f"recipe {self.model!r}")

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

    def notes(self, config: dict | None = None) -> list[str]:
        """Lines for the user at the start of a run (a part of the loss that is switched off, weights
        that start from scratch); `config` is the model config the run builds (None: not known)."""
        return []

    def describe(self) -> dict[str, Any]:
        return {"name": self.model, "loss": self.loss_name, "optimizer": self.optimizer, "schedule": self.schedule,
                "options": asdict(self.options)}


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


@dataclass(frozen=True)
class PLNetOptions:
    stage1_epochs: Annotated[int, Limits(ge=-1)] = -1  # epochs of stage 1 alone; -1: half of them (rounded down)


@register
class PLNetRecipe(Recipe):
    """EPL: stage 1 alone (`stages=1`), then both stages with stage 1 still learning (one optimizer
    over all parameters throughout). Each stage's head is trained with Dice (paper); in stage 2 the
    loss is the mean of the two heads' Dice. `fused` (eq. 5, the default deploy variant) is scored
    and picks the best checkpoint."""

    model = "plnet"
    loss_name = "Dice per stage head (stage 2: mean of both heads)"
    find_unused_parameters = True  # stage 2 gets no gradient while stage 1 trains alone
    Options = PLNetOptions

    def phases(self, epochs):
        first = epochs // 2 if self.options.stage1_epochs < 0 else self.options.stage1_epochs
        if not 0 <= first < epochs:
            raise EdgesegError(
                f"plnet: stage1_epochs={first} must leave at least one of the {epochs} epochs for stage 2")
        if first == 0:
            return [Phase(0, "stage2", 0, epochs, fresh_optimizer=True, forward={"stages": 2})]
        return [Phase(0, "stage1", 0, first, fresh_optimizer=True, forward={"stages": 1}),
                Phase(1, "stage2", first, epochs, forward={"stages": 2})]

    def loss(self, output, target, phase):
        heads = {name: losses.soft_dice(logits.float(), target) for name, logits in output.items()}
        return torch.stack(list(heads.values())).mean(), {k: v.item() for k, v in heads.items()}

    def predictions(self, output, phase):
        maps = {name: torch.sigmoid(logits.float()) for name, logits in output.items()}
        if "stage2" in output:
            maps["fused"] = torch.sigmoid(output["stage1"].float() + output["stage2"].float())
        return maps

    def primary_for(self, phase):
        return "fused" if phase.forward.get("stages") == 2 else "stage1"


@dataclass(frozen=True)
class M2SNetOptions:
    lossnet_weights: str = ""  # local VGG16 safetensors file; "" = no LossNet term
    lossnet_weight: Annotated[float, Limits(ge=0)] = 0.1  # the LossNet term's weight (the authors' 0.1)


@register
class M2SNetRecipe(Recipe):
    """Structure loss (weighted BCE + weighted IoU, weights applied) + 0.1 * LossNet when a local
    VGG16 safetensors file is given (`--option lossnet_weights=FILE`); without one, no LossNet."""

    model = "m2snet"
    loss_name = "structure loss (+ 0.1 * LossNet)"
    lr = 1e-4
    Options = M2SNetOptions

    def __init__(self, **options):
        super().__init__(**options)
        self.lossnet = None
        if self.options.lossnet_weights:
            from .lossnet import LossNet, load_vgg16

            self.lossnet = LossNet(load_vgg16(self.options.lossnet_weights))

    def notes(self, config: dict | None = None) -> list[str]:
        if self.lossnet is None:
            lines = ["m2snet: LossNet is off: no VGG16 weights file given "
                     "(--option lossnet_weights=vgg16.safetensors); training with the structure loss only"]
        else:
            lines = [f"m2snet: LossNet on, VGG16 weights from {self.options.lossnet_weights}"]
        if config is not None:
            encoder, weights = config.get("encoder", "res2net50"), config.get("encoder_weights")
            if weights:
                lines.append(f"m2snet: {encoder} encoder initialised from {weights}")
            else:
                lines.append(f"m2snet: the {encoder} encoder starts from scratch: no ImageNet weights file given "
                             f"(-c encoder_weights={encoder}.safetensors)")
        return lines

    def loss(self, output, target, phase):
        logits = output.float()
        structure = losses.structure(logits, target)
        if self.lossnet is None:
            return structure, {"structure": structure.item()}
        self.lossnet = self.lossnet.to(target.device)
        perceptual = self.lossnet(torch.sigmoid(logits), target)
        parts = {"structure": structure.item(), "lossnet": perceptual.item()}
        return structure + self.options.lossnet_weight * perceptual, parts


@dataclass(frozen=True)
class PGUNetOptions:
    stages: Annotated[int, Limits(ge=1, le=MAX_STAGES)] = MAX_STAGES  # stages to grow through
    old_lr: PositiveFloat = 1e-6  # learning rate of the tensors carried over from the previous stage


@register
class PGUNetRecipe(Recipe):
    """Progressive growing: stage j trains at 32 * 2^(j-1) px for an equal share of the epochs; on
    growing, `grow` carries tensors over by module name, carried parameters train at `old_lr`
    (paper 1e-6) and new ones at the run's lr (paper 1e-4), RMSprop, a fresh optimizer per stage.
    Loss: 0.5 * BCE + Laplace-smoothed Dice (binary; the papers name no loss for PGU-net+, docs/models.md).
    Epochs: the default 40 are the whole run (10 per stage with 4 stages), not the paper's 40 per
    stage, so every recipe's default run costs about the same; `--epochs 160` is the paper's schedule."""

    model = "pgunet"
    loss_name = "0.5*BCE + Laplace-smoothed Dice"
    optimizer = "rmsprop"
    lr = 1e-4
    schedule = "constant"
    Options = PGUNetOptions

    def phases(self, epochs):
        from ..models.pgunet import stage_size

        stages = self.options.stages
        if epochs < stages:
            raise EdgesegError(f"pgunet: {stages} stages need at least {stages} epochs, got {epochs}")
        bounds = [round(epochs * j / stages) for j in range(stages + 1)]
        return [Phase(j - 1, f"stage{j}", bounds[j - 1], bounds[j], img_size=stage_size(j), fresh_optimizer=True,
                      forward={"stage": j}) for j in range(1, stages + 1)]

    def build(self, config):
        from ..models import create_model

        return create_model(self.model, **{"stages": 1, **config})

    def enter(self, model, phase, device):
        from ..models.pgunet import grow

        carried: list[str] = []
        while model.options.stages < phase.forward["stage"]:
            model, copied = grow(model.cpu())
            carried = copied
        params = {name for name, _ in model.named_parameters()}
        return model, sorted(name for name in carried if name in params)

    def param_groups(self, model, lr, carried):
        old = set(carried)
        groups = [{"params": [p for n, p in model.named_parameters() if n not in old], "lr": lr}]
        if old:
            groups.append({"params": [p for n, p in model.named_parameters() if n in old], "lr": self.options.old_lr})
        return groups

    def loss(self, output, target, phase):
        return losses.dice_bce(output.float(), target), {}
