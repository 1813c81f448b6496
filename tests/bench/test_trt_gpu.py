"""TensorRT rows of `edgeseg bench` on a real GPU (skipped with the reason where TensorRT, pycuda or a
GPU is missing): the runner's CUDA-event hook gives H2D / compute / D2H per row."""

import json

import pytest
from clirun import invoke

from .bundles import tiny_bundle, tiny_checkpoint

pytestmark = pytest.mark.gpu


def test_trt_rows_carry_cuda_event_timings(tmp_path):
    from edgeseg.engines.build import build_bundle

    tiny_checkpoint(tmp_path / "best")
    tiny_bundle(tmp_path / "bundle", tmp_path / "best", variants=("L1",))
    build_bundle(tmp_path / "bundle", target="cuda", min_batch=1, opt_batch=2, max_batch=2, report=lambda _: None)
    out = tmp_path / "out"
    result = invoke("bench", tmp_path / "bundle", "--backends", "torch,ort-cpu,trt", "--batch", "1,2",
                    "--warmup", "2", "--iters", "5", "--eval-images", "2", "--out", out)
    assert result.exit_code == 0, result.output
    rows = [r for r in json.loads((out / "results.json").read_text())["rows"] if r["backend"] == "trt"]
    assert [r["status"] for r in rows] == ["ok", "ok"]
    for r in rows:
        assert r["device_ms"]["compute"]["p50"] > 0 and r["device_ms"]["h2d"]["n"] == 5
        assert "d2h" in r["device_ms"]
        assert r["parity"]["reference"] == "torch fp32" and r["parity"]["flips"] < 0.01
        assert r["gpu_mem_mb"] is None or r["gpu_mem_mb"] > 0
    assert "GPU time (CUDA events" in (out / "results.md").read_text()
