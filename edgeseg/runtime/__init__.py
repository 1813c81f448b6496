"""The torch-free runtime that goes onto devices: runners (ONNX Runtime, TensorRT) and the Segmenter.

Imports numpy (and Pillow for resizing) when its classes are first used, so the CLI can name the
backends without loading them; onnxruntime, tensorrt and pycuda are imported only when a runner that
needs them is created. Never imports torch (tests/runtime checks this in a subprocess).
"""

from importlib import import_module

_HOMES = {
    "BACKENDS": ".backends",
    "Backend": ".backends",
    "BackendUnavailable": ".ort",
    "MAX_PIXELS": "..data.images",
    "OrtRunner": ".ort",
    "Runner": ".base",
    "Segmenter": ".segmenter",
    "TensorInfo": ".base",
    "TrtRunner": ".trt",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_HOMES[name], __name__), name)
