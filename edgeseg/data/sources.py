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
an anti-aliased edge) is binary, foreground above half the dtype's range. A palette PNG mask gives
its palette indices, not its colours.

Several classes (folder layout): `DIR?classes=MAP` maps stored mask values to classes instead of the
rule above, `MAP` being comma-separated `VALUE:CLASS` pairs; a VALUE of six hex digits (an optional
`#`, written `%23` in a URL) is an RGB colour of a colour-coded mask (`classes=000000:0,ff0000:1`),
any other VALUE a gray or palette-index value (`classes=0:0,128:1,255:2`). A mask value with no
class is an error naming the file and the value. `DIR?small=CLASS:NEW:AREA` then gives every
8-connected component of CLASS smaller than AREA pixels (at the stored size) the class NEW: the
Herlev recipe's split of nuclei into large and small ones (`classes=...&small=2:3:300`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import EdgesegError
from ..files import shown
from ..normalization import Normalization
from .components import split_small
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
    params = parse_query(query, {"mask_suffix", "classes", "small"}, src)
    rule = MaskRule.parse(params, src)
    if "mask_suffix" in params:
        if mask_suffix is not None and mask_suffix != params["mask_suffix"]:
            raise EdgesegError(f"{src}: mask_suffix given twice with different values")
        mask_suffix = params["mask_suffix"]
    root = Path(path).expanduser()
    if not root.is_dir():
        raise EdgesegError(f"data folder {root} not found; give a folder with images/ and masks/, or synthetic:nuclei")
    if (root / "images").is_dir():
        return FolderDataset(root, mask_suffix=mask_suffix, source=src, rule=rule)
    if any((d / "images").is_dir() and (d / "masks").is_dir() for d in root.iterdir() if d.is_dir()):
        if rule != MaskRule():
            raise EdgesegError(f"{src}: classes and small apply to a DIR/images + DIR/masks folder; "
                               "DSB2018 masks are binary")
        return DSBDataset(root, source=src)
    raise EdgesegError(
        f"{root}: no images/ folder and no DSB2018-style <id>/images + <id>/masks folders; "
        "expected DIR/images/* with DIR/masks/* of the same names"
    )


def mask_to_classes(mask: np.ndarray) -> np.ndarray:
    """A stored mask -> HxW uint8 class indices (see the module docstring for the rule)."""
    return read_classes(mask)[0]


def read_classes(mask: np.ndarray) -> tuple[np.ndarray, bool]:
    """`mask_to_classes` and whether the last rule applied: a mask that is neither class indices nor
    0 and one value, thresholded at half the range (lossy: training with several classes refuses it)."""
    mask = np.asarray(mask)
    if mask.ndim == 3:
        mask = mask.max(axis=-1)
    values = np.unique(mask)
    if len(values) <= 16 and values.max(initial=0) < 16:
        return mask.astype(np.uint8), False
    if len(values) == 2 and values[0] == 0:
        return (mask > 0).astype(np.uint8), False
    half = np.iinfo(mask.dtype).max / 2 if np.issubdtype(mask.dtype, np.integer) else 0.5
    return (mask > half).astype(np.uint8), True


@dataclass(frozen=True)
class MaskRule:
    """How a folder's stored masks become class indices (see the module docstring)."""

    classes: tuple[tuple[int, int], ...] = ()  # (stored value, class); (): `mask_to_classes`
    colours: bool = False  # stored values are RGB colours packed as 0xRRGGBB
    small: tuple[int, int, int] | None = None  # (class, new class, area in pixels)

    @classmethod
    def parse(cls, params: dict[str, str], src: str) -> MaskRule:
        classes, colours = _parse_classes(params["classes"], src) if "classes" in params else ((), False)
        small = _parse_small(params["small"], src) if "small" in params else None
        return cls(classes, colours, small)

    def apply(self, mask: np.ndarray, where: str) -> tuple[np.ndarray, bool]:
        """The class indices of a stored mask and whether it was thresholded (`read_classes`)."""
        if self.classes:
            out, thresholded = map_values(mask, dict(self.classes), self.colours, where), False
        else:
            out, thresholded = read_classes(mask)
        if self.small:
            out = split_small(out, *self.small)
        return out, thresholded


def _parse_classes(text: str, src: str) -> tuple[tuple[tuple[int, int], ...], bool]:
    pairs, kinds = [], set()
    for item in text.split(","):
        value, sep, cls = item.strip().partition(":")
        key = value.removeprefix("#")
        colour = len(key) == 6 and all(c in "0123456789abcdefABCDEF" for c in key)
        try:
            pairs.append((int(key, 16 if colour else 10), int(cls)))
        except ValueError:
            raise EdgesegError(f"{src}: classes item {item!r} must be VALUE:CLASS, VALUE a gray value or an RGB "
                               "colour RRGGBB, CLASS a number (classes=000000:0,ff0000:1)") from None
        if not sep or not 0 <= pairs[-1][1] <= 255:
            raise EdgesegError(f"{src}: classes item {item!r} must map to a class 0..255")
        kinds.add(colour)
    if len(kinds) > 1:
        raise EdgesegError(f"{src}: classes mixes RGB colours and gray values; a mask is one or the other")
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise EdgesegError(f"{src}: classes maps a value twice")
    return tuple(pairs), kinds == {True}


def _parse_small(text: str, src: str) -> tuple[int, int, int]:
    parts = text.split(":")
    if len(parts) != 3 or not all(p.strip().isdigit() for p in parts):
        raise EdgesegError(f"{src}: small must be CLASS:NEW:AREA (whole numbers), e.g. small=2:3:300, got {text!r}")
    cls, new, area = map(int, parts)
    if cls == new or area < 1 or max(cls, new) > 255:
        raise EdgesegError(f"{src}: small={text}: CLASS and NEW must differ (0..255) and AREA be at least 1 pixel")
    return cls, new, area


def _describe_value(value: int, colours: bool) -> str:
    return f"colour #{value:06x}" if colours else f"value {value}"


def map_values(mask: np.ndarray, table: dict[int, int], colours: bool, where: str) -> np.ndarray:
    """Stored mask values (gray, palette index or RGB colour) -> uint8 classes by `table`; a value with no
    class is an error naming `where` (the file) and the value."""
    mask = np.asarray(mask)
    if colours != (mask.ndim == 3):
        have, want = ("an RGB", "gray values") if mask.ndim == 3 else ("a gray", "RGB colours")
        raise EdgesegError(f"{where}: {have} mask, but ?classes= maps {want}")
    codes = mask.astype(np.uint32)
    if colours:
        codes = (codes[..., 0] << 16) | (codes[..., 1] << 8) | codes[..., 2]
    values, inverse = np.unique(codes, return_inverse=True)
    missing = [int(v) for v in values if int(v) not in table]
    if missing:
        mapped = ", ".join(_describe_value(v, colours).split()[-1] for v in sorted(table))
        raise EdgesegError(f"{where}: mask {_describe_value(missing[0], colours)} has no class in ?classes= "
                           f"(mapped: {mapped})")
    lut = np.array([table[int(v)] for v in values], np.uint8)
    return lut[inverse].reshape(codes.shape)


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


class FolderDataset:
    def __init__(self, root: Path, mask_suffix: str | None = None, source: str = "", rule: MaskRule | None = None):
        self.root = Path(root)
        self.source = source or str(root)
        self.rule = rule or MaskRule()
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
        where = shown(f"masks/{mask_path.name}")
        image = read_image(image_path)
        mask, thresholded = self.rule.apply(read_image(mask_path, indexed=True), where)
        _check_shapes(image, mask, image_path.name)
        return Sample(image, mask, image_path.stem, mask_file=where, thresholded=thresholded)


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
