"""The torch-free runtime that goes onto devices: runners (ONNX Runtime, TensorRT) and the Segmenter.

Imports numpy (and Pillow for resizing); onnxruntime, tensorrt and pycuda are imported only when a
runner that needs them is created. Never imports torch (tests/runtime checks this in a subprocess).
"""

from ..data.images import MAX_PIXELS
from .backends import BACKENDS
from .base import Runner, TensorInfo
from .ort import BackendUnavailable, OrtRunner
from .segmenter import Segmenter
from .trt import TrtRunner

__all__ = ["BACKENDS", "MAX_PIXELS", "BackendUnavailable", "OrtRunner", "Runner", "Segmenter", "TensorInfo", "TrtRunner"]
