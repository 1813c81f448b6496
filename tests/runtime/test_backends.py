import numpy as np
import pytest

from edgeseg import manifest as mf
from edgeseg.errors import EdgesegError
from edgeseg.runtime import BACKENDS
from edgeseg.runtime.backends import RUNTIME, Backend, candidates, matching_engine, names, parse_backend
from edgeseg.runtime.ort import providers_for, trt_ep_options
from edgeseg.runtime.trt import dynamic, use_zero_copy, volume

ALL = {"tensorrt": True, "pycuda": True, "onnxruntime": True}


def test_preference_order():
    assert BACKENDS == ("tensorrt", "ort-tensorrt", "ort-cuda", "ort-cpu")
    assert candidates("auto", driver=True, modules=ALL) == list(BACKENDS)
    assert candidates("auto", driver=False, modules=ALL) == ["ort-cpu"]
    assert candidates("auto", driver=True, modules={**ALL, "pycuda": False}) == ["ort-tensorrt", "ort-cuda", "ort-cpu"]
    no_ort = {"tensorrt": True, "pycuda": True, "onnxruntime": False}
    assert candidates("auto", driver=True, modules=no_ort) == ["tensorrt"]
    assert candidates("ort-cuda", driver=False, modules={}) == ["ort-cuda"]  # asked for by name: tried, errors shown
    with pytest.raises(EdgesegError, match="ort-cpu"):
        candidates("gpu")
    assert candidates("trt") == ["tensorrt"] and candidates("ort-trt") == ["ort-tensorrt"]  # bench's names work too
    with pytest.raises(EdgesegError, match="unknown backend 'torch'"):
        candidates("torch")  # the eager reference is not a runtime backend


def test_one_backend_enum_with_long_and_short_names():
    assert [b.value for b in Backend] == ["torch", "ort-cpu", "ort-cuda", "ort-tensorrt", "tensorrt"]
    assert [b.short for b in Backend] == ["torch", "ort-cpu", "ort-cuda", "ort-trt", "trt"]
    assert Backend("trt") is Backend.TENSORRT and Backend("ort-tensorrt") is Backend.ORT_TENSORRT
    assert f"{Backend.ORT_TENSORRT}" == str(Backend.ORT_TENSORRT) == "ort-tensorrt" == Backend.ORT_TENSORRT
    assert BACKENDS == RUNTIME and Backend.TORCH not in RUNTIME
    assert names(RUNTIME) == ("tensorrt", "ort-tensorrt", "ort-cuda", "ort-cpu", "trt", "ort-trt")
    assert names(short=True) == ("torch", "ort-cpu", "ort-cuda", "ort-trt", "trt")
    assert parse_backend("ort-trt") is Backend.ORT_TENSORRT and parse_backend(Backend.TORCH) is Backend.TORCH
    listed = r"choose one of: torch, ort-cpu, ort-cuda, ort-tensorrt \(ort-trt\), tensorrt \(trt\)$"
    with pytest.raises(EdgesegError, match="unknown backend 'gpu'; " + listed):
        parse_backend("gpu")


def test_cli_choices_derive_from_the_enum():
    from edgeseg.cli.bench import ALL_BACKENDS
    from edgeseg.cli.predict import BackendChoice

    assert [c.value for c in BackendChoice] == ["auto", *names(RUNTIME)]
    assert ALL_BACKENDS.split(",") == [b.short for b in Backend]


def _engine(artifact, cc, trt):
    return mf.Engine(file=f"{artifact}.{cc}.{trt}.engine", sha256="0" * 64, artifact=artifact, target="cuda",
                     gpu="gpu", compute_capability=cc, trt_version=trt, cache_key="k")


def test_matching_engine_needs_artifact_gpu_and_trt_version():
    spec = mf.TensorSpec("input", ("batch", 3, 8, 8), "float32")
    art = mf.Artifact("L1.fp16.onnx", "1" * 64, "L1", "fp16", spec, spec)
    other = mf.Artifact("L2.fp16.onnx", "2" * 64, "L2", "fp16", spec, spec)
    engines = (_engine("L1.fp16.onnx", "8.6", "10.3.0"), _engine("L1.fp16.onnx", "8.7", "10.3.0"),
               _engine("L2.fp16.onnx", "8.7", "10.4.0"))
    m = mf.Manifest(model={"name": "x"}, normalization=mf.Normalization(), artifacts=(art, other), engines=engines)
    assert matching_engine(m, art, "8.7", "10.3.0") == engines[1]
    assert matching_engine(m, art, "8.7", "10.4.0") is None
    assert matching_engine(m, art, "8.9", "10.3.0") is None


def test_ort_provider_options():
    assert providers_for("ort-cpu") == ["CPUExecutionProvider"]
    cuda_first = [("CUDAExecutionProvider", {"device_id": 1}), "CPUExecutionProvider"]
    assert providers_for("ort-cuda", device_id=1) == cuda_first
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


def test_ort_runner_takes_every_spelling_of_its_backends():
    """The short name (`ort-trt`, as `edgeseg bench` writes it) and the enum member name the same provider."""
    assert providers_for("ort-trt", device_id=1) == providers_for(Backend.ORT_TENSORRT, device_id=1)
    assert providers_for(Backend.ORT_CPU) == ["CPUExecutionProvider"]
    with pytest.raises(EdgesegError, match="unknown ONNX Runtime backend 'trt'"):
        providers_for("trt")
