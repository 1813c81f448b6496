"""A deploy module -> an ONNX `ModelProto`, with torch's dynamo exporter (`torch.export` based).

Why dynamo and not the legacy TorchScript exporter: with torch 2.13 both give byte-identical graphs on
re-export, but the legacy one warns that it will be removed, names folded weights `onnx::Conv_213`
and needs opset <= 17 tricks; dynamo keeps the state-dict names of the weights, folds BatchNorm into
Conv itself and records each node's module path (which `passes.name_nodes` turns into node names,
so a graph shows which layers it holds). Its node metadata carries stack traces with absolute file
paths: `passes.strip_metadata` removes them so a bundle does not depend on where it was made.
Nothing here touches the disk.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings

INPUT = "input"
OUTPUT = "output"
BATCH = "batch"
MIN_OPSET = 18  # the dynamo exporter's own floor; lower opsets go through ONNX's version converter


def export_module(module, example, *, opset: int = MIN_OPSET, dynamic_batch: bool = False,
                  inputs: tuple[str, ...] = (INPUT,), outputs: tuple[str, ...] = (OUTPUT,)):
    """Trace `module(example)` to ONNX: input `input`, output `output`, optional dynamic axis `batch`.

    A module of several inputs takes a tuple `example` and names them (and its outputs) by `inputs`
    and `outputs`; the batch axis is then shared by all of them."""
    import torch

    module = module.eval()
    examples = example if isinstance(example, tuple) else (example,)
    axis = torch.export.Dim(BATCH, min=1, max=4096)
    dynamic_shapes = _batch_axes(module, len(examples), axis) if dynamic_batch else None
    with _quiet(), torch.no_grad():
        program = torch.onnx.export(
            module,
            examples,
            dynamo=True,
            input_names=list(inputs),
            output_names=list(outputs),
            opset_version=max(opset, MIN_OPSET),
            dynamic_shapes=dynamic_shapes,
            verbose=False,
            optimize=True,
        )
    model = program.model_proto
    if opset < MIN_OPSET:
        import onnx

        model = onnx.version_converter.convert_version(model, opset)
    return model


def _batch_axes(module, count: int, axis) -> tuple:
    """`dynamic_shapes` giving each of `count` positional inputs `axis` as dim 0, shaped like the
    signature of `module.forward` (a `*args` parameter takes a tuple of the inputs left)."""
    import inspect

    shapes: list = []
    for parameter in inspect.signature(module.forward).parameters.values():
        left = count - sum(len(s) if isinstance(s, tuple) else 1 for s in shapes)
        if parameter.kind is parameter.VAR_POSITIONAL:
            shapes.append(tuple({0: axis} for _ in range(left)))
        elif left > 0:
            shapes.append({0: axis})
    return tuple(shapes)


@contextlib.contextmanager
def _quiet():
    """The exporter logs progress and deprecation chatter to stdout/stderr; keep the CLI's output clean."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
