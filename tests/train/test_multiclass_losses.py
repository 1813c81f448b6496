"""Multi-class losses against values worked out by hand (or by a plain numpy re-derivation)."""

import math

import numpy as np
import pytest
import torch

from edgeseg.train import losses

# One image, two pixels, three classes; all logits 0: P = 1/3 everywhere. Pixel 0 is class 0, pixel 1 class 1.
ZERO = torch.zeros(1, 3, 1, 2)
TARGET = torch.tensor([[[[0.0, 1.0]]]])


def test_softmax_dice_by_hand():
    # class 1: |P.T| = 1/3, |P| = 2/3, |T| = 1 -> 1 - (2/3 + 1) / (5/3 + 1) = 3/8 (Laplace s = 1)
    # class 2: |P.T| = 0, |P| = 2/3, |T| = 0 -> 1 - 1 / (2/3 + 1) = 2/5;  class 0 as class 1: 3/8
    assert losses.softmax_dice(ZERO, TARGET).item() == pytest.approx((3 / 8 + 2 / 5) / 2)
    assert losses.softmax_dice(ZERO, TARGET, background=True).item() == pytest.approx((3 / 8 + 3 / 8 + 2 / 5) / 3)
    weights = torch.tensor([1.0, 1.0, 3.0])
    assert losses.softmax_dice(ZERO, TARGET, weights=weights).item() == pytest.approx((3 / 8 + 3 * 2 / 5) / 4)
    assert losses.softmax_dice(ZERO, TARGET, smooth=0.0).item() == pytest.approx((1 - (2 / 3) / (5 / 3) + 1) / 2)
    perfect = torch.tensor([[[[20.0, -20.0]], [[-20.0, 20.0]], [[-20.0, -20.0]]]])
    assert losses.softmax_dice(perfect, TARGET).item() == pytest.approx(0.0, abs=1e-6)  # class 2: empty, s/s


def test_softmax_ce_and_ce_dice_by_hand():
    logits = torch.tensor([[[[2.0, 0.0]], [[0.0, 0.0]], [[0.0, 0.0]]]])
    first = -math.log(math.exp(2) / (math.exp(2) + 2))  # pixel 0: class 0 holds logit 2
    assert losses.softmax_ce(logits, TARGET).item() == pytest.approx((first + math.log(3)) / 2)
    weights = torch.tensor([1.0, 3.0, 1.0])  # F.cross_entropy's weighted mean: sum w_y l / sum w_y
    assert losses.softmax_ce(logits, TARGET, weights).item() == pytest.approx((first + 3 * math.log(3)) / 4)
    assert losses.ce_dice(ZERO, TARGET).item() == pytest.approx(0.5 * math.log(3) + (3 / 8 + 2 / 5) / 2)


def test_multi_structure_with_two_classes_is_the_binary_structure_loss():
    rng = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 2, 8, 8, generator=rng)
    target = torch.zeros(2, 1, 8, 8)
    target[0, 0, 2:6, 3:7] = 1
    target[1, 0, 0:3, 0:8] = 1
    binary = losses.structure(logits[:, 1:] - logits[:, :1], target)  # softmax of 2 = sigmoid of the difference
    assert losses.multi_structure(logits, target).item() == pytest.approx(binary.item(), rel=1e-5)


def _structure_numpy(logits: np.ndarray, index: np.ndarray, weights: np.ndarray) -> float:
    """The multi-class structure loss of one image, written out pixel by pixel."""
    classes, size = logits.shape[0], index.shape[0]
    onehot = np.stack([index == c for c in range(classes)]).astype(float)
    edge = np.zeros(index.shape)
    for c in range(1, classes):
        padded = np.pad(onehot[c], 15)
        pooled = np.array([[padded[i:i + 31, j:j + 31].sum() / 31**2 for j in range(size)] for i in range(size)])
        edge = np.maximum(edge, np.abs(pooled - onehot[c]))
    edge = 1 + 5 * edge
    probs = np.exp(logits) / np.exp(logits).sum(0)
    pixel_w = edge * weights[index]
    wce = (pixel_w * -np.log(np.take_along_axis(probs, index[None], 0)[0])).sum() / pixel_w.sum()
    inter = (probs * onehot * edge).sum((1, 2))
    union = ((probs + onehot) * edge).sum((1, 2))
    wiou = 1 - (inter + 1) / (union - inter + 1)
    return wce + (wiou[1:] * weights[1:]).sum() / weights[1:].sum()


def test_multi_structure_matches_a_numpy_derivation_with_class_weights():
    rng = np.random.default_rng(2)
    index = np.zeros((8, 8), np.int64)
    index[1:6, 1:6] = 1
    index[2:4, 2:4] = 2
    index[6:8, 5:8] = 2
    logits = rng.normal(0, 1, (3, 8, 8))
    weights = np.array([0.5, 1.0, 2.0])
    got = losses.multi_structure(torch.tensor(logits[None], dtype=torch.float32),
                                 torch.tensor(index[None, None], dtype=torch.float32), torch.tensor(weights))
    assert got.item() == pytest.approx(_structure_numpy(logits, index, weights), rel=1e-5)


def test_pool_classes_keeps_small_structures_by_priority():
    target = torch.tensor([[[[1, 1, 0, 0],
                             [1, 3, 0, 0],
                             [2, 2, 0, 0],
                             [2, 1, 0, 2]]]], dtype=torch.float32)
    highest_first = losses.pool_classes(target, (2, 2), [3, 2, 1, 0])
    assert highest_first[0, 0].tolist() == [[3, 0], [2, 2]]  # the single class-3 pixel survives
    cytoplasm_first = losses.pool_classes(target, (2, 2), [1, 3, 2, 0])
    assert cytoplasm_first[0, 0].tolist() == [[1, 0], [1, 2]]  # max-pooling the indices could not give this
    assert losses.pool_classes(target, (4, 4), [3, 2, 1, 0]).equal(target)
