"""fp32 graph -> int8 QDQ graph: edgeseg places the Q/DQ pairs itself, on ONNX Runtime's calibrated ranges.

One artifact for ONNX Runtime and TensorRT (10 with the INT8 flag, 11 strongly typed): standard
QuantizeLinear/DequantizeLinear pairs, int8 with zero point 0 (TensorRT's only activation format),
per-channel symmetric int8 weights, float32 biases (TensorRT's DequantizeLinear takes no int32). No
QLinear* or other ONNX Runtime-only operators (`trt_check` verifies this on every artifact).

Where the pairs go (`place_qdq`), so that data between convolutions stays int8:
- every Conv reads quantized activations and weights (the one reading the image stays float,
  `input_convs`); its output is quantized, so ONNX Runtime fuses DQ -> Conv -> Q into QLinearConv;
- MaxPool and Resize read and write one scale (their input's): ONNX Runtime drops the pair around
  MaxPool (in `for_ort_cpu`'s graph) and TensorRT propagates it across both;
- a Concat's inputs and output share one scale (TensorRT's placement guide: concatenation stays a
  copy in int8 only when all inputs have the output's scale; ONNX Runtime fuses it into QLinearConcat).
  Scales are joined into classes along these edges (union-find) and each class takes the largest
  calibrated range of its members;
- a ReLU after a Conv reads and writes its Conv output's scale. NVIDIA's guide would put no pair
  between Conv and ReLU (TensorRT fuses Conv+ReLU+Q either way); ONNX Runtime however fuses a
  Conv -> ReLU that has no Q between them into a float FusedConv before its QDQ fusions run, so every
  convolution would run in float. The pair stays: the compromise both backends run in int8.
- graph outputs are never quantized: the last layer returns float logits.

ONNX Runtime's x86 int8 kernels want uint8 activations (its int8 x int8 QLinearConv is 3x slower
than fp32 on AVX2 without VNNI) and cannot keep a ReLU on int8 with zero point 0; `for_ort_cpu`
(`edgeseg.runtime.ort_int8`, applied by the ORT CPU runner when it loads the artifact) turns the
artifact into the graph ONNX Runtime's CPU provider runs fastest (uint8, zero point 0, ReLU folded
into the quantization), identical within the calibrated ranges. `quantize` and `place_qdq` are pure.
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable
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


INT8_OPS = ("Conv", "MaxPool", "Resize", "Concat")  # read and write int8 in the placed graph
SAME_SCALE_OPS = ("MaxPool", "Resize", "Concat", "Relu")  # input(s) and output share one scale


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
    from ..errors import EdgesegError

    if method not in CALIB_METHODS:
        raise EdgesegError(f"calibration method {method!r} not in {', '.join(CALIB_METHODS)}")
    if not feeds:
        raise EdgesegError("int8 calibration needs at least one image; pass --calib-data and --calib-images")
    ranges = calibrate(model, feeds, method=method, on_feed=on_feed)
    keep_float = input_convs(model)
    quantized = place_qdq(model, ranges, float_nodes=keep_float)
    details: dict[str, Any] = {
        "calibration": {"method": method, "images": int(sum(f["input"].shape[0] for f in feeds))},
        "quantization": "QDQ; int8 activations symmetric per tensor, one scale across Concat/MaxPool/Resize/ReLU; "
                        "int8 weights symmetric per channel; float32 bias",
        "quantized_tensors": sum(n.op_type == "QuantizeLinear" for n in quantized.graph.node),
        "float_nodes": dict.fromkeys(keep_float, "reads the image: int8 input quantization cost ~0.19 IoU on UNet#"),
    }
    return quantized, details


def calibrate(
    model,
    feeds: list[dict[str, np.ndarray]],
    *,
    method: str = "minmax",
    on_feed: Callable[[int, int], None] | None = None,
) -> dict[str, float]:
    """Calibrated range max |x| of every float tensor of `model`, from ONNX Runtime's calibrator.

    A range that is not a finite number (NaN or inf in the images, or an activation that overflows)
    raises `EdgesegError` naming the tensor, instead of ONNX Runtime's `AssertionError: scale issue`.
    """
    from onnxruntime.quantization import CalibrationMethod
    from onnxruntime.quantization.calibrate import create_calibrator

    calib_method = {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }[method]
    with tempfile.TemporaryDirectory(prefix="edgeseg-int8-") as tmp, _quiet():
        src = Path(tmp) / "fp32.onnx"
        src.write_bytes(model.SerializeToString())
        # ORT's own quantize_static cannot pass histogram sizes, and its entropy default (128 bins for
        # 128 quantized bins) leaves a single candidate threshold, so "entropy" would equal "minmax".
        calibrator = create_calibrator(
            src,
            None,
            augmented_model_path=str(Path(tmp) / "augmented.onnx"),
            calibrate_method=calib_method,
            extra_options=CALIB_OPTIONS[method],
        )
        calibrator.collect_data(_Feeds(feeds, on_feed))
        data = calibrator.compute_data()
        del calibrator
    return {name: _amax(name, data[name].range_value) for name in data}


def _amax(name: str, range_value) -> float:
    from ..errors import EdgesegError

    low, high = (float(np.asarray(v).max()) if np.asarray(v).size else 0.0 for v in range_value)
    amax = max(abs(low), abs(high))
    if not np.isfinite(amax):
        raise EdgesegError(
            f"int8 calibration: tensor {name!r} has a non-finite range ({low:g}..{high:g}); the calibration "
            "images hold NaN or inf, or the model overflows on them: check --calib-data"
        )
    return amax


def place_qdq(model, amax: dict[str, float], *, float_nodes: Iterable[str] = ()):
    """Insert Q/DQ pairs into an fp32 graph (see the module docstring for where); returns a new graph.

    `amax[t]` is the calibrated max |x| of tensor t; a class of tensors sharing one scale takes the
    largest. A range of 0 (a tensor that is always zero) gets scale 1.
    """
    import onnx
    from onnx import helper
    from onnx import numpy_helper as nh

    from .passes import toposort

    out = onnx.ModelProto()
    out.CopyFrom(model)
    g = out.graph
    float_nodes = set(float_nodes)
    weights = {i.name: i for i in g.initializer}
    producer = {o: n for n in g.node for o in n.output}
    readers: dict[str, list] = defaultdict(list)
    for n in g.node:
        for i in n.input:
            readers[i].append(n)
    graph_outputs = {o.name for o in g.output}

    def activation(t: str) -> bool:
        return bool(t) and t in producer and t not in graph_outputs

    quantized: set[str] = set()
    for n in g.node:
        if n.name in float_nodes or n.op_type not in INT8_OPS:
            continue
        data = n.input[:1] if n.op_type in ("Conv", "MaxPool", "Resize") else n.input
        quantized.update(t for t in (*data, *n.output) if activation(t))
    for n in g.node:  # a ReLU right after a quantized Conv keeps its output in int8 too
        if n.op_type == "Relu" and n.input[0] in quantized and producer[n.input[0]].op_type == "Conv":
            quantized.update(t for t in n.output if activation(t))

    classes = _UnionFind(quantized)
    for n in g.node:
        if n.op_type in SAME_SCALE_OPS:
            for t in n.input[:1] if n.op_type != "Concat" else n.input:
                if t in quantized and n.output[0] in quantized:
                    classes.union(t, n.output[0])
    scale: dict[str, float] = defaultdict(float)
    for t in quantized:
        scale[classes.find(t)] = max(scale[classes.find(t)], _amax(t, (amax[t], amax[t])) if t in amax else 0.0)

    new_inits, new_nodes = [], []
    done: set[str] = set()  # a weight shared by several Convs is quantized once
    for n in g.node:
        if n.op_type == "Conv" and n.name not in float_nodes and n.input[1] in weights:
            w = weights[n.input[1]]
            n.input[1] = f"{w.name}_dequantized"
            if w.name in done:
                continue
            done.add(w.name)
            q, s = _quantize_weight(nh.to_array(w), w.name)
            new_inits += [nh.from_array(q, f"{w.name}_quantized"), nh.from_array(s, f"{w.name}_scale"),
                          nh.from_array(np.zeros(len(s), np.int8), f"{w.name}_zero_point")]
            new_nodes.append(helper.make_node(
                "DequantizeLinear", [f"{w.name}_quantized", f"{w.name}_scale", f"{w.name}_zero_point"],
                [f"{w.name}_dequantized"], name=f"{w.name}_DequantizeLinear", axis=0))
    for root in sorted({classes.find(t) for t in quantized}):
        new_inits += [nh.from_array(np.array(scale[root] / 127 or 1.0, np.float32), f"{root}_scale"),
                      nh.from_array(np.array(0, np.int8), f"{root}_zero_point")]
    for t in sorted(quantized):
        params = [f"{classes.find(t)}_scale", f"{classes.find(t)}_zero_point"]
        new_nodes += [
            helper.make_node("QuantizeLinear", [t, *params], [f"{t}_quantized"], name=f"{t}_QuantizeLinear"),
            helper.make_node("DequantizeLinear", [f"{t}_quantized", *params], [f"{t}_dequantized"],
                             name=f"{t}_DequantizeLinear"),
        ]
        for reader in readers[t]:
            for k, name in enumerate(reader.input):
                if name == t:
                    reader.input[k] = f"{t}_dequantized"
    g.node.extend(new_nodes)
    used = {i for n in g.node for i in n.input}
    kept = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend([*kept, *new_inits])
    return toposort(out)


def _quantize_weight(w: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Per output channel symmetric int8: (int8 weights, float32 scales)."""
    from ..errors import EdgesegError

    if not np.isfinite(w).all():
        raise EdgesegError(f"int8: weight {name!r} holds NaN or inf; the checkpoint is damaged")
    peak = np.abs(w.reshape(w.shape[0], -1)).max(axis=1)
    scale = np.where(peak > 0, peak / 127, 1.0).astype(np.float32)
    q = np.clip(np.round(w / scale.reshape(-1, *([1] * (w.ndim - 1)))), -127, 127).astype(np.int8)
    return q, scale


class _UnionFind:
    def __init__(self, items: Iterable[str]):
        self.parent = {i: i for i in items}

    def find(self, item: str) -> str:
        while self.parent[item] != item:
            self.parent[item] = self.parent[self.parent[item]]
            item = self.parent[item]
        return item

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)  # deterministic: the smaller name names the class


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
