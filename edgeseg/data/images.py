"""Reading images and writing masks (numpy + Pillow/tifffile, torch-free)."""

from __future__ import annotations

import stat
import struct
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..errors import EdgesegInputError
from ..files import atomic_path, shown

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
MAX_PIXELS = 8192 * 8192  # 67 megapixels: larger inputs are refused (memory, and not a medical frame)
PNG_BAND = 256  # rows converted or encoded at a time


def check_pixels(height: int, width: int) -> None:
    if height * width > MAX_PIXELS:
        raise EdgesegInputError(f"image of {height}x{width} pixels is over the {MAX_PIXELS:,}-pixel limit; "
                                "downscale it first")


def check_tiff_shape(shape: tuple[int, ...]) -> None:
    """Refuse, from its header, a TIFF too large to decode: one huge frame, or a big stack of frames."""
    if len(shape) < 2:
        return
    height, width = shape[-3:-1] if len(shape) >= 3 and shape[-1] <= 4 else shape[-2:]
    check_pixels(height, width)
    if int(np.prod(shape)) > 4 * MAX_PIXELS:
        raise EdgesegInputError(f"expected a 2-D gray or RGB image, got shape {shape}")


def read_image(path: str | Path, indexed: bool = False) -> np.ndarray:
    """HxW or HxWxC array in the file's own dtype (8- or 16-bit kept); alpha channels dropped.

    A palette image gives its colours, or with `indexed` (masks) its palette indices."""
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
                if img.mode in ("P", "CMYK", "YCbCr", "LA", "PA") and not (indexed and img.mode == "P"):
                    img = img.convert("RGBA" if "A" in img.mode else "RGB")
                array = _pixels(img)
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


def _pixels(image) -> np.ndarray:
    """`np.asarray(image)` a band of rows at a time: Pillow's own conversion passes through two more full copies."""
    first = np.asarray(image.crop((0, 0, image.width, min(image.height, PNG_BAND))))
    if image.height <= PNG_BAND:
        return first
    array = np.empty((image.height, *first.shape[1:]), first.dtype)
    array[:PNG_BAND] = first
    for top in range(PNG_BAND, image.height, PNG_BAND):
        array[top : top + PNG_BAND] = np.asarray(image.crop((0, top, image.width, min(image.height, top + PNG_BAND))))
    return array


def write_png(path: str | Path, array: np.ndarray) -> Path:
    """Write an 8-bit gray (HxW) or RGB (HxWx3) PNG atomically."""
    return write_png_rows(path, array.shape, (array[i : i + PNG_BAND] for i in range(0, len(array), PNG_BAND)))


def write_png_rows(path: str | Path, shape: tuple[int, ...], bands: Iterable[np.ndarray]) -> Path:
    """Write an 8-bit PNG of `shape` (HxW or HxWx3) from bands of uint8 rows, top to bottom, atomically.

    Only one band is held at a time: an image as large as MAX_PIXELS is written without a second copy
    of it (Pillow would first convert it to its own 4-byte pixels). Rows use PNG's "Sub" filter.
    """
    height, width = shape[:2]
    channels = shape[2] if len(shape) == 3 else 1
    if channels not in (1, 3):
        raise EdgesegInputError(f"a PNG is written from HxW or HxWx3 arrays, got shape {tuple(shape)}")
    stride = width * channels
    compressor = zlib.compressobj(6)
    written = 0
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        _png_chunk(f, b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0 if channels == 1 else 2, 0, 0, 0))
        for band in bands:
            if band.dtype != np.uint8 or band.shape[1:] != tuple(shape[1:]):
                raise EdgesegInputError(f"PNG rows must be uint8 of shape (n, {', '.join(map(str, shape[1:]))}), "
                                        f"got {band.dtype} {band.shape}")
            rows = band.reshape(len(band), stride)
            filtered = np.empty((len(rows), 1 + stride), np.uint8)
            filtered[:, 0] = 1  # "Sub": each byte less the same byte of the pixel to its left
            filtered[:, 1 : 1 + channels] = rows[:, :channels]
            np.subtract(rows[:, channels:], rows[:, :-channels], out=filtered[:, 1 + channels :])
            _png_chunk(f, b"IDAT", compressor.compress(filtered.tobytes()))
            written += len(rows)
        if written != height:
            raise EdgesegInputError(f"PNG of {height} rows got {written}")
        _png_chunk(f, b"IDAT", compressor.flush())
        _png_chunk(f, b"IEND", b"")
    return Path(path)


def _png_chunk(f, kind: bytes, data: bytes) -> None:
    if data or kind != b"IDAT":
        f.write(struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data)))
