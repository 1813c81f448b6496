"""File handling for `edgeseg predict`: which files, what names, what the PNGs hold (torch-free)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.images import IMAGE_SUFFIXES
from ..errors import EdgesegError

OVERLAY_ALPHA = 0.5
_COLORS = np.array([[0, 0, 0], [255, 0, 0], [0, 200, 0], [0, 90, 255], [255, 200, 0], [200, 0, 255], [0, 220, 220]], np.uint8)


def collect_images(paths: list[Path]) -> list[Path]:
    """Files as given, folders expanded to their images (sorted, not recursive)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise EdgesegError(f"{path} holds no images ({', '.join(IMAGE_SUFFIXES)})")
            files.extend(found)
        else:
            files.append(path)
    if not files:
        raise EdgesegError("no images given")
    return files


def output_names(files: list[Path]) -> list[str]:
    """One output stem per input; two inputs with the same stem are an error, never a silent overwrite."""
    seen: dict[str, Path] = {}
    for path in files:
        if path.stem in seen and seen[path.stem] != path:
            raise EdgesegError(f"{seen[path.stem]} and {path} would both write {path.stem}.png; predict them into separate --out folders")
        seen[path.stem] = path
    return [p.stem for p in files]


def mask_png(mask: np.ndarray, binary: bool) -> np.ndarray:
    """Binary masks as 0/255 (visible in any viewer), class maps as class indices."""
    return (mask * 255).astype(np.uint8) if binary else mask.astype(np.uint8)


def to_rgb8(image: np.ndarray) -> np.ndarray:
    """Any supported image -> HxWx3 uint8 for display."""
    image = image[..., :3] if image.ndim == 3 else image
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype.kind == "f":
        image = (np.clip(image, 0.0, 1.0) * 255).round().astype(np.uint8)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    return image.astype(np.uint8)


def overlay_png(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The image with each foreground class blended in its colour."""
    rgb = to_rgb8(image).astype(np.float32)
    colors = _COLORS[np.minimum(mask, len(_COLORS) - 1)].astype(np.float32)
    fg = (mask > 0)[..., None]
    blended = np.where(fg, (1 - OVERLAY_ALPHA) * rgb + OVERLAY_ALPHA * colors, rgb)
    return blended.round().astype(np.uint8)
