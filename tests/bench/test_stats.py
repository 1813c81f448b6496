import re

import numpy as np
import pytest

from edgeseg.bench import memory
from edgeseg.bench.pareto import dominates, pareto_front
from edgeseg.bench.stats import LatencyStats
from edgeseg.bench.timing import TimingPlan, time_pipeline


def test_latency_stats_on_known_list():
    s = LatencyStats.of([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0])
    assert s.n == 10 and s.p50 == pytest.approx(5.5) and s.mean == pytest.approx(5.5)
    assert s.p90 == pytest.approx(9.1) and s.p99 == pytest.approx(9.91)  # linear interpolation
    assert s.std == pytest.approx(np.sqrt(55 / 6))  # sample std of 1..10 = sqrt(9.1667)
    assert s.cv == pytest.approx(s.std / 5.5) and s.noisy
    assert (s.min, s.max) == (1.0, 10.0)


def test_steady_latencies_are_not_noisy():
    s = LatencyStats.of([10.0, 10.1, 9.9, 10.0])
    assert s.cv < 0.05 and not s.noisy
    assert LatencyStats.of([3.0]).std == 0.0


@pytest.mark.parametrize("bad", [[], [1.0, float("nan")], [-1.0]])
def test_latency_stats_reject_bad_input(bad):
    with pytest.raises(ValueError):
        LatencyStats.of(bad)


def test_pareto_front_on_known_points():
    # (throughput, iou): 0 and 3 are dominated by 1; 4 duplicates 2 (both kept)
    points = [(100, 0.70), (200, 0.80), (50, 0.90), (150, 0.75), (50, 0.90), (400, 0.60)]
    assert pareto_front(points) == [2, 4, 1, 5]
    assert dominates((200, 0.80), (100, 0.70)) and not dominates((50, 0.90), (50, 0.90))
    assert pareto_front([]) == []


def test_harness_counts_iterations_and_reads_the_device_hook():
    calls = {"pre": 0, "infer": 0, "post": 0}
    x = np.ones((2, 3, 8, 8), np.float32)

    def pre():
        calls["pre"] += 1
        return {"input": x}, ["meta"]

    def infer(feed):
        calls["infer"] += 1
        return {"output": feed["input"].sum(axis=1, keepdims=True)}

    def post(outputs, metas):
        calls["post"] += 1
        return outputs["output"] > 0

    hook = iter([{"h2d": 0.1, "compute": 1.0, "d2h": 0.2}] * 7)
    held_mb = _resident_mb()
    t = time_pipeline(pre, infer, post, batch=2, plan=TimingPlan(warmup=3, iters=7), device_timings=lambda: next(hook))
    assert calls == {"pre": 10, "infer": 10, "post": 10}
    assert t.latency.n == t.preprocess.n == t.postprocess.n == 7
    assert t.device["compute"].p50 == pytest.approx(1.0) and t.device["h2d"].n == 7
    assert t.throughput == pytest.approx(2 / (t.latency.p50 / 1e3))
    assert t.throughput_e2e < t.throughput
    assert t.masks.shape == (2, 1, 8, 8) and t.masks.all()
    assert t.peak_rss_mb > 0
    if held_mb is not None:  # Linux: the peak covers at least the memory the process held when the row began
        assert t.peak_rss_mb >= held_mb - 1
    assert t.window[1] > t.window[0]
    assert t.peak_rss_scope == ("row" if memory.reset_peak() else "process")  # per row where the kernel allows


def _resident_mb() -> float | None:
    """VmRSS of this process in MiB, where /proc exists."""
    if not memory.STATUS.is_file():
        return None
    kib = re.search(r"^VmRSS:\s*(\d+)\s*kB", memory.STATUS.read_text(), re.MULTILINE).group(1)
    return int(kib) / 1024


def test_harness_duration_mode_runs_at_least_min_iters():
    t = time_pipeline(lambda: (1, None), lambda f: f, lambda o, m: o, batch=1,
                      plan=TimingPlan(warmup=0, iters=1, duration=1e-6, min_iters=4))
    assert t.latency.n >= 4 and not t.device


def test_timing_plan_rejects_nonsense():
    with pytest.raises(ValueError):
        TimingPlan(iters=0)
    with pytest.raises(ValueError):
        TimingPlan(duration=-1)
