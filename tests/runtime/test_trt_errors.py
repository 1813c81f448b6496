"""The TensorRT runner's error paths that run without a GPU: pycuda's errors become BackendUnavailable (so
`backend="auto"` falls back), the primary context is pushed and popped in pairs and never detached, and a
shape TensorRT refuses is an error. pycuda and TensorRT are replaced by small stand-ins that answer as
their documentation says; what is tested is edgeseg's handling of those answers. The real libraries run
in the `gpu` tests (test_trt_gpu.py)."""

import sys
import threading
import types

import numpy as np
import pytest

from edgeseg.errors import EdgesegInputError
from edgeseg.runtime import BackendUnavailable, Segmenter
from edgeseg.runtime.base import TensorInfo
from edgeseg.runtime.trt import PrimaryContext, TrtRunner, set_input_shape


@pytest.fixture
def pycuda_without_gpu(monkeypatch):
    """pycuda.driver as it behaves where libcuda loads but no device is usable: init() raises its own Error."""

    class Error(Exception):  # pycuda._driver.Error
        pass

    class RuntimeError_(Error):  # pycuda._driver.RuntimeError, what cuInit failures raise
        pass

    def init():
        raise RuntimeError_("cuInit failed: no CUDA-capable device is detected")

    driver = types.ModuleType("pycuda.driver")
    driver.Error, driver.init = Error, init
    package = types.ModuleType("pycuda")
    package.driver = driver
    monkeypatch.setitem(sys.modules, "pycuda", package)
    monkeypatch.setitem(sys.modules, "pycuda.driver", driver)
    return driver


def test_auto_falls_back_to_onnx_runtime_when_pycuda_finds_no_gpu(bundle, pycuda_without_gpu, monkeypatch):
    from edgeseg.runtime import segmenter

    monkeypatch.setattr(segmenter, "candidates", lambda backend: ["tensorrt", "ort-cpu"])
    with Segmenter.from_bundle(bundle[0]) as seg:
        assert seg.backend == "ort-cpu"
        (reason,) = seg.skipped
    assert reason.startswith("tensorrt: ") and "no CUDA-capable device" in reason


def test_the_tensorrt_backend_asked_by_name_says_why(bundle, pycuda_without_gpu):
    with pytest.raises(BackendUnavailable, match="no CUDA-capable device"):
        Segmenter.from_bundle(bundle[0], backend="tensorrt")


class RecordingContext:
    """A pycuda primary context that records what is done to it."""

    def __init__(self):
        self.calls = []

    def push(self):
        self.calls.append("push")

    def pop(self):
        self.calls.append("pop")

    def detach(self):
        self.calls.append("detach")


class Device:
    def __init__(self, context):
        self.context = context

    def retain_primary_context(self):
        return self.context


class Allocation:
    def __init__(self, context):
        self.context = context

    def free(self):
        self.context.calls.append("free")


def stopped_runner(context: RecordingContext) -> TrtRunner:
    """A TrtRunner's state after __init__, without TensorRT."""
    runner = object.__new__(TrtRunner)
    runner._ctx = PrimaryContext(Device(context))
    runner._engine, runner._host = object(), {}
    runner._device = {"output": Allocation(context)}
    runner._lock = threading.Lock()
    return runner


def test_close_frees_inside_the_context_pops_it_and_never_detaches():
    context = RecordingContext()
    runner = stopped_runner(context)
    runner.close()
    assert context.calls == ["push", "free", "pop"]  # pycuda's autoprimaryctx: pop, then drop the reference
    assert runner._ctx._cuda_context is None
    runner.close()  # twice is fine
    assert context.calls == ["push", "free", "pop"]


def test_the_context_is_popped_when_the_work_inside_fails():
    context = RecordingContext()
    ctx = PrimaryContext(Device(context))
    with pytest.raises(ValueError), ctx.current():
        raise ValueError("inside")
    assert context.calls == ["push", "pop"]


class ExecutionContext:
    """IExecutionContext.set_input_shape returns False for a shape outside the optimization profile."""

    def __init__(self, accepts: bool):
        self.accepts, self.shapes = accepts, []

    def set_input_shape(self, name, shape):
        self.shapes.append((name, shape))
        return self.accepts


class Event:
    def record(self, stream):
        pass


def test_a_shape_tensorrt_refuses_is_an_error_not_ignored():
    set_input_shape(ExecutionContext(accepts=True), "input", (2, 3, 4, 4))
    with pytest.raises(EdgesegInputError, match="refused shape 9x3x4x4 for input 'input'"):
        set_input_shape(ExecutionContext(accepts=False), "input", (9, 3, 4, 4))

    context = RecordingContext()
    runner = stopped_runner(context)
    runner._context = ExecutionContext(accepts=False)
    runner._events, runner._stream, runner._cuda = (Event(),) * 4, object(), None
    runner.inputs = (TensorInfo("input", (None, 3, 4, 4), np.dtype(np.float32)),)
    with pytest.raises(EdgesegInputError, match="outside the engine's profile"):
        runner.infer_impl({"input": np.zeros((9, 3, 4, 4), np.float32)})
    assert context.calls == ["push", "pop"]


def test_the_runtime_imports_nothing_from_the_engine_builder():
    """Issue 15 item 6: TensorRT facts the runtime needs live in runtime/trt_info.py, not engines/build.py."""
    import ast
    from pathlib import Path

    import edgeseg.runtime

    for path in Path(edgeseg.runtime.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert "engines" not in (node.module or ""), f"{path.name} imports {node.module}"
