"""What a benchmark measures: resolve a bundle or checkpoint into targets (exporting a checkpoint),
find the checkpoint behind a bundle, and load the images (and masks) the rows run on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import manifest as mf
from ..errors import EdgesegError


@dataclass
class Target:
    """What is benchmarked at one input size: a bundle (ORT/TRT rows) and/or a model (torch rows)."""

    size: int
    bundle: Path | None = None
    manifest: mf.Manifest | None = None
    model: object | None = None  # the SegModel from the checkpoint
    normalization: mf.Normalization | None = None
    checkpoint_file: Path | None = None
    torch_reason: str = ""  # why there are no torch rows, when model is None
    stats: dict[str, dict] = field(default_factory=dict, repr=False)  # variant -> params/GFLOPs of its deploy module


@dataclass(frozen=True)
class Export:
    """How a checkpoint is exported for the ONNX Runtime/TensorRT rows."""

    out: Path  # bundles go to out/bundle-SIZE
    variants: Sequence[str] | None = None  # None: all
    precisions: Sequence[str] | None = None  # None: fp32
    max_batch: int = 1
    calib_data: str | None = None
    calib_images: int = 32


def resolve(target: Path, *, torch_rows: bool, export: Export | None, sizes: Sequence[int] | None = None,
            checkpoint: Path | None = None, log: Callable[[str], None] = lambda _: None) -> list[Target]:
    """The targets for a bundle (one, at its export size) or a checkpoint (one per size, each exported
    with `export` into its own bundle unless `export` is None); with `torch_rows`, each gets the model."""
    if is_bundle(target):
        bundle = target if target.is_dir() else target.parent
        manifest = mf.load(bundle)
        size = bundle_size(manifest)
        if sizes and list(sizes) != [size]:
            wanted = ", ".join(map(str, sizes))
            raise EdgesegError(f"{bundle} was exported at {size}x{size}, not at `img_sizes` {wanted}: "
                               "export it again at those sizes or bench the checkpoint")
        t = Target(size=size, bundle=bundle, manifest=manifest)
        if torch_rows:
            found, why = find_checkpoint(bundle, manifest, checkpoint)
            if found is None:
                t.torch_reason = why
            else:
                attach_model(t, found)
        return [t]
    if not is_checkpoint(target):
        raise EdgesegError(f"{target} is neither a bundle (no manifest.json) nor a checkpoint (.safetensors + .json)")
    from .. import checkpoint as ckpt

    info = ckpt.read_info(target)
    targets = []
    for size in sizes or [int(info.recipe.get("img_size") or 256)]:
        t = Target(size=size)
        attach_model(t, target)
        if export is not None:
            from ..export import export_bundle

            bundle = export.out / f"bundle-{size}"
            log(f"bench: exporting {target} at {size}x{size} to {bundle}")
            t.manifest = export_bundle(
                target, bundle, variants=export.variants or "all", precisions=export.precisions or ["fp32"],
                img_size=size, dynamic_batch=export.max_batch if export.max_batch > 1 else None,
                calib_data=export.calib_data, calib_images=export.calib_images,
            )
            t.bundle = bundle
        targets.append(t)
    return targets


def attach_model(t: Target, path: Path) -> None:
    from .. import checkpoint as ckpt

    model, info = ckpt.load(path)
    t.model = model
    t.normalization = mf.Normalization.from_dict(info.normalization)
    t.checkpoint_file = ckpt.paths(path)[0]


def bundle_size(manifest: mf.Manifest) -> int:
    if manifest.export is not None:
        return manifest.export.img_size
    return max(int(a.input.shape[2]) for a in manifest.artifacts)


@dataclass
class Images:
    images: list[np.ndarray]  # raw images as read (HxW or HxWxC, uint8/uint16)
    masks: list[np.ndarray] | None  # ground truth class maps, or None (no data, or no masks)
    source: str


def is_bundle(path: Path) -> bool:
    return (path / mf.MANIFEST).is_file() if path.is_dir() else path.name == mf.MANIFEST


def is_checkpoint(path: Path) -> bool:
    from ..checkpoint import paths

    try:
        weights, sidecar = paths(path)
    except EdgesegError:
        return False
    return sidecar.is_file() and weights.is_file()


def find_checkpoint(bundle: Path, manifest: mf.Manifest, given: Path | None) -> tuple[Path | None, str]:
    """(checkpoint, "") or (None, why not): the one given, else the manifest's
    `source.checkpoint` looked up in the bundle, next to it, and in the folders next to it (the
    training run beside the bundle), checked by its weights sha256."""
    from ..checkpoint import paths
    from ..files import sha256

    if given is not None:
        if not is_checkpoint(given):
            raise EdgesegError(f"`checkpoint` {given}: no .safetensors + .json checkpoint there")
        return given, ""
    name, want = manifest.source.checkpoint, manifest.source.weights_sha256  # a plain name; a sha256 with it
    if not name:
        return None, "the bundle's manifest names no source checkpoint; give the checkpoint for torch rows"
    siblings = sorted(p.parent for p in bundle.parent.glob(f"*/{name}.json"))  # run/train/best next to run/bundle
    for folder in (bundle, bundle.parent, *siblings):
        candidate = folder / name
        if is_checkpoint(candidate):
            if sha256(paths(candidate)[0]) != want:
                return None, f"checkpoint {candidate} does not match the bundle's weights sha256; give the right one"
            return candidate, ""
    return None, (f"the bundle's source checkpoint {name!r} is not in, next to, or beside the bundle; "
                  "give the checkpoint for torch rows")


def load_images(data: str | None, count: int, size: int, channels: int, seed: int = 0) -> Images:
    """`count` samples from `data` (with their masks when the source has them); without it,
    seeded uniform-noise uint8 images of `size` x `size` (timing and parity only, no IoU)."""
    if data is None:
        rng = np.random.default_rng(seed)
        shape = (size, size) if channels == 1 else (size, size, channels)
        return Images([rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(count)], None, "random uint8 noise")
    from ..data import open_source

    dataset = open_source(data)
    n = min(count, len(dataset))
    if n == 0:
        raise EdgesegError(f"`data` {data} holds no images")
    samples = [dataset[i] for i in range(n)]
    masks = [s.mask for s in samples] if all(s.mask is not None for s in samples) else None
    return Images([s.image for s in samples], masks, f"{data} (first {n})")
