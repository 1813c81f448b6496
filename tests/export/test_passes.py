"""Every graph pass checked against eager PyTorch on random inputs."""

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from edgeseg.errors import EdgesegError
from edgeseg.export import fp16, int8, parity, passes
from edgeseg.export.onnx_export import export_module
from edgeseg.models import create_model

from .conftest import trained_looking


@pytest.fixture(scope="module")
def unet():
    torch.manual_seed(0)
    model = trained_looking(create_model("unet", width_mult=0.125))
    module = model.deploy("default")
    raw = export_module(module, torch.zeros(1, 3, 32, 32), dynamic_batch=True)
    return module, raw


def _x(n=2, size=32, seed=0):
    return np.random.default_rng(seed).standard_normal((n, 3, size, size)).astype(np.float32)


def _eager(module, x):
    with torch.no_grad():
        return module(torch.from_numpy(x)).numpy()


def _max_err(module, graph, x):
    return float(np.abs(parity.ort_outputs(graph, x) - _eager(module, x)).max())


def test_raw_export_matches_eager(unet):
    module, raw = unet
    assert _max_err(module, raw, _x()) < 1e-4


@pytest.mark.parametrize("name", ["name_nodes", "strip_metadata", "infer_shapes", "slim", "toposort", "standard"])
def test_each_pass_keeps_the_output_and_is_pure(unet, name):
    module, raw = unet
    before = raw.SerializeToString()
    graph = getattr(passes, name)(raw)
    assert raw.SerializeToString() == before, f"{name} changed its input"
    passes.check(graph)
    assert _max_err(module, graph, _x(3)) < 1e-4


def test_names_follow_modules_and_metadata_is_gone(unet):
    _, raw = unet
    assert any("stack_trace" in p.key for n in raw.graph.node for p in n.metadata_props)
    graph = passes.standard(raw)
    names = [n.name for n in graph.graph.node]
    assert "encoder.0.1/Conv" in names and "head/Conv" in names
    assert len(set(names)) == len(names)
    assert not any(n.metadata_props for n in graph.graph.node)
    assert b"/work/" not in graph.SerializeToString()


def test_toposort_repairs_a_shuffled_graph(unet):
    module, raw = unet
    graph = passes.standard(raw)
    shuffled = onnx.ModelProto()
    shuffled.CopyFrom(graph)
    nodes = list(shuffled.graph.node)[::-1]
    del shuffled.graph.node[:]
    shuffled.graph.node.extend(nodes)
    with pytest.raises(onnx.checker.ValidationError):
        passes.check(shuffled)
    fixed = passes.toposort(shuffled)
    passes.check(fixed)
    assert _max_err(module, fixed, _x()) < 1e-4


def test_fp16_graph_keeps_float32_io_and_matches_eager(unet):
    module, raw = unet
    graph = passes.standard(raw)
    x = _x(2)
    converted, kept = fp16.to_fp16(graph, fp16.activation_ranges(graph, [{"input": x}]))
    passes.check(converted)
    assert kept == []
    io = [v.type.tensor_type.elem_type for v in (*converted.graph.input, *converted.graph.output)]
    assert io == [onnx.TensorProto.FLOAT] * 2
    assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in converted.graph.initializer)
    probs = parity.compare(_eager(module, x), parity.ort_outputs(converted, x))
    assert probs["max_abs_prob_err"] < 5e-3


class Overflow(nn.Module):
    """A layer whose activations leave float16's range and come back (x * 1e5, then / 1e5)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.head = nn.Conv2d(4, 1, 1)

    def forward(self, x):
        return self.head(torch.relu(self.conv(x) * 1e5) / 1e5)


def test_fp16_keeps_overflowing_nodes_in_float32_and_says_why():
    torch.manual_seed(0)
    module = Overflow().eval()
    x = _x(2)
    graph = passes.standard(export_module(module, torch.zeros(1, 3, 32, 32), dynamic_batch=True))
    converted, kept = fp16.to_fp16(graph, fp16.activation_ranges(graph, [{"input": x}]))
    kept_ops = {k["op"] for k in kept}
    assert {"Mul", "Div"} <= kept_ops, kept
    assert all("reaches |x|" in k["why"] or "> float16 max" in k["why"] for k in kept), kept
    out = parity.ort_outputs(converted, x)
    assert np.isfinite(out).all()
    naive, _ = fp16.to_fp16(graph, {})  # without ranges nothing is kept: the overflow shows
    naive_out = parity.ort_outputs(naive, x)
    assert not np.isfinite(naive_out).all() or np.abs(naive_out - _eager(module, x)).max() > 1
    assert parity.compare(_eager(module, x), out)["max_abs_prob_err"] < 5e-3


@pytest.mark.parametrize("method", int8.CALIB_METHODS)
def test_int8_is_explicit_qdq_and_close_to_eager(unet, method):
    module, raw = unet
    graph = passes.standard(raw)
    feeds = [{"input": _x(2, seed=s)} for s in range(3)]
    q, details = int8.quantize(graph, feeds, method=method)
    passes.check(q)
    ops = passes.op_counts(q)
    assert ops["QuantizeLinear"] > 10 and ops["DequantizeLinear"] > ops["QuantizeLinear"]
    assert not any(op.startswith("QLinear") or op.endswith("Integer") for op in ops)
    assert all(n.domain in ("", "ai.onnx") for n in q.graph.node)
    zero_points = [i for i in q.graph.initializer if i.name.endswith("zero_point")]
    assert zero_points and all(not onnx.numpy_helper.to_array(z).any() for z in zero_points)
    assert all(i.data_type == onnx.TensorProto.INT8 for i in zero_points)
    last = next(n for n in q.graph.node if "output" in n.output)
    assert last.op_type == "Conv", "the graph output is float logits, not re-quantized"
    first = [n for n in q.graph.node if "input" in n.input]
    assert [n.op_type for n in first] == ["Conv"], "the image is not quantized: the first conv reads it in float"
    assert list(details["float_nodes"]) == [first[0].name]
    assert details["calibration"] == {"method": method, "images": 6}
    x = _x(2, seed=7)
    result = parity.compare(_eager(module, x), parity.ort_outputs(q, x))
    assert result["max_abs_prob_err"] < 0.1


def test_int8_rejects_unknown_method(unet):
    _, raw = unet
    with pytest.raises(EdgesegError, match="minmax"):
        int8.quantize(raw, [{"input": _x()}], method="kl")


def test_calibration_methods_really_differ(unet):
    """ORT's quantize_static alone gives entropy == minmax (one candidate threshold); ours must not."""
    _, raw = unet
    graph = passes.standard(raw)
    feeds = [{"input": _x(2, seed=s)} for s in range(3)]

    def scales(method):
        q, _ = int8.quantize(graph, feeds, method=method)
        scalars = [i for i in q.graph.initializer if i.name.endswith("_scale") and not i.dims]
        return [float(onnx.numpy_helper.to_array(i)) for i in scalars]

    minmax, entropy, percentile = (scales(m) for m in int8.CALIB_METHODS)
    assert len(minmax) == len(entropy) == len(percentile) > 10
    assert minmax != entropy and minmax != percentile
    assert all(e <= m * (1 + 1e-6) for e, m in zip(entropy, minmax))  # clipping ranges never exceed min/max
