"""Progressive chains: run a bundle's step graphs in order, a prediction after each, maps kept on the device.

A `Chain` is a `Runner` over the whole chain (`infer` returns the last step's prediction) that can also
run it step by step: `chain.steps(feed)` is a generator that runs the next step each time it is
advanced and yields that level's prediction (a host array). The maps a step passes on stay where the
backend computed them: `OrtChain` keeps ONNX Runtime `OrtValue`s and binds them to the next session
with I/O binding (no numpy round trip; on CUDA they stay on the GPU); `trt.TrtChain` binds one
device buffer per tensor to every engine that reads or writes it.

The deadline decisions are plain Python (`StepTimes`, `run_until`): each step's time is predicted from
the steps measured before (the median of its recent times, or, for a step never measured, the measured
steps' seconds per GFLOP times its GFLOPs), and a step starts only if the clock plus its prediction
stays within the deadline. Step 1 always runs: a mask is always returned.
"""

from __future__ import annotations

import statistics
import threading
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import manifest as mf
from .base import Runner, TensorInfo

KEEP = 16  # recent times per step the prediction takes the median of
LEVELS_FILE = "levels.csv"  # `edgeseg predict --deadline-ms` writes the level each image got here


class StepTimes:
    """Recent durations (seconds) of each step, shared by the threads using one chain."""

    def __init__(self, costs: Sequence[float | None], keep: int = KEEP):
        self.costs = list(costs)  # each step's GFLOPs (None: unknown): the scale for steps never measured
        self._recent = [deque(maxlen=keep) for _ in costs]
        self._lock = threading.Lock()

    def record(self, step: int, seconds: float) -> None:
        with self._lock:
            self._recent[step].append(float(seconds))

    def measured(self, step: int) -> float | None:
        with self._lock:
            recent = list(self._recent[step])
        return statistics.median(recent) if recent else None

    def predict(self, step: int) -> float | None:
        """Seconds step `step` is expected to take; None when nothing measured says."""
        own = self.measured(step)
        if own is not None:
            return own
        cost = self.costs[step]
        pairs = [(self.measured(k), c) for k, c in enumerate(self.costs) if k != step and c]
        pairs = [(t, c) for t, c in pairs if t is not None]
        if not cost or not pairs:
            return None
        return sum(t for t, _ in pairs) / sum(c for _, c in pairs) * cost


def run_until(levels: Iterator, times: StepTimes, deadline: float, clock: Callable[[], float]):
    """Advance `levels` (one step per item) while the next step is predicted to end by `deadline`.

    Returns (index of the last step run, its item). The first step always runs; a step with no
    prediction is not started. Each step's duration is recorded in `times`."""
    done, item = -1, None
    try:
        for k in range(len(times.costs)):
            if k > 0:
                predicted = times.predict(k)
                if predicted is None or clock() + predicted > deadline:
                    break
            started = clock()
            item = next(levels)
            times.record(k, clock() - started)
            done = k
    finally:
        close = getattr(levels, "close", None)
        if close is not None:
            close()
    return done, item


@dataclass(frozen=True)
class Buffer:
    """One tensor of a chain as a device buffer: every step that reads or writes it binds this one."""

    name: str
    shape: tuple[int, ...]  # at the largest batch
    dtype: str
    host: bool  # also copied to or from the host: the image, and each step's prediction

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize


def buffer_plan(chain: mf.Progressive, batch: int) -> list[Buffer]:
    """The device buffers a chain needs at `batch` images: one per tensor (the manifest has already
    checked that each step reads the image or an earlier output with the same spec)."""
    tensors = {mf.IMAGE: chain.input}
    for step in chain.steps:
        tensors.update((spec.name, spec) for spec in step.outputs)
    predictions = {step.prediction for step in chain.steps}
    return [Buffer(name, (batch, *spec.shape[1:]), spec.dtype, name == mf.IMAGE or name in predictions)
            for name, spec in tensors.items()]


def engine_mismatch(step: mf.Step, tensors: dict[str, tuple[bool, str]]) -> str | None:
    """Why an engine's I/O tensors ({name: (is_input, dtype)}) are not the step's, or None."""
    want = {spec.name: (True, spec.dtype) for spec in step.inputs}
    want |= {spec.name: (False, spec.dtype) for spec in step.outputs}
    for name in sorted(set(want) | set(tensors)):
        if want.get(name) != tensors.get(name):
            have = tensors.get(name)
            said = want.get(name)
            return (f"tensor {name!r} is {_role(have)} in the engine and {_role(said)} in the manifest "
                    f"(step {step.level})")
    return None


def _info(spec: mf.TensorSpec) -> TensorInfo:
    return TensorInfo(spec.name, tuple(d if isinstance(d, int) else None for d in spec.shape), np.dtype(spec.dtype))


def _role(entry: tuple[bool, str] | None) -> str:
    return "absent" if entry is None else f"a {entry[1]} {'input' if entry[0] else 'output'}"


def levels_csv(rows: Sequence[tuple[str, str]]) -> str:
    """`image,level` lines, a header first (image names are file names: quoted when they hold a comma)."""
    import csv
    import io

    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(("image", "level"))
    writer.writerows(rows)
    return text.getvalue()


def level_counts(rows: Sequence[tuple[str, str]]) -> str:
    """"L4 x 3, L2 x 1": how many images got each level, most first."""
    from collections import Counter

    return ", ".join(f"{level} x {n}" for level, n in Counter(level for _, level in rows).most_common()) or "none"


class Chain(Runner, ABC):
    """A progressive chain as one runner: `infer` runs every step, `steps` one at a time."""

    levels: tuple[str, ...] = ()
    costs: tuple[float | None, ...] = ()  # each step's GFLOPs, from the manifest

    def steps(self, feed: dict[str, np.ndarray]) -> Iterator[np.ndarray]:
        """Validate `feed` now; the generator runs step k when advanced the k-th time."""
        self.validate(feed)
        return self.run_steps(feed)

    @abstractmethod
    def run_steps(self, feed: dict[str, np.ndarray]) -> Iterator[np.ndarray]:
        """Run the steps one per advance, yielding each step's prediction (`feed` already validated)."""

    def describe(self, chain: mf.Progressive) -> None:
        """Levels, GFLOPs, and the image input and last prediction as the manifest gives them."""
        self.levels = chain.levels
        self.costs = tuple(step.gflops for step in chain.steps)
        self.inputs = (_info(chain.input),)
        self.outputs = (_info(chain.output),)
        batch = chain.input.shape[0]
        self.max_batch = batch if isinstance(batch, int) else None

    def infer_impl(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        *_, prediction = self.run_steps(feed)
        return {self.outputs[0].name: prediction}


class OrtChain(Chain):
    """One ONNX Runtime session per step; carried maps stay `OrtValue`s on the provider's device.

    Each session stops its threads' spinning when its run returns (`session.force_spinning_stop`): by
    default idle intra-op threads busy-wait for more work after a run, and with one thread pool per step
    those of the step just finished take cores from the next step (2 threads, 224 px, full UNet#: time
    to L4 1.13x the standalone L4 with the default, 1.01x with the stop; benchmarks/results/progressive.md)."""

    def __init__(self, folder: str | Path, chain: mf.Progressive, backend: str = "ort-cpu", *, threads: int = 0,
                 cache_dir: str | Path | None = None, device_id: int = 0):
        from .ort import providers_for, start_session

        self.name = backend
        self.spec = chain
        self.describe(chain)
        providers = providers_for(backend, chain.precision, cache_dir, device_id)
        self._sessions = [
            start_session(str(Path(folder) / step.file), step.file, backend, providers, threads=threads,
                          config={"session.force_spinning_stop": "1"})
            for step in chain.steps
        ]
        self._device = ("cpu", 0) if backend == "ort-cpu" else ("cuda", device_id)
        self._names = [([t.name for t in s.get_inputs()], [t.name for t in s.get_outputs()]) for s in self._sessions]

    @property
    def sessions(self) -> list:
        """The ONNX Runtime session of each step."""
        return list(self._sessions)

    def run_steps(self, feed: dict[str, np.ndarray]) -> Iterator[np.ndarray]:
        import onnxruntime as ort

        kind, index = self._device
        pool = {name: ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(a), kind, index)
                for name, a in feed.items()}
        for step, session, (inputs, outputs) in zip(self.spec.steps, self._sessions, self._names):
            binding = session.io_binding()
            for name in inputs:
                binding.bind_ortvalue_input(name, pool[name])
            for name in outputs:
                binding.bind_output(name, "cpu" if name == step.prediction else kind, index)
            session.run_with_iobinding(binding)
            pool.update(zip(outputs, binding.get_outputs()))
            yield pool[step.prediction].numpy()

    def close(self) -> None:
        self._sessions = []
