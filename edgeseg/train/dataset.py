"""The torch side of the data: raw samples -> (normalised CxHxW input, 1xHxW target) tensors.

The target is binary (mask > 0) for a one-output model (`classes=1`) and the class indices 0..C-1 for
`classes=C > 1` (a mask holding a class >= C, or one that was not class indices and was thresholded,
is refused, naming its file), both as float32.

Randomness depends only on (seed, epoch, index): the shuffle order and every augmentation are
functions of those numbers, so a run is reproducible regardless of worker count, and a resumed run
sees exactly the batches the uninterrupted run would have seen.
"""

from __future__ import annotations

import numpy as np
import torch

from ..data import Augment, normalize, resize_image, resize_mask, to_color, to_unit
from ..errors import EdgesegError
from ..normalization import Normalization


class SegmentationSet(torch.utils.data.Dataset):
    def __init__(self, samples, normalization: Normalization, size: int, augment: Augment | None = None, seed: int = 0,
                 classes: int = 1):
        self.samples = samples
        self.classes = classes
        self.normalization = normalization
        self.size = size
        self.augment = augment
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int):
        sample = self.samples[i]
        if self.classes > 1:
            check_classes(sample, self.classes)
        image = resize_image(to_color(to_unit(sample.image), self.normalization.color), self.size)
        mask = resize_mask(sample.mask, self.size)
        if self.augment is not None:
            image, mask = self.augment(image, mask, np.random.default_rng([self.seed, self.epoch, i]))
        x = torch.from_numpy(normalize(image, self.normalization))
        y = torch.from_numpy((mask > 0 if self.classes == 1 else mask).astype(np.float32))[None]
        return x, y


def check_classes(sample, classes: int) -> None:
    if sample.thresholded:
        raise EdgesegError(f"{sample.mask_file or sample.name}: mask is not a class-index image (more than 16 values "
                           f"or values of 16 and above), read as binary by a threshold; for num_classes={classes} "
                           "map its values to classes with ?classes=")
    top = int(sample.mask.max(initial=0))
    if top >= classes:
        raise EdgesegError(f"{sample.mask_file or sample.name}: mask holds class {top}, outside 0..{classes - 1} for "
                           f"num_classes={classes}; raise num_classes or map the mask values with ?classes=")


class EpochSampler(torch.utils.data.Sampler):
    """A permutation from (seed, epoch), padded to a multiple of the world size and sharded by rank."""

    def __init__(self, n: int, seed: int, shuffle: bool = True, rank: int = 0, world: int = 1):
        self.n, self.seed, self.shuffle, self.rank, self.world = n, seed, shuffle, rank, world
        self.epoch = 0

    def _order(self) -> list[int]:
        shuffled = self.shuffle
        order = np.random.default_rng([self.seed, self.epoch]).permutation(self.n) if shuffled else np.arange(self.n)
        pad = (-len(order)) % self.world
        order = np.concatenate([order, order[:pad]])
        return order[self.rank::self.world].tolist()

    def __iter__(self):
        return iter(self._order())

    def __len__(self) -> int:
        return -(-self.n // self.world)
