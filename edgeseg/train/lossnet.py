"""LossNet (M2SNet): summed MSE between frozen VGG16 features of the prediction and of the mask.

The features are those after relu1_2, relu2_2, relu3_3 and relu4_3 of VGG16 (conv layers with
bias, no batch norm). Layer indices follow torchvision's `vgg16().features` (`features.0` ...
`features.21`), so a safetensors file of torchvision's ImageNet weights loads by name; keys with or
without the `features.` prefix are accepted, other keys (the classifier) are ignored. Weights come
only from a local safetensors file: nothing is downloaded and pickle files are refused.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import EdgesegError, IntegrityError

# torchvision VGG16 "D" configuration up to relu4_3: channels, "M" = max-pool.
LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512)
TAPS = (3, 8, 15, 22)  # features index just after relu1_2, relu2_2, relu3_3, relu4_3
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class VGG16Features(nn.Module):
    def __init__(self):
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for item in LAYOUT:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, item, 3, padding=1), nn.ReLU(inplace=False)]
                cin = item
        self.features = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        taps = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in TAPS:
                taps.append(x)
        return taps


def load_vgg16(path: str | Path) -> VGG16Features:
    """VGG16 features from a local safetensors file, shapes and names checked, frozen, eval mode."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from ..checkpoint import PICKLE_SUFFIXES

    path = Path(path)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise IntegrityError(f"{path.name}: pickle weights are not loaded; convert them to .safetensors")
    if not path.is_file():
        raise EdgesegError(f"VGG16 weights file {path} not found")
    try:
        raw = load_file(str(path))
    except SafetensorError as exc:
        raise IntegrityError(f"{path.name}: not a valid safetensors file ({exc})") from exc
    model = VGG16Features()
    expected = model.state_dict()
    state = {}
    for name, ref in expected.items():
        got = raw.get(name, raw.get(name.removeprefix("features.")))
        if got is None:
            raise IntegrityError(f"{path.name}: no tensor {name!r}; expected torchvision vgg16 'features.*' weights")
        if got.shape != ref.shape:
            raise IntegrityError(f"{path.name}: {name} has shape {tuple(got.shape)}, VGG16 expects {tuple(ref.shape)}")
        state[name] = got.float()
    model.load_state_dict(state)
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()


class LossNet(nn.Module):
    """sum over taps of MSE(VGG(pred), VGG(mask)); inputs are (N, 1, H, W) in [0, 1], repeated to 3
    channels and ImageNet-normalised. The VGG stays frozen and in eval mode."""

    def __init__(self, vgg: VGG16Features):
        super().__init__()
        self.vgg = vgg
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> LossNet:
        super().train(mode)
        self.vgg.eval()
        return self

    def _features(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.vgg((x.float().repeat(1, 3, 1, 1) - self.mean) / self.std)

    def forward(self, probs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target_features = self._features(target)
        return sum(F.mse_loss(a, b) for a, b in zip(self._features(probs), target_features))
