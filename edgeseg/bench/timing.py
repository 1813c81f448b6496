"""The timing harness: warm-up, then timed iterations of preprocess -> infer -> postprocess.

What is timed (wall clock, `time.perf_counter`, per batch):
- `latency`: the runner's `infer(feed)` call alone (for ONNX Runtime on the CPU that is the model;
  for GPU runners it includes the host<->device copies, which the device hook splits out);
- `preprocess` / `postprocess`: the runtime's own steps, timed separately;
- `end_to_end`: the three together.
Throughput (images/s) = batch / median latency: on a shared machine the median is robust to the
stalls other processes cause, which a mean would fold into the figure (the mean is reported too).

Device timings: every runtime `Runner` has `last_timings()`, the milliseconds its last `infer` spent
in each of `DEVICE_STEPS` (h2d, compute, d2h) as measured on the device, or None (TensorRT's runner
fills them from CUDA events; the others measure nothing there). The harness reads it after each
timed call and never looks inside the runner otherwise.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..runtime.base import DEVICE_STEPS
from . import memory
from .stats import LatencyStats


@dataclass(frozen=True)
class TimingPlan:
    warmup: int = 10
    iters: int = 50
    duration: float | None = None  # seconds of timed iterations; when set it replaces `iters`
    min_iters: int = 5  # a --duration run still times at least this many

    def __post_init__(self):
        if self.warmup < 0 or self.iters < 1 or self.min_iters < 1:
            raise ValueError("warm-up must be >= 0 and iterations >= 1")
        if self.duration is not None and self.duration <= 0:
            raise ValueError("duration must be positive seconds")


@dataclass
class Timing:
    batch: int
    latency: LatencyStats
    preprocess: LatencyStats
    postprocess: LatencyStats
    end_to_end: LatencyStats
    throughput: float  # images/s: batch / median infer latency
    throughput_e2e: float  # images/s: batch / median of pre + infer + post
    device: dict[str, LatencyStats] = field(default_factory=dict)  # from the runner's hook
    peak_rss_mb: float | None = None
    peak_rss_scope: str = "row"  # "row" or "process" (where the peak cannot be reset)
    window: tuple[float, float] = (0.0, 0.0)  # perf_counter span of the timed infer loop
    masks: Any = None  # postprocessed output of the last iteration


def time_pipeline(
    preprocess: Callable[[], tuple[Any, Any]],
    infer: Callable[[Any], Any],
    postprocess: Callable[[Any, Any], Any],
    batch: int,
    plan: TimingPlan,
    device_timings: Callable[[], dict | None] | None = None,
) -> Timing:
    """Run `postprocess(infer(feed), metas)` for `(feed, metas) = preprocess()` and time each step."""
    per_row = memory.reset_peak()
    for _ in range(plan.warmup):
        feed, metas = preprocess()
        postprocess(infer(feed), metas)

    pre, inf, post = [], [], []
    device: dict[str, list[float]] = {k: [] for k in DEVICE_STEPS}
    masks = None
    clock = time.perf_counter
    start = clock()
    deadline = start + plan.duration if plan.duration else None
    while True:
        t0 = clock()
        feed, metas = preprocess()
        t1 = clock()
        outputs = infer(feed)
        t2 = clock()
        masks = postprocess(outputs, metas)
        t3 = clock()
        pre.append((t1 - t0) * 1e3)
        inf.append((t2 - t1) * 1e3)
        post.append((t3 - t2) * 1e3)
        if device_timings is not None:
            _collect(device, device_timings())
        n = len(inf)
        if deadline is None and n >= plan.iters:
            break
        if deadline is not None and clock() >= deadline and n >= plan.min_iters:
            break
    end = clock()

    latency = LatencyStats.of(inf)
    end_to_end = LatencyStats.of([a + b + c for a, b, c in zip(pre, inf, post)])
    return Timing(
        batch=batch,
        latency=latency,
        preprocess=LatencyStats.of(pre),
        postprocess=LatencyStats.of(post),
        end_to_end=end_to_end,
        throughput=_per_second(batch, latency.p50),
        throughput_e2e=_per_second(batch, end_to_end.p50),
        device={k: LatencyStats.of(v) for k, v in device.items() if v},
        peak_rss_mb=memory.peak_rss_mb(),
        peak_rss_scope="row" if per_row else "process",
        window=(start, end),
        masks=masks,
    )


def _per_second(batch: int, ms: float) -> float:
    return batch * 1e3 / ms if ms > 0 else float("inf")


def _collect(device: dict[str, list[float]], timings: dict | None) -> None:
    if not timings:
        return
    for key in DEVICE_STEPS:
        value = timings.get(key)
        if value is not None:
            device[key].append(float(value))
