"""Which backends exist here, in order of preference, and which engine in a bundle fits this GPU.

Preference: tensorrt (our engine, pycuda buffers) > ort-tensorrt > ort-cuda > ort-cpu. The checks
are cheap and never start a GPU runtime: a backend is a candidate when its Python packages are
importable and, for the GPU ones, a CUDA driver library can be loaded. Whether it really works is
decided when its runner is created (OrtRunner refuses a session that silently fell back to the CPU).
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util

from ..errors import EdgesegError
from ..manifest import Artifact, Engine, Manifest

BACKENDS = ("tensorrt", "ort-tensorrt", "ort-cuda", "ort-cpu")
GPU_BACKENDS = frozenset(BACKENDS[:3])
SHORT_NAMES = {"tensorrt": "trt", "ort-tensorrt": "ort-trt"}  # how `edgeseg bench` and `env` write them


def runtime_name(backend: str) -> str:
    """A backend as the runtime names it; the short names trt and ort-trt are accepted too."""
    return {short: name for name, short in SHORT_NAMES.items()}.get(backend, backend)


@functools.lru_cache(maxsize=1)
def cuda_driver_present() -> bool:
    """True when the NVIDIA driver's libcuda can be loaded (desktop driver or Jetson L4T)."""
    for name in ("libcuda.so.1", "libcuda.so", "nvcuda.dll"):
        try:
            ctypes.CDLL(name)
            return True
        except OSError:
            continue
    return False


def has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def candidates(backend: str, *, driver: bool | None = None, modules: dict[str, bool] | None = None) -> list[str]:
    """Backends to try for `backend` ("auto" or one name), best first, given what is installed."""
    backend = runtime_name(backend)
    if backend != "auto" and backend not in BACKENDS:
        raise EdgesegError(f"unknown backend {backend!r}; choose auto or one of: {', '.join(BACKENDS)}")
    if backend != "auto":
        return [backend]
    driver = cuda_driver_present() if driver is None else driver
    have = modules if modules is not None else {m: has_module(m) for m in ("tensorrt", "pycuda", "onnxruntime")}
    out = []
    for name in BACKENDS:
        if name in GPU_BACKENDS and not driver:
            continue
        if name == "tensorrt" and not (have.get("tensorrt") and have.get("pycuda")):
            continue
        if name.startswith("ort-") and not have.get("onnxruntime"):
            continue
        out.append(name)
    return out


def matching_engine(manifest: Manifest, artifact: Artifact, compute_capability: str, trt_version: str) -> Engine | None:
    """The engine built from `artifact` for this GPU's compute capability and this TensorRT version."""
    for engine in manifest.engines:
        if (
            engine.artifact == artifact.file
            and engine.compute_capability == compute_capability
            and engine.trt_version == trt_version
        ):
            return engine
    return None
