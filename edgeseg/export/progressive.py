"""A progressive deploy variant -> one ONNX graph per step, in fp32, fp16 and int8, checked like any variant.

`model.deploy_steps(variant)` gives the steps (`DeployStep`): step 1 reads the image, step k reads maps
earlier steps wrote and writes its level's prediction plus the maps later steps read. Each step is
exported on its own (`onnx_export.export_module` with named inputs and outputs), goes through
`passes.standard`, then `split_concat_convs`. fp16 and int8 convert each step on the activations the
fp32 chain itself produces for the calibration images (`fp16.activation_ranges`, `int8.calibrate` +
`int8.place_qdq` per step).
Each step's prediction is compared with the eager chain's (which equals the standalone variant it
names as `reference`: the same arithmetic, split), fp32 must pass `parity.require_fp32`, and every
step graph must pass `trt_check`. Pure: returns manifest entries and graphs; `bundle` writes them.

Why `split_concat_convs`: a UNet# node concatenates the maps of its row (carried in from earlier steps)
with upsampled new maps, then convolves. ONNX Runtime's CPU provider runs convolutions in a blocked
layout (NCHWc) and can only keep a Concat in it when every input is produced inside the graph, so at a
step boundary it reorders each new map out to plain NCHW, concatenates there, and reorders the result
back in; that made the chain 1.24x the standalone L4 (`benchmarks/results/progressive.md`). A
convolution of a concatenation is the sum of convolutions of its parts (the weights split along input
channels, the bias added once), and ONNX Runtime fuses such an Add into the blocked convolution: with
the carried parts convolved on their own, no Concat and no reorder of new maps is left at the boundary.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from .. import manifest as mf
from ..errors import EdgesegError
from . import fp16, int8, parity, passes, trt_check
from .onnx_export import BATCH, export_module


def step_file(variant: str, level: str, precision: str) -> str:
    return f"{variant}.{level}.{precision}.onnx"


def eager_chain(steps, images: np.ndarray, batch: int = 8) -> list[np.ndarray]:
    """Each step's prediction over `images`, from the eager step modules (float32, NCHW)."""
    import torch

    predictions: list[list[np.ndarray]] = [[] for _ in steps]
    with torch.no_grad():
        for start in range(0, len(images), batch):
            pool = {mf.IMAGE: torch.from_numpy(images[start : start + batch])}
            for k, step in enumerate(steps):
                outputs = step.module(*(pool[name] for name in step.inputs))
                pool.update(zip(step.outputs, outputs))
                predictions[k].append(pool[step.prediction].float().numpy())
    return [np.concatenate(p) for p in predictions]


def ort_chain(graphs, steps, feeds: list[dict[str, np.ndarray]], count: int):
    """Run the step graphs in order on each feed ({"input": batch}) with ONNX Runtime on the CPU
    (`steps`: anything naming each step's `prediction`; tensors are matched by the graphs' names).

    Returns (per step, the feeds it read: what calibrating that step needs; per step, its prediction
    for the first `count` images: a static batch pads the last feed)."""
    sessions = [parity.ort_session(graph) for graph in graphs]
    names = [([i.name for i in s.get_inputs()], [o.name for o in s.get_outputs()]) for s in sessions]
    read: list[list[dict[str, np.ndarray]]] = [[] for _ in steps]
    predictions: list[list[np.ndarray]] = [[] for _ in steps]
    for feed in feeds:
        pool = dict(feed)
        for k, (step, session, (ins, outs)) in enumerate(zip(steps, sessions, names)):
            inputs = {name: pool[name] for name in ins}
            read[k].append(inputs)
            pool.update(zip(outs, session.run(outs, inputs)))
            predictions[k].append(pool[step.prediction].astype(np.float32))
    return read, [np.concatenate(p)[:count] for p in predictions]


def export_chain(
    model,
    variant: str,
    size: int,
    channels: int,
    precisions: list[str],
    calib,
    check,
    *,
    feeds: Callable[[np.ndarray], list[dict[str, np.ndarray]]],
    batch: int,
    dynamic: bool,
    opset: int,
    calib_method: str,
) -> list[tuple[mf.Progressive, list[Any]]]:
    """(manifest entry with empty sha256s, step graphs) for each precision of progressive `variant`.

    `feeds(images)` cuts images into the feeds the graphs take ({"input": batch}, padded to a static batch)."""
    import torch

    from ..models.flops import count_flops

    steps = model.deploy_steps(variant)
    lead = 1 if dynamic else batch
    pool = {mf.IMAGE: torch.zeros(lead, channels, size, size)}
    fp32, stats = [], []
    with torch.no_grad():
        for step in steps:
            example = tuple(pool[name] for name in step.inputs)
            graph = passes.standard(export_module(step.module, example, opset=opset, dynamic_batch=dynamic,
                                                  inputs=step.inputs, outputs=step.outputs))
            graph = passes.check(split_concat_convs(graph))
            names = [o.name for o in graph.graph.output]
            if names != list(step.outputs):
                raise EdgesegError(f"{model.name} {variant} step {step.level}: the graph's outputs are {names}, "
                                   f"not {list(step.outputs)}")
            flops = count_flops(lambda args, module=step.module: module(*args), example)
            stats.append((sum(p.numel() for p in step.module.parameters()), flops / 1e9 / lead))
            pool.update(zip(step.outputs, step.module(*example)))
            fp32.append(graph)
    reference = eager_chain(steps, check.images)
    calib_read, _ = ort_chain(fp32, steps, feeds(calib.images), len(calib.images))
    check_feeds = feeds(check.images)
    kind = model.output_kind(variant)

    results = []
    for precision in precisions:
        what = f"{model.name} {variant} {precision}"
        graphs, notes = [], []
        for k, graph in enumerate(fp32):
            if precision == "fp16":
                graph, kept = fp16.to_fp16(graph, fp16.activation_ranges(graph, calib_read[k]))
                notes.append({"fp32_nodes": kept})
            elif precision == "int8":
                ranges = int8.calibrate(graph, calib_read[k], method=calib_method)
                graph = int8.place_qdq(graph, ranges, float_nodes=_image_convs(graph))
                notes.append({"quantized_tensors": sum(n.op_type == "QuantizeLinear" for n in graph.graph.node)})
            graphs.append(passes.check(graph))
        _, predictions = ort_chain(graphs, steps, check_feeds, len(check.images))
        entries = []
        for step, graph, prediction, truth, (params, gflops) in zip(steps, graphs, predictions, reference, stats):
            trt = trt_check.check_graph(graph)
            trt_check.require_compatible(trt, f"{what} step {step.level}")
            result = parity.compare(truth, prediction, kind=kind, targets=check.masks)
            result["images_source"] = check.source
            if precision == "fp32":
                parity.require_fp32(result, f"{what} step {step.level}")
            entries.append(mf.Step(
                file=step_file(variant, step.level, precision),
                sha256="",
                level=step.level,
                inputs=tuple(_spec(v, lead, dynamic) for v in graph.graph.input),
                outputs=tuple(_spec(v, lead, dynamic) for v in graph.graph.output),
                prediction=step.prediction,
                params=params,
                gflops=round(gflops, 6),
                parity=result,
                trt_check=trt,
            ))
        details: dict[str, Any] = {"references": {s.level: s.reference for s in steps if s.reference}}
        if precision == "int8":
            details["calibration"] = {"method": calib_method, "images": int(len(calib.images)),
                                      "data": calib.source, "on": "the activations the fp32 chain produces"}
            details["steps"] = dict(zip((s.level for s in steps), notes))
        elif precision == "fp16":
            details["steps"] = dict(zip((s.level for s in steps), notes))
            details["fp16_check"] = parity.fp16_execution(graphs[-1])
        chain = mf.Progressive(
            variant=variant,
            precision=precision,
            steps=tuple(entries),
            output_kind=kind,
            threshold=0.5,
            opset=next(o.version for o in graphs[0].opset_import if o.domain in ("", "ai.onnx")),
            details=details,
        )
        results.append((chain, graphs))
    return results


def split_concat_convs(model):
    """`Conv(Concat[parts])` -> `Conv_0(part_0) + Conv_1(part_1) + ...` where a part is a graph input
    (a carried map) or a run of the other inputs (still concatenated); returns a new graph.

    Only a Concat along channels that reads a graph input and feeds exactly one Conv (group 1, weights
    an initializer) is split. The weights are split along input channels; the bias stays on the first
    part; the Adds sum in input order and the last one writes the Conv's output."""
    import onnx
    from onnx import helper
    from onnx import numpy_helper as nh

    model = passes.infer_shapes(model)
    out = onnx.ModelProto()
    out.CopyFrom(model)
    g = out.graph
    inputs = {i.name for i in g.input}
    channels = {v.name: v.type.tensor_type.shape.dim[1].dim_value for v in (*g.input, *g.value_info, *g.output)
                if len(v.type.tensor_type.shape.dim) == 4}
    weights = {i.name: i for i in g.initializer}
    readers: dict[str, list] = {}
    for n in g.node:
        for name in n.input:
            readers.setdefault(name, []).append(n)
    added_nodes, added_weights, dropped = [], [], set()
    for cat in g.node:
        users = readers.get(cat.output[0], []) if cat.op_type == "Concat" else []
        if (len(users) != 1 or users[0].op_type != "Conv" or _attr(cat, "axis") != 1
                or not inputs.intersection(cat.input) or _attr(users[0], "group", 1) != 1
                or users[0].input[1] not in weights or not all(channels.get(i) for i in cat.input)):
            continue
        conv = users[0]
        conv_name, cat_name = conv.name or conv.output[0], cat.name or cat.output[0]
        w = nh.to_array(weights[conv.input[1]])
        bias = conv.input[2:3]
        attrs = {a.name: helper.get_attribute_value(a) for a in conv.attribute}
        sums, start = [], 0
        for k, part in enumerate(_parts(cat.input, inputs)):
            width = sum(channels[name] for name in part)
            name = f"{conv.input[1]}_part{k}"
            added_weights.append(nh.from_array(np.ascontiguousarray(w[:, start : start + width]), name))
            start += width
            x = part[0]
            if len(part) > 1:
                x = f"{cat.output[0]}_part{k}"
                added_nodes.append(helper.make_node("Concat", part, [x], name=f"{cat_name}_part{k}", axis=1))
            y = f"{conv.output[0]}_part{k}"
            added_nodes.append(helper.make_node("Conv", [x, name, *(bias if k == 0 else [])], [y],
                                                name=f"{conv_name}_part{k}", **attrs))
            sums.append(y)
        total = sums[0]
        for k, y in enumerate(sums[1:], 1):
            result = conv.output[0] if k == len(sums) - 1 else f"{conv.output[0]}_sum{k}"
            added_nodes.append(helper.make_node("Add", [total, y], [result], name=f"{conv_name}_sum{k}"))
            total = result
        dropped.update((id(cat), id(conv)))
    if not dropped:
        return model
    kept = [n for n in g.node if id(n) not in dropped]
    del g.node[:]
    g.node.extend(kept + added_nodes)
    used = {name for n in g.node for name in n.input}
    kept_weights = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend(kept_weights + added_weights)
    del g.value_info[:]
    return passes.infer_shapes(passes.toposort(out))


def _parts(names, inputs: set[str]) -> list[list[str]]:
    """Each graph input alone, each run of other tensors together, in order."""
    parts: list[list[str]] = []
    for name in names:
        if name in inputs or not parts or parts[-1][0] in inputs:
            parts.append([name])
        else:
            parts[-1].append(name)
    return parts


def _attr(node, name: str, default=None):
    from onnx import helper

    return next((helper.get_attribute_value(a) for a in node.attribute if a.name == name), default)


def _image_convs(graph) -> list[str]:
    """The Convs `int8.input_convs` keeps in float that read the image (not a carried map): see int8.py."""
    reading_image = {n.name for n in graph.graph.node if n.input and n.input[0] == mf.IMAGE}
    return [name for name in int8.input_convs(graph) if name in reading_image]


def with_digests(chain: mf.Progressive, digests: list[str]) -> mf.Progressive:
    return replace(chain, steps=tuple(replace(step, sha256=d) for step, d in zip(chain.steps, digests)))


def _spec(value_info, lead: int, dynamic: bool) -> mf.TensorSpec:
    from onnx import helper

    dims = [d.dim_value for d in value_info.type.tensor_type.shape.dim]
    dtype = str(helper.tensor_dtype_to_np_dtype(value_info.type.tensor_type.elem_type))
    return mf.TensorSpec(value_info.name, (BATCH if dynamic else lead, *dims[1:]), dtype)
