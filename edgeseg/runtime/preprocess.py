"""Images -> the network's input, and network output -> masks at the caller's size (numpy only).

An image is a path or an array: HxW (gray) or HxWxC with C in 1, 3, 4 (alpha dropped), dtype uint8,
uint16 (scaled by their full range) or float (already in [0, 1]). Anything else raises
EdgesegInputError saying what was wrong. Images larger than MAX_PIXELS are refused before their
data is touched. `fit="resize"` stretches to the model size; `fit="pad"` keeps the aspect ratio and
pads with black. The pixel path is training's own (`edgeseg.data.transforms`: scale by dtype range,
colour, bilinear half-pixel resize, normalise), so a deployed model sees what it was trained and
parity-checked on. Masks come back at the original size (probabilities resized the same way, then
thresholded), so an image already at the model size gets exactly `metrics.masks_from_output`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.images import check_pixels, read_image
from ..data.transforms import normalize, resize_image, to_color, to_unit
from ..errors import EdgesegInputError
from ..normalization import Normalization
from ..metrics import sigmoid

FITS = ("resize", "pad")
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
            raise EdgesegInputError(f"float images must hold values in [0, 1], got [{lo:g}, {hi:g}] (divide 8-bit data by 255)")
    return array


def fit(image: np.ndarray, size: tuple[int, int], how: str = "resize") -> tuple[np.ndarray, Meta]:
    """HxWxC float image -> (model H)x(model W)xC and where the image sits in it."""
    h, w = image.shape[:2]
    H, W = size
    if how == "resize":
        region = (0, 0, H, W)
    elif how == "pad":
        scale = min(H / h, W / w)
        rh, rw = max(1, min(H, round(h * scale))), max(1, min(W, round(w * scale)))
        region = ((H - rh) // 2, (W - rw) // 2, rh, rw)
    else:
        raise EdgesegInputError(f"fit must be one of {FITS}, got {how!r}")
    top, left, rh, rw = region
    inner = resize_image(image, (rh, rw))
    if region == (0, 0, H, W):
        return inner, Meta((h, w), region)
    out = np.zeros((H, W, image.shape[2]), dtype=np.float32)
    out[top : top + rh, left : left + rw] = inner
    return out, Meta((h, w), region)


def prepare(image, size: tuple[int, int], norm: Normalization, how: str = "resize") -> tuple[np.ndarray, Meta]:
    """One image (path or array) -> (CxHxW network input, Meta)."""
    array = check(load(image))
    fitted, meta = fit(to_color(to_unit(array), norm.color), size, how)
    return normalize(fitted, norm), meta


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
    return resize_image(crop.transpose(1, 2, 0), meta.size).transpose(2, 0, 1)


def to_mask(probs: np.ndarray, threshold: float) -> np.ndarray:
    """CxHxW probabilities -> HxW uint8 mask: threshold for one channel, argmax for several."""
    if probs.shape[0] == 1:
        return (probs[0] > threshold).astype(np.uint8)
    return probs.argmax(axis=0).astype(np.uint8)
