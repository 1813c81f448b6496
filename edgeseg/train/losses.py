"""The papers' losses (docs/models.md) and their multi-class counterparts.

Binary: `logits` (N, 1, H, W), `target` (N, 1, H, W) in {0, 1}. Multi-class (`softmax_*`, `ce_dice`,
`multi_structure`): `logits` (N, C, H, W) with C > 1, `target` (N, 1, H, W) holding class indices
0..C-1 (as floats, like the binary target); class 0 is the background.

Every loss returns a scalar averaged over the batch. Dice-type losses are computed per image and
then averaged (the UNet++/UNet# code does the same); multi-class Dice and IoU terms are averaged over
the foreground classes 1..C-1 (with `background`, over 0..C-1), weighted by `weights` when given.
`weights` (C,) are class weights: they weight the cross-entropy per pixel as `F.cross_entropy`'s
`weight` does (a weighted mean) and the per-class Dice/IoU terms in their mean.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def soft_dice(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1e-5) -> torch.Tensor:
    """1 - (2|P.T| + s) / (|P| + |T| + s) per image, P = sigmoid(logits)."""
    probs = torch.sigmoid(logits).flatten(1)
    target = target.flatten(1)
    inter = (probs * target).sum(1)
    return (1 - (2 * inter + smooth) / (probs.sum(1) + target.sum(1) + smooth)).mean()


def laplace_dice(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Soft Dice with Laplace (add-one) smoothing, as in UNet#."""
    return soft_dice(logits, target, smooth=1.0)


def bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, target)


def focal(logits: torch.Tensor, target: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0) -> torch.Tensor:
    """Sigmoid focal loss (Lin et al.): -alpha_t (1 - p_t)^gamma log(p_t), mean over pixels."""
    log_p = F.logsigmoid(logits)
    log_not_p = F.logsigmoid(-logits)
    log_pt = target * log_p + (1 - target) * log_not_p
    alpha_t = target * alpha + (1 - target) * (1 - alpha)
    return (-alpha_t * (1 - log_pt.exp()) ** gamma * log_pt).mean()


def lovasz_grad(gt_sorted: torch.Tensor) -> torch.Tensor:
    """Gradient of the Lovasz extension of the Jaccard loss w.r.t. sorted errors (Berman et al.)."""
    gts = gt_sorted.sum()
    intersection = gts - gt_sorted.cumsum(0)
    union = gts + (1 - gt_sorted).cumsum(0)
    jaccard = 1 - intersection / union
    if len(gt_sorted) > 1:
        jaccard[1:] = jaccard[1:] - jaccard[:-1].clone()
    return jaccard


def lovasz_hinge(logits: torch.Tensor, target: torch.Tensor, per_image: bool = True) -> torch.Tensor:
    """Lovasz hinge loss (Berman et al. 2018): the Lovasz extension of the Jaccard loss on hinge errors."""
    if per_image:
        return torch.stack([_lovasz_flat(l.flatten(), t.flatten()) for l, t in zip(logits, target)]).mean()
    return _lovasz_flat(logits.flatten(), target.flatten())


def _lovasz_flat(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    signs = 2 * labels.float() - 1
    errors = 1 - logits.float() * signs
    errors_sorted, order = torch.sort(errors, descending=True)
    grad = lovasz_grad(labels.float()[order])
    return torch.dot(F.relu(errors_sorted), grad)


def mixed(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """UNet#: 0.5 * focal(0.25, 2) + Laplace-smoothed Dice + 0.5 * Lovasz hinge."""
    return 0.5 * focal(logits, target) + laplace_dice(logits, target) + 0.5 * lovasz_hinge(logits, target)


def dice_bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Baseline U-Net: 0.5 * BCE + Laplace-smoothed Dice (the UNet++ code's BCEDiceLoss)."""
    return 0.5 * bce(logits, target) + laplace_dice(logits, target)


def structure_weights(target: torch.Tensor) -> torch.Tensor:
    """M2SNet/PraNet edge weights: 1 + 5 |avgpool31(mask) - mask| (zero padding counted, as the authors)."""
    return 1 + 5 * torch.abs(F.avg_pool2d(target, kernel_size=31, stride=1, padding=15) - target)


def structure(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Weighted BCE + weighted IoU with the edge weights *applied* to the BCE.

    The authors pass `reduce='none'` to `F.binary_cross_entropy_with_logits`, a deprecated argument
    that makes the call return the plain *mean* BCE, so their per-pixel weights never reach the BCE.
    Here the per-pixel BCE is weighted: sum(w * bce) / sum(w) per image.
    """
    weights = structure_weights(target)
    pixel_bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    wbce = (weights * pixel_bce).sum((2, 3)) / weights.sum((2, 3))
    probs = torch.sigmoid(logits)
    inter = (probs * target * weights).sum((2, 3))
    union = ((probs + target) * weights).sum((2, 3))
    wiou = 1 - (inter + 1) / (union - inter + 1)
    return (wbce + wiou).mean()


# --- multi-class --------------------------------------------------------------------------------------
def one_hot(target: torch.Tensor, classes: int) -> torch.Tensor:
    """(N, 1, H, W) class indices -> (N, C, H, W) float one-hot."""
    return F.one_hot(target[:, 0].long(), classes).permute(0, 3, 1, 2).to(torch.float32)


def class_mean(per_class: torch.Tensor, weights: torch.Tensor | None, background: bool) -> torch.Tensor:
    """(N, C) per-image, per-class terms -> their (weighted) mean over classes 1..C-1 (0..C-1 with
    `background`), then over the images."""
    first = 0 if background else 1
    per_class = per_class[:, first:]
    if weights is None:
        return per_class.mean()
    weights = weights[first:].to(per_class)
    return ((per_class * weights).sum(1) / weights.sum()).mean()


def softmax_dice(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1.0,
                 weights: torch.Tensor | None = None, background: bool = False) -> torch.Tensor:
    """Per image and class c: 1 - (2|P_c.T_c| + s) / (|P_c| + |T_c| + s), P = softmax(logits) over
    the classes, T_c = (target == c); then `class_mean`. s = 1 is the Laplace smoothing of UNet#."""
    probs = torch.softmax(logits, dim=1).flatten(2)
    onehot = one_hot(target, logits.shape[1]).flatten(2)
    inter = (probs * onehot).sum(2)
    per_class = 1 - (2 * inter + smooth) / (probs.sum(2) + onehot.sum(2) + smooth)
    return class_mean(per_class, weights, background)


def softmax_ce(logits: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    return F.cross_entropy(logits, target[:, 0].long(), weight=None if weights is None else weights.to(logits))


def ce_dice(logits: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None,
            background: bool = False, smooth: float = 1.0) -> torch.Tensor:
    """The multi-class counterpart of `dice_bce`: 0.5 * softmax cross-entropy + multi-class soft Dice."""
    return 0.5 * softmax_ce(logits, target, weights) + softmax_dice(logits, target, smooth, weights, background)


def multi_structure(logits: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None,
                    background: bool = False) -> torch.Tensor:
    """M2SNet's structure loss for C classes: edge-weighted CE + edge-weighted IoU per class.

    The edge weight of a pixel is `1 + 5 * max_c |avgpool31(T_c) - T_c|` over the foreground classes
    c = 1..C-1 (for C = 2 exactly the binary `structure_weights`); the CE is averaged with those
    weights (times the class weight of the pixel's class when `weights` is given); the weighted IoU
    `1 - (inter + 1) / (union - inter + 1)` of softmax P_c and T_c goes through `class_mean`.
    """
    onehot = one_hot(target, logits.shape[1])
    edges = structure_weights(onehot[:, 1:]).amax(1)
    index = target[:, 0].long()
    pixel_weights = edges if weights is None else edges * weights.to(logits)[index]
    pixel_ce = F.cross_entropy(logits, index, reduction="none")
    wce = (pixel_weights * pixel_ce).sum((1, 2)) / pixel_weights.sum((1, 2))
    probs = torch.softmax(logits, dim=1)
    inter = (probs * onehot * edges[:, None]).sum((2, 3))
    union = ((probs + onehot) * edges[:, None]).sum((2, 3))
    wiou = 1 - (inter + 1) / (union - inter + 1)
    return wce.mean() + class_mean(wiou, weights, background)


def pool_classes(target: torch.Tensor, size, priority: list[int]) -> torch.Tensor:
    """(N, 1, H, W) class indices -> (N, 1, h, w) for a coarse head, keeping small structures.

    Every class's one-hot map is max-pooled to `size` (a class present anywhere in a window is present
    in its pixel), then each pixel takes the present class that comes first in `priority`. Max-pooling
    the indices instead would be the special case "highest index first" and would let, for instance,
    a large structure numbered higher hide a small one numbered lower.
    """
    present = F.adaptive_max_pool2d(one_hot(target, len(priority)), size)
    rank = torch.zeros(len(priority), device=target.device)
    rank[torch.tensor(priority, device=target.device)] = torch.arange(len(priority), 0, -1, device=target.device,
                                                                      dtype=rank.dtype)
    return (present * rank[None, :, None, None]).argmax(1, keepdim=True).to(target.dtype)


def has_target_bce(scores: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """UNet# CGM: BCE of softmax(scores)[:, 1] ("has target") against "mask is non-empty"."""
    present = (target.flatten(1).amax(1) > 0).to(scores.dtype)
    return F.cross_entropy(scores.float(), present.long())
