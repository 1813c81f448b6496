"""Where the int8 graph quantizes, what ONNX Runtime makes of it, and how calibration fails."""

from collections import Counter, defaultdict

import numpy as np
import onnx
import pytest
import torch

from edgeseg.errors import EdgesegError
from edgeseg.export import int8, passes, trt_check
from edgeseg.export.onnx_export import export_module
from edgeseg.models import create_model
from edgeseg.runtime.ort_int8 import for_ort_cpu

from .conftest import trained_looking

SIZE = 32


@pytest.fixture(scope="module")
def sharp_l2():
    """UNet# L2: dense skips (a Concat of 4 inputs, two of them upsampled), MaxPool, bilinear Resize."""
    torch.manual_seed(0)
    model = trained_looking(create_model("unet_sharp", width_mult=0.125))
    graph = passes.standard(export_module(model.deploy("L2"), torch.zeros(1, 3, SIZE, SIZE)))
    feeds = [{"input": _x(seed=s)} for s in range(3)]
    quantized, _ = int8.quantize(graph, feeds)
    return graph, quantized, feeds


def _x(seed=0):
    return np.random.default_rng(seed).standard_normal((1, 3, SIZE, SIZE)).astype(np.float32)


def _maps(model):
    producer = {o: n for n in model.graph.node for o in n.output}
    readers = defaultdict(list)
    for n in model.graph.node:
        for i in n.input:
            readers[i].append(n)
    return producer, readers


def _scale(model, node, k):
    inits = {i.name: i for i in model.graph.initializer}
    return float(onnx.numpy_helper.to_array(inits[node.input[k]]))


def test_data_between_convolutions_is_quantized_with_shared_scales(sharp_l2):
    _, q, _ = sharp_l2
    producer, readers = _maps(q)
    concats = [n for n in q.graph.node if n.op_type == "Concat"]
    assert len(concats) == 3
    for node in q.graph.node:
        if node.op_type not in ("Concat", "MaxPool", "Resize"):
            continue
        data = node.input if node.op_type == "Concat" else node.input[:1]
        dqs = [producer[i] for i in data]
        assert all(d.op_type == "DequantizeLinear" for d in dqs), f"{node.name} reads float"
        (q_out,) = readers[node.output[0]]
        assert q_out.op_type == "QuantizeLinear", f"{node.name} writes float"
        # one scale in and out (TensorRT keeps the concatenation a copy, ONNX Runtime drops the pair)
        assert {d.input[1] for d in dqs} == {q_out.input[1]}, node.name
    for node in q.graph.node:
        if node.op_type == "Conv" and node.input[0] != "input":
            assert producer[node.input[0]].op_type == "DequantizeLinear"
            assert producer[node.input[1]].op_type == "DequantizeLinear", "weights are int8"
            consumers = readers[node.output[0]]
            assert [c.op_type for c in consumers] in (["QuantizeLinear"], []), node.name
    assert "output" not in {o for n in q.graph.node if n.op_type == "DequantizeLinear" for o in n.output}


def test_artifact_passes_the_tensorrt_check_and_is_standard_onnx(sharp_l2):
    _, q, _ = sharp_l2
    passes.check(q)
    result = trt_check.check_graph(q)
    assert result["ok"], result["problems"]
    zero_points = [i for i in q.graph.initializer if i.name.endswith("_zero_point")]
    assert all(z.data_type == onnx.TensorProto.INT8 and not onnx.numpy_helper.to_array(z).any() for z in zero_points)


def _ort_optimized(model, tmp_path):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    opts.intra_op_num_threads = 1
    ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return onnx.load(str(tmp_path / "optimized.onnx"))


def test_onnx_runtime_runs_the_cpu_graph_in_int8_between_convolutions(sharp_l2, tmp_path):
    """No float Concat, MaxPool or Relu and no Conv+Relu in float (FusedConv) once ORT fused the graph."""
    _, q, _ = sharp_l2
    cpu = for_ort_cpu(q)
    passes.check(cpu)
    fused = _ort_optimized(cpu, tmp_path)
    ops = Counter(n.op_type for n in fused.graph.node)
    convs = sum(n.op_type == "Conv" for n in q.graph.node)
    assert ops["QLinearConv"] == convs - 2, ops  # all but the one reading the image and the head
    assert ops["QLinearConcat"] == 3 and "Concat" not in ops, ops
    assert "Relu" not in ops and "FusedConv" not in ops, ops
    producer, _ = _maps(fused)
    for node in fused.graph.node:
        if node.op_type == "MaxPool":
            assert producer[node.input[0]].op_type != "DequantizeLinear", "MaxPool reads float"
    # bilinear Resize is the one data operator left in float: ORT drops Q/DQ only around nearest Resize
    assert ops["Resize"] == 4


def test_cpu_graph_equals_the_artifact_inside_the_calibrated_range(sharp_l2):
    import onnxruntime as ort

    _, q, feeds = sharp_l2
    cpu = for_ort_cpu(q)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # the graphs as written
    run = [ort.InferenceSession(g.SerializeToString(), opts, providers=["CPUExecutionProvider"]) for g in (q, cpu)]
    for feed in feeds:  # calibration images: activations lie inside their calibrated ranges...
        a, b = (s.run(None, feed)[0] for s in run)
        # ...but for the few that quantization noise upstream pushes past 127 steps, where int8 clips
        assert np.mean(a != b) < 0.01 and np.abs(a - b).max() < 0.01 * np.abs(a).max()
    assert sum(n.op_type == "Relu" for n in cpu.graph.node) == 1  # after the float Conv reading the image
    assert sum(n.op_type == "Relu" for n in q.graph.node) == sum(n.op_type == "Relu" for n in sharp_l2[0].graph.node)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_calibration_data_is_one_edgeseg_error(sharp_l2, bad):
    graph, _, _ = sharp_l2
    x = _x()
    x[0, 0, 3, 3] = bad
    with pytest.raises(EdgesegError, match="non-finite range") as err:
        int8.quantize(graph, [{"input": x}])
    assert "\n" not in str(err.value) and "calib" in str(err.value)


def test_damaged_weights_are_named():
    with pytest.raises(EdgesegError, match="'w' holds NaN"):
        int8._quantize_weight(np.array([[[[np.nan]]]], np.float32), "w")


def test_onnx_runtime_would_run_convs_in_float_without_a_pair_between_conv_and_relu(sharp_l2, tmp_path):
    """Why the artifact keeps a Q/DQ pair between Conv and ReLU, against NVIDIA's placement guide:
    ORT fuses Conv -> Relu into a float FusedConv before its QDQ fusions, so no QLinearConv is left."""
    _, q, _ = sharp_l2
    nvidia = onnx.ModelProto()
    nvidia.CopyFrom(q)
    producer, _ = _maps(nvidia)
    dropped = set()
    for relu in nvidia.graph.node:
        dq = producer.get(relu.input[0]) if relu.op_type == "Relu" else None
        if dq is not None and dq.op_type == "DequantizeLinear":
            quant = producer[dq.input[0]]
            relu.input[0] = quant.input[0]
            dropped.update((dq.name, quant.name))
    kept = [n for n in nvidia.graph.node if n.name not in dropped]
    del nvidia.graph.node[:]
    nvidia.graph.node.extend(kept)
    assert dropped and trt_check.check_graph(nvidia)["ok"]
    ops = Counter(n.op_type for n in _ort_optimized(nvidia, tmp_path).graph.node)
    assert ops["FusedConv"] >= len(dropped) // 2 and "QLinearConv" not in ops, ops


def test_a_weight_shared_by_two_convs_is_quantized_once():
    from onnx import TensorProto, helper
    from onnx import numpy_helper as nh

    w = nh.from_array(np.random.default_rng(0).standard_normal((3, 3, 3, 3)).astype(np.float32), "w")
    nodes = [helper.make_node("Conv", ["input", "w"], ["a"], name="first", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["a"], ["b"], name="relu"),
             helper.make_node("Conv", ["b", "w"], ["c"], name="second", pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["c", "w"], ["output"], name="third", pads=[1, 1, 1, 1])]
    io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 3, 8, 8]) for n in ("input", "output")]
    graph = helper.make_model(helper.make_graph(nodes, "shared", io[:1], io[1:], [w]),
                              opset_imports=[helper.make_opsetid("", 18)], ir_version=9)
    feeds = [{"input": np.random.default_rng(1).standard_normal((1, 3, 8, 8)).astype(np.float32)}]
    q, _ = int8.quantize(graph, feeds)
    passes.check(q)
    assert [n.name for n in q.graph.node].count("w_DequantizeLinear") == 1
    assert sum(n.input[1] == "w_dequantized" for n in q.graph.node if n.op_type == "Conv") == 2
