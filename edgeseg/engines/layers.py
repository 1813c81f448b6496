"""Summarise the TensorRT engine inspector's JSON: which precision each layer really runs in.

A builder flag only *allows* a precision; the inspector says what the built engine does. Both
documented formats are read:
- TensorRT 10: each layer's tensors carry one "Format/Datatype" string, e.g.
  "Row major linear FP16 format", "Thirty-two wide channel vectorized row major Int8 format", "Float";
  I/O tensor names are listed under "Bindings".
- TensorRT 11: that string is split into "Format" and "Datatype" ("Float", "Half", "Int8", ...; lower-case
  t, as Polygraphy's inspector reads it), and "Bindings" became "I/O Tensors" (objects whose key is
  "DataType", next to "IOMode").
Needs ProfilingVerbosity.DETAILED at build time; with less, layers are plain names and count as unknown.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

# Layers that move or reshape data rather than compute: counted apart from the compute precisions.
DATA_MOVEMENT = frozenset({"Reformat", "NoOp", "Shuffle", "Constant", "Identity", "Cast", "Shape", "Slice", "Gather"})
MAX_LISTED = 20  # names of fp32 compute layers listed in the manifest

# Ordered: the first word found wins ("bfloat16" before "float16" before "float", "uint8" before "int8").
_WORDS = (
    ("uint8", "uint8"),
    ("int8", "int8"),
    ("fp8", "fp8"),
    ("float8", "fp8"),
    ("float4", "fp4"),
    ("bf16", "bf16"),
    ("bfloat16", "bf16"),
    ("fp16", "fp16"),
    ("half", "fp16"),
    ("float16", "fp16"),
    ("int32", "int32"),
    ("int64", "int64"),
    ("bool", "bool"),
    ("fp32", "fp32"),
    ("float", "fp32"),
)


# Where a tensor entry states its type: TensorRT 11 layers, TensorRT 11 I/O tensors, TensorRT 10 layers.
_TYPE_KEYS = ("Datatype", "DataType", "Format/Datatype", "Format/DataType")


def tensor_precision(tensor: Any) -> str:
    """Precision of one tensor entry of a layer (TensorRT 10 or 11 format); "unknown" when not stated."""
    if not isinstance(tensor, dict):
        return "unknown"
    text = next((tensor[k] for k in _TYPE_KEYS if tensor.get(k)), "")
    text = str(text).lower()
    if text.startswith("n/a"):
        return "unknown"
    for word, name in _WORDS:
        if word in text:
            return name
    return "unknown"


def layer_precision(layer: Any) -> str:
    """A layer computes in the precision of its inputs (an int8 conv may write fp32 output)."""
    if not isinstance(layer, dict):
        return "unknown"
    for key in ("Inputs", "Outputs"):
        found = [tensor_precision(t) for t in layer.get(key) or ()]
        found = [p for p in found if p != "unknown"]
        if found:
            return _lowest(found)
    return "unknown"


def _lowest(precisions: list[str]) -> str:
    order = ("fp4", "int8", "uint8", "fp8", "fp16", "bf16", "fp32", "int32", "int64", "bool")
    return min(precisions, key=lambda p: order.index(p) if p in order else len(order))


def summarize(info: str | dict) -> dict:
    """Inspector JSON (string or parsed) -> the manifest's `layer_precisions` entry."""
    data = json.loads(info) if isinstance(info, (str, bytes)) else info
    if not isinstance(data, dict):
        raise ValueError("engine inspector output must be a JSON object with a 'Layers' list")
    layers = data.get("Layers")
    if not isinstance(layers, list):
        raise ValueError("engine inspector output has no 'Layers' list")
    compute: Counter[str] = Counter()
    movement: Counter[str] = Counter()
    fp32_layers: list[str] = []
    for layer in layers:
        precision = layer_precision(layer)
        kind = layer.get("LayerType", "unknown") if isinstance(layer, dict) else "unknown"
        if kind in DATA_MOVEMENT:
            movement[precision] += 1
            continue
        compute[precision] += 1
        if precision == "fp32" and len(fp32_layers) < MAX_LISTED:
            fp32_layers.append(str(layer.get("Name", "?")))
    known = {p: n for p, n in compute.items() if p != "unknown"}
    return {
        "format": "trt11" if "I/O Tensors" in data else "trt10",
        "layers": len(layers),
        "compute_layers": dict(sorted(compute.items())),
        "data_movement_layers": dict(sorted(movement.items())),
        "dominant": max(known, key=known.get) if known else "unknown",
        "fp32_compute_layers": fp32_layers,
        "io": _io(data),
    }


def _io(data: dict) -> list[dict]:
    if isinstance(data.get("I/O Tensors"), list):
        return [
            {"name": t.get("Name"), "mode": t.get("IOMode"), "precision": tensor_precision(t)}
            for t in data["I/O Tensors"]
            if isinstance(t, dict)
        ]
    return [{"name": str(name)} for name in data.get("Bindings") or ()]
