"""Will TensorRT's ONNX parser take this graph? A check on the ONNX alone, no TensorRT needed.

The rules restate, for the operators a segmentation CNN can contain, what onnx-tensorrt's
`docs/operators.md` says each operator accepts: element types, attribute values (Resize modes, pooling
rank and dilations, Q/DQ zero points) and the opset range. The table is the one of TensorRT 10.1
(branch 10.1-GA, the oldest 10.x table published, so it holds for JetPack 6's 10.3), compared with
TensorRT 10.15's: where they differ the narrower one is kept (10.15 adds INT32/INT64 to Pow). An operator not in
the table is reported as unsupported rather than guessed at; so are operators from other domains
(e.g. ONNX Runtime's `com.microsoft` fused or QLinear* operators). `check_graph` returns the result
stored in the manifest; `require_compatible` raises naming the first offending node.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from ..errors import EdgesegError

RULES = "onnx-tensorrt docs/operators.md of TensorRT 10.1 (narrower than 10.15's; restated for segmentation CNNs)"
TRT10_OPSETS = (9, 20)  # TensorRT 10.0 parses opsets 9..20 (later 10.x and 11.x parse newer ones too)

F = {"float32", "float16", "bfloat16"}
I = {"int32", "int64"}
BOOL = {"bool"}
QUANT = {"int8"}

# op type -> element types TensorRT accepts on its float/int data tensors
OPS: dict[str, set[str]] = {
    **dict.fromkeys(
        (
            "Conv", "ConvTranspose", "BatchNormalization", "InstanceNormalization", "GroupNormalization",
            "LayerNormalization", "MatMul", "Gemm", "AveragePool", "MaxPool", "GlobalAveragePool", "GlobalMaxPool",
            "Resize", "Upsample", "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Erf", "Exp", "Log", "Sqrt",
            "Reciprocal", "Elu", "LeakyRelu", "PRelu", "HardSigmoid", "HardSwish", "Softplus", "Selu", "Gelu",
            "Floor", "Ceil", "Round", "Clip", "Dropout", "Pow",
        ),
        F,
    ),
    "Mish": {"float32", "float16"},
    **dict.fromkeys(
        (
            "Add", "Sub", "Mul", "Div", "Max", "Min", "Sum", "Mean", "Abs", "Neg", "Relu", "Sign", "ReduceSum",
            "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ArgMax", "ArgMin", "Equal", "Greater",
            "GreaterOrEqual", "Less", "LessOrEqual", "Range", "Pad", "DepthToSpace", "SpaceToDepth",
        ),
        F | I,
    ),
    **dict.fromkeys(
        (
            "Concat", "Reshape", "Transpose", "Flatten", "Squeeze", "Unsqueeze", "Slice", "Split", "Gather",
            "Expand", "Tile", "Identity", "Where", "Shape", "Size", "Constant", "ConstantOfShape",
        ),
        F | I | BOOL,
    ),
    **dict.fromkeys(("Cast", "CastLike"), F | I | BOOL | {"uint8"}),
    **dict.fromkeys(("And", "Or", "Xor", "Not"), BOOL),
    "QuantizeLinear": F,
    "DequantizeLinear": QUANT,
}
RESIZE_COORDS = {"half_pixel", "pytorch_half_pixel", "tf_half_pixel_for_nn", "asymmetric", "align_corners"}
RESIZE_MODES = {"nearest", "linear"}
RESIZE_NEAREST = {"floor", "ceil", "round_prefer_floor", "round_prefer_ceil"}


def check_graph(model) -> dict[str, Any]:
    """{"ok", "opset", "ops", "problems": [{"node", "op", "why"}], "notes", "rules"} for one graph."""
    import onnx

    types = _elem_types(model)
    inits = {i.name: i for i in model.graph.initializer}
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    problems: list[dict[str, str]] = []
    notes: list[str] = []
    if opset is None or not TRT10_OPSETS[0] <= opset <= TRT10_OPSETS[1]:
        lo, hi = TRT10_OPSETS
        problems.append({"node": "(model)", "op": "opset", "why": f"opset {opset} is outside TensorRT 10's {lo}..{hi}"})
    for vi in (*model.graph.input, *model.graph.output):
        dtype = _name(vi.type.tensor_type.elem_type)
        if dtype not in F | I | BOOL | {"uint8"}:
            why = f"element type {dtype} is not a TensorRT I/O type"
            problems.append({"node": vi.name, "op": "graph input/output", "why": why})
    for node in model.graph.node:
        why = _node_problem(node, types, inits, onnx)
        if why:
            problems.append({"node": node.name or "(unnamed)", "op": node.op_type, "why": why})
    if any(n.op_type == "DequantizeLinear" for n in model.graph.node):
        notes.append(
            "explicit quantization (Q/DQ): build with strong typing on TensorRT 11, or the INT8 flag on TensorRT 10"
        )
    return {
        "ok": not problems,
        "opset": opset,
        "ops": dict(sorted(Counter(n.op_type for n in model.graph.node).items())),
        "problems": problems,
        "notes": notes,
        "rules": RULES,
    }


def require_compatible(result: dict[str, Any], what: str) -> None:
    if not result["ok"]:
        first = result["problems"][0]
        more = len(result["problems"]) - 1
        tail = f" (and {more} more problem{'s' * (more > 1)})" if more else ""
        raise EdgesegError(
            f"{what}: node {first['node']!r} ({first['op']}) cannot be parsed by TensorRT 10: {first['why']}{tail}; "
            "change the model so it exports without it"
        )


def _node_problem(node, types, inits, onnx) -> str | None:
    if node.domain not in ("", "ai.onnx"):
        return f"operator domain {node.domain!r} is not standard ONNX (an ONNX Runtime-only operator)"
    allowed = OPS.get(node.op_type)
    if allowed is None:
        return "operator not supported by TensorRT's ONNX parser (not in its operator table)"
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    data_inputs = _data_inputs(node)
    for name in data_inputs:
        dtype = types.get(name)
        if dtype is not None and dtype not in allowed:
            return f"input {name!r} has element type {dtype}; TensorRT accepts {', '.join(sorted(allowed))}"
    check = _ATTR_CHECKS.get(node.op_type)
    return check(node, attrs, types, inits) if check else None


def _data_inputs(node) -> list[str]:
    """Inputs whose element type the operator table constrains (not shapes, scales, indices...)."""
    if node.op_type in ("Resize", "Upsample", "Reshape", "Expand", "Tile", "Slice", "Pad", "Split",
                        "Squeeze", "Unsqueeze", "Gather", "ConstantOfShape", "Range", "Clip", "CastLike"):
        return list(node.input[:1])
    if node.op_type == "Where":
        return list(node.input[1:])
    if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
        return list(node.input[:1])
    return [i for i in node.input if i]


def _resize(node, attrs, types, inits) -> str | None:
    coord = _s(attrs.get("coordinate_transformation_mode", "half_pixel"))
    mode = _s(attrs.get("mode", "nearest"))
    if coord not in RESIZE_COORDS:
        return f"coordinate_transformation_mode {coord!r} not in {sorted(RESIZE_COORDS)}"
    if mode not in RESIZE_MODES:
        return f"mode {mode!r} not in {sorted(RESIZE_MODES)}"
    if mode == "nearest" and _s(attrs.get("nearest_mode", "round_prefer_floor")) not in RESIZE_NEAREST:
        return f"nearest_mode {attrs['nearest_mode']!r} not supported"
    if attrs.get("antialias", 0):
        return "antialias is not supported"
    if _s(attrs.get("keep_aspect_ratio_policy", "stretch")) != "stretch":
        return "keep_aspect_ratio_policy must be 'stretch'"
    return None


def _pool(node, attrs, types, inits) -> str | None:
    kernel = attrs.get("kernel_shape", [])
    if len(kernel) not in (2, 3):
        return f"{len(kernel)}D pooling; TensorRT pools in 2D or 3D only"
    if any(d != 1 for d in attrs.get("dilations", [])):
        return "dilated pooling is not supported"
    if node.op_type == "MaxPool" and len(node.output) > 1 and node.output[1]:
        return "the Indices output of MaxPool is not supported"
    return None


def _conv(node, attrs, types, inits) -> str | None:
    kernel = attrs.get("kernel_shape")
    if kernel is None and node.input[1] in inits:
        kernel = list(inits[node.input[1]].dims[2:])
    if kernel is not None and len(kernel) not in (1, 2, 3):
        return f"{len(kernel)}D convolution; TensorRT convolves in 1D, 2D or 3D only"
    return None


def _zero_point(node, attrs, types, inits) -> str | None:
    if len(node.input) > 2 and node.input[2]:
        zp = inits.get(node.input[2])
        if zp is None:
            return "zero point must be a constant initializer"
        import onnx.numpy_helper as nh

        if nh.to_array(zp).any():
            return "zero point must be 0 (symmetric quantization)"
        dtype = _name(zp.data_type)
        if dtype != "int8":
            return (
                f"quantized type {dtype}; TensorRT Q/DQ takes int8 here (int32 bias quantization is ONNX Runtime-only)"
            )
    return None


def _cast(node, attrs, types, inits) -> str | None:
    to = _name(attrs.get("to", 0))
    if to not in F | I | BOOL | {"uint8"}:
        return f"cast to {to} is not supported"
    return None


_ATTR_CHECKS = {
    "Resize": _resize,
    "MaxPool": _pool,
    "AveragePool": _pool,
    "Conv": _conv,
    "ConvTranspose": _conv,
    "QuantizeLinear": _zero_point,
    "DequantizeLinear": _zero_point,
    "Cast": _cast,
}


def _elem_types(model) -> dict[str, str]:
    g = model.graph
    types = {vi.name: _name(vi.type.tensor_type.elem_type) for vi in (*g.input, *g.output, *g.value_info)}
    types.update({i.name: _name(i.data_type) for i in g.initializer})
    for node in g.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    types[node.output[0]] = _name(a.t.data_type)
    return {k: v for k, v in types.items() if v != "undefined"}


def _name(elem_type: int) -> str:
    """ONNX element type -> numpy-style name ("float32", "float16", "int8", "bool", ...)."""
    import onnx

    if elem_type == 0:
        return "undefined"
    name = onnx.TensorProto.DataType.Name(elem_type).lower()
    return {"float": "float32", "double": "float64"}.get(name, name)


def _s(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
