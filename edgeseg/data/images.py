"""Reading images and writing masks (numpy + Pillow/tifffile, torch-free)."""

from __future__ import annotations

import stat
from pathlib import Path

import numpy as np

from ..errors import EdgesegInputError
from ..files import atomic_path, shown

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
MAX_PIXELS = 8192 * 8192  # 67 megapixels: larger inputs are refused (memory, and not a medical frame)


def check_pixels(height: int, width: int) -> None:
    if height * width > MAX_PIXELS:
        raise EdgesegInputError(f"image of {height}x{width} pixels is over the {MAX_PIXELS:,}-pixel limit; downscale it first")


def check_tiff_shape(shape: tuple[int, ...]) -> None:
    """Refuse, from its header, a TIFF too large to decode: one huge frame, or a big stack of frames."""
    if len(shape) < 2:
        return
    height, width = shape[-3:-1] if len(shape) >= 3 and shape[-1] <= 4 else shape[-2:]
    check_pixels(height, width)
    if int(np.prod(shape)) > 4 * MAX_PIXELS:
        raise EdgesegInputError(f"expected a 2-D gray or RGB image, got shape {shape}")


def read_image(path: str | Path) -> np.ndarray:
    """HxW or HxWxC array in the file's own dtype (8- or 16-bit kept); alpha channels dropped."""
    path = Path(path)
    name = shown(path.name)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise EdgesegInputError(f"{name}: unsupported image type; expected one of {', '.join(IMAGE_SUFFIXES)}")
    from PIL import Image

    try:
        if not stat.S_ISREG(path.stat().st_mode):  # opening a FIFO would wait for a writer forever
            raise EdgesegInputError("not a regular file (a FIFO, device or socket?)")
        if path.suffix.lower() in (".tif", ".tiff"):
            import tifffile

            with tifffile.TiffFile(path) as tif:
                check_tiff_shape(tuple(tif.series[0].shape) if tif.series else ())  # before decoding
                array = tif.asarray()
        else:
            with Image.open(path) as img:
                check_pixels(img.height, img.width)  # from the header, before the pixels are decoded
                if img.mode in ("P", "CMYK", "YCbCr", "LA", "PA"):
                    img = img.convert("RGBA" if "A" in img.mode else "RGB")
                array = np.asarray(img)
    except EdgesegInputError as exc:
        raise EdgesegInputError(f"{name}: {exc}") from None
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise EdgesegInputError(f"{name}: cannot read image ({exc})") from exc
    if array.size == 0:
        raise EdgesegInputError(f"{name}: cannot read image (no pixel data)")
    if array.dtype == bool:  # 1-bit images
        array = array.astype(np.uint8) * 255
    if array.ndim == 3 and array.shape[-1] in (2, 4):
        array = array[..., :-1] if array.shape[-1] == 4 else array[..., :1]
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3):
        raise EdgesegInputError(f"{name}: expected a 2-D gray or RGB image, got shape {array.shape}")
    return array


def write_png(path: str | Path, array: np.ndarray) -> Path:
    """Write an 8-bit gray or RGB PNG atomically."""
    from PIL import Image

    with atomic_path(path) as tmp:
        Image.fromarray(np.ascontiguousarray(array)).save(tmp, format="PNG")
    return Path(path)
