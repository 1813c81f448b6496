"""Reading images and writing masks (numpy + Pillow/tifffile, torch-free)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import EdgesegInputError
from ..files import atomic_path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def read_image(path: str | Path) -> np.ndarray:
    """HxW or HxWxC array in the file's own dtype (8- or 16-bit kept); alpha channels dropped."""
    path = Path(path)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise EdgesegInputError(f"{path.name}: unsupported image type; expected one of {', '.join(IMAGE_SUFFIXES)}")
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            import tifffile

            array = tifffile.imread(path)
        else:
            from PIL import Image

            with Image.open(path) as img:
                if img.mode in ("P", "CMYK", "YCbCr", "LA", "PA"):
                    img = img.convert("RGBA" if "A" in img.mode else "RGB")
                array = np.asarray(img)
    except (OSError, ValueError) as exc:
        raise EdgesegInputError(f"{path.name}: cannot read image ({exc})") from exc
    if array.ndim == 3 and array.shape[-1] in (2, 4):
        array = array[..., :-1] if array.shape[-1] == 4 else array[..., :1]
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3):
        raise EdgesegInputError(f"{path.name}: expected a 2-D gray or RGB image, got shape {array.shape}")
    return array


def write_png(path: str | Path, array: np.ndarray) -> Path:
    """Write an 8-bit gray or RGB PNG atomically."""
    from PIL import Image

    with atomic_path(path) as tmp:
        Image.fromarray(np.ascontiguousarray(array)).save(tmp, format="PNG")
    return Path(path)
