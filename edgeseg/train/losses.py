"""The papers' losses (docs/models.md), binary: `logits` (N, 1, H, W), `target` (N, 1, H, W) in {0, 1}.

Every loss returns a scalar averaged over the batch. Dice-type losses are computed per image and
then averaged (the UNet++/UNet# code does the same).
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


def has_target_bce(scores: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """UNet# CGM: BCE of softmax(scores)[:, 1] ("has target") against "mask is non-empty"."""
    present = (target.flatten(1).amax(1) > 0).to(scores.dtype)
    return F.cross_entropy(scores.float(), present.long())
