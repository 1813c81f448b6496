"""Images -> the network's input, and network output -> masks at the caller's size (numpy only).

An image is a path or an array: HxW (gray) or HxWxC with C in 1, 3, 4 (alpha dropped), dtype uint8,
uint16 (scaled by their full range) or float (already in [0, 1]). Anything else raises
EdgesegInputError saying what was wrong. Images larger than MAX_PIXELS are refused before their
data is touched. `fit="resize"` stretches to the model size; `fit="pad"` keeps the aspect ratio and
pads with black. The pixel path is training's own (`edgeseg.data.transforms`: scale by dtype range,
colour, bilinear half-pixel resize, normalise), so a deployed model sees what it was trained and
parity-checked on. Masks come back at the original size (probabilities resized the same way, then
thresholded), so an image already at the model size gets exactly `metrics.masks_from_output`.

Large images stay cheap: shrinking reads only the pixels the bilinear resize uses (never a float copy
of the whole image), and growing back to the image size goes `BAND` rows at a time, with the same
arithmetic as `transforms.resize_image`, so the results are identical to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.images import check_pixels, read_image
from ..data.transforms import _axis_weights, normalize, resize_image, to_color, to_unit
from ..errors import EdgesegInputError
from ..metrics import sigmoid
from ..normalization import Normalization

FITS = ("resize", "pad")
BAND = 256  # output rows resized at a time when growing probabilities back to a large image
_INTEGERS = (np.dtype(np.uint8), np.dtype(np.uint16))


@dataclass(frozen=True)
class Meta:
    """Where an image went in the model input: its original size and the region it occupies."""

    size: tuple[int, int]  # original (height, width)
    region: tuple[int, int, int, int]  # (top, left, height, width) inside the model input


def load(image) -> np.ndarray:
    if isinstance(image, (str, Path)):
        return read_image(image)
    if isinstance(image, np.ndarray):
        return image
    raise EdgesegInputError(f"an image must be a file path or a numpy array, got {type(image).__name__}")


def check(array: np.ndarray) -> np.ndarray:
    """Validate shape, dtype, size and values; returns the array as HxW or HxWxC (C in 1, 3)."""
    if array.ndim not in (2, 3):
        raise EdgesegInputError(f"image must be HxW or HxWxC (channels last), got an array of shape {array.shape}")
    if array.ndim == 3 and array.shape[2] not in (1, 3, 4):
        raise EdgesegInputError(
            f"image has {array.shape[2]} channels (shape {array.shape}); expected 1, 3 or 4 channels last "
            "(for a CxHxW array use np.moveaxis(a, 0, -1))"
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise EdgesegInputError(f"image is empty (shape {array.shape})")
    check_pixels(array.shape[0], array.shape[1])
    if array.dtype not in _INTEGERS and array.dtype.kind != "f":
        raise EdgesegInputError(f"image dtype {array.dtype} is not supported; use uint8, uint16 or float in [0, 1]")
    if array.ndim == 3 and array.shape[2] == 4:
        array = array[..., :3]
    if array.dtype.kind == "f":
        lo, hi = (float(v) for v in (np.min(array), np.max(array)))
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise EdgesegInputError("image contains NaN or Inf values")
        if lo < 0.0 or hi > 1.0:
            raise EdgesegInputError(f"float images must hold values in [0, 1], got [{lo:g}, {hi:g}] "
                                    "(divide 8-bit data by 255)")
    return array


def fit(image: np.ndarray, size: tuple[int, int], how: str = "resize") -> tuple[np.ndarray, Meta]:
    """HxWxC float image -> (model H)x(model W)xC and where the image sits in it."""
    region = _region(image.shape[:2], size, how)
    return _place(resize_image(image, region[2:]), size, region), Meta(image.shape[:2], region)


def _region(shape: tuple[int, int], size: tuple[int, int], how: str) -> tuple[int, int, int, int]:
    (h, w), (H, W) = shape, size
    if how == "resize":
        return 0, 0, H, W
    if how == "pad":
        scale = min(H / h, W / w)
        rh, rw = max(1, min(H, round(h * scale))), max(1, min(W, round(w * scale)))
        return (H - rh) // 2, (W - rw) // 2, rh, rw
    raise EdgesegInputError(f"fit must be one of {FITS}, got {how!r}")


def _place(inner: np.ndarray, size: tuple[int, int], region: tuple[int, int, int, int]) -> np.ndarray:
    if region == (0, 0, *size):
        return inner
    top, left, rh, rw = region
    out = np.zeros((*size, inner.shape[2]), dtype=np.float32)
    out[top : top + rh, left : left + rw] = inner
    return out


def _shrink(array: np.ndarray, size: tuple[int, int], color: str) -> np.ndarray:
    """`resize_image(to_color(to_unit(array), color), size)`, converting only the pixels the resize reads."""
    if size[0] * size[1] >= array.shape[0] * array.shape[1]:
        return resize_image(to_color(to_unit(array), color), size)
    return _bilinear(lambda rows, cols: to_color(to_unit(array[rows[:, None], cols]), color),
                     _axis_weights(array.shape[0], size[0]), _axis_weights(array.shape[1], size[1]))


def _bilinear(pixels, y_weights, x_weights) -> np.ndarray:
    """Bilinear interpolation as in `resize_image`; `pixels(rows, cols)` gives the HxWxC float pixels there."""
    ys, y0, y1 = y_weights
    xs, x0, x1 = x_weights
    ys, xs = ys[:, None, None], xs[None, :, None]
    top = pixels(y0, x0) * (1 - xs) + pixels(y0, x1) * xs
    bottom = pixels(y1, x0) * (1 - xs) + pixels(y1, x1) * xs
    return (top * (1 - ys) + bottom * ys).astype(np.float32)


def prepare(image, size: tuple[int, int], norm: Normalization, how: str = "resize") -> tuple[np.ndarray, Meta]:
    """One image (path or array) -> (CxHxW network input, Meta)."""
    array = check(load(image))
    region = _region(array.shape[:2], size, how)
    fitted = _place(_shrink(array, region[2:], norm.color), size, region)
    return normalize(fitted, norm), Meta(array.shape[:2], region)


def probabilities(output: np.ndarray, kind: str) -> np.ndarray:
    """CxHxW network output -> probabilities (sigmoid for one logit channel, softmax for several)."""
    if kind == "probabilities":
        return output.astype(np.float32, copy=False)
    if output.shape[0] == 1:
        return sigmoid(output)
    shifted = output - output.max(axis=0, keepdims=True)
    e = np.exp(shifted, dtype=np.float32)
    return e / e.sum(axis=0, keepdims=True)


def restore(probs: np.ndarray, meta: Meta) -> np.ndarray:
    """CxHxW probabilities at model size -> Cx(orig H)x(orig W): crop the image's region, resize back."""
    top, left, rh, rw = meta.region
    crop = probs[:, top : top + rh, left : left + rw]
    if crop.shape[1:] == meta.size:
        return crop
    out = np.empty((crop.shape[0], *meta.size), np.float32)
    for rows, band in _grown(crop, meta.size):
        out[:, rows] = band
    return out


def to_mask(probs: np.ndarray, threshold: float) -> np.ndarray:
    """CxHxW probabilities -> HxW uint8 mask: threshold for one channel, argmax for several."""
    if probs.shape[0] == 1:
        return np.greater(probs[0], threshold).view(np.uint8)
    return probs.argmax(axis=0).astype(np.uint8)


def mask_at_size(output: np.ndarray, meta: Meta, kind: str, threshold: float) -> np.ndarray:
    """`to_mask(restore(probabilities(output, kind), meta), threshold)` without the probabilities at full size."""
    top, left, rh, rw = meta.region
    crop = probabilities(output, kind)[:, top : top + rh, left : left + rw]
    if crop.shape[1:] == meta.size:
        return to_mask(crop, threshold)
    mask = np.empty(meta.size, np.uint8)
    for rows, band in _grown(crop, meta.size):
        mask[rows] = to_mask(band, threshold)
    return mask


def _grown(crop: np.ndarray, size: tuple[int, int]):
    """(rows, CxBANDxW probabilities): `crop` resized to `size`, a band of rows at a time, top to bottom."""
    planes = crop.transpose(1, 2, 0)
    ys, y0, y1 = _axis_weights(crop.shape[1], size[0])
    x_weights = _axis_weights(crop.shape[2], size[1])
    for start in range(0, size[0], BAND):
        rows = slice(start, start + BAND)
        band = _bilinear(lambda r, c: planes[r[:, None], c], (ys[rows], y0[rows], y1[rows]), x_weights)
        yield rows, band.transpose(2, 0, 1)
