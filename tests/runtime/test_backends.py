import numpy as np
import pytest

from edgeseg import manifest as mf
from edgeseg.errors import EdgesegError
from edgeseg.runtime import BACKENDS
from edgeseg.runtime.backends import candidates, matching_engine
from edgeseg.runtime.ort import providers_for, trt_ep_options
from edgeseg.runtime.trt import dynamic, use_zero_copy, volume

ALL = {"tensorrt": True, "pycuda": True, "onnxruntime": True}


def test_preference_order():
    assert BACKENDS == ("tensorrt", "ort-tensorrt", "ort-cuda", "ort-cpu")
    assert candidates("auto", driver=True, modules=ALL) == list(BACKENDS)
    assert candidates("auto", driver=False, modules=ALL) == ["ort-cpu"]
    assert candidates("auto", driver=True, modules={**ALL, "pycuda": False}) == ["ort-tensorrt", "ort-cuda", "ort-cpu"]
    assert candidates("auto", driver=True, modules={"tensorrt": True, "pycuda": True, "onnxruntime": False}) == ["tensorrt"]
    assert candidates("ort-cuda", driver=False, modules={}) == ["ort-cuda"]  # asked for by name: tried, errors shown
    with pytest.raises(EdgesegError, match="ort-cpu"):
        candidates("gpu")
    assert candidates("trt") == ["tensorrt"] and candidates("ort-trt") == ["ort-tensorrt"]  # bench's names work too


def _engine(artifact, cc, trt):
    return mf.Engine(file=f"{artifact}.{cc}.{trt}.engine", sha256="0" * 64, artifact=artifact, target="cuda",
                     gpu="gpu", compute_capability=cc, trt_version=trt, cache_key="k")


def test_matching_engine_needs_artifact_gpu_and_trt_version():
    spec = mf.TensorSpec("input", ("batch", 3, 8, 8), "float32")
    art = mf.Artifact("L1.fp16.onnx", "1" * 64, "L1", "fp16", spec, spec)
    other = mf.Artifact("L2.fp16.onnx", "2" * 64, "L2", "fp16", spec, spec)
    engines = (_engine("L1.fp16.onnx", "8.6", "10.3.0"), _engine("L1.fp16.onnx", "8.7", "10.3.0"), _engine("L2.fp16.onnx", "8.7", "10.4.0"))
    m = mf.Manifest(model={"name": "x"}, normalization=mf.Normalization(), artifacts=(art, other), engines=engines)
    assert matching_engine(m, art, "8.7", "10.3.0") == engines[1]
    assert matching_engine(m, art, "8.7", "10.4.0") is None
    assert matching_engine(m, art, "8.9", "10.3.0") is None


def test_ort_provider_options():
    assert providers_for("ort-cpu") == ["CPUExecutionProvider"]
    assert providers_for("ort-cuda", device_id=1) == [("CUDAExecutionProvider", {"device_id": 1}), "CPUExecutionProvider"]
    name, opts = providers_for("ort-tensorrt", "fp16", "/tmp/edgeseg-ort-cache-test")[0]
    assert name == "TensorrtExecutionProvider"
    assert opts["trt_engine_cache_enable"] and opts["trt_engine_cache_path"] == "/tmp/edgeseg-ort-cache-test"
    assert opts["trt_timing_cache_enable"] and opts["trt_fp16_enable"] and "trt_int8_enable" not in opts
    assert trt_ep_options("int8", None) == {"device_id": 0, "trt_int8_enable": True}
    with pytest.raises(EdgesegError, match="unknown ONNX Runtime backend"):
        providers_for("tensorrt")


def test_trt_runner_decisions():
    assert use_zero_copy(integrated=True, can_map_host_memory=True) is True  # Jetson
    assert use_zero_copy(integrated=False, can_map_host_memory=True) is False  # desktop: copies over PCIe win
    assert use_zero_copy(False, True, requested=True) is True
    with pytest.raises(EdgesegError, match="cannot map host memory"):
        use_zero_copy(True, False, requested=True)
    assert dynamic((-1, 3, 64, 64)) == (None, 3, 64, 64)
    assert volume((4, 3, 64, 64)) == 4 * 3 * 64 * 64 and volume(np.array([2, 2])) == 4
