"""A tiny UNet# (width 1/8) checkpoint and a bundle made from it without the exporter (TorchScript
ONNX export + a hand-written manifest), so the benchmark's tests do not depend on export settings."""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path

from edgeseg import manifest as mf

NORM = {"color": "rgb", "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


def tiny_checkpoint(path: Path, seed: int = 0, classes: int = 1):
    import torch

    from edgeseg import checkpoint
    from edgeseg.checkpoint import CheckpointInfo
    from edgeseg.models import create_model

    torch.manual_seed(seed)
    model = create_model("unet_sharp", width_mult=0.125, num_classes=classes)
    info = CheckpointInfo(model="unet_sharp", config=model.config, normalization=NORM, recipe={"img_size": 32})
    checkpoint.save(path, model, info)
    return model


def tiny_bundle(folder: Path, checkpoint: Path, variants=("L1", "L2"), size: int = 32) -> mf.Manifest:
    """Export `variants` of the checkpoint at `size` (dynamic batch) into `folder` with a manifest
    whose `source` names the checkpoint (found by `edgeseg bench` next to the bundle)."""
    import torch
    from runtime.bundles import onnx_graph  # tests/runtime, imported by pytest as package "runtime"

    from edgeseg import checkpoint as ckpt
    from edgeseg.export.bundle import write_model

    model, info = ckpt.load(checkpoint)
    folder.mkdir(parents=True, exist_ok=True)
    weights = ckpt.paths(checkpoint)[0]
    source = mf.Source(checkpoint=weights.with_suffix("").name, weights_sha256=info.weights_sha256)
    artifacts = []
    for variant in variants:
        module = model.deploy(variant).eval()
        artifact = mf.Artifact(
            file=f"{variant}.fp32.onnx", sha256="", variant=variant, precision="fp32",
            input=mf.TensorSpec("input", ("batch", 3, size, size), "float32"),
            output=mf.TensorSpec("output", ("batch", info.config.get("num_classes", 1), size, size), "float32"),
            params=sum(p.numel() for p in module.parameters()),
        )
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            graph = onnx_graph(module, torch.zeros(1, 3, size, size))
        digest = write_model(folder, artifact.file, graph, mf.stamp(info.model, artifact, source))
        artifacts.append(replace(artifact, sha256=digest))
    manifest = mf.Manifest(
        model={"name": info.model, "config": info.config},
        normalization=mf.Normalization.from_dict(info.normalization),
        artifacts=tuple(artifacts),
        source=source,
    )
    mf.save(folder, manifest)
    return manifest


def write_class_data(folder: Path, n: int = 6, size: int = 32) -> str:
    """`n` RGB images with 4-class index masks (PNG) in folder/images and folder/masks: a class 1 square
    holding a class 2 and a class 3 square, brighter by class. Returns the folder as a data source."""
    import numpy as np

    from edgeseg.data.images import write_png

    rng = np.random.default_rng(0)
    for i in range(n):
        mask = np.zeros((size, size), np.uint8)
        top = int(rng.integers(2, 8))
        mask[top : top + 20, top : top + 20] = 1
        mask[top + 2 : top + 10, top + 2 : top + 10] = 2
        mask[top + 14 : top + 17, top + 14 : top + 17] = 3
        image = (rng.random((size, size, 3)) * 40 + mask[..., None] * 50).astype(np.uint8)
        write_png(folder / "images" / f"{i}.png", image)
        write_png(folder / "masks" / f"{i}.png", mask)
    return str(folder)
