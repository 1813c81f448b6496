"""TensorRT runner: pycuda page-locked host buffers, device buffers, one stream, TensorRT 10+ tensor API.

Buffers are allocated once for the optimization profile's largest shapes and bound with
`set_tensor_address`; each call sets the batch with `set_input_shape`, copies host -> device
asynchronously, runs `execute_async_v3` and copies back on the same stream. On an integrated GPU
(Jetson) the host buffers are mapped into the GPU's address space and no copies are made.
A lock makes one runner safe to share between threads (one context, one stream).

The device's primary context is used the way pycuda's own `pycuda.autoprimaryctx` does: retained once,
pushed around each use and popped after, and released by pycuda when the runner drops its last
reference. Never `detach()`: on a primary context that is not current, pycuda's detach pushes it and
releases it without popping, and from another thread than the creator it does nothing.

Timing hook (used by `edgeseg bench`): CUDA events are recorded on the stream around the H2D copies,
`execute_async_v3` and the D2H copies; `last_timings()` returns {"h2d", "compute", "d2h"} in
milliseconds for the calling thread's last `infer`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..errors import EdgesegError, EdgesegInputError, require
from .backends import Backend
from .base import Runner, TensorInfo
from .progressive import Chain, buffer_plan, engine_mismatch
from .trt_info import cuda_errors


def use_zero_copy(integrated: bool, can_map_host_memory: bool, requested: bool | None = None) -> bool:
    """Mapped host memory pays off only where GPU and CPU share DRAM (Jetson); it must be supported."""
    if requested is None:
        return integrated and can_map_host_memory
    if requested and not can_map_host_memory:
        raise EdgesegError("this GPU cannot map host memory; run without zero_copy=True")
    return requested


def set_input_shape(context, name: str, shape) -> None:
    """TensorRT answers False (and logs why) for a shape outside the engine's optimization profile."""
    if not context.set_input_shape(name, tuple(shape)):
        want = "x".join(map(str, shape))
        raise EdgesegInputError(f"TensorRT refused shape {want} for input {name!r} (outside the engine's profile)")


class PrimaryContext:
    """The device's primary CUDA context, held as pycuda's autoprimaryctx holds it."""

    def __init__(self, device):
        self._cuda_context = device.retain_primary_context()

    @contextmanager
    def current(self) -> Iterator[None]:
        self._cuda_context.push()
        try:
            yield
        finally:
            self._cuda_context.pop()

    def release(self) -> None:
        """Drop the reference; pycuda releases the primary context when its wrapper goes."""
        self._cuda_context = None


def volume(shape) -> int:
    return int(np.prod(shape, dtype=np.int64))


def dynamic(shape) -> tuple[int | None, ...]:
    return tuple(None if d < 0 else int(d) for d in shape)


class TrtRunner(Runner):
    name = Backend.TENSORRT.value

    def __init__(self, engine: str | Path, *, device: int = 0, zero_copy: bool | None = None):
        trt = require("tensorrt", "trt")
        cuda = require("pycuda.driver", "trt")
        self._cuda = cuda
        with cuda_errors("the tensorrt backend cannot start on this GPU"):
            cuda.init()
            if cuda.Device.count() <= device:
                raise EdgesegError(f"no CUDA device {device}; the tensorrt backend needs an NVIDIA GPU")
            dev = cuda.Device(device)
            self._ctx = PrimaryContext(dev)
            try:
                with self._ctx.current():
                    self._start(trt, cuda, dev, Path(engine), zero_copy)
            except BaseException:
                self._ctx.release()
                raise
        self._lock = threading.Lock()
        self._last = threading.local()

    def _start(self, trt, cuda, dev, path: Path, zero_copy: bool | None) -> None:
        self.zero_copy = use_zero_copy(
            bool(dev.get_attribute(cuda.device_attribute.INTEGRATED)),
            bool(dev.get_attribute(cuda.device_attribute.CAN_MAP_HOST_MEMORY)),
            zero_copy,
        )
        self._runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self._engine = self._runtime.deserialize_cuda_engine(path.read_bytes())
        if self._engine is None:
            raise EdgesegError(
                f"{path.name}: TensorRT cannot load this engine (built for another GPU or TensorRT version?); "
                "rebuild it with `edgeseg build`"
            )
        self._context = self._engine.create_execution_context()
        self._stream = cuda.Stream()
        self._events = tuple(cuda.Event() for _ in range(4))  # start, after H2D, after compute, end
        self._describe(trt)
        self._allocate()

    def _describe(self, trt) -> None:
        engine = self._engine
        inputs, outputs = [], []
        self._min_batch, self._max_shapes = 1, {}
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(name)))
            info = TensorInfo(name, dynamic(engine.get_tensor_shape(name)), dtype)
            if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
                lo, _opt, hi = engine.get_tensor_profile_shape(name, 0)
                self._max_shapes[name] = tuple(hi)
                self._min_batch, self.max_batch = int(lo[0]), int(hi[0])
                inputs.append(info)
            else:
                outputs.append(info)
        self.inputs, self.outputs = tuple(inputs), tuple(outputs)

    def _allocate(self) -> None:
        cuda = self._cuda
        for name, shape in self._max_shapes.items():
            set_input_shape(self._context, name, shape)
        for info in self.outputs:
            self._max_shapes[info.name] = tuple(self._context.get_tensor_shape(info.name))
        flags = cuda.host_alloc_flags.DEVICEMAP if self.zero_copy else 0
        self._host, self._device = {}, {}
        for info in (*self.inputs, *self.outputs):
            host = cuda.pagelocked_empty(volume(self._max_shapes[info.name]), info.dtype, mem_flags=flags)
            if self.zero_copy:
                device = host.base.get_device_pointer()
            else:
                self._device[info.name] = cuda.mem_alloc(host.nbytes)
                device = self._device[info.name]
            self._host[info.name] = host
            self._context.set_tensor_address(info.name, int(device))

    def validate(self, feed) -> None:
        super().validate(feed)
        for info in self.inputs:
            batch = feed[info.name].shape[0]
            if batch < self._min_batch:
                raise EdgesegInputError(f"batch {batch} is below the engine's minimum {self._min_batch}")

    def infer_impl(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        cuda = self._cuda
        with self._lock, self._ctx.current():
            start, copied_in, computed, end = self._events
            start.record(self._stream)
            for info in self.inputs:
                array = feed[info.name]
                set_input_shape(self._context, info.name, array.shape)
                host = self._host[info.name][: array.size].reshape(array.shape)
                np.copyto(host, array)
                if not self.zero_copy:
                    cuda.memcpy_htod_async(self._device[info.name], host, self._stream)
            copied_in.record(self._stream)
            if not self._context.execute_async_v3(self._stream.handle):
                raise EdgesegError("TensorRT execution failed (see the TensorRT log)")
            computed.record(self._stream)
            views = {}
            for info in self.outputs:
                shape = tuple(self._context.get_tensor_shape(info.name))
                views[info.name] = self._host[info.name][: volume(shape)].reshape(shape)
                if not self.zero_copy:
                    cuda.memcpy_dtoh_async(views[info.name], self._device[info.name], self._stream)
            end.record(self._stream)
            self._stream.synchronize()
            self._last.timings = {
                "h2d": copied_in.time_since(start),
                "compute": computed.time_since(copied_in),
                "d2h": end.time_since(computed),
            }
            return {name: view.copy() for name, view in views.items()}

    def last_timings(self) -> dict[str, float] | None:
        """Milliseconds of this thread's last `infer` on the GPU: {"h2d", "compute", "d2h"} (CUDA events)."""
        timings = getattr(self._last, "timings", None)
        return dict(timings) if timings else None

    def close(self) -> None:
        if getattr(self, "_engine", None) is None:
            return
        with self._ctx.current():
            for allocation in self._device.values():
                allocation.free()
            self._device, self._host = {}, {}
            self._context = self._engine = self._runtime = self._stream = self._events = None
        self._ctx.release()


class TrtChain(Chain):
    """A progressive chain on TensorRT: one engine and execution context per step, one stream, and one
    device buffer per tensor bound (`set_tensor_address`) to every context that reads or writes it, so
    the maps a step passes on never leave the GPU. Only the image goes in and each prediction comes out
    (page-locked host buffers). A lock, held while a `steps` generator runs, makes one chain safe to
    share between threads: a second caller waits until the first generator finishes or is closed."""

    name = "tensorrt"

    def __init__(self, engines: list[str | Path], chain, *, device: int = 0):
        trt = require("tensorrt", "trt")
        cuda = require("pycuda.driver", "trt")
        self._cuda = cuda
        self.spec = chain
        self.describe(chain)
        with cuda_errors("the tensorrt backend cannot start on this GPU"):
            cuda.init()
            if cuda.Device.count() <= device:
                raise EdgesegError(f"no CUDA device {device}; the tensorrt backend needs an NVIDIA GPU")
            self._ctx = PrimaryContext(cuda.Device(device))
            try:
                with self._ctx.current():
                    self._start(trt, cuda, [Path(e) for e in engines])
            except BaseException:
                self._ctx.release()
                raise
        self._lock = threading.Lock()

    def _start(self, trt, cuda, paths: list[Path]) -> None:
        self._runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self._engines, self._contexts = [], []
        for path, step in zip(paths, self.spec.steps, strict=True):
            engine = self._runtime.deserialize_cuda_engine(path.read_bytes())
            if engine is None:
                raise EdgesegError(f"{path.name}: TensorRT cannot load this engine (built for another GPU or "
                                   "TensorRT version?); rebuild it with `edgeseg build`")
            tensors = {}
            for i in range(engine.num_io_tensors):
                name = engine.get_tensor_name(i)
                is_input = engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
                tensors[name] = (is_input, np.dtype(trt.nptype(engine.get_tensor_dtype(name))).name)
            why = engine_mismatch(step, tensors)
            if why:
                raise EdgesegError(f"{path.name}: {why}; rebuild it with `edgeseg build`")
            self._engines.append(engine)
            self._contexts.append(engine.create_execution_context())
        lo, _opt, hi = self._engines[0].get_tensor_profile_shape(self.spec.input.name, 0)
        self._min_batch, self.max_batch = int(lo[0]), int(hi[0])
        self._stream = cuda.Stream()
        self._device, self._host = {}, {}
        for buffer in buffer_plan(self.spec, self.max_batch):
            self._device[buffer.name] = cuda.mem_alloc(buffer.nbytes)
            if buffer.host:
                self._host[buffer.name] = cuda.pagelocked_empty(volume(buffer.shape), np.dtype(buffer.dtype))
        for context, step in zip(self._contexts, self.spec.steps):
            for spec in (*step.inputs, *step.outputs):
                context.set_tensor_address(spec.name, int(self._device[spec.name]))

    def validate(self, feed) -> None:
        super().validate(feed)
        batch = feed[self.spec.input.name].shape[0]
        if batch < self._min_batch:
            raise EdgesegInputError(f"batch {batch} is below the engine's minimum {self._min_batch}")

    def run_steps(self, feed: dict[str, np.ndarray]):
        cuda = self._cuda
        image = feed[self.spec.input.name]
        batch = image.shape[0]
        with self._lock:
            with self._ctx.current():
                host = self._host[self.spec.input.name][: image.size].reshape(image.shape)
                np.copyto(host, image)
                cuda.memcpy_htod_async(self._device[self.spec.input.name], host, self._stream)
            for step, context in zip(self.spec.steps, self._contexts):
                with self._ctx.current():
                    for spec in step.inputs:
                        set_input_shape(context, spec.name, (batch, *spec.shape[1:]))
                    if not context.execute_async_v3(self._stream.handle):
                        raise EdgesegError(f"TensorRT execution of step {step.level} failed (see the TensorRT log)")
                    shape = tuple(context.get_tensor_shape(step.prediction))
                    view = self._host[step.prediction][: volume(shape)].reshape(shape)
                    cuda.memcpy_dtoh_async(view, self._device[step.prediction], self._stream)
                    self._stream.synchronize()
                    prediction = view.copy()
                yield prediction

    def close(self) -> None:
        if getattr(self, "_engines", None) is None:
            return
        with self._ctx.current():
            for allocation in self._device.values():
                allocation.free()
            self._device, self._host = {}, {}
            self._contexts = self._engines = self._runtime = self._stream = None
        self._ctx.release()
