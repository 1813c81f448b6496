"""Training recipes, one per family (docs/models.md): losses, phases, optimizer and what to evaluate.

A recipe turns the family's training forward into a loss and into named probability maps to score
(`predictions`); `primary` names the map that picks the best checkpoint. Phases cover the papers'
multi-step schedules: PL-Net's EPL (stage 1, then both stages with stage 1 still learning) and
PGU-net+'s progressive growing (a bigger network and resolution per phase, fresh optimizer).
Options (`edgeseg train --option key=value`) are a recipe's own dataclass (`Options`), read from user
input by `typecheck.parse`; every one holds the multi-class options of `ClassOptions`.

Several classes (model config `num_classes` C > 1, class 0 the background): the targets are class
indices, every family's loss has a multi-class counterpart (`multi_loss_name`; docs/models.md),
predictions are softmax maps (N, C, H, W), and `adopt(model)` learns C when the model is built and
checks the class options against it (and refuses what a family cannot do with C classes).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Annotated, Any

import torch
import torch.nn.functional as F

from ..errors import EdgesegError
from ..models.pgunet import MAX_STAGES
from ..typecheck import Limits, NonNegativeInt, PositiveFloat, parse
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
class ClassOptions:
    """Options of a multi-class run (model config num_classes > 1); a binary run refuses them."""

    class_weights: tuple[PositiveFloat, ...] = ()  # one per class 0..C-1, for the CE and the Dice mean; (): all 1
    dice_background: bool = False  # the Dice (IoU) mean covers class 0 too, not only the foreground classes


CLASS_OPTIONS = frozenset({*(f.name for f in fields(ClassOptions)), "hier_priority"})  # described under "classes"


class Recipe:
    Options: type = ClassOptions  # the recipe's options dataclass (a ClassOptions)
    model = ""
    loss_name = ""
    multi_loss_name = "0.5*softmax CE + Laplace-smoothed multi-class Dice"
    optimizer = "adam"
    lr = 1e-3
    epochs = 40
    batch = 8
    schedule = "cosine"  # or "constant"
    primary = "output"
    find_unused_parameters = False  # DDP: some parameters get no gradient in some phase

    def __init__(self, **options):
        self.options = parse(self.Options, options, f"recipe {self.model!r}")
        self.classes = 1

    # --- schedule ------------------------------------------------------------------------------
    def phases(self, epochs: int) -> list[Phase]:
        return [Phase(0, "train", 0, epochs, fresh_optimizer=True)]

    def build(self, config: dict):
        from ..models import create_model

        return self.adopt(create_model(self.model, **config))

    def adopt(self, model):
        """Learn the number of classes from `model` and check the class options against it."""
        classes = model.options.num_classes
        defaults = self.Options()
        given = sorted(f.name for f in fields(self.options)
                       if f.name in CLASS_OPTIONS and getattr(self.options, f.name) != getattr(defaults, f.name))
        if classes == 1 and given:
            raise EdgesegError(f"recipe {self.model!r}: {', '.join(given)} apply to several classes; this model has "
                               "num_classes=1 (binary): set the model config num_classes")
        weights = self.options.class_weights
        if weights and len(weights) != classes:
            raise EdgesegError(f"recipe {self.model!r}: class_weights has {len(weights)} values, the model has "
                               f"num_classes={classes}: give one weight per class 0..{classes - 1}")
        self.classes = classes
        return model

    @property
    def class_weights(self) -> torch.Tensor | None:
        return torch.tensor(self.options.class_weights) if self.options.class_weights else None

    def segmentation_loss(self, logits: torch.Tensor, target: torch.Tensor, binary) -> torch.Tensor:
        """`binary(logits, target)` for one output channel, else the multi-class CE + Dice."""
        if logits.shape[1] == 1:
            return binary(logits, target)
        return losses.ce_dice(logits, target, self.class_weights, self.options.dice_background)

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
        """Named probability maps to score on the validation set: (N, 1, H, W) sigmoid, or (N, C, H, W) softmax."""
        return {"output": probabilities(output)}

    def primary_for(self, phase: Phase) -> str:
        return self.primary

    def notes(self, config: dict | None = None) -> list[str]:
        """Lines for the user at the start of a run (a part of the loss that is switched off, weights
        that start from scratch); `config` is the model config the run builds (None: not known)."""
        return []

    def describe(self) -> dict[str, Any]:
        options = asdict(self.options)
        described = {"name": self.model, "loss": self.loss_name, "optimizer": self.optimizer,
                     "schedule": self.schedule, "options": {k: v for k, v in options.items() if k not in CLASS_OPTIONS}}
        if self.classes > 1:
            described["loss"] = self.multi_loss_name
            described["classes"] = {"num_classes": self.classes,
                                    **{k: v for k, v in options.items() if k in CLASS_OPTIONS}}
        return described


def probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Sigmoid of one logit map, softmax over several."""
    logits = logits.float()
    return torch.sigmoid(logits) if logits.shape[1] == 1 else torch.softmax(logits, dim=1)


@register
class UNetRecipe(Recipe):
    model = "unet"
    loss_name = "0.5*BCE + Laplace-smoothed Dice"

    def loss(self, output, target, phase):
        return self.segmentation_loss(output.float(), target, losses.dice_bce), {}


@dataclass(frozen=True)
class UNetSharpOptions(ClassOptions):
    hier_priority: tuple[NonNegativeInt, ...] = ()  # classes, first wins in a hierarchy head's window; (): C-1..0



@register
class UNetSharpRecipe(Recipe):
    """All 8 heads with the mixed loss, averaged ("embedded training"); hierarchy heads against the
    max-pooled mask; with CGM, the mean has-target BCE of the 8 classifiers is added.

    Several classes: every head gets the multi-class CE + Dice (focal and Lovasz hinge are binary
    losses); hierarchy heads compare with `losses.pool_classes` of the mask (per-class max-pool, then
    the first present class of `hier_priority`, by default the highest index: in the Herlev order
    background, cytoplasm, large nucleus, small nucleus the smallest structures win). CGM is refused:
    its classifier answers "any target in the image" and its deploy gate zeroes the whole map."""

    model = "unet_sharp"
    loss_name = "mean over 8 heads of 0.5*focal + Laplace Dice + 0.5*Lovasz hinge (+ CGM BCE)"
    multi_loss_name = "mean over 8 heads of 0.5*softmax CE + Laplace-smoothed multi-class Dice"
    lr = 3e-4
    primary = "L4"
    Options = UNetSharpOptions

    def adopt(self, model):
        super().adopt(model)
        if self.classes > 1 and model.options.cgm:
            raise EdgesegError("unet_sharp: cgm=true trains binary models only: its classifiers answer 'is there "
                               "any target in the image' and the deployed gate zeroes the whole map; for "
                               f"num_classes={self.classes} use cgm=false")
        priority = self.options.hier_priority
        if priority and sorted(priority) != list(range(self.classes)):
            raise EdgesegError(f"recipe 'unet_sharp': hier_priority must list every class 0..{self.classes - 1} "
                               f"once, got {','.join(map(str, priority))}")
        return model

    def hierarchy_target(self, target: torch.Tensor, size, classes: int) -> torch.Tensor:
        if classes == 1:
            return F.adaptive_max_pool2d(target, size)
        priority = list(self.options.hier_priority) or list(range(classes - 1, -1, -1))
        return losses.pool_classes(target, size, priority)

    def loss(self, output, target, phase):
        heads = [self.segmentation_loss(logits.float(), target, losses.mixed) for logits in output["prune"]]
        for logits in output["hier"]:
            small = self.hierarchy_target(target, logits.shape[-2:], logits.shape[1])
            heads.append(self.segmentation_loss(logits.float(), small, losses.mixed))
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
                maps[f"L{k}"] = probabilities(logits)
        return maps


@dataclass(frozen=True)
class PLNetOptions(ClassOptions):
    stage1_epochs: Annotated[int, Limits(ge=-1)] = -1  # epochs of stage 1 alone; -1: half of them (rounded down)


@register
class PLNetRecipe(Recipe):
    """EPL: stage 1 alone (`stages=1`), then both stages with stage 1 still learning (one optimizer
    over all parameters throughout). Each stage's head is trained with Dice (paper); in stage 2 the
    loss is the mean of the two heads' Dice. `fused` (eq. 5, the default deploy variant) is scored
    and picks the best checkpoint. Several classes: 0.5*softmax CE + multi-class soft Dice per head (the
    CE carries the class weights and keeps a gradient for classes absent from a batch)."""

    model = "plnet"
    loss_name = "Dice per stage head (stage 2: mean of both heads)"
    multi_loss_name = "0.5*softmax CE + multi-class soft Dice per stage head (stage 2: mean of both heads)"
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
        heads = {name: self.head_loss(logits.float(), target) for name, logits in output.items()}
        return torch.stack(list(heads.values())).mean(), {k: v.item() for k, v in heads.items()}

    def head_loss(self, logits, target):
        if logits.shape[1] == 1:
            return losses.soft_dice(logits, target)
        return losses.ce_dice(logits, target, self.class_weights, self.options.dice_background, smooth=1e-5)

    def predictions(self, output, phase):
        maps = {name: probabilities(logits) for name, logits in output.items()}
        if "stage2" in output:
            maps["fused"] = probabilities(output["stage1"].float() + output["stage2"].float())
        return maps

    def primary_for(self, phase):
        return "fused" if phase.forward.get("stages") == 2 else "stage1"


@dataclass(frozen=True)
class M2SNetOptions(ClassOptions):
    lossnet_weights: str = ""  # local VGG16 safetensors file; "" = no LossNet term
    lossnet_weight: Annotated[float, Limits(ge=0)] = 0.1  # the LossNet term's weight (the authors' 0.1)


@register
class M2SNetRecipe(Recipe):
    """Structure loss (weighted BCE + weighted IoU, weights applied) + 0.1 * LossNet when a local
    VGG16 safetensors file is given (`--option lossnet_weights=FILE`); without one, no LossNet.
    Several classes: `losses.multi_structure` (edge-weighted CE + edge-weighted IoU per class); LossNet
    is refused (it compares one probability map with the mask through VGG16)."""

    model = "m2snet"
    loss_name = "structure loss (+ 0.1 * LossNet)"
    multi_loss_name = "multi-class structure loss (edge-weighted CE + edge-weighted IoU per class)"
    lr = 1e-4
    Options = M2SNetOptions

    def __init__(self, **options):
        super().__init__(**options)
        self.lossnet = None
        if self.options.lossnet_weights:
            from .lossnet import LossNet, load_vgg16

            self.lossnet = LossNet(load_vgg16(self.options.lossnet_weights))

    def adopt(self, model):
        super().adopt(model)
        if self.classes > 1 and self.lossnet is not None:
            raise EdgesegError("m2snet: LossNet compares one probability map with the mask through VGG16 and is "
                               f"binary only; for num_classes={self.classes} drop the lossnet_weights option")
        return model

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
        if logits.shape[1] > 1:
            structure = losses.multi_structure(logits, target, self.class_weights, self.options.dice_background)
            return structure, {"structure": structure.item()}
        structure = losses.structure(logits, target)
        if self.lossnet is None:
            return structure, {"structure": structure.item()}
        self.lossnet = self.lossnet.to(target.device)
        perceptual = self.lossnet(torch.sigmoid(logits), target)
        parts = {"structure": structure.item(), "lossnet": perceptual.item()}
        return structure + self.options.lossnet_weight * perceptual, parts


@dataclass(frozen=True)
class PGUNetOptions(ClassOptions):
    stages: Annotated[int, Limits(ge=1, le=MAX_STAGES)] = MAX_STAGES  # stages to grow through
    old_lr: PositiveFloat = 1e-6  # learning rate of the tensors carried over from the previous stage


@register
class PGUNetRecipe(Recipe):
    """Progressive growing: stage j trains at 32 * 2^(j-1) px for an equal share of the epochs; on
    growing, `grow` carries tensors over by module name, carried parameters train at `old_lr`
    (paper 1e-6) and new ones at the run's lr (paper 1e-4), RMSprop, a fresh optimizer per stage.
    Loss: 0.5 * BCE + Laplace-smoothed Dice (binary; the papers name no loss for PGU-net+, docs/models.md);
    several classes: 0.5 * softmax CE + multi-class Dice on the residual module's output, which sums
    the levels' logits before the softmax.
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

        return self.adopt(create_model(self.model, **{"stages": 1, **config}))

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
        return self.segmentation_loss(output.float(), target, losses.dice_bce), {}
