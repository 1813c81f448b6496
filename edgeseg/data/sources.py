"""Data sources: a folder of images + masks, the DSB2018 stage-1 layout, or a synthetic generator.

`open_source(src)` takes a path or `synthetic:NAME[?n=..&size=..&seed=..]` and returns a dataset:
`len(ds)`, `ds[i] -> Sample(image, mask, name)` with the image in the file's dtype (HxW or HxWxC,
uint8/uint16) and the mask HxW uint8 class indices (0 = background), plus `ds.normalization`, the
default input normalisation for that source, and `ds.source`, the string it was opened from.

Folder layouts:
- `DIR/images/*` + `DIR/masks/*`, matched by file stem; a mask may carry a suffix (ISIC names
  `ISIC_0000000.jpg` + `ISIC_0000000_segmentation.png`): pass `mask_suffix` or
  `DIR?mask_suffix=_segmentation`; by default the stem itself, then `_segmentation`, then `_mask`.
- DSB2018 stage 1: `DIR/<id>/images/<id>.png` with one mask per nucleus in `DIR/<id>/masks/*.png`,
  merged into one binary mask.
Masks with at most 16 distinct values all below 16 are class indices; a mask of 0 and one other
value (0/255, 0/100, 0/65535) is binary with that value as foreground; any other mask (a noisy JPEG,
an anti-aliased edge) is binary, foreground above half the dtype's range.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import EdgesegError
from ..normalization import Normalization
from .images import IMAGE_SUFFIXES, read_image
from .sample import Sample, parse_query

IMAGENET = Normalization("rgb", (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
GRAY = Normalization("gray", (0.449,), (0.226,))
DEFAULT_MASK_SUFFIXES = ("", "_segmentation", "_mask")


def open_source(src: str | Path, mask_suffix: str | None = None):
    """A dataset from a path or `synthetic:NAME?n=..&size=..&seed=..`; one-line EdgesegError when unusable."""
    src = str(src)
    if src.startswith("synthetic:"):
        from .synthetic import open_synthetic

        return open_synthetic(src)
    path, _, query = src.partition("?")
    params = parse_query(query, {"mask_suffix"}, src)
    if "mask_suffix" in params:
        if mask_suffix is not None and mask_suffix != params["mask_suffix"]:
            raise EdgesegError(f"{src}: mask_suffix given twice with different values")
        mask_suffix = params["mask_suffix"]
    root = Path(path).expanduser()
    if not root.is_dir():
        raise EdgesegError(f"data folder {root} not found; give a folder with images/ and masks/, or synthetic:nuclei")
    if (root / "images").is_dir():
        return FolderDataset(root, mask_suffix=mask_suffix, source=src)
    if any((d / "images").is_dir() and (d / "masks").is_dir() for d in root.iterdir() if d.is_dir()):
        return DSBDataset(root, source=src)
    raise EdgesegError(
        f"{root}: no images/ folder and no DSB2018-style <id>/images + <id>/masks folders; "
        "expected DIR/images/* with DIR/masks/* of the same names"
    )


def mask_to_classes(mask: np.ndarray) -> np.ndarray:
    """A stored mask -> HxW uint8 class indices (see the module docstring for the rule)."""
    mask = np.asarray(mask)
    if mask.ndim == 3:
        mask = mask.max(axis=-1)
    values = np.unique(mask)
    if len(values) <= 16 and values.max(initial=0) < 16:
        return mask.astype(np.uint8)
    if len(values) == 2 and values[0] == 0:
        return (mask > 0).astype(np.uint8)
    half = np.iinfo(mask.dtype).max / 2 if np.issubdtype(mask.dtype, np.integer) else 0.5
    return (mask > half).astype(np.uint8)


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


class FolderDataset:
    def __init__(self, root: Path, mask_suffix: str | None = None, source: str = ""):
        self.root = Path(root)
        self.source = source or str(root)
        images = _images(self.root / "images")
        if not images:
            raise EdgesegError(f"{self.root / 'images'}: no images ({', '.join(IMAGE_SUFFIXES)})")
        masks_dir = self.root / "masks"
        if not masks_dir.is_dir():
            raise EdgesegError(f"{masks_dir} not found; masks go in DIR/masks with the image's file name")
        masks = {p.stem: p for p in _images(masks_dir)}
        suffixes = DEFAULT_MASK_SUFFIXES if mask_suffix is None else (mask_suffix,)
        self.pairs: list[tuple[Path, Path]] = []
        for image in images:
            match = next((masks[image.stem + s] for s in suffixes if image.stem + s in masks), None)
            if match is None:
                tried = ", ".join(f"{image.stem}{s}.*" for s in suffixes)
                raise EdgesegError(f"{image.name} has no mask in {masks_dir} (looked for {tried}); use mask_suffix")
            self.pairs.append((image, match))
        self.normalization = IMAGENET if read_image(images[0]).ndim == 3 else GRAY

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> Sample:
        image_path, mask_path = self.pairs[i]
        image, mask = read_image(image_path), mask_to_classes(read_image(mask_path))
        _check_shapes(image, mask, image_path.name)
        return Sample(image, mask, image_path.stem)


class DSBDataset:
    """Data Science Bowl 2018 stage 1: one folder per image, one mask file per nucleus (merged)."""

    def __init__(self, root: Path, source: str = ""):
        self.root = Path(root)
        self.source = source or str(root)
        self.items: list[tuple[Path, list[Path]]] = []
        for d in sorted(p for p in self.root.iterdir() if p.is_dir()):
            images = _images(d / "images") if (d / "images").is_dir() else []
            if not images:
                continue
            masks = _images(d / "masks") if (d / "masks").is_dir() else []
            if not masks:
                raise EdgesegError(f"{d.name}: no mask files in {d / 'masks'}")
            self.items.append((images[0], masks))
        if not self.items:
            raise EdgesegError(f"{self.root}: no <id>/images/<id>.png files found")
        self.normalization = IMAGENET if read_image(self.items[0][0]).ndim == 3 else GRAY

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> Sample:
        image_path, mask_paths = self.items[i]
        image = read_image(image_path)
        mask = np.zeros(image.shape[:2], np.uint8)
        for path in mask_paths:
            part = mask_to_classes(read_image(path))
            _check_shapes(image, part, path.name)
            mask |= part > 0
        return Sample(image, mask, image_path.stem)


def _check_shapes(image: np.ndarray, mask: np.ndarray, name: str) -> None:
    if image.shape[:2] != mask.shape[:2]:
        mh, mw = mask.shape[:2]
        raise EdgesegError(f"{name}: mask is {mh}x{mw}, image is {image.shape[0]}x{image.shape[1]}")


class Subset:
    """The samples of `dataset` at `indices`, in that order."""

    def __init__(self, dataset, indices: Sequence[int]):
        self.dataset = dataset
        self.indices = list(indices)
        self.normalization = dataset.normalization
        self.source = getattr(dataset, "source", "")

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> Sample:
        return self.dataset[self.indices[i]]


def split(dataset, val_fraction: float = 0.2, seed: int = 0) -> tuple[Subset, Subset]:
    """A seeded shuffle split into (train, val); both non-empty when the dataset has two samples or more."""
    n = len(dataset)
    if not 0 <= val_fraction < 1:
        raise EdgesegError(f"val split must be in [0, 1), got {val_fraction}")
    order = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * val_fraction))
    if val_fraction > 0 and n >= 2:
        n_val = min(max(n_val, 1), n - 1)
    return Subset(dataset, sorted(order[n_val:])), Subset(dataset, sorted(order[:n_val]))
