"""Synthetic datasets, generated deterministically from (seed, index) at any size and count.

`synthetic:nuclei` — fluorescence-like gray images: many bright nuclei (irregular ellipses with
inner texture and soft edges, often touching) on a dark, noisy, unevenly lit background, plus
distractors that are not in the mask: tiny bright specks and dim out-of-focus halos. A threshold
alone does not separate them; shape and sharpness do.

`synthetic:polyp` — endoscopy-like RGB images: one lesion (sometimes two) with an irregular outline,
its own colour, bumpy texture, dome shading and soft edges on a textured mucosa with vessel-like
lines, vignetting and specular highlights (on lesion and background alike).

`synthetic:cells` — Pap-smear-like RGB images with 4 classes (PGU-net+'s Herlev setting): 0 background,
1 cytoplasm, 2 large nucleus, 3 small nucleus. Two to five cells (irregular cytoplasm blobs, lightly
overlapping, later ones on top) each hold one dark nucleus, large (radius 0.045..0.065 of the image)
or small (0.018..0.028); the two sizes do not overlap, so an area threshold separates them as in the
Herlev recipe. Colour, texture and a blurred outline vary per cell.

Query parameters: `n` (samples, default 64), `size` (pixels, default 64), `seed` (default 0).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Annotated

import numpy as np

from ..errors import EdgesegError
from ..normalization import Normalization
from ..typecheck import Limits, NonNegativeInt, PositiveInt, parse
from .sample import Sample, parse_query
from .transforms import gaussian_blur, resize_image

MAX_CACHED_PIXELS = 64 * 1024 * 1024  # samples are cached when the whole set stays below this


@dataclass(frozen=True)
class SyntheticQuery:
    n: PositiveInt = 64  # samples
    size: Annotated[int, Limits(ge=16, le=4096)] = 64  # pixels, height = width
    seed: NonNegativeInt = 0


def open_synthetic(src: str) -> SyntheticDataset:
    name, _, query = src[len("synthetic:"):].partition("?")
    if name not in GENERATORS:
        raise EdgesegError(f"unknown synthetic dataset {name!r}; valid: {', '.join(sorted(GENERATORS))}")
    params = parse_query(query, {f.name for f in fields(SyntheticQuery)}, src)
    return SyntheticDataset(name, **asdict(parse(SyntheticQuery, params, src)), source=src)


class SyntheticDataset:
    def __init__(self, name: str, n: int = 64, size: int = 64, seed: int = 0, source: str = ""):
        self.name, self.n, self.size, self.seed = name, n, size, seed
        self.source = source or f"synthetic:{name}?n={n}&size={size}&seed={seed}"
        self.normalization = NORMALIZATIONS[name]
        self.class_names = CLASS_NAMES.get(name)  # recorded by training, shown in predict's overlay legend
        self._generate = GENERATORS[name]
        self._cache: dict[int, Sample] | None = {} if n * size * size <= MAX_CACHED_PIXELS else None

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> Sample:
        i = int(i)
        if not 0 <= i < self.n:
            raise IndexError(f"sample {i} out of range for {self.n} samples")
        if self._cache is not None and i in self._cache:
            return self._cache[i]
        image, mask = self._generate(np.random.default_rng([self.seed, i]), self.size)
        sample = Sample(image, mask, f"{self.name}_{self.seed}_{i:05d}")
        if self._cache is not None:
            self._cache[i] = sample
        return sample


# --- shared helpers ---------------------------------------------------------------------------------
def smooth_noise(rng: np.random.Generator, size: int, cells: int, channels: int = 0) -> np.ndarray:
    """Zero-mean, unit-std noise with about `cells` random values across the image (bilinear)."""
    shape = (cells + 1, cells + 1) + ((channels,) if channels else ())
    field = resize_image(rng.standard_normal(shape).astype(np.float32), size)
    return (field - field.mean()) / (field.std() + 1e-6)


def blob(size: int, centre, radius: float, aspect: float, angle: float, wobble: np.ndarray, phase: np.ndarray):
    """Normalised radial distance of every pixel to an irregular ellipse (<= 1 inside)."""
    rr, cc = np.mgrid[0:size, 0:size].astype(np.float32)
    dy, dx = rr - centre[0], cc - centre[1]
    cos, sin = np.cos(angle), np.sin(angle)
    u, v = (dx * cos + dy * sin) / (radius * aspect), (-dx * sin + dy * cos) / (radius / aspect)
    theta = np.arctan2(v, u)
    k = np.arange(2, 2 + len(wobble), dtype=np.float32)
    outline = 1 + (wobble[:, None, None] * np.cos(k[:, None, None] * theta + phase[:, None, None])).sum(0)
    return np.sqrt(u * u + v * v) / outline


def soft_inside(distance: np.ndarray, edge: float) -> np.ndarray:
    """1 inside, 0 outside, a smooth ramp `edge` wide (in normalised distance) around the outline."""
    t = np.clip((1 + edge / 2 - distance) / edge, 0, 1)
    return t * t * (3 - 2 * t)


def to_uint8(x: np.ndarray) -> np.ndarray:
    return (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)


# --- nuclei -----------------------------------------------------------------------------------------
def nuclei(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    r_min, r_max = 0.04 * size, 0.085 * size
    fill = rng.uniform(0.12, 0.3)
    count = max(1, int(fill * size * size / (np.pi * ((r_min + r_max) / 2) ** 2)))
    image = 0.06 + 0.06 * rng.random() + 0.05 * smooth_noise(rng, size, 3)
    image += rng.uniform(-0.05, 0.05) * np.linspace(-1, 1, size, dtype=np.float32)[None, :]
    mask = np.zeros((size, size), bool)
    grain = smooth_noise(rng, size, max(4, size // 4))
    centres: list[tuple[float, float, float]] = []
    for _ in range(count):
        radius = rng.uniform(r_min, r_max)
        if centres and rng.random() < 0.4:  # touching a neighbour
            cy, cx, r0 = centres[int(rng.integers(len(centres)))]
            a = rng.uniform(0, 2 * np.pi)
            centre = (cy + (r0 + radius) * 0.95 * np.sin(a), cx + (r0 + radius) * 0.95 * np.cos(a))
        else:
            centre = tuple(rng.uniform(0, size, 2))
        centres.append((*centre, radius))
        d = blob(size, centre, radius, rng.uniform(0.75, 1.3), rng.uniform(0, np.pi),
                 rng.uniform(0, 0.08, 3), rng.uniform(0, 2 * np.pi, 3))
        inside = soft_inside(d, edge=1.6 / radius)
        brightness = rng.uniform(0.3, 0.85)
        texture = 1 + 0.18 * grain * rng.uniform(0.5, 1.5) - 0.25 * np.clip(d, 0, 1) ** 2  # grain, darker rim
        image = np.maximum(image, image * (1 - inside) + inside * brightness * texture)
        mask |= d <= 1
    for _ in range(int(rng.integers(0, 3))):  # out-of-focus halos: dim, wide, blurred, not nuclei
        halo = np.zeros((size, size), np.float32)
        y, x = rng.integers(0, size, 2)
        halo[y, x] = 1
        halo = gaussian_blur(halo, rng.uniform(0.06, 0.1) * size)
        image += rng.uniform(0.15, 0.3) * halo / halo.max()
    for _ in range(int(rng.integers(2, 8))):  # debris specks: bright, one or two pixels
        y, x = rng.integers(0, size - 1, 2)
        image[y:y + int(rng.integers(1, 3)), x:x + int(rng.integers(1, 3))] += rng.uniform(0.4, 0.8)
    image = gaussian_blur(image, 0.6)
    image = image + rng.normal(0, 1, image.shape) * (0.02 + 0.04 * np.sqrt(np.clip(image, 0, 1)))
    return to_uint8(image), mask.astype(np.uint8)


# --- polyp ------------------------------------------------------------------------------------------
def polyp(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    base = np.array([0.78, 0.42, 0.36], np.float32) + rng.uniform(-0.06, 0.06, 3).astype(np.float32)
    mucosa = base + 0.05 * smooth_noise(rng, size, 4, 3) + 0.03 * smooth_noise(rng, size, max(4, size // 6))[..., None]
    vessels = np.abs(smooth_noise(rng, size, max(3, size // 12)))
    mucosa = mucosa - (vessels < 0.12)[..., None] * np.array([0.12, 0.18, 0.12], np.float32) * rng.uniform(0.5, 1.2)
    image = mucosa
    mask = np.zeros((size, size), bool)
    for _ in range(1 + int(rng.random() < 0.15)):
        centre = rng.uniform(0.25 * size, 0.75 * size, 2)
        radius = rng.uniform(0.12, 0.28) * size
        d = blob(size, centre, radius, rng.uniform(0.7, 1.4), rng.uniform(0, np.pi),
                 rng.uniform(0, 0.12, 4), rng.uniform(0, 2 * np.pi, 4))
        alpha = soft_inside(d, edge=rng.uniform(2.0, 4.0) / radius)[..., None]
        tint = np.array([0.88, 0.36, 0.38], np.float32) + rng.uniform(-0.08, 0.08, 3).astype(np.float32)
        bumps = smooth_noise(rng, size, max(6, size // 3))[..., None]
        dome = (1 - np.clip(d, 0, 1) ** 2)[..., None]
        lesion = tint * (0.8 + 0.25 * dome) + 0.07 * bumps
        image = image * (1 - alpha) + lesion * alpha
        mask |= d <= 1
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / (size - 1) - 0.5
    image = image * (1 - rng.uniform(0.6, 1.0) * (xx * xx + yy * yy))[..., None]  # vignetting
    for _ in range(int(rng.integers(1, 5))):  # specular highlights
        spot = np.zeros((size, size), np.float32)
        y, x = rng.integers(0, size, 2)
        spot[y, x] = 1
        spot = gaussian_blur(spot, rng.uniform(0.5, 1.5))
        image = image + (np.clip(spot / spot.max(), 0, 1) * rng.uniform(0.3, 0.7))[..., None]
    image = gaussian_blur(image, 0.5) + rng.normal(0, 0.015, image.shape)
    return to_uint8(image), mask.astype(np.uint8)


# --- cells ------------------------------------------------------------------------------------------
CELL_CLASSES = ("background", "cytoplasm", "large nucleus", "small nucleus")
LARGE_NUCLEUS = (0.045, 0.065)  # radius, fraction of the image size
SMALL_NUCLEUS = (0.018, 0.028)


def cells(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    background = np.array([0.86, 0.84, 0.88], np.float32) + rng.uniform(-0.04, 0.04, 3).astype(np.float32)
    image = background + 0.03 * smooth_noise(rng, size, 4, 3)
    mask = np.zeros((size, size), np.uint8)
    placed: list[tuple[float, float, float]] = []
    for _ in range(int(rng.integers(2, 6))):
        radius = rng.uniform(0.11, 0.17) * size
        centre = _free_spot(rng, size, radius, placed)
        placed.append((*centre, radius))
        d = blob(size, centre, radius, rng.uniform(0.75, 1.3), rng.uniform(0, np.pi),
                 rng.uniform(0, 0.1, 3), rng.uniform(0, 2 * np.pi, 3))
        alpha = soft_inside(d, edge=2.0 / radius)[..., None]
        tint = np.array([0.78, 0.58, 0.72], np.float32) + rng.uniform(-0.08, 0.08, 3).astype(np.float32)
        image = image * (1 - alpha) + (tint + 0.03 * smooth_noise(rng, size, max(4, size // 8))[..., None]) * alpha
        mask[d <= 1] = 1
        large = rng.random() < 0.5
        r_nucleus = rng.uniform(*(LARGE_NUCLEUS if large else SMALL_NUCLEUS)) * size
        offset = rng.uniform(0, 0.35) * (radius - r_nucleus)
        angle = rng.uniform(0, 2 * np.pi)
        at = (centre[0] + offset * np.sin(angle), centre[1] + offset * np.cos(angle))
        dn = blob(size, at, r_nucleus, rng.uniform(0.85, 1.15), rng.uniform(0, np.pi),
                  rng.uniform(0, 0.05, 2), rng.uniform(0, 2 * np.pi, 2))
        beta = soft_inside(dn, edge=min(1.0, 1.2 / r_nucleus))[..., None]
        ink = np.array([0.32, 0.22, 0.48], np.float32) + rng.uniform(-0.05, 0.05, 3).astype(np.float32)
        image = image * (1 - beta) + ink * beta
        mask[dn <= 1] = 2 if large else 3
    image = gaussian_blur(image, 0.5) + rng.normal(0, 0.015, image.shape)
    return to_uint8(image), mask


def _free_spot(rng: np.random.Generator, size: int, radius: float, placed) -> tuple[float, float]:
    """A centre inside the image whose cell overlaps earlier ones by at most a third of the radii."""
    for _ in range(20):
        centre = tuple(rng.uniform(radius * 0.8, size - radius * 0.8, 2))
        if all(np.hypot(centre[0] - y, centre[1] - x) > 0.66 * (radius + r) for y, x, r in placed):
            return centre
    return centre


GENERATORS = {"cells": cells, "nuclei": nuclei, "polyp": polyp}
CLASS_NAMES = {"cells": CELL_CLASSES}
# Pixel mean/std measured over 512 samples at 64 px, seed 0.
NORMALIZATIONS = {
    "cells": Normalization("rgb", (0.834, 0.780, 0.842), (0.088, 0.132, 0.090)),
    "nuclei": Normalization("gray", (0.174,), (0.184,)),
    "polyp": Normalization("rgb", (0.672, 0.344, 0.306), (0.107, 0.085, 0.080)),
}
