"""The eager PyTorch reference as a runtime `Runner`, so torch rows go through the same Segmenter
preprocessing and postprocessing as the ONNX Runtime and TensorRT rows and only `infer` differs.
"""

from __future__ import annotations

import numpy as np

from .. import manifest as mf
from ..runtime.backends import Backend
from ..runtime.base import Runner, TensorInfo


class TorchRunner(Runner):
    name = Backend.TORCH

    def __init__(self, module, in_channels: int, num_classes: int, size: int, device: str = "cpu"):
        import torch

        self._torch = torch
        self.device = torch.device(device)
        self.module = module.eval().to(self.device)
        self.inputs = (TensorInfo("input", (None, in_channels, size, size), np.dtype(np.float32)),)
        self.outputs = (TensorInfo("output", (None, num_classes, size, size), np.dtype(np.float32)),)

    def infer_impl(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        torch = self._torch
        with torch.inference_mode():
            x = torch.from_numpy(feed["input"]).to(self.device)
            y = self.module(x)
            return {"output": y.float().cpu().numpy()}  # .cpu() waits for a CUDA device to finish

    def close(self) -> None:
        self.module = None


def torch_artifact(model, variant: str, img_size: int) -> mf.Artifact:
    """The artifact description the Segmenter needs for a deploy module that has no ONNX file."""
    size = model.input_size(variant, img_size)
    channels = model.config.get("in_channels", 3)
    classes = model.config.get("num_classes", 1)
    return mf.Artifact(
        file="",
        sha256="",
        variant=variant,
        precision="fp32",
        input=mf.TensorSpec("input", ("batch", channels, size, size), "float32"),
        output=mf.TensorSpec("output", ("batch", classes, size, size), "float32"),
        output_kind=model.output_kind(variant),
    )
