"""What `edgeseg bench` measures: resolve a bundle or checkpoint, find the checkpoint behind a bundle,
and load the images (and masks) the rows run on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import manifest as mf
from ..errors import EdgesegError


@dataclass
class Images:
    images: list[np.ndarray]  # raw images as read (HxW or HxWxC, uint8/uint16)
    masks: list[np.ndarray] | None  # ground truth class maps, or None (no --data, or no masks)
    source: str


def is_bundle(path: Path) -> bool:
    return (path / mf.MANIFEST).is_file() if path.is_dir() else path.name == mf.MANIFEST


def is_checkpoint(path: Path) -> bool:
    from ..checkpoint import paths

    try:
        weights, sidecar = paths(path)
    except EdgesegError:
        return False
    return sidecar.is_file() and weights.is_file()


def find_checkpoint(bundle: Path, manifest: mf.Manifest, given: Path | None) -> tuple[Path | None, str]:
    """(checkpoint, "") or (None, why not): the one named with --checkpoint, else the manifest's
    `source.checkpoint` looked up in the bundle, next to it, and in the folders next to it (the
    training run beside the bundle), checked by its weights sha256."""
    from ..checkpoint import paths
    from ..files import sha256

    if given is not None:
        if not is_checkpoint(given):
            raise EdgesegError(f"--checkpoint {given}: no .safetensors + .json checkpoint there")
        return given, ""
    name, want = manifest.source.checkpoint, manifest.source.weights_sha256  # a plain name; a sha256 with it
    if not name:
        return None, "the bundle's manifest names no source checkpoint; pass --checkpoint PATH for torch rows"
    siblings = sorted(p.parent for p in bundle.parent.glob(f"*/{name}.json"))  # run/train/best next to run/bundle
    for folder in (bundle, bundle.parent, *siblings):
        candidate = folder / name
        if is_checkpoint(candidate):
            if sha256(paths(candidate)[0]) != want:
                return None, f"checkpoint {candidate} does not match the bundle's weights sha256; pass --checkpoint PATH"
            return candidate, ""
    return None, f"the bundle's source checkpoint {name!r} is not in, next to, or beside the bundle; pass --checkpoint PATH"


def load_images(data: str | None, count: int, size: int, channels: int, seed: int = 0) -> Images:
    """`count` samples from `--data` (with their masks when the source has them); without --data,
    seeded uniform-noise uint8 images of `size` x `size` (timing and parity only, no IoU)."""
    if data is None:
        rng = np.random.default_rng(seed)
        shape = (size, size) if channels == 1 else (size, size, channels)
        return Images([rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(count)], None, "random uint8 noise")
    from ..data import open_source

    dataset = open_source(data)
    n = min(count, len(dataset))
    if n == 0:
        raise EdgesegError(f"--data {data} holds no images")
    samples = [dataset[i] for i in range(n)]
    masks = [s.mask for s in samples] if all(s.mask is not None for s in samples) else None
    return Images([s.image for s in samples], masks, f"{data} (first {n})")
