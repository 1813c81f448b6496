"""fp32 graph -> int8 QDQ graph, calibrated with ONNX Runtime's calibrators.

Explicit quantization that both ONNX Runtime and TensorRT (10 with the INT8 flag, 11 strongly typed)
read: QuantizeLinear/DequantizeLinear pairs around standard ONNX operators, symmetric int8
activations (zero point 0), per-channel symmetric int8 weights, biases left in float32 (ORT would
otherwise quantize them to int32, which TensorRT's DequantizeLinear does not take). The convolution
that reads the image stays in float (`input_convs`). No QLinearConv
or other ONNX Runtime-only fused operators (`trt_check` verifies this on every artifact).

`quantize` is a pure function of (graph, calibration feeds); ONNX Runtime's API only writes to a
path, so it works in a private temporary folder and returns the loaded graph.
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

CALIB_METHODS = ("minmax", "entropy", "percentile")
# ORT calibrator settings: entropy searches thresholds over a 2048-bin histogram for 128 int8 levels
# (TensorRT's KL method); percentile clips at 99.999 % of |x| (ORT's default)
CALIB_OPTIONS: dict[str, dict[str, Any]] = {
    "minmax": {},
    "entropy": {"num_bins": 2048, "num_quantized_bins": 128},
    "percentile": {"num_bins": 2048, "percentile": 99.999},
}


class _Feeds:
    """ONNX Runtime's CalibrationDataReader protocol over a list of feeds, reporting progress."""

    def __init__(self, feeds: list[dict[str, np.ndarray]], on_feed: Callable[[int, int], None] | None):
        self.feeds, self.on_feed, self.i = feeds, on_feed, 0

    def get_next(self):
        if self.i >= len(self.feeds):
            return None
        feed = self.feeds[self.i]
        self.i += 1
        if self.on_feed:
            self.on_feed(self.i, len(self.feeds))
        return feed

    def rewind(self):
        self.i = 0

    def __iter__(self):
        return self

    def __next__(self):
        feed = self.get_next()
        if feed is None:
            raise StopIteration
        return feed

    def __len__(self):
        return len(self.feeds)

    def set_range(self, start_index: int, end_index: int):
        self.feeds = self.feeds[start_index:end_index]
        self.i = 0


def quantize(
    model,
    feeds: list[dict[str, np.ndarray]],
    *,
    method: str = "minmax",
    on_feed: Callable[[int, int], None] | None = None,
):
    """Return (QDQ graph, details) calibrated on `feeds` (each {"input": NCHW float32})."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.calibrate import create_calibrator, save_tensors_data

    from ..errors import EdgesegError
    from .passes import drop_output_qdq

    if method not in CALIB_METHODS:
        raise EdgesegError(f"calibration method {method!r} not in {', '.join(CALIB_METHODS)}")
    if not feeds:
        raise EdgesegError("int8 calibration needs at least one image; pass --calib-data and --calib-images")
    options = {
        "ActivationSymmetric": True,
        "WeightSymmetric": True,
        "QuantizeBias": False,
        "ForceQuantizeNoInputCheck": True,
    }
    calib_method = {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }[method]
    with tempfile.TemporaryDirectory(prefix="edgeseg-int8-") as tmp:
        src, out, cache = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx", Path(tmp) / "ranges.json"
        src.write_bytes(model.SerializeToString())
        with _quiet():
            # Calibrate here rather than inside quantize_static: it cannot pass histogram sizes, and
            # its entropy default (128 bins for 128 quantized bins) leaves a single candidate
            # threshold, the full range, so "entropy" would silently equal "minmax".
            calibrator = create_calibrator(
                src,
                None,
                augmented_model_path=str(Path(tmp) / "augmented.onnx"),
                calibrate_method=calib_method,
                extra_options=CALIB_OPTIONS[method],
            )
            calibrator.collect_data(_Feeds(feeds, on_feed))
            save_tensors_data(calibrator.compute_data(), cache)
            del calibrator
            quantize_static(
                src,
                out,
                None,
                nodes_to_exclude=input_convs(model),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=calib_method,
                extra_options=options,
                calibration_cache_path=cache,
            )
        quantized = drop_output_qdq(onnx.load(str(out)))
    details: dict[str, Any] = {
        "calibration": {"method": method, "images": int(sum(f["input"].shape[0] for f in feeds))},
        "quantization": "QDQ; int8 activations symmetric per tensor, int8 weights symmetric per channel, float32 bias",
        "quantized_tensors": sum(n.op_type == "QuantizeLinear" for n in quantized.graph.node),
        "float_nodes": dict.fromkeys(input_convs(model), "reads the image: int8 input quantization cost ~0.19 IoU on UNet#"),
    }
    return quantized, details


def input_convs(model) -> list[str]:
    """Names of the Conv nodes that read a graph input: they stay in float.

    Quantizing the normalised image itself to symmetric int8 cost the demo's UNet# on synthetic
    nuclei 0.18-0.25 IoU against the ground truth (L1..L4, 6-7% of mask pixels flipped against
    fp32); with the first convolution kept in float, int8 loses 0.001-0.007 IoU (0.5% flipped).
    Measured by `benchmarks/int8_input.py` (`benchmarks/results/int8_input.txt`). TensorRT runs a
    layer without Q/DQ in float (fp16 where allowed), so the graph stays buildable.
    """
    inputs = {i.name for i in model.graph.input}
    return [n.name for n in model.graph.node if n.op_type == "Conv" and n.input and n.input[0] in inputs]


@contextlib.contextmanager
def _quiet():
    """ONNX Runtime's quantizer prints and logs progress chatter; the CLI shows its own progress bar."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        root.setLevel(level)
