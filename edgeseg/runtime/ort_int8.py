"""The int8 artifact as ONNX Runtime's CPU provider runs it fastest, derived in memory when a runner loads it.

A bundle holds one int8 artifact, placed for TensorRT (int8 activations with zero point 0, a Q/DQ pair
between every Conv and its ReLU). ONNX Runtime's x86 int8 kernels want uint8 activations (its int8 x int8
QLinearConv is ~3x slower than fp32 on AVX2 without VNNI) and cannot keep a ReLU on int8 with zero point 0.
`for_ort_cpu` rewrites the verified artifact into that graph; nothing is written to disk and the bundle
keeps one file per artifact. Torch-free; `onnx` is imported when the rewrite runs (extras `ort`, `ort-cpu`).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

GRAPH = "int8 for ONNX Runtime CPU: uint8 activations, Conv+ReLU folded into the quantization"


def for_ort_cpu(model):
    """The int8 artifact (an onnx ModelProto) as ONNX Runtime's CPU provider runs it fastest; a new graph.

    Two rewrites, exact for every value inside the calibrated ranges (quantization noise upstream can push
    a few values past them; on calibration images < 1% of the outputs differ, by < 1%):
    - Conv -> Q -> DQ -> Relu -> Q (one scale) becomes Conv -> Q: with a uint8 zero point of 0 the
      quantization's own clamp at 0 is the ReLU, and ONNX Runtime fuses DQ -> Conv -> Q into QLinearConv;
    - every scale class whose tensors are all non-negative (ReLU outputs, and MaxPool/Resize/Concat of
      them) switches to uint8 with zero point 0 and the same scale, the activation type ONNX Runtime's
      x86 int8 kernels use. Values above the int8 range (> 127 steps) are no longer clipped at 127
      steps: such values lie outside calibration.
    Nodes keep their order (the folded Conv takes its ReLU's output name), so the graph stays sorted.
    The result is for ONNX Runtime's CPU provider only: TensorRT takes no uint8 Q/DQ.
    """
    import onnx
    from onnx import numpy_helper as nh

    out = onnx.ModelProto()
    out.CopyFrom(model)
    g = out.graph
    producer = {o: n for n in g.node for o in n.output}
    readers: dict[str, list] = defaultdict(list)
    for n in g.node:
        for i in n.input:
            readers[i].append(n)
    drop: set[int] = set()
    folded: set[str] = set()
    for relu in g.node:
        if relu.op_type != "Relu":
            continue
        dq = producer.get(relu.input[0])
        q = producer.get(dq.input[0]) if dq is not None and dq.op_type == "DequantizeLinear" else None
        conv = producer.get(q.input[0]) if q is not None and q.op_type == "QuantizeLinear" else None
        after = readers[relu.output[0]]
        if (conv is None or conv.op_type != "Conv" or len(readers[q.input[0]]) != 1 or len(readers[q.output[0]]) != 1
                or len(after) != 1 or after[0].op_type != "QuantizeLinear" or after[0].input[1:] != q.input[1:]):
            continue
        conv.output[0] = relu.output[0]
        folded.add(relu.output[0])
        drop.update((id(q), id(dq), id(relu)))
    kept = [n for n in g.node if id(n) not in drop]
    del g.node[:]
    g.node.extend(kept)

    producer = {o: n for n in g.node for o in n.output}
    memo: dict[str, bool] = {}

    def non_negative(t: str) -> bool:
        if t not in memo:
            n = producer.get(t)
            op = n.op_type if n is not None else None
            if op == "Relu":
                memo[t] = True
            elif op == "Conv":
                memo[t] = t in folded
            elif op in ("QuantizeLinear", "DequantizeLinear", "MaxPool") or (op == "Resize" and _mode(n) != "cubic"):
                memo[t] = non_negative(n.input[0])
            elif op == "Concat":
                memo[t] = all(non_negative(i) for i in n.input)
            else:
                memo[t] = False
        return memo[t]

    users: dict[str, list] = defaultdict(list)
    for n in g.node:
        if n.op_type == "QuantizeLinear" and len(n.input) > 2:
            users[n.input[2]].append(n)
    inits = {i.name: i for i in g.initializer}
    for name, quantizers in users.items():
        zp = inits.get(name)
        if zp is None or zp.data_type != onnx.TensorProto.INT8 or nh.to_array(zp).any():
            continue
        if all(non_negative(q.input[0]) for q in quantizers):
            zp.CopyFrom(nh.from_array(np.zeros(tuple(zp.dims), np.uint8), name))
    return out


def cpu_bytes(data: bytes) -> bytes:
    """`for_ort_cpu` of a serialized int8 artifact, serialized (what the ORT CPU runner hands its session)."""
    import onnx

    return for_ort_cpu(onnx.load_from_string(data)).SerializeToString()


def _mode(node) -> str:
    for a in node.attribute:
        if a.name == "mode":
            return a.s.decode()
    return "nearest"
