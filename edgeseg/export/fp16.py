"""fp32 graph -> fp16 graph: float16 inside, float32 `input`/`output`, float32 kept where half overflows.

Which nodes stay float32 is decided from measured activation ranges: `activation_ranges` runs the
fp32 graph on calibration images with ONNX Runtime and records max |x| of every tensor; a node whose
input or output reaches `FP16_SAFE` (float16's 65504 / 4, a margin for images not seen here) stays
float32, and so does a node reading a weight outside float16's range. The converter is ONNX Runtime's
(`onnxruntime.transformers.float16`); the ops its own default block list keeps in float32 are
reported too. `to_fp16` is pure: it returns the new graph and the list of kept nodes with the reason.
"""

from __future__ import annotations

from typing import Any

import numpy as np

FP16_MAX = 65504.0
FP16_SAFE = FP16_MAX / 4


def activation_ranges(model, feeds: list[dict[str, np.ndarray]]) -> dict[str, float]:
    """Max |x| of every float tensor of `model` over the given feeds (ONNX Runtime, CPU)."""
    import onnx
    import onnxruntime as ort

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    known = {o.name for o in probe.graph.output}
    for vi in probe.graph.value_info:
        if vi.type.tensor_type.elem_type == onnx.TensorProto.FLOAT and vi.name not in known:
            probe.graph.output.append(vi)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.log_severity_level = 3
    session = ort.InferenceSession(probe.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    ranges: dict[str, float] = {}
    for feed in feeds:
        for name, value in zip(names, session.run(names, feed)):
            peak = float(np.max(np.abs(value))) if value.size else 0.0
            ranges[name] = max(ranges.get(name, 0.0), peak)
    for name in feeds[0] if feeds else ():
        ranges[name] = max(float(np.max(np.abs(f[name]))) for f in feeds)
    return ranges


def overflowing_nodes(model, ranges: dict[str, float], limit: float = FP16_SAFE) -> list[dict[str, Any]]:
    """Nodes that must stay float32, each with the tensor and value that put it there."""
    import onnx.numpy_helper as nh

    weights = {i.name: i for i in model.graph.initializer}
    kept = []
    for node in model.graph.node:
        why = None
        for name in (*node.input, *node.output):
            if name in weights:
                w = nh.to_array(weights[name])
                if w.dtype == np.float32 and w.size and float(np.max(np.abs(w))) > FP16_MAX:
                    why = f"weight {name!r} holds |w| = {float(np.max(np.abs(w))):.4g} > float16 max {FP16_MAX:g}"
                    break
            elif ranges.get(name, 0.0) > limit:
                why = (
                    f"tensor {name!r} reaches |x| = {ranges[name]:.4g} on the calibration images, "
                    f"above {limit:g} (float16 max {FP16_MAX:g} / 4 headroom)"
                )
                break
        if why:
            kept.append({"node": node.name, "op": node.op_type, "why": why})
    return kept


def to_fp16(model, ranges: dict[str, float] | None = None, limit: float = FP16_SAFE):
    """Return (fp16 graph, kept) where kept lists the nodes left in float32 and why."""
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    from .passes import toposort

    kept = overflowing_nodes(model, ranges or {}, limit)
    blocked_ops = set(DEFAULT_OP_BLOCK_LIST)
    kept_names = {k["node"] for k in kept}
    for node in model.graph.node:
        if node.op_type in blocked_ops and node.name not in kept_names:
            why = "kept float32 by the converter's default op block list"
            kept.append({"node": node.name, "op": node.op_type, "why": why})
    import onnx

    source = onnx.ModelProto()
    source.CopyFrom(model)  # the converter edits its argument in place
    converted = convert_float_to_float16(
        source,
        keep_io_types=True,
        node_block_list=sorted(kept_names),
        op_block_list=list(DEFAULT_OP_BLOCK_LIST),
        disable_shape_infer=False,
    )
    return drop_cast_round_trips(toposort(converted)), kept


def drop_cast_round_trips(model):
    """Remove float32 -> float16 -> float32 Cast pairs between two float32 nodes.

    ONNX Runtime's converter casts the output of every node it keeps in float32 back to float16, even
    when the next node is float32 too; that round trip is exactly the overflow the node was kept for.
    Readers of the second Cast read the original float32 tensor instead; unread Casts are removed.
    """
    import onnx

    out = onnx.ModelProto()
    out.CopyFrom(model)
    g = out.graph
    producer = {o: n for n in g.node for o in n.output}
    rename: dict[str, str] = {}
    for node in g.node:
        if node.op_type != "Cast" or _cast_to(node) != onnx.TensorProto.FLOAT:
            continue
        first = producer.get(node.input[0])
        if first is not None and first.op_type == "Cast" and _cast_to(first) == onnx.TensorProto.FLOAT16:
            rename[node.output[0]] = first.input[0]
    if not rename:
        return out
    graph_outputs = {o.name for o in g.output}
    for node in g.node:
        for k, name in enumerate(node.input):
            if name in rename:
                node.input[k] = rename[name]
    while True:
        read = {i for n in g.node for i in n.input} | graph_outputs
        dead = [n for n in g.node if n.op_type == "Cast" and not any(o in read for o in n.output)]
        if not dead:
            break
        for n in dead:
            g.node.remove(n)
    names = {o for n in g.node for o in n.output} | {i.name for i in g.input}
    keep = [v for v in g.value_info if v.name in names]
    del g.value_info[:]
    g.value_info.extend(keep)
    return out


def _cast_to(node) -> int:
    return next((a.i for a in node.attribute if a.name == "to"), 0)
