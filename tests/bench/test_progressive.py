"""`edgeseg bench` on a progressive bundle: a row per level (time to that level), and the deadline sweep."""

import json
import math

import numpy as np
import pytest
from clirun import invoke

from edgeseg import manifest as mf
from edgeseg.bench.progressive import budgets, deadline_sweep, level_latencies, sweep_markdown
from edgeseg.errors import EdgesegError
from edgeseg.runtime import Segmenter
from edgeseg.runtime.base import TensorInfo
from edgeseg.runtime.progressive import Chain

DATA = "synthetic:nuclei?n=4&size=32&seed=1"
STEP_MS = (10.0, 20.0, 30.0, 40.0)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    import torch

    from edgeseg.export import export_bundle
    from edgeseg.models import create_model

    folder = tmp_path_factory.mktemp("bench-progressive") / "bundle"
    torch.manual_seed(0)
    model = create_model("unet_sharp", width_mult=0.0625).eval()
    export_bundle((model, mf.Normalization()), folder, variants="L2,progressive", img_size=32, parity_images=2)
    return folder


class Clock:
    now = 0.0

    def __call__(self):
        return self.now


class TimedChain(Chain):
    """Step k takes STEP_MS[k] on the clock; level k's mask is all foreground from L3 on."""

    name = "timed"

    def __init__(self, spec, clock):
        self.clock, self.levels, self.costs = clock, spec.levels, (1.0, 2.0, 3.0, 4.0)
        self.inputs = (TensorInfo("input", (1, 3, 32, 32), np.dtype("float32")),)
        self.outputs = (TensorInfo(spec.output.name, (1, 1, 32, 32), np.dtype("float32")),)

    def run_steps(self, feed):
        for k, ms in enumerate(STEP_MS):
            self.clock.now += ms / 1000
            yield np.full((1, 1, 32, 32), 1.0 if k >= 2 else -1.0, np.float32)


def _timed(bundle):
    manifest = mf.load(bundle)
    chain = manifest.chain("progressive", "fp32")
    clock = Clock()
    return Segmenter(TimedChain(chain, clock), chain, manifest.normalization, clock=clock)


def test_latency_to_each_level_is_cumulative(bundle):
    seg = _timed(bundle)
    images = [np.zeros((32, 32, 3), np.uint8)] * 2
    times = level_latencies(seg, images, warmup=1, iters=3)
    assert times == {
        "L1": [pytest.approx(10.0)] * 3, "L2": [pytest.approx(30.0)] * 3,
        "L3": [pytest.approx(60.0)] * 3, "L4": [pytest.approx(100.0)] * 3}


def test_the_deadline_sweep_counts_levels_and_the_iou_delivered(bundle):
    seg = _timed(bundle)
    images = [np.zeros((32, 32, 3), np.uint8)] * 4
    truth = [np.ones((32, 32), np.uint8)] * 4
    seg.segment(images[0], deadline_ms=math.inf)  # every step measured once
    sweep = deadline_sweep(seg, images, truth, [5, 35, 61, 1000])
    assert [max(s["levels"], key=s["levels"].get) for s in sweep] == ["L1", "L2", "L3", "L4"]
    assert [s["mean_iou"] for s in sweep] == [0.0, 0.0, 1.0, 1.0]
    table = sweep_markdown([{"variant": "progressive", "precision": "fp32", "backend": "timed", "sweep": sweep}])
    assert "| 35 | 0% | 100% | 0% | 0% | 0.0000 |" in table


def test_budgets_are_checked():
    assert budgets(None) == [] and budgets([5, 2.5]) == [5.0, 2.5]
    for bad in ([0], [math.inf], [float("nan")], ["5"]):
        with pytest.raises(EdgesegError, match="`deadlines` must be milliseconds > 0"):
            budgets(bad)


def test_bench_cli_times_each_level_and_sweeps_deadlines(bundle, tmp_path):
    ran = invoke("bench", bundle, "--data", DATA, "--backends", "ort-cpu", "--out", tmp_path / "out", "--warmup", "1",
                 "--iters", "3", "--eval-images", "2", "--threads", "1", "--deadlines", "0.001,1e6")
    assert ran.exit_code == 0, ran.output
    rows = json.loads((tmp_path / "out" / "results.json").read_text())["rows"]
    levels = [r for r in rows if r["variant"].startswith("progressive@")]
    assert [r["variant"] for r in levels] == [f"progressive@L{k}" for k in range(1, 5)]
    p50 = [r["latency_ms"]["p50"] for r in levels]
    assert p50 == sorted(p50) and all(r["iou"] is not None for r in levels)
    assert any(r["variant"] == "L2" for r in rows)  # the standalone rows are still there
    sweep = (tmp_path / "out" / "progressive.md").read_text()
    assert "| 0.001 | 100% | 0% | 0% | 0% |" in sweep and "| 1e+06 | 0% | 0% | 0% | 100% |" in sweep
    bad = invoke("bench", bundle, "--backends", "ort-cpu", "--out", tmp_path / "bad", "--deadlines", "fast")
    assert bad.exit_code != 0 and bad.says("--deadlines takes comma-separated numbers")


def test_bad_deadlines_fail_before_anything_is_exported(tmp_path):
    from edgeseg import bench

    from .bundles import tiny_checkpoint

    tiny_checkpoint(tmp_path / "best")
    out = tmp_path / "bench"
    with pytest.raises(EdgesegError, match="`deadlines` must be milliseconds > 0, got -1"):
        bench.run(tmp_path / "best", out=out, data="synthetic:nuclei?n=4&size=32", variants=["L1"], deadlines=[-1])
    assert not out.exists() or not any(out.iterdir())
