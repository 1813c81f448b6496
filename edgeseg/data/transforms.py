"""Numpy image helpers (torch-free): scaling to [0, 1], colour, normalisation, resizing, blur, augmentation.

Raw samples keep the file's dtype (uint8/uint16). The path to a network input is
`prepare(image, normalization, size)`: scale by the dtype's range to [0, 1], convert to the
normalisation's colour (gray <-> RGB), resize, then `(x - mean) / std`, channels first.
Augmentations work on the [0, 1] float image (HxWxC) and the class-index mask together.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..normalization import Normalization

LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def to_unit(image: np.ndarray) -> np.ndarray:
    """HxW or HxWxC integer/float image -> float32 HxWxC in [0, 1] (integers scaled by their dtype's range)."""
    image = np.asarray(image)
    if np.issubdtype(image.dtype, np.integer):
        out = image.astype(np.float32) / np.float32(np.iinfo(image.dtype).max)
    elif image.dtype == bool:
        out = image.astype(np.float32)
    else:
        out = image.astype(np.float32, copy=False)
    return out[..., None] if out.ndim == 2 else out


def to_color(x: np.ndarray, color: str) -> np.ndarray:
    """HxWxC float -> HxWx1 ("gray", luminance) or HxWx3 ("rgb", gray repeated)."""
    channels = x.shape[-1]
    if color == "gray":
        return x if channels == 1 else (x[..., :3] @ LUMA)[..., None].astype(np.float32)
    if color == "rgb":
        return np.repeat(x, 3, axis=-1) if channels == 1 else x[..., :3]
    raise ValueError(f"unknown colour {color!r}")


def normalize(x: np.ndarray, norm: Normalization) -> np.ndarray:
    """HxWxC float in [0, 1] (already in the normalisation's colour) -> CxHxW float32, (x - mean) / std."""
    mean = np.asarray(norm.mean, np.float32)[:, None, None]
    std = np.asarray(norm.std, np.float32)[:, None, None]
    planes = np.ascontiguousarray(x.transpose(2, 0, 1), dtype=np.float32)  # channels first, then long loops
    planes -= mean
    planes /= std
    return planes


def prepare(image: np.ndarray, norm: Normalization, size: int | tuple[int, int] | None = None) -> np.ndarray:
    """A raw image (any dtype, gray or colour) -> the CxHxW float32 network input."""
    x = to_color(to_unit(image), norm.color)
    if size is not None:
        x = resize_image(x, size)
    return normalize(x, norm)


# --- resizing ---------------------------------------------------------------------------------------
def _hw(size: int | tuple[int, int]) -> tuple[int, int]:
    return (size, size) if isinstance(size, (int, np.integer)) else (int(size[0]), int(size[1]))


def resize_image(x: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Bilinear resize (half-pixel centres, like cv2/PIL) of an HxW or HxWxC float image."""
    h, w = _hw(size)
    src_h, src_w = x.shape[:2]
    if (src_h, src_w) == (h, w):
        return x
    x = np.asarray(x, np.float32)
    ys, y0, y1 = _axis_weights(src_h, h)
    xs, x0, x1 = _axis_weights(src_w, w)
    ys, xs = ys[:, None], xs[None, :]
    planes = np.ascontiguousarray(x.transpose(2, 0, 1) if x.ndim == 3 else x[None])  # channels first: long inner loops
    rows0, rows1 = np.take(planes, y0, axis=1), np.take(planes, y1, axis=1)  # np.take keeps C order
    top = np.take(rows0, x0, axis=2) * (1 - xs) + np.take(rows0, x1, axis=2) * xs
    bottom = np.take(rows1, x0, axis=2) * (1 - xs) + np.take(rows1, x1, axis=2) * xs
    out = (top * (1 - ys) + bottom * ys).astype(np.float32)
    return np.ascontiguousarray(out.transpose(1, 2, 0) if x.ndim == 3 else out[0])


def _axis_weights(src: int, dst: int):
    pos = np.clip((np.arange(dst, dtype=np.float32) + 0.5) * (src / dst) - 0.5, 0, src - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, src - 1)
    return (pos - lo).astype(np.float32), lo, hi


def resize_mask(mask: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of an HxW class-index mask (class values are never blended)."""
    h, w = _hw(size)
    src_h, src_w = mask.shape[:2]
    if (src_h, src_w) == (h, w):
        return mask
    rows = np.minimum(((np.arange(h) + 0.5) * src_h / h).astype(np.int64), src_h - 1)
    cols = np.minimum(((np.arange(w) + 0.5) * src_w / w).astype(np.int64), src_w - 1)
    return mask[rows][:, cols]


def box_blur(x: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a (2r+1)^2 window along the first two axes, edges replicated (cumulative sums)."""
    if radius <= 0:
        return x
    out = np.asarray(x, np.float32)
    for axis in (0, 1):
        pad = [(0, 0)] * out.ndim
        pad[axis] = (radius + 1, radius)
        c = np.cumsum(np.pad(out, pad, mode="edge"), axis=axis, dtype=np.float64)
        n = out.shape[axis]
        hi = np.take(c, np.arange(2 * radius + 1, 2 * radius + 1 + n), axis=axis)
        lo = np.take(c, np.arange(0, n), axis=axis)
        out = ((hi - lo) / (2 * radius + 1)).astype(np.float32)
    return out


def gaussian_blur(x: np.ndarray, sigma: float) -> np.ndarray:
    """Three box blurs approximate a Gaussian of the given sigma."""
    radius = int(round((np.sqrt(4 * sigma * sigma + 1) - 1) / 2))
    for _ in range(3):
        x = box_blur(x, radius)
    return x


def warp_affine(x: np.ndarray, matrix: np.ndarray, nearest: bool = False) -> np.ndarray:
    """Sample `x` (HxW or HxWxC) at `matrix @ [row, col, 1]` for every output pixel; edges replicated."""
    h, w = x.shape[:2]
    rr, cc = np.meshgrid(np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32), indexing="ij")
    src_r = matrix[0, 0] * rr + matrix[0, 1] * cc + matrix[0, 2]
    src_c = matrix[1, 0] * rr + matrix[1, 1] * cc + matrix[1, 2]
    if nearest:
        r = np.clip(np.rint(src_r), 0, h - 1).astype(np.int64)
        c = np.clip(np.rint(src_c), 0, w - 1).astype(np.int64)
        return x[r, c]
    src_r = np.clip(src_r, 0, h - 1)
    src_c = np.clip(src_c, 0, w - 1)
    r0 = np.floor(src_r).astype(np.int64)
    c0 = np.floor(src_c).astype(np.int64)
    r1, c1 = np.minimum(r0 + 1, h - 1), np.minimum(c0 + 1, w - 1)
    fr, fc = src_r - r0, src_c - c0
    if x.ndim == 3:
        fr, fc = fr[..., None], fc[..., None]
    top = x[r0, c0] * (1 - fc) + x[r0, c1] * fc
    bottom = x[r1, c0] * (1 - fc) + x[r1, c1] * fc
    return (top * (1 - fr) + bottom * fr).astype(np.float32)


# --- augmentation -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Augment:
    """Random flips, rot90, a small affine (rotation, scale, shift) and brightness/contrast jitter.

    Call with an HxWxC float image in [0, 1], its HxW mask and a numpy Generator; returns both,
    transformed together (the mask by nearest neighbour, so class values stay exact).
    """

    flip: bool = True
    rot90: bool = True
    affine_prob: float = 0.5
    max_rotate: float = 15.0  # degrees
    max_scale: float = 0.1  # zoom in/out by up to 10%
    max_shift: float = 0.05  # fraction of the image size
    brightness: float = 0.1  # added, fraction of the [0, 1] range
    contrast: float = 0.1  # multiplied around the image mean

    def __call__(self, image: np.ndarray, mask: np.ndarray, rng: np.random.Generator):
        if self.flip and rng.random() < 0.5:
            image, mask = image[:, ::-1], mask[:, ::-1]
        if self.flip and rng.random() < 0.5:
            image, mask = image[::-1], mask[::-1]
        if self.rot90:
            k = int(rng.integers(4))
            if image.shape[0] != image.shape[1]:
                k = 2 * (k % 2)  # keep a non-square image's shape
            image, mask = np.rot90(image, k), np.rot90(mask, k)
        if rng.random() < self.affine_prob:
            matrix = self._affine(image.shape[:2], rng)
            image = warp_affine(np.ascontiguousarray(image), matrix)
            mask = warp_affine(np.ascontiguousarray(mask), matrix, nearest=True)
        if self.brightness or self.contrast:
            gain = 1 + rng.uniform(-self.contrast, self.contrast)
            bias = rng.uniform(-self.brightness, self.brightness)
            mean = image.mean()
            image = np.clip((image - mean) * gain + mean + bias, 0, 1)
        return np.ascontiguousarray(image, np.float32), np.ascontiguousarray(mask)

    def _affine(self, shape, rng) -> np.ndarray:
        h, w = shape
        angle = np.deg2rad(rng.uniform(-self.max_rotate, self.max_rotate))
        scale = 1 + rng.uniform(-self.max_scale, self.max_scale)
        shift = rng.uniform(-self.max_shift, self.max_shift, 2) * np.array([h, w])
        cos, sin = np.cos(angle) / scale, np.sin(angle) / scale
        centre = np.array([(h - 1) / 2, (w - 1) / 2])
        rot = np.array([[cos, -sin], [sin, cos]])
        offset = centre - rot @ (centre + shift)
        return np.concatenate([rot, offset[:, None]], axis=1).astype(np.float32)
