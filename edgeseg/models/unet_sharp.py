"""UNet# (`unet_sharp`): dense + full-scale skips, 8 supervised branches, pruning levels L1..L4.

Nodes `X[i][j]` (row i = 0..4 at resolution / 2^i, column j = 0..4-i, width W[i]) follow docs/models.md:
`X[0][0] = VGG(input)`, `X[i][0] = VGG(pool(X[i-1][0]))`, and for j >= 1
`X[i][j] = VGG(cat[X[i][0..j-1], up2(X[i+1][j-1]), up4(X[i+2][j-2]), ..., up_{2^j}(X[i+j][0])])`.
`X[i][j]` only depends on nodes with a smaller or equal `i + j`, so level Lk (the nodes with
`i + j <= k` and the pruning head on `X[0][k]`) gives exactly the full model's k-th pruning head.

Training forward contract (`model(x)`, x of shape (N, in_channels, H, W), H and W multiples of 16):

    {
      "prune": [4 logit maps (N, num_classes, H, W)]: heads on X[0][1], X[0][2], X[0][3], X[0][4]
               (levels L1..L4), all at full resolution;
      "hier":  [4 logit maps]: Conv3x3 heads on X[4][0], X[3][1], X[2][2], X[1][3] at their own
               resolution (H/16, H/8, H/4, H/2): compare with the mask max-pooled to that size
               (several classes: `train.losses.pool_classes`, per-class max-pool and a class priority);
      "cls":   [8 (N, 2) logits], only with cgm=True: the classifiers of the branches in the order
               L1, L2, L3, L4, X40, X31, X22, X13; index 1 = "has target" (softmax, trained with BCE
               or cross-entropy against "mask is non-empty").
    }

CGM (classification-guided module, paper only): each branch's classifier reads the branch's node
feature through [global avg-pool, global max-pool] -> Flatten -> BatchNorm1d -> Dropout -> Linear(2);
the branches of X[4][0] and X[3][1] use the deep form BatchNorm1d -> Dropout(0.25) -> Linear(512)
-> ReLU -> BatchNorm1d -> Dropout(0.5) -> Linear(2) (the layer sequence is fastai's classifier head,
whose defaults we take for the hidden width and dropouts; the paper does not give them).
BatchNorm1d needs a batch of at least 2 in training mode.

Deploy (`deploy("Lk")`): a new `UNetSharpLevel` holding only the nodes with `i + j <= k`, the Lk pruning
head and, with CGM, the Lk classifier. Without CGM it returns logits. With CGM it returns the gated
probability map `sigmoid(logits)` (softmax for several classes) times `has_target`, where
`has_target = logit[1] > logit[0]` (same as softmax > 0.5) as a float: a comparison and a multiply,
no ArgMax. The probability map is gated, not the logits (a zero gate on logits would give 0.5).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .base import DeployStep, SegModel, WidthOptions, check_input_size
from .layers import VGGBlock, up, widths
from .registry import register

LEVELS = (1, 2, 3, 4)
HIER_NODES = ((4, 0), (3, 1), (2, 2), (1, 3))


def grid(level: int) -> list[tuple[int, int]]:
    """Nodes (i, j) with i + j <= level, column by column: every node comes after its inputs."""
    return [(i, j) for j in range(level + 1) for i in range(level + 1 - j)]


def carried(level: int) -> list[tuple[int, int]]:
    """The nodes that the steps after `level` read: every node of rows 0..3 with i + j <= level."""
    return [(i, j) for i, j in grid(level) if i < 4] if level < LEVELS[-1] else []


def map_name(node: tuple[int, int]) -> str:
    return f"x{node[0]}{node[1]}"


def node_channels(in_channels: int, w: list[int], i: int, j: int) -> int:
    if j == 0:
        return in_channels if i == 0 else w[i - 1]
    return j * w[i] + sum(w[i + m] for m in range(1, j + 1))


class NodeGrid(nn.Module):
    """The nodes X[i][j] with i + j <= level; forward returns them all, keyed by (i, j)."""

    def __init__(self, in_channels: int, w: list[int], level: int):
        super().__init__()
        self.level = level
        self.pool = nn.MaxPool2d(2)
        self.nodes = nn.ModuleDict(
            {f"x{i}{j}": VGGBlock(node_channels(in_channels, w, i, j), w[i]) for i, j in grid(level)}
        )

    def forward(self, x: torch.Tensor) -> dict[tuple[int, int], torch.Tensor]:
        X: dict[tuple[int, int], torch.Tensor] = {}
        for i, j in grid(self.level):
            X[i, j] = self.nodes[f"x{i}{j}"](node_input(X, i, j, x, self.pool))
        return X


def node_input(X: dict[tuple[int, int], torch.Tensor], i: int, j: int, x: torch.Tensor | None,
               pool: nn.Module) -> torch.Tensor:
    """What block X[i][j] reads: the image, the pooled node above, or the concatenated skips."""
    if j == 0:
        return x if i == 0 else pool(X[i - 1, 0])
    same_row = [X[i, c] for c in range(j)]
    deeper = [up(X[i + m, j - m], 2**m) for m in range(1, j + 1)]
    return torch.cat(same_row + deeper, dim=1)


class AvgMaxPool(nn.Module):
    """Global average and max pooling, concatenated: (N, C, H, W) -> (N, 2C)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([F.adaptive_avg_pool2d(x, 1), F.adaptive_max_pool2d(x, 1)], dim=1).flatten(1)


class Classifier(nn.Sequential):
    """CGM branch classifier -> (N, 2) logits; `deep` adds the hidden Linear(512) + ReLU layer."""

    def __init__(self, channels: int, deep: bool, hidden: int = 512):
        features = 2 * channels
        layers: list[nn.Module] = [AvgMaxPool()]
        if deep:
            layers += [nn.BatchNorm1d(features), nn.Dropout(0.25), nn.Linear(features, hidden), nn.ReLU(inplace=True)]
            features = hidden
        layers += [nn.BatchNorm1d(features), nn.Dropout(0.5), nn.Linear(features, 2)]
        super().__init__(*layers)


def gated_probabilities(logits: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """Class probabilities times (has-target logit > no-target logit): comparison + multiply."""
    probs = torch.sigmoid(logits) if logits.shape[1] == 1 else torch.softmax(logits, dim=1)
    has_target = (scores[:, 1:] > scores[:, :1]).to(probs.dtype)
    return probs * has_target[:, :, None, None]


@dataclass(frozen=True)
class UNetSharpOptions(WidthOptions):
    cgm: bool = False  # the classification-guided module: 8 has-target classifiers, gated deploy output


@register("unet_sharp")
class UNetSharp(SegModel):
    Options = UNetSharpOptions

    def __init__(self, options: UNetSharpOptions):
        super().__init__(options)
        num_classes, w = options.num_classes, widths(options.width_mult)
        branches = [(0, k) for k in LEVELS] + list(HIER_NODES)
        self.body = NodeGrid(options.in_channels, w, level=4)
        self.prune = nn.ModuleList(nn.Conv2d(w[0], num_classes, 1) for _ in LEVELS)
        self.hier = nn.ModuleList(nn.Conv2d(w[i], num_classes, 3, padding=1) for i, _ in HIER_NODES)
        self.cls = nn.ModuleList(Classifier(w[i], deep=i >= 3) for i, _ in branches) if options.cgm else None

    def forward(self, x: torch.Tensor) -> dict[str, list[torch.Tensor]]:
        self.check_input(x)
        X = self.body(x)
        out = {
            "prune": [head(X[0, k]) for head, k in zip(self.prune, LEVELS)],
            "hier": [head(X[node]) for head, node in zip(self.hier, HIER_NODES)],
        }
        if self.cls is not None:
            branches = [X[0, k] for k in LEVELS] + [X[node] for node in HIER_NODES]
            out["cls"] = [classifier(feature) for classifier, feature in zip(self.cls, branches)]
        return out

    def variants(self) -> list[str]:
        return [f"L{k}" for k in LEVELS]

    def output_kind(self, variant: str) -> str:
        return "probabilities" if self.options.cgm else "logits"

    def deploy(self, variant: str) -> nn.Module:
        self.check_variant(variant)
        return self._deployed(UNetSharpLevel(**self.config, level=int(variant[1:])))

    def progressive_variants(self) -> list[str]:
        return ["progressive"]

    def deploy_steps(self, variant: str) -> list[DeployStep]:
        """Step k computes the nodes with i + j == k (step 1: i + j <= 1) and the Lk head: L1, then L2, ..."""
        self.check_progressive_variant(variant)
        steps = []
        for level in LEVELS:
            module = self._deployed(UNetSharpStep(**self.config, level=level))
            inputs = tuple(map_name(n) for n in module.known) or ("input",)
            outputs = (f"output_L{level}", *(map_name(n) for n in module.passed))
            steps.append(DeployStep(f"L{level}", module, inputs, outputs, reference=f"L{level}"))
        return steps

    def _deployed(self, module: nn.Module) -> nn.Module:
        """`module` with this model's weights: its nodes by name, `head`/`gate` from the level's branch."""
        source = self.state_dict()
        renamed = {"head": f"prune.{module.level - 1}", "gate": f"cls.{module.level - 1}"}
        state = {}
        for name in module.state_dict():
            prefix, rest = name.split(".", 1)
            state[name] = source[f"{renamed.get(prefix, prefix)}.{rest}"]
        module.load_state_dict(state)
        return module.eval()


class UNetSharpLevel(nn.Module):
    """Deploy module of level Lk: nodes with i + j <= k, the head on X[0][k], optional CGM gate."""

    size_divisor = 16

    def __init__(self, num_classes: int, in_channels: int, width_mult: float, cgm: bool, level: int):
        super().__init__()
        w = widths(width_mult)
        self.level = level
        self.body = NodeGrid(in_channels, w, level)
        self.head = nn.Conv2d(w[0], num_classes, 1)
        self.gate = Classifier(w[0], deep=False) if cgm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_size(x, self.size_divisor)
        feature = self.body(x)[0, self.level]
        logits = self.head(feature)
        if self.gate is None:
            return logits
        return gated_probabilities(logits, self.gate(feature))



class UNetSharpStep(nn.Module):
    """Progressive step k: reads the image (k = 1) or the carried nodes `carried(k - 1)` in that order,
    computes the nodes with i + j == k (k = 1: i + j <= 1) and returns (Lk prediction, *new carried nodes).
    The arithmetic is the standalone Lk's, split: the prediction equals `UNetSharpLevel(k)`'s."""

    def __init__(self, num_classes: int, in_channels: int, width_mult: float, cgm: bool, level: int):
        super().__init__()
        w = widths(width_mult)
        self.level = level
        self.known = [] if level == 1 else carried(level - 1)
        self.new = [n for n in grid(level) if n not in self.known]
        self.passed = [n for n in carried(level) if n in self.new]
        self.pool = nn.MaxPool2d(2)
        self.body = nn.Module()
        self.body.nodes = nn.ModuleDict(
            {map_name(n): VGGBlock(node_channels(in_channels, w, *n), w[n[0]]) for n in self.new}
        )
        self.head = nn.Conv2d(w[0], num_classes, 1)
        self.gate = Classifier(w[0], deep=False) if cgm else None

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = inputs[0] if self.level == 1 else None
        X = {} if self.level == 1 else dict(zip(self.known, inputs))
        for i, j in self.new:
            X[i, j] = self.body.nodes[map_name((i, j))](node_input(X, i, j, x, self.pool))
        feature = X[0, self.level]
        logits = self.head(feature)
        prediction = logits if self.gate is None else gated_probabilities(logits, self.gate(feature))
        return (prediction, *(X[n] for n in self.passed))
