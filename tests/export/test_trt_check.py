import onnx
import pytest
from onnx import TensorProto, helper

from edgeseg.errors import EdgesegError
from edgeseg.export import trt_check


def _graph(node, opset=18, extra_inits=()):
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, None)
    graph = helper.make_graph([node], "g", [x], [y], initializer=list(extra_inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def test_supported_graph_passes():
    result = trt_check.check_graph(_graph(helper.make_node("Relu", ["input"], ["output"], name="act")))
    assert result["ok"] and result["ops"] == {"Relu": 1} and result["opset"] == 18


def test_unsupported_op_fails_naming_the_node():
    model = _graph(helper.make_node("Det", ["input"], ["output"], name="weird/Det"))
    result = trt_check.check_graph(model)
    assert not result["ok"]
    assert result["problems"][0]["node"] == "weird/Det"
    with pytest.raises(EdgesegError, match=r"node 'weird/Det' \(Det\) cannot be parsed by TensorRT 10"):
        trt_check.require_compatible(result, "m L1 fp32")


def test_ort_only_operators_are_refused():
    node = helper.make_node("FusedConv", ["input"], ["output"], name="fused", domain="com.microsoft")
    result = trt_check.check_graph(_graph(node))
    assert not result["ok"] and "not standard ONNX" in result["problems"][0]["why"]


@pytest.mark.parametrize(
    "attrs, ok",
    [
        ({"mode": "linear", "coordinate_transformation_mode": "align_corners"}, True),
        ({"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}, True),
        ({"mode": "cubic"}, False),
        ({"mode": "linear", "antialias": 1}, False),
        ({"mode": "linear", "coordinate_transformation_mode": "tf_crop_and_resize"}, False),
    ],
)
def test_resize_modes(attrs, ok):
    scales = helper.make_tensor("scales", TensorProto.FLOAT, [4], [1, 1, 2, 2])
    node = helper.make_node("Resize", ["input", "", "scales"], ["output"], name="up", **attrs)
    assert trt_check.check_graph(_graph(node, extra_inits=[scales]))["ok"] is ok


def test_pooling_rules():
    ok = helper.make_node("MaxPool", ["input"], ["output"], name="p", kernel_shape=[2, 2], ceil_mode=1)
    assert trt_check.check_graph(_graph(ok))["ok"]
    dilated = helper.make_node("MaxPool", ["input"], ["output"], name="p", kernel_shape=[2, 2], dilations=[2, 2])
    assert "dilated" in trt_check.check_graph(_graph(dilated))["problems"][0]["why"]
    one_d = helper.make_node("AveragePool", ["input"], ["output"], name="p", kernel_shape=[2])
    assert "2D or 3D" in trt_check.check_graph(_graph(one_d))["problems"][0]["why"]


def test_int32_dequantize_and_opset_are_checked():
    scale = helper.make_tensor("s", TensorProto.FLOAT, [], [0.1])
    zp = helper.make_tensor("zp", TensorProto.INT32, [], [0])
    node = helper.make_node("DequantizeLinear", ["input", "s", "zp"], ["output"], name="dq_bias")
    result = trt_check.check_graph(_graph(node, extra_inits=[scale, zp]))
    assert not result["ok"] and any(p["node"] == "dq_bias" for p in result["problems"])
    late = trt_check.check_graph(_graph(helper.make_node("Relu", ["input"], ["output"]), opset=23))
    assert not late["ok"] and late["problems"][0]["op"] == "opset"


def test_double_tensors_are_refused():
    x = helper.make_tensor_value_info("input", TensorProto.DOUBLE, [1, 3])
    y = helper.make_tensor_value_info("output", TensorProto.DOUBLE, [1, 3])
    relu = helper.make_node("Relu", ["input"], ["output"], name="r")
    model = helper.make_model(helper.make_graph([relu], "g", [x], [y]))
    assert not trt_check.check_graph(model)["ok"]
    assert onnx.checker.check_model(model) is None
