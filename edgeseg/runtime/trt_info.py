"""The installed TensorRT version and the GPU a TensorRT engine is for (pycuda); imports nothing heavy at load.

Shared by the runtime (which engine of a bundle fits this GPU) and the builder (what to record). pycuda
reports a missing or unusable GPU (a container without a device, a driver without a GPU) with its own
`pycuda.driver.Error` subclasses; `cuda_errors` turns them into `BackendUnavailable`, so that
`Segmenter.from_bundle(backend="auto")` moves on to ONNX Runtime and says why.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ..errors import require
from .ort import BackendUnavailable


def tensorrt():
    return require("tensorrt", "trt")


def trt_version() -> str:
    return str(tensorrt().__version__)


@dataclass(frozen=True)
class Device:
    name: str
    compute_capability: str


@contextmanager
def cuda_errors(doing: str) -> Iterator[None]:
    """Raise pycuda's errors inside the block as BackendUnavailable("<doing>: <CUDA's message>")."""
    cuda = require("pycuda.driver", "trt")
    try:
        yield
    except cuda.Error as exc:
        raise BackendUnavailable(f"{doing}: {exc}") from exc


def current_device(index: int = 0) -> Device:
    """Name and compute capability of the GPU that will run the engine (read with pycuda)."""
    cuda = require("pycuda.driver", "trt")
    with cuda_errors("CUDA cannot reach a GPU"):
        cuda.init()
        if cuda.Device.count() <= index:
            raise BackendUnavailable(f"no CUDA device {index} found; a TensorRT engine runs on the GPU it was built on")
        dev = cuda.Device(index)
        major, minor = dev.compute_capability()
        return Device(name=dev.name(), compute_capability=f"{major}.{minor}")
