"""Images for calibration and parity checks, preprocessed exactly as training does (`edgeseg.data.prepare`).

From a dataset (`edgeseg.data.open_source`: a folder or `synthetic:NAME?...`) with its masks, or,
when no source is given, seeded random images (parity then compares backends only, no ground truth).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import EdgesegError
from ..normalization import Normalization


@dataclass(frozen=True)
class Samples:
    images: np.ndarray  # (N, C, H, W) float32, normalised
    masks: np.ndarray | None  # (N, H, W) uint8 class indices, or None
    source: str

    def take(self, part: slice, source: str) -> Samples:
        return Samples(self.images[part], None if self.masks is None else self.masks[part], source)


def random_samples(n: int, size: int, norm: Normalization, seed: int = 0) -> Samples:
    from ..data import prepare

    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (n, size, size, norm.channels), dtype=np.uint8)
    images = np.stack([prepare(p, norm) for p in pixels])
    return Samples(images=images, masks=None, source=f"random uint8 pixels (seed {seed})")


def dataset_samples(src: str, n: int, size: int, norm: Normalization) -> Samples:
    from ..data import open_source, prepare, resize_mask

    dataset = open_source(src)
    count = min(n, len(dataset))
    if count == 0:
        raise EdgesegError(f"{src}: no images found for calibration")
    images, masks = [], []
    for i in range(count):
        sample = dataset[i]
        images.append(prepare(sample.image, norm, size))
        masks.append(None if sample.mask is None else resize_mask(sample.mask, size))
    has_masks = all(m is not None for m in masks)
    return Samples(
        images=np.stack(images),
        masks=np.stack(masks).astype(np.uint8) if has_masks else None,
        source=f"{src} ({count} images)",
    )
