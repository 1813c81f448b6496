"""Tiny bundles for runtime tests: a two-conv torch model exported to ONNX with a real manifest."""

from __future__ import annotations

import tempfile
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np

from edgeseg import manifest as mf
from edgeseg.export.bundle import write_model


def tiny_model(in_channels: int = 3, classes: int = 1, seed: int = 0):
    import torch

    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(in_channels, 4, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(4, classes, 1),
    ).eval()


def make_bundle(
    folder: Path,
    *,
    classes: int = 1,
    color: str = "rgb",
    size: tuple[int, int] = (32, 32),
    batch: int | str = "batch",
    variant: str = "full",
    seed: int = 0,
):
    """Export the tiny model and write a valid bundle; returns (manifest, torch model)."""
    import torch

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    norm = mf.Normalization() if color == "rgb" else mf.Normalization("gray", (0.5,), (0.25,))
    model = tiny_model(norm.channels, classes, seed)
    n = 1 if isinstance(batch, str) else batch
    artifact = mf.Artifact(
        file=f"{variant}.fp32.onnx",
        sha256="",
        variant=variant,
        precision="fp32",
        input=mf.TensorSpec("input", (batch, norm.channels, *size), "float32"),
        output=mf.TensorSpec("output", (batch, classes, *size), "float32"),
    )
    graph = onnx_graph(model, torch.zeros(n, norm.channels, *size), dynamic=isinstance(batch, str))
    digest = write_model(folder, artifact.file, graph, mf.stamp("tiny", artifact, mf.Source()))
    artifact = replace(artifact, sha256=digest)
    manifest = mf.Manifest(model={"name": "tiny", "config": {"classes": classes}}, normalization=norm,
                           artifacts=(artifact,))
    mf.save(folder, manifest)
    return manifest, model


def onnx_graph(model, example, dynamic: bool = True, opset: int = 17):
    """The TorchScript exporter's ModelProto of `model` (fine for two convs), inputs "input", outputs "output"."""
    import onnx
    import torch

    axes = {"input": {0: "batch"}, "output": {0: "batch"}} if dynamic else None
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model, (example,), f"{tmp}/m.onnx", input_names=["input"], output_names=["output"],
                          dynamic_axes=axes, opset_version=opset, dynamo=False)
        return onnx.load(f"{tmp}/m.onnx")


def torch_masks(model, batch: np.ndarray) -> np.ndarray:
    """Eager fp32 reference masks for a preprocessed (N, C, H, W) batch."""
    import torch

    from edgeseg.metrics import masks_from_output

    with torch.no_grad():
        out = model(torch.from_numpy(batch)).numpy()
    return masks_from_output(out, "logits", 0.5)
