"""Export: deploy variants -> ONNX (fp32, fp16, int8 QDQ) + parity + TensorRT parser check -> bundle.

`export_bundle` is the API; the graph passes (`passes`, `fp16`, `int8`) are pure ModelProto ->
ModelProto functions and only `bundle` writes files. torch, onnx and onnxruntime are imported on use.
"""

from .api import export_bundle

__all__ = ["export_bundle"]
