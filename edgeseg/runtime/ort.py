"""ONNX Runtime runner: CPU, CUDA or TensorRT execution provider, chosen by backend name."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import EdgesegError, require
from .base import Runner, TensorInfo

PROVIDERS = {
    "ort-cpu": "CPUExecutionProvider",
    "ort-cuda": "CUDAExecutionProvider",
    "ort-tensorrt": "TensorrtExecutionProvider",
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
    backend: str, precision: str = "fp32", cache_dir: str | Path | None = None, device_id: int = 0
) -> list:
    """The provider list handed to InferenceSession: the chosen one first, then its fallbacks."""
    if backend not in PROVIDERS:
        raise EdgesegError(f"unknown ONNX Runtime backend {backend!r}; choose one of: {', '.join(PROVIDERS)}")
    cuda = ("CUDAExecutionProvider", {"device_id": device_id})
    if backend == "ort-tensorrt":
        trt = ("TensorrtExecutionProvider", trt_ep_options(precision, cache_dir, device_id))
        return [trt, cuda, "CPUExecutionProvider"]
    if backend == "ort-cuda":
        return [cuda, "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def _shape(dims) -> tuple[int | None, ...]:
    return tuple(d if isinstance(d, int) and d > 0 else None for d in dims)


def _info(arg, model: str) -> TensorInfo:
    """ONNX Runtime's description of one input or output; a tensor type edgeseg cannot feed or read is refused."""
    dtype = _ORT_DTYPES.get(arg.type)
    if dtype is None:
        raise EdgesegError(f"{model}: tensor {arg.name!r} is {arg.type}; edgeseg feeds and reads numeric tensors only")
    return TensorInfo(arg.name, _shape(arg.shape), np.dtype(dtype))


class OrtRunner(Runner):
    def __init__(
        self,
        model: str | Path,
        backend: str = "ort-cpu",
        *,
        precision: str = "fp32",
        threads: int = 0,
        cache_dir: str | Path | None = None,
        device_id: int = 0,
    ):
        ort = require("onnxruntime", "ort")
        self.name = backend
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        providers = providers_for(backend, precision, cache_dir, device_id)
        try:
            self.session = ort.InferenceSession(str(model), sess_options=options, providers=providers)
        except Exception as exc:  # noqa: BLE001  (onnxruntime raises its own untyped errors)
            raise EdgesegError(f"ONNX Runtime cannot load {Path(model).name}: {exc}") from exc
        got = self.session.get_providers()
        if got[0] != PROVIDERS[backend]:
            raise BackendUnavailable(
                f"{backend}: ONNX Runtime could not start {PROVIDERS[backend]} (it fell back to {got[0]}); "
                "install the CUDA/TensorRT libraries it needs or use --backend ort-cpu"
            )
        self.inputs = tuple(_info(i, Path(model).name) for i in self.session.get_inputs())
        self.outputs = tuple(_info(o, Path(model).name) for o in self.session.get_outputs())
        self.max_batch = self.inputs[0].shape[0] if self.inputs and self.inputs[0].shape else None
        self._output_names = [o.name for o in self.outputs]

    def infer_impl(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        values = self.session.run(self._output_names, feed)
        return dict(zip(self._output_names, values))

    def close(self) -> None:
        self.session = None
