"""Pieces of the sweep that the end-to-end runs cannot pin down."""

import numpy as np
import pytest

from edgeseg.bench import sweep
from edgeseg.bench.inputs import Target
from edgeseg.bench.timing import TimingPlan, time_pipeline
from edgeseg.errors import EdgesegError
from edgeseg.runtime.backends import Backend
from edgeseg.runtime.base import DEVICE_STEPS, Runner, TensorInfo


def test_deploy_stats_belong_to_their_model_even_when_an_id_is_reused(monkeypatch):
    import torch

    from edgeseg.models import create_model

    torch.manual_seed(0)
    small, large = create_model("unet_sharp", width_mult=0.125), create_model("unet_sharp", width_mult=0.25)
    monkeypatch.setattr(sweep, "id", lambda obj: 1, raising=False)  # as if `large` lived where `small` was freed
    first = sweep._deploy_stats(Target(size=32, model=small), "L1")
    second = sweep._deploy_stats(Target(size=32, model=large), "L1")
    assert first["params"] == sum(p.numel() for p in small.deploy("L1").parameters())
    assert second["params"] == sum(p.numel() for p in large.deploy("L1").parameters()) > first["params"]


def test_plan_takes_long_and_short_backend_names():
    plan = sweep.SweepPlan(backends=["tensorrt", "ort-trt", Backend.ORT_CPU, "torch"], batches=[1])
    assert plan.backends == [Backend.TENSORRT, Backend.ORT_TENSORRT, Backend.ORT_CPU, Backend.TORCH]
    with pytest.raises(EdgesegError, match="unknown backend 'cuda'.*ort-tensorrt \\(ort-trt\\)"):
        sweep.SweepPlan(backends=["cuda"], batches=[1])
    with pytest.raises(EdgesegError, match=">= 1"):
        sweep.SweepPlan(backends=["ort-cpu"], batches=[0])


class _Timed(Runner):
    """A runner that reports device timings the way the TensorRT runner does."""

    name = "timed"
    inputs = (TensorInfo("input", (None, 1), np.dtype(np.float32)),)

    def __init__(self):
        self.calls = 0

    def infer_impl(self, feed):
        self.calls += 1
        return {"output": feed["input"]}

    def last_timings(self):
        return {"h2d": 0.5, "compute": float(self.calls), "d2h": 0.25}


def test_the_harness_reads_device_timings_from_the_runner_interface():
    assert Runner().last_timings() is None  # the default: nothing measured on a device
    runner = _Timed()
    feed = {"input": np.zeros((1, 1), np.float32)}
    timing = time_pipeline(lambda: (feed, None), runner.infer, lambda out, metas: out, batch=1,
                           plan=TimingPlan(warmup=2, iters=4), device_timings=runner.last_timings)
    assert tuple(timing.device) == DEVICE_STEPS
    assert timing.device["h2d"].p50 == 0.5 and timing.device["compute"].n == 4
    assert timing.device["compute"].max == 6.0  # read after each timed call: calls 3..6 after 2 warm-ups


def test_int8_rows_not_faster_than_fp32_are_warned_about():
    from edgeseg.bench.results import BenchRow
    from edgeseg.bench.stats import LatencyStats

    def row(variant, precision, p50, backend=Backend.ORT_CPU, status="ok"):
        latency = LatencyStats(n=3, p50=p50, p90=p50, p99=p50, mean=p50, std=0.0, min=p50, max=p50, cv=0.0)
        return BenchRow(model="unet_sharp", backend=backend, variant=variant, precision=precision, batch=1,
                        img_size=224, status=status, latency_ms=latency)

    rows = [row("L1", "fp32", 10.0), row("L1", "int8", 10.5), row("L4", "fp32", 700.0), row("L4", "int8", 350.0),
            row("L2", "int8", 5.0), row("L1", "int8", 9.0, backend=Backend.ORT_TENSORRT)]
    (warning,) = sweep.int8_not_faster(rows)
    assert warning.startswith("L1 int8 on ort-cpu (batch 1, 224 px) is not faster than fp32: 10.50 ms vs 10.00 ms")
