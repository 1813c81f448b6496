"""ONNX Runtime runner: CPU, CUDA or TensorRT execution provider, chosen by backend name.

On the CPU provider an int8 artifact runs as `ort_int8.for_ort_cpu` derives it (uint8 activations,
Conv+ReLU folded), rewritten in memory from the file's bytes; `details["graph"]` says so.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import EdgesegError, MissingDependency, require
from .backends import Backend
from .base import Runner, TensorInfo

PROVIDERS = {
    Backend.ORT_CPU: "CPUExecutionProvider",
    Backend.ORT_CUDA: "CUDAExecutionProvider",
    Backend.ORT_TENSORRT: "TensorrtExecutionProvider",
}
_ORT_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
    "tensor(bool)": np.bool_,
}


class BackendUnavailable(EdgesegError):
    """The requested backend cannot run here (library, driver or GPU missing)."""


def trt_ep_options(precision: str, cache_dir: str | Path | None, device_id: int = 0) -> dict[str, object]:
    """TensorRT execution provider options: engine + timing caches on disk, flags as in our own TRT 10 plan."""
    options: dict[str, object] = {"device_id": device_id}
    if cache_dir is not None:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        options |= {
            "trt_engine_cache_enable": True,
            "trt_engine_cache_path": str(cache_dir),
            "trt_timing_cache_enable": True,
            "trt_timing_cache_path": str(cache_dir),
        }
    if precision == "fp16":
        options["trt_fp16_enable"] = True
    if precision == "int8":
        options["trt_int8_enable"] = True  # explicit Q/DQ graph: no calibration table
    return options


def providers_for(
    backend: str | Backend, precision: str = "fp32", cache_dir: str | Path | None = None, device_id: int = 0
) -> list:
    """The provider list handed to InferenceSession: the chosen one first, then its fallbacks."""
    backend = _ort_backend(backend)
    cuda = ("CUDAExecutionProvider", {"device_id": device_id})
    if backend is Backend.ORT_TENSORRT:
        trt = ("TensorrtExecutionProvider", trt_ep_options(precision, cache_dir, device_id))
        return [trt, cuda, "CPUExecutionProvider"]
    if backend is Backend.ORT_CUDA:
        return [cuda, "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def start_session(source: str | bytes, name: str, backend: str | Backend, providers: list, *, threads: int = 0,
                  config: dict[str, str] | None = None):
    """An InferenceSession of `source` (a path or the model's bytes; `name` names it in errors) that runs on
    `backend`'s provider, or one EdgesegError / BackendUnavailable line. `config`: session config entries."""
    ort = require("onnxruntime", "ort")
    backend = _ort_backend(backend)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    for key, value in (config or {}).items():
        options.add_session_config_entry(key, value)
    try:
        session = ort.InferenceSession(source, sess_options=options, providers=providers)
    except Exception as exc:  # noqa: BLE001  (onnxruntime raises its own untyped errors)
        raise EdgesegError(f"ONNX Runtime cannot load {name}: {exc}") from exc
    got = session.get_providers()
    if got[0] != PROVIDERS[backend]:
        raise BackendUnavailable(
            f"{backend}: ONNX Runtime could not start {PROVIDERS[backend]} for {name} (it fell back to {got[0]}); "
            f"install the CUDA/TensorRT libraries it needs or use --backend {Backend.ORT_CPU}"
        )
    return session


def _ort_backend(name: str | Backend) -> Backend:
    try:
        backend = Backend(name)
    except ValueError:
        backend = None
    if backend not in PROVIDERS:
        raise EdgesegError(f"unknown ONNX Runtime backend {str(name)!r}; choose one of: {', '.join(PROVIDERS)}")
    return backend


def _shape(dims) -> tuple[int | None, ...]:
    return tuple(d if isinstance(d, int) and d > 0 else None for d in dims)


def _info(arg, model: str) -> TensorInfo:
    """ONNX Runtime's description of one input or output; a tensor type edgeseg cannot feed or read is refused."""
    dtype = _ORT_DTYPES.get(arg.type)
    if dtype is None:
        raise EdgesegError(f"{model}: tensor {arg.name!r} is {arg.type}; edgeseg feeds and reads numeric tensors only")
    return TensorInfo(arg.name, _shape(arg.shape), np.dtype(dtype))


class OrtRunner(Runner):
    """An ONNX Runtime session on one execution provider.

    `sha256`: the artifact's checksum from the bundle manifest; when the runner reads the file itself (the
    int8 CPU rewrite), the bytes it rewrites are checked against it. `details["graph"]` names the graph the
    session runs when it is not the file as exported. `as_exported` skips the rewrite (benchmarks compare).
    """

    def __init__(
        self,
        model: str | Path,
        backend: str | Backend = Backend.ORT_CPU,
        *,
        precision: str = "fp32",
        threads: int = 0,
        cache_dir: str | Path | None = None,
        device_id: int = 0,
        sha256: str | None = None,
        as_exported: bool = False,
    ):
        require("onnxruntime", "ort")
        backend = _ort_backend(backend)
        self.name = backend.value
        self.details: dict[str, str] = {}
        providers = providers_for(backend, precision, cache_dir, device_id)
        source: str | bytes = str(model)
        if backend is Backend.ORT_CPU and precision == "int8" and not as_exported:
            source = self._cpu_int8(Path(model), sha256)
        self.session = start_session(source, Path(model).name, backend, providers, threads=threads)
        self.inputs = tuple(_info(i, Path(model).name) for i in self.session.get_inputs())
        self.outputs = tuple(_info(o, Path(model).name) for o in self.session.get_outputs())
        self.max_batch = self.inputs[0].shape[0] if self.inputs and self.inputs[0].shape else None
        self._output_names = [o.name for o in self.outputs]

    def _cpu_int8(self, model: Path, sha256: str | None) -> str | bytes:
        """The int8 artifact's bytes rewritten for the CPU provider (`ort_int8`); the file's path when the
        rewrite cannot run here (no onnx package), which `details` then says."""
        from ..manifest import MAX_ONNX_BYTES, read_verified
        from . import ort_int8

        try:
            require("onnx", "ort-cpu")
        except MissingDependency as exc:
            self.details["graph"] = f"int8 artifact as exported, slower on the CPU: {exc}"
            return str(model)
        try:
            data = read_verified(model, sha256, MAX_ONNX_BYTES) if sha256 else model.read_bytes()
            rewritten = ort_int8.cpu_bytes(data)
        except EdgesegError:
            raise
        except Exception as exc:  # noqa: BLE001  (a missing file, or onnx's parser on a damaged one)
            raise EdgesegError(f"ONNX Runtime cannot load {model.name}: {exc}") from exc
        self.details["graph"] = ort_int8.GRAPH
        return rewritten

    def infer_impl(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        values = self.session.run(self._output_names, feed)
        return dict(zip(self._output_names, values))

    def close(self) -> None:
        self.session = None
