"""Images for calibration and parity checks, preprocessed as the manifest's normalisation says.

From a dataset (`edgeseg.data.open_source`: a folder or `synthetic:NAME?...`) with its masks, or,
when no source is given, seeded random images (parity then compares backends only, no ground truth).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import EdgesegError
from ..manifest import Normalization


@dataclass(frozen=True)
class Samples:
    images: np.ndarray  # (N, C, H, W) float32, normalised
    masks: np.ndarray | None  # (N, H, W) uint8 class indices, or None
    source: str


def random_samples(n: int, size: int, norm: Normalization, seed: int = 0) -> Samples:
    rng = np.random.default_rng(seed)
    pixels = rng.random((n, size, size, norm.channels), dtype=np.float32)
    return Samples(images=normalize(pixels, norm), masks=None, source=f"random uniform pixels (seed {seed})")


def dataset_samples(src: str, n: int, size: int, norm: Normalization) -> Samples:
    try:
        from ..data import open_source
    except ImportError as exc:
        raise EdgesegError(f"--calib-data needs edgeseg.data.open_source, which this install lacks ({exc})") from exc
    dataset = open_source(src)
    count = min(n, len(dataset))
    if count == 0:
        raise EdgesegError(f"{src}: no images found for calibration")
    images, masks = [], []
    for i in range(count):
        image, mask = _image_and_mask(dataset[i])
        images.append(_resize_image(to_unit(image), size, norm))
        masks.append(None if mask is None else _resize_mask(mask, size))
    has_masks = all(m is not None for m in masks)
    return Samples(
        images=normalize(np.stack(images), norm),
        masks=np.stack(masks) if has_masks else None,
        source=f"{src} ({count} images)",
    )


def _image_and_mask(sample):
    if isinstance(sample, dict):
        return sample["image"], sample.get("mask")
    if isinstance(sample, (tuple, list)):
        return sample[0], (sample[1] if len(sample) > 1 else None)
    return sample.image, getattr(sample, "mask", None)


def to_unit(image: np.ndarray) -> np.ndarray:
    """Scale pixels to [0, 1] by their dtype's range (uint8 /255, uint16 /65535, floats as given)."""
    image = np.asarray(image)
    if np.issubdtype(image.dtype, np.integer):
        return image.astype(np.float32) / np.iinfo(image.dtype).max
    return image.astype(np.float32)


def _resize_image(image: np.ndarray, size: int, norm: Normalization) -> np.ndarray:
    from PIL import Image

    if image.ndim == 2:
        image = image[..., None]
    if image.shape[-1] == 4:
        image = image[..., :3]
    if norm.color == "gray" and image.shape[-1] == 3:
        image = image @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        image = image[..., None]
    if norm.color == "rgb" and image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    planes = [np.asarray(Image.fromarray(np.ascontiguousarray(image[..., c])).resize((size, size), Image.BILINEAR)) for c in range(image.shape[-1])]
    return np.stack(planes, axis=-1)


def _resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(np.asarray(mask, dtype=np.uint8)).resize((size, size), Image.NEAREST))


def normalize(pixels: np.ndarray, norm: Normalization) -> np.ndarray:
    """(N, H, W, C) pixels in [0, 1] -> (N, C, H, W) float32 `(x - mean) / std`."""
    mean = np.asarray(norm.mean, dtype=np.float32)
    std = np.asarray(norm.std, dtype=np.float32)
    return np.ascontiguousarray(((pixels - mean) / std).transpose(0, 3, 1, 2), dtype=np.float32)
