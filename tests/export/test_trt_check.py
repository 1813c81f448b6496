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


def _typed_graph(node, elem_type, shape=(1, 4, 8, 8)):
    x = helper.make_tensor_value_info("input", elem_type, list(shape))
    y = helper.make_tensor_value_info("output", elem_type, None)
    graph = helper.make_graph([node], "g", [x], [y])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


@pytest.mark.parametrize(
    "node, elem_type",
    [
        (helper.make_node("Pow", ["input", "input"], ["output"], name="pow"), TensorProto.INT64),
        (helper.make_node("Mish", ["input"], ["output"], name="mish"), TensorProto.BFLOAT16),
        (helper.make_node("DepthToSpace", ["input"], ["output"], name="d2s", blocksize=2), TensorProto.BOOL),
        (helper.make_node("SpaceToDepth", ["input"], ["output"], name="s2d", blocksize=2), TensorProto.BOOL),
    ],
    ids=["pow-int64", "mish-bf16", "depth_to_space-bool", "space_to_depth-bool"],
)
def test_types_tensorrt_10_1_operators_md_does_not_list_are_refused(node, elem_type):
    result = trt_check.check_graph(_typed_graph(node, elem_type))
    assert not result["ok"] and result["problems"][0]["node"] == node.name
    assert "element type" in result["problems"][0]["why"]


def test_types_it_lists_pass():
    pow_ = helper.make_node("Pow", ["input", "input"], ["output"], name="pow")
    assert trt_check.check_graph(_typed_graph(pow_, TensorProto.FLOAT16))["ok"]
    d2s = helper.make_node("DepthToSpace", ["input"], ["output"], name="d2s", blocksize=2)
    assert trt_check.check_graph(_typed_graph(d2s, TensorProto.INT32))["ok"]
    assert "TensorRT 10.1" in trt_check.RULES


def test_one_d_convolution_passes_four_d_does_not():
    w1 = helper.make_tensor("w", TensorProto.FLOAT, [2, 4, 3], [0.0] * 24)
    conv1d = helper.make_node("Conv", ["input", "w"], ["output"], name="conv1d", kernel_shape=[3])
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 4, 16])
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, None)
    model = helper.make_model(helper.make_graph([conv1d], "g", [x], [y], initializer=[w1]),
                              opset_imports=[helper.make_opsetid("", 18)])
    assert trt_check.check_graph(model)["ok"]
    conv4d = helper.make_node("Conv", ["input", "w"], ["output"], name="conv4d", kernel_shape=[1, 1, 1, 1])
    assert "4D convolution" in trt_check.check_graph(_graph(conv4d))["problems"][0]["why"]
