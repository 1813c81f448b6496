"""Every backend edgeseg knows, by name, which of them exist here, and which engine in a bundle fits this GPU.

`Backend` is the one list of names: each backend has a long name (the enum value) and a short one
(how `edgeseg bench`, `edgeseg env` and the reports write it); either is accepted wherever a backend
is named. The runtime runs `RUNTIME` in order of preference: tensorrt (our engine, pycuda buffers) >
ort-tensorrt > ort-cuda > ort-cpu. `torch` is the eager PyTorch reference the benchmark compares
against; the torch-free runtime never runs it.

The checks are cheap and never start a GPU runtime: a backend is a candidate when its Python packages
are importable and, for the GPU ones, a CUDA driver library can be loaded. Whether it really works is
decided when its runner is created (OrtRunner refuses a session that silently fell back to the CPU).
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
from collections.abc import Iterable
from enum import Enum

from ..errors import EdgesegError
from ..manifest import Artifact, Engine, Manifest


class Backend(str, Enum):
    """An inference backend, in the order reports list them: the eager reference first."""

    def __new__(cls, name: str, short: str | None = None):
        member = str.__new__(cls, name)
        member._value_ = name
        member.short = short or name
        return member

    TORCH = "torch"
    ORT_CPU = "ort-cpu"
    ORT_CUDA = "ort-cuda"
    ORT_TENSORRT = "ort-tensorrt", "ort-trt"
    TENSORRT = "tensorrt", "trt"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def _missing_(cls, value):
        return next((b for b in cls if b.short == value), None)

    @property
    def gpu(self) -> bool:
        return self in (Backend.ORT_CUDA, Backend.ORT_TENSORRT, Backend.TENSORRT)


RUNTIME = (Backend.TENSORRT, Backend.ORT_TENSORRT, Backend.ORT_CUDA, Backend.ORT_CPU)  # best first
BACKENDS = RUNTIME  # the runtime's public name for it


def names(backends: Iterable[Backend] = Backend, *, short: bool = False) -> tuple[str, ...]:
    """The backends' long names, then the short ones that differ (all the spellings a user may type);
    with `short`, only the short names."""
    backends = tuple(backends)
    shorts = tuple(b.short for b in backends)
    if short:
        return shorts
    return tuple(b.value for b in backends) + tuple(s for b, s in zip(backends, shorts) if s != b.value)


def parse_backend(name: str | Backend, among: Iterable[Backend] = Backend, extra: str = "") -> Backend:
    """The backend named `name` (long or short name) if it is one of `among`, else an error listing them."""
    among = tuple(among)
    try:
        backend = Backend(name)
    except ValueError:
        backend = None
    if backend not in among:
        listed = ", ".join(b.value if b.short == b.value else f"{b.value} ({b.short})" for b in among)
        raise EdgesegError(f"unknown backend {str(name)!r}; choose {extra}one of: {listed}")
    return backend


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


def candidates(
    backend: str | Backend, *, driver: bool | None = None, modules: dict[str, bool] | None = None
) -> list[Backend]:
    """Backends to try for `backend` ("auto" or one name), best first, given what is installed."""
    if backend != "auto":
        return [parse_backend(backend, RUNTIME, extra="auto or ")]
    driver = cuda_driver_present() if driver is None else driver
    have = modules if modules is not None else {m: has_module(m) for m in ("tensorrt", "pycuda", "onnxruntime")}
    out = []
    for b in RUNTIME:
        if b.gpu and not driver:
            continue
        if b is Backend.TENSORRT and not (have.get("tensorrt") and have.get("pycuda")):
            continue
        if b is not Backend.TENSORRT and not have.get("onnxruntime"):
            continue
        out.append(b)
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
