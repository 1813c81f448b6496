import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from edgeseg.errors import EdgesegError, IntegrityError
from edgeseg.train import losses
from edgeseg.train.lossnet import LossNet, VGG16Features, load_vgg16


def t(values):
    return torch.tensor(values, dtype=torch.float32).view(1, 1, *np.shape(values))


def test_dice_hand_computed():
    logits, target = t([[0.0, 0.0], [0.0, 0.0]]), t([[1.0, 0.0], [0.0, 0.0]])
    # P = 0.5 everywhere: |P.T| = 0.5, |P| = 2, |T| = 1
    assert losses.laplace_dice(logits, target).item() == pytest.approx(1 - 2 / 4)
    assert losses.soft_dice(logits, target, smooth=0.0).item() == pytest.approx(1 - 1 / 3)
    perfect = t([[20.0, -20.0], [-20.0, -20.0]])
    assert losses.soft_dice(perfect, target).item() == pytest.approx(0.0, abs=1e-6)


def test_focal_hand_computed():
    ln2 = math.log(2)
    assert losses.focal(t([[0.0]]), t([[1.0]])).item() == pytest.approx(0.25 * 0.25 * ln2)
    assert losses.focal(t([[0.0]]), t([[0.0]])).item() == pytest.approx(0.75 * 0.25 * ln2)
    p = 1 / (1 + math.exp(-2.0))  # logit 2, target 1: p_t = p
    assert losses.focal(t([[2.0]]), t([[1.0]])).item() == pytest.approx(-0.25 * (1 - p) ** 2 * math.log(p), rel=1e-5)


def _jaccard_loss_of_set(mistakes: set, positives: set) -> float:
    return len(mistakes) / len(positives | mistakes) if mistakes else 0.0


def _lovasz_brute(logits: np.ndarray, labels: np.ndarray) -> float:
    """Lovasz extension as an integral over thresholds: sum_k (v_k - v_k+1) * loss({m >= v_k})."""
    m = np.maximum(1 - logits * (2 * labels - 1), 0)
    positives = {i for i in range(len(labels)) if labels[i]}
    levels = sorted(set(m[m > 0]), reverse=True) + [0.0]
    return sum(
        (levels[k] - levels[k + 1]) * _jaccard_loss_of_set({i for i in range(len(m)) if m[i] >= levels[k]}, positives)
        for k in range(len(levels) - 1)
    )


def test_lovasz_hinge_matches_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(20):
        logits = rng.normal(0, 2, (2, 1, 2, 3)).astype(np.float32)
        labels = (rng.random((2, 1, 2, 3)) < 0.4).astype(np.float32)
        got = losses.lovasz_hinge(torch.from_numpy(logits), torch.from_numpy(labels)).item()
        ref = np.mean([_lovasz_brute(logits[i].ravel(), labels[i].ravel()) for i in range(2)])
        assert got == pytest.approx(ref, abs=1e-5)
        got_batch = losses.lovasz_hinge(torch.from_numpy(logits), torch.from_numpy(labels), per_image=False).item()
        assert got_batch == pytest.approx(_lovasz_brute(logits.ravel(), labels.ravel()), abs=1e-5)


def test_lovasz_hinge_is_zero_for_margin_and_has_gradient():
    labels = t([[1.0, 0.0, 1.0]])
    assert losses.lovasz_hinge(t([[2.0, -3.0, 1.5]]), labels).item() == 0.0
    logits = t([[0.1, 0.2, -0.3]]).requires_grad_()
    losses.lovasz_hinge(logits, labels).backward()
    assert logits.grad.abs().sum() > 0


def test_mixed_and_dice_bce_are_the_weighted_sums():
    rng = torch.Generator().manual_seed(0)
    logits, target = torch.randn(2, 1, 4, 4, generator=rng), (torch.rand(2, 1, 4, 4, generator=rng) > 0.5).float()
    expected = (0.5 * losses.focal(logits, target) + losses.laplace_dice(logits, target)
                + 0.5 * losses.lovasz_hinge(logits, target))
    assert losses.mixed(logits, target).item() == pytest.approx(expected.item())
    bce = F.binary_cross_entropy_with_logits(logits, target)
    expected = 0.5 * bce.item() + losses.laplace_dice(logits, target).item()
    assert losses.dice_bce(logits, target).item() == pytest.approx(expected)


def test_structure_loss_applies_the_weights():
    rng = np.random.default_rng(1)
    mask = np.zeros((1, 1, 8, 8), np.float32)
    mask[0, 0, 2:6, 3:7] = 1
    logits = rng.normal(0, 1, mask.shape).astype(np.float32)
    # brute-force weights: 31x31 window mean with zero padding counted
    padded = np.pad(mask[0, 0], 15)
    pooled = np.array([[padded[i:i + 31, j:j + 31].sum() / 31**2 for j in range(8)] for i in range(8)])
    w = 1 + 5 * np.abs(pooled - mask[0, 0])
    np.testing.assert_allclose(losses.structure_weights(torch.from_numpy(mask))[0, 0].numpy(), w, atol=1e-6)
    x, y = logits[0, 0].astype(np.float64), mask[0, 0]
    p = 1 / (1 + np.exp(-x))
    pixel_bce = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    wbce = (w * pixel_bce).sum() / w.sum()
    inter, union = (p * y * w).sum(), ((p + y) * w).sum()
    expected = wbce + 1 - (inter + 1) / (union - inter + 1)
    got = losses.structure(torch.from_numpy(logits), torch.from_numpy(mask)).item()
    assert got == pytest.approx(expected, rel=1e-5)
    unweighted = pixel_bce.mean() + 1 - (inter + 1) / (union - inter + 1)
    assert abs(got - unweighted) > 1e-3  # the weights change the BCE term (the authors' bug would not)


def test_has_target_bce():
    scores = torch.tensor([[0.0, 0.0], [2.0, -1.0]])
    target = torch.zeros(2, 1, 4, 4)
    target[0, 0, 1, 1] = 1  # first mask non-empty, second empty
    p_no = math.exp(2) / (math.exp(2) + math.exp(-1))
    expected = (math.log(2) - math.log(p_no)) / 2
    assert losses.has_target_bce(scores, target).item() == pytest.approx(expected, rel=1e-6)


def _vgg_file(tmp_path, prefix="features."):
    torch.manual_seed(0)
    state = {k if prefix else k.removeprefix("features."): v for k, v in VGG16Features().state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(2, 2)
    save_file(state, str(tmp_path / "vgg16.safetensors"))
    return tmp_path / "vgg16.safetensors"


def test_lossnet_matches_manual_vgg(tmp_path):
    vgg = load_vgg16(_vgg_file(tmp_path))
    assert not any(p.requires_grad for p in vgg.parameters())
    lossnet = LossNet(vgg).train()
    assert not lossnet.vgg.training
    probs = torch.rand(1, 1, 16, 16, requires_grad=True)
    target = (torch.rand(1, 1, 16, 16) > 0.5).float()
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    convs = [m for m in vgg.features if isinstance(m, torch.nn.Conv2d)]

    def manual(x):
        x = (x.repeat(1, 3, 1, 1) - mean) / std
        taps, conv_index = [], 0
        for block in (2, 2, 3, 3):
            for _ in range(block):
                x = F.relu(F.conv2d(x, convs[conv_index].weight, convs[conv_index].bias, padding=1))
                conv_index += 1
            taps.append(x)
            x = F.max_pool2d(x, 2)
        return taps

    expected = sum(F.mse_loss(a, b) for a, b in zip(manual(probs), manual(target)))
    got = lossnet(probs, target)
    assert got.item() == pytest.approx(expected.item(), rel=1e-5)
    got.backward()
    assert probs.grad.abs().sum() > 0


def test_vgg_weights_names_and_refusals(tmp_path):
    load_vgg16(_vgg_file(tmp_path, prefix=""))
    with pytest.raises(IntegrityError, match="pickle"):
        load_vgg16(tmp_path / "vgg16.pth")
    with pytest.raises(EdgesegError, match="not found"):
        load_vgg16(tmp_path / "missing.safetensors")
    save_file({"features.0.weight": torch.zeros(1)}, str(tmp_path / "bad.safetensors"))
    with pytest.raises(IntegrityError, match="shape"):
        load_vgg16(tmp_path / "bad.safetensors")
