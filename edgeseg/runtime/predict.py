"""File handling for `edgeseg predict`: which files, what names, what the PNGs hold (torch-free).

Overlays colour class k (k >= 1) with PALETTE[(k - 1) % 7], the Okabe-Ito colours (told apart with the
common colour-vision deficiencies); class 0 (background) is left as it is. A multi-class overlay has a
legend strip under the image: a swatch and the class's name for every foreground class.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np

from .. import manifest as mf
from ..data.images import IMAGE_SUFFIXES
from ..errors import EdgesegError, IntegrityError
from ..files import shown

OVERLAY_ALPHA = 0.5
OVERLAY_BAND = 128  # rows blended at a time
THREADS_PER_CORE = 4  # more ONNX Runtime threads than this per usable core only slows it down (or crashes it)
PALETTE = np.array([[213, 94, 0], [0, 114, 178], [0, 158, 115], [230, 159, 0], [86, 180, 233], [204, 121, 167],
                    [240, 228, 66]], np.uint8)  # Okabe-Ito without black: vermillion, blue, green, orange, sky, purple
LEGEND_LINE = 14  # pixels per legend line: a 10 px swatch and Pillow's default 10 px font, 2 px apart
LEGEND_PAD = 4


def collect_images(paths: list[Path]) -> list[Path]:
    """Files as given, folders expanded to their images (sorted, not recursive)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise EdgesegError(f"{shown(path)} holds no images ({', '.join(IMAGE_SUFFIXES)})")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise EdgesegError(f"{shown(path)} is not a regular file (a FIFO, device or socket?); give image files "
                               "or folders")
    if not files:
        raise EdgesegError("no images given")
    return files


def output_names(files: list[Path]) -> list[str]:
    """One output stem per input; two inputs with the same stem are an error, never a silent overwrite."""
    seen: dict[str, Path] = {}
    for path in files:
        if path.stem in seen and seen[path.stem] != path:
            raise EdgesegError(f"{shown(seen[path.stem])} and {shown(path)} would both write {shown(path.stem)}.png; "
                               "predict them into separate --out folders")
        seen[path.stem] = path
    return [p.stem for p in files]


def output_files(out: Path, names: list[str], overlay: bool) -> list[list[Path]]:
    """The files written for each input: NAME.png, and NAME.overlay.png with `overlay`."""
    suffixes = (".png", ".overlay.png") if overlay else (".png",)
    return [[out / f"{name}{suffix}" for suffix in suffixes] for name in names]


def check_no_overwrite(files: list[Path], outputs: list[list[Path]]) -> None:
    """Refuse an output that is one of the inputs (same path, a link to it, or the output folder = input folder)."""
    inputs = {_identity(path): path for path in files}
    for target in (t for group in outputs for t in group):
        source = inputs.get(_identity(target))
        if source is not None:
            raise EdgesegError(f"writing {shown(target)} would overwrite the input image {shown(source)}; "
                               "choose an output folder that holds none of the inputs")


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def check_threads(threads: int) -> None:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if threads > THREADS_PER_CORE * cores:
        raise EdgesegError(f"threads {threads} is more than {THREADS_PER_CORE} per usable CPU core ({cores} here); "
                           f"use at most {THREADS_PER_CORE * cores}, or 0 for ONNX Runtime's default")


def mask_png(mask: np.ndarray, binary: bool) -> np.ndarray:
    """Binary masks as 0/255 (visible in any viewer), class maps as class indices."""
    return mask * np.uint8(255) if binary else mask.astype(np.uint8, copy=False)


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


def class_color(k: int) -> np.ndarray:
    """The overlay colour of class k >= 1."""
    return PALETTE[(k - 1) % len(PALETTE)]


def class_names(model: dict, classes: int) -> list[str]:
    """Names of classes 0..classes-1: the manifest's `model.class_names` when it lists one string per
    class, else "class k"."""
    names = model.get("class_names")
    try:
        mf.check_class_names(names, classes, "model.class_names")
    except IntegrityError:
        return [f"class {k}" for k in range(classes)]
    return list(names)


def overlay_png(image: np.ndarray, mask: np.ndarray, names: list[str] | None = None) -> np.ndarray:
    """The image with each foreground class blended in its colour; with `names` (one per class), the legend under it."""
    return np.concatenate(list(overlay_bands(image, mask, names)[1]))


def overlay_bands(image: np.ndarray, mask: np.ndarray, names: list[str] | None = None):
    """(shape, bands of rows) of `overlay_png`, for `write_png_rows`: the image's rows a band at a time."""
    strip = [] if names is None else [legend(mask.shape[1], names)]
    height = mask.shape[0] + sum(len(s) for s in strip)
    return (height, mask.shape[1], 3), itertools.chain(overlay_rows(image, mask), strip)


def legend(width: int, names: list[str]) -> np.ndarray:
    """A white strip `width` pixels wide listing classes 1..len(names)-1: each its colour swatch, index and
    name, as many a line as fit (text past the right edge is cut). HxWx3 uint8."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default()
    entries = [(k, f"{k}: {names[k]}") for k in range(1, len(names))]
    sizes = [LEGEND_LINE + int(np.ceil(font.getlength(text))) + 2 * LEGEND_PAD for _, text in entries]
    lines, x = [[]], 0
    for entry, size in zip(entries, sizes, strict=True):
        if lines[-1] and x + size > width:
            lines.append([])
            x = 0
        lines[-1].append((entry, x))
        x += size
    canvas = Image.new("RGB", (width, LEGEND_PAD + LEGEND_LINE * len(lines)), "white")
    draw = ImageDraw.Draw(canvas)
    for row, line in enumerate(lines):
        top = LEGEND_PAD // 2 + row * LEGEND_LINE
        for (k, text), left in line:
            left += LEGEND_PAD
            draw.rectangle((left, top + 2, left + 9, top + 11), fill=tuple(int(c) for c in class_color(k)))
            draw.text((left + LEGEND_LINE, top + 1), text, fill="black", font=font)
    return np.asarray(canvas, np.uint8)


def overlay_rows(image: np.ndarray, mask: np.ndarray, band: int = OVERLAY_BAND):
    """`overlay_png` a band of rows at a time (HxWx3 uint8 bands), for images too large to blend at once."""
    for start in range(0, len(mask), band):
        rows = slice(start, start + band)
        rgb = to_rgb8(image[rows]).astype(np.float32)
        part = mask[rows]
        colors = PALETTE[(part.astype(np.intp) - 1) % len(PALETTE)].astype(np.float32)
        blended = np.where((part > 0)[..., None], (1 - OVERLAY_ALPHA) * rgb + OVERLAY_ALPHA * colors, rgb)
        yield blended.round().astype(np.uint8)
