"""The one interface every runner shares: a context manager whose `infer(feed)` validates, then runs.

Subclasses describe their tensors (`inputs`, `outputs`: name, shape with None for a dynamic axis,
dtype) and implement `infer_impl(feed) -> outputs`. Validation happens here, once, for all backends.
A runner that can time its own work on the device overrides `last_timings` (the benchmark reads it
after each timed `infer`; the wall clock around `infer` it measures itself).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import EdgesegInputError

DEVICE_STEPS = ("h2d", "compute", "d2h")  # the parts of an `infer` a runner may time on the device


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int | None, ...]  # None: dynamic axis
    dtype: np.dtype

    def check(self, array: np.ndarray) -> None:
        if not isinstance(array, np.ndarray):
            raise EdgesegInputError(f"input {self.name!r} must be a numpy array, got {type(array).__name__}")
        if array.dtype != self.dtype:
            raise EdgesegInputError(f"input {self.name!r} must be {self.dtype}, got {array.dtype}")
        fits = all(want is None or want == got for want, got in zip(self.shape, array.shape))
        if array.ndim != len(self.shape) or not fits:
            want = "x".join("?" if d is None else str(d) for d in self.shape)
            got = "x".join(map(str, array.shape))
            raise EdgesegInputError(f"input {self.name!r} must have shape {want}, got {got}")
        if array.size == 0:
            raise EdgesegInputError(f"input {self.name!r} is empty (shape {array.shape})")


class Runner:
    """Base class: `with Runner(...) as r: outputs = r.infer({"input": batch})`."""

    name = "runner"
    inputs: tuple[TensorInfo, ...] = ()
    outputs: tuple[TensorInfo, ...] = ()
    max_batch: int | None = None  # largest batch the backend accepts (None: no limit)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Release the backend's resources; safe to call twice."""

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.validate(feed)
        return self.infer_impl(feed)

    def validate(self, feed: dict[str, np.ndarray]) -> None:
        if not isinstance(feed, dict):
            raise EdgesegInputError(f"feed must be a dict of name -> array, got {type(feed).__name__}")
        want = {t.name for t in self.inputs}
        if set(feed) != want:
            raise EdgesegInputError(f"feed has inputs {sorted(feed)}, the model takes {sorted(want)}")
        for info in self.inputs:
            info.check(feed[info.name])
            batch = feed[info.name].shape[0] if feed[info.name].ndim else 0
            if self.max_batch is not None and batch > self.max_batch:
                raise EdgesegInputError(
                    f"batch {batch} is larger than this {self.name} runner's maximum {self.max_batch}"
                )

    def infer_impl(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def last_timings(self) -> dict[str, float] | None:
        """Milliseconds the calling thread's last `infer` spent in each of `DEVICE_STEPS` (host-to-device
        copy, compute, device-to-host copy), measured on the device; None from a runner that does not
        measure them (the default)."""
        return None
