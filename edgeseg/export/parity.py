"""Parity at export: eager PyTorch fp32 vs ONNX Runtime on the CPU, on the same images.

Reports max/mean absolute error of probabilities (sigmoid of one logit map, softmax over several),
the share of pixels whose mask flips, the IoU between the two masks and, when ground-truth masks are
given, the IoU of each against the truth. These fields read the same for every model: for several
classes the masks' IoU is the foreground's (any class but 0). A multi-class output (C > 1 channels)
adds per-class fields (`class_fields`). fp32 graphs must stay within `FP32_MAX_PROB_ERR` and
`FP32_MAX_FLIPS` or the export fails; fp16 and int8 are reported. A NaN in either output fails every
precision: NaN compares false with any limit, so it would otherwise pass.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import EdgesegError
from ..metrics import CLASS_SCORES, Confusion, class_scores, dataset_scores, mask_flips, masks_from_output, sigmoid

FP32_MAX_PROB_ERR = 1e-4
FP32_MAX_FLIPS = 1e-4  # 0.01 % of pixels


def eager_outputs(module, images: np.ndarray, batch: int = 8) -> np.ndarray:
    import torch

    module = module.eval()
    outs = []
    with torch.no_grad():
        for i in range(0, len(images), batch):
            outs.append(module(torch.from_numpy(images[i : i + batch])).float().numpy())
    return np.concatenate(outs)


def ort_session(model, threads: int | None = None):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = threads
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def ort_outputs(model, images: np.ndarray) -> np.ndarray:
    """Run `model` on `images` in chunks of its batch size (a static batch pads the last chunk).

    An int8 graph runs as the runtime's ORT CPU runner runs it (`runtime.ort_int8.for_ort_cpu`): the file
    as exported would show the u8s8 saturation of CPUs without VNNI, an error no deployment makes.
    """
    if any(node.op_type == "QuantizeLinear" for node in model.graph.node):
        from ..runtime.ort_int8 import for_ort_cpu

        model = for_ort_cpu(model)
    session = ort_session(model)
    dim = session.get_inputs()[0].shape[0]
    batch = dim if isinstance(dim, int) and dim > 0 else 8
    outs = []
    for i in range(0, len(images), batch):
        chunk = images[i : i + batch]
        n = len(chunk)
        if isinstance(dim, int) and n < dim:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], dim - n, axis=0)])
        outs.append(session.run(["output"], {"input": np.ascontiguousarray(chunk)})[0][:n].astype(np.float32))
    return np.concatenate(outs)


def probabilities(output: np.ndarray, kind: str) -> np.ndarray:
    if kind == "probabilities":
        return output.astype(np.float32)
    if output.shape[1] == 1:
        return sigmoid(output)
    z = output - output.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def compare(
    reference: np.ndarray,
    output: np.ndarray,
    *,
    kind: str = "logits",
    threshold: float = 0.5,
    targets: np.ndarray | None = None,
) -> dict[str, Any]:
    """Parity of `output` against `reference` (both raw network outputs, NCHW)."""
    if reference.shape != output.shape:
        raise EdgesegError(f"output shape {output.shape} differs from the eager reference {reference.shape}")
    for what, values in (("the eager PyTorch reference", reference), ("the exported graph's output", output)):
        if np.isnan(values).any():
            raise EdgesegError(f"{what} holds NaN for {np.isnan(values).any(axis=tuple(range(1, values.ndim))).sum()} "
                               f"of {len(values)} image(s): the weights or the graph are broken")
    err = np.abs(probabilities(reference, kind) - probabilities(output, kind))
    ref_masks = masks_from_output(reference, kind, threshold)
    masks = masks_from_output(output, kind, threshold)
    result: dict[str, Any] = {
        "images": int(len(reference)),
        "max_abs_prob_err": float(err.max()),
        "mean_abs_prob_err": float(err.mean()),
        "mask_flip_share": mask_flips(masks, ref_masks),
        "mask_iou_vs_fp32": Confusion.of(masks, ref_masks).iou(),
    }
    if targets is not None:
        result["iou_gt"] = dataset_scores(list(masks), list(targets))["mean_iou"]
        result["iou_gt_fp32"] = dataset_scores(list(ref_masks), list(targets))["mean_iou"]
        result["iou_gt_drop"] = result["iou_gt_fp32"] - result["iou_gt"]
    if reference.shape[1] > 1:
        result.update(class_fields(ref_masks, masks, reference.shape[1], targets))
    return result


def class_fields(ref_masks: np.ndarray, masks: np.ndarray, classes: int, targets: np.ndarray | None) -> dict[str, Any]:
    """Per-class parity of `masks` against the eager `ref_masks` (class-index maps of `classes` classes).

    `class_flip_share[k]`: the share of all pixels that one mask puts in class k and the other does not
    (summed over k, twice `mask_flip_share`); `class_iou_vs_fp32[k]`: class k's IoU between the two.
    With ground truth: `class_gt` and `class_gt_fp32` (each class's iou/dice/precision/recall, confusions
    summed over the images), `class_gt_drop` (eager minus artifact, per class and score) and the means
    over the foreground classes 1..C-1 (`mean_iou_gt`, `mean_dice_gt`, their `_fp32` and `_drop`).
    """
    pixels = max(ref_masks.size, 1)
    out: dict[str, Any] = {
        "classes": classes,
        "class_flip_share": {str(k): float(np.count_nonzero((ref_masks == k) != (masks == k))) / pixels
                             for k in range(classes)},
        "class_iou_vs_fp32": {k: v["iou"] for k, v in class_scores(masks, ref_masks, classes)["classes"].items()},
    }
    if targets is None:
        return out
    try:
        mine, eager = class_scores(masks, targets, classes), class_scores(ref_masks, targets, classes)
    except ValueError as exc:
        raise EdgesegError(f"the parity images' ground truth does not fit a {classes}-class model: {exc}") from None
    out["class_gt"], out["class_gt_fp32"] = mine["classes"], eager["classes"]
    out["class_gt_drop"] = {k: {s: eager["classes"][k][s] - v[s] for s in CLASS_SCORES}
                            for k, v in mine["classes"].items()}
    for score in ("iou", "dice"):
        out[f"mean_{score}_gt"] = mine[f"mean_{score}"]
        out[f"mean_{score}_gt_fp32"] = eager[f"mean_{score}"]
        out[f"mean_{score}_gt_drop"] = eager[f"mean_{score}"] - mine[f"mean_{score}"]
    return out


def require_fp32(result: dict[str, Any], what: str, max_err: float = FP32_MAX_PROB_ERR,
                 max_flips: float = FP32_MAX_FLIPS) -> None:
    if not (result["max_abs_prob_err"] <= max_err and result["mask_flip_share"] <= max_flips):  # NaN fails
        raise EdgesegError(
            f"{what}: ONNX Runtime fp32 output differs from PyTorch (max abs prob error "
            f"{result['max_abs_prob_err']:.2e} > {max_err:g} or mask flips {result['mask_flip_share']:.4%} > "
            f"{max_flips:.4%}); the graph does not compute what the model does"
        )


def fp16_execution(model) -> dict[str, Any]:
    """How ONNX Runtime's CPU provider really executes an fp16 graph.

    Its CPU kernels cover float16 for only some operators; for the rest ORT inserts Casts and computes
    in float32. Read ORT's optimised graph and count which compute nodes take float16 inputs.
    """
    import tempfile
    from collections import Counter
    from pathlib import Path

    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="edgeseg-fp16-") as tmp:
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        opts.optimized_model_filepath = str(Path(tmp) / "ort.onnx")
        ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        optimized = onnx.shape_inference.infer_shapes(onnx.load(opts.optimized_model_filepath))
    g = optimized.graph
    types = {v.name: v.type.tensor_type.elem_type for v in (*g.input, *g.output, *g.value_info)}
    types.update({i.name: i.data_type for i in g.initializer})
    half, single = Counter(), Counter()
    for node in g.node:
        if node.op_type == "Cast" or not node.input:
            continue
        (half if types.get(node.input[0]) == onnx.TensorProto.FLOAT16 else single)[node.op_type] += 1
    return {
        "checked_with": "onnxruntime CPUExecutionProvider",
        "ort_cpu_fp16_nodes": dict(sorted(half.items())),
        "ort_cpu_fp32_nodes": dict(sorted(single.items())),
        "note": (
            "ORT's CPU provider has float16 kernels only for some operators; the others run in float32 "
            "between Casts it inserts. So the check covers float16 weights and float16 tensors between "
            "nodes, not float16 arithmetic inside the fp32-computed nodes; the GPU engine is checked "
            "after `edgeseg build`."
        ),
    }
