"""`edgeseg bench` end to end on a tiny UNet# (width 1/8, 32 px): a bundle with its source checkpoint
next to it, rows on torch and ONNX Runtime (CPU), reports, skipped backends, and the two gates."""

import csv
import json

import pytest
from typer.testing import CliRunner

from edgeseg.cli import app

from .bundles import tiny_bundle, tiny_checkpoint

DATA = "synthetic:nuclei?n=6&size=32&seed=1"
FAST = ["--warmup", "1", "--iters", "3", "--eval-images", "4", "--threads", "1"]
runner = CliRunner()


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    tiny_checkpoint(root / "best")
    tiny_bundle(root / "bundle", root / "best")
    return root / "bundle"


@pytest.fixture(scope="module")
def first_run(bundle, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    args = ["bench", str(bundle), "--data", DATA, "--backends", "torch,ort-cpu,trt", "--batch", "1,2", "--out", str(out), *FAST]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return out, json.loads((out / "results.json").read_text()), result.output


def test_writes_reports_with_all_fields(first_run):
    out, result, output = first_run
    assert {"results.json", "results.csv", "results.md", "pareto.png"} <= {p.name for p in out.iterdir()}
    assert (out / "pareto.png").read_bytes()[:4] == b"\x89PNG"
    assert result["schema"] == "edgeseg.bench/1" and result["environment"]["cpu"]["threads"] == 1
    ok = [r for r in result["rows"] if r["status"] == "ok"]
    assert {(r["variant"], r["backend"], r["batch"]) for r in ok} == {
        (v, b, n) for v in ("L1", "L2") for b in ("torch", "ort-cpu") for n in (1, 2)
    }
    for r in ok:
        assert r["latency_ms"]["n"] == 3 and r["latency_ms"]["p50"] > 0 and r["throughput"] > 0
        assert r["preprocess_ms"]["p50"] > 0 and r["postprocess_ms"]["p50"] > 0 and r["end_to_end_ms"]["p50"] > 0
        assert r["params"] > 0 and r["gflops"] > 0 and r["file_size_mb"] > 0 and r["peak_rss_mb"] > 0
        assert 0 <= r["iou"] <= 1 and 0 <= r["dice"] <= 1 and r["scored_images"] == 4
        assert r["parity"]["reference"] == "torch fp32"
        assert r["parity"]["flips"] < 0.01  # ORT fp32 vs eager torch through the same pre/post
    assert all(r["parity"]["flips"] == 0.0 for r in ok if r["backend"] == "torch")
    csv_rows = list(csv.DictReader((out / "results.csv").open()))
    assert len(csv_rows) == len(result["rows"]) and all(c["p50_ms"] and c["iou"] for c in csv_rows if c["status"] == "ok")
    md = (out / "results.md").read_text()
    assert "| unet_sharp | L2 | fp32 | ort-cpu | 2 |" in md and "## Not run" in md


def test_unavailable_backend_is_listed_with_its_reason(first_run):
    _, result, output = first_run
    trt = [r for r in result["rows"] if r["backend"] == "trt"]
    assert len(trt) == 1 and trt[0]["status"] == "skipped" and trt[0]["reason"]
    assert "skipped trt" in output


def test_min_iou_gate(bundle, first_run, tmp_path):
    _, result, _ = first_run
    achieved = min(r["iou"] for r in result["rows"] if r["status"] == "ok" and r["variant"] == "L1" and r["backend"] == "ort-cpu")
    assert achieved < 0.95  # an untrained model: the gate below is above what it reaches
    base = ["bench", str(bundle), "--data", DATA, "--backends", "ort-cpu", "--variants", "L1", *FAST]
    failing = runner.invoke(app, [*base, "--out", str(tmp_path / "a"), "--min-iou", f"{achieved + 0.05:.4f}"])
    assert failing.exit_code == 1, failing.output
    assert "gate failed" in failing.output and "--min-iou" in failing.output
    assert (tmp_path / "a" / "results.json").is_file()  # reports are written before the gate decides
    passing = runner.invoke(app, [*base, "--out", str(tmp_path / "b"), "--min-iou", f"{max(achieved - 0.05, 0.0):.4f}"])
    assert passing.exit_code == 0, passing.output


def test_min_iou_needs_masks(bundle, tmp_path):
    result = runner.invoke(app, ["bench", str(bundle), "--backends", "ort-cpu", "--min-iou", "0.5", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "--data" in result.output


def test_torch_rows_without_the_checkpoint_are_skipped_with_reason(bundle, tmp_path):
    import shutil

    lonely = tmp_path / "elsewhere" / "bundle"
    shutil.copytree(bundle, lonely)
    result = runner.invoke(app, ["bench", str(lonely), "--backends", "torch,ort-cpu", "--variants", "L1", "--out", str(tmp_path / "o"), *FAST])
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "o" / "results.json").read_text())["rows"]
    torch_rows = [r for r in rows if r["backend"] == "torch"]
    assert [r["status"] for r in torch_rows] == ["skipped"] and "--checkpoint" in torch_rows[0]["reason"]
    ort = [r for r in rows if r["backend"] == "ort-cpu"]
    assert ort[0]["status"] == "ok" and ort[0]["parity"]["reference"] == "ort-cpu fp32" and "iou" not in ort[0]


def test_compare_fails_on_a_regression(bundle, first_run, tmp_path):
    out, _, _ = first_run
    previous = json.loads((out / "results.json").read_text())
    for r in previous["rows"]:
        if r["status"] == "ok":
            r["latency_ms"]["p50"] /= 100.0  # the "previous" run was 100x faster
    prev_path = tmp_path / "previous.json"
    prev_path.write_text(json.dumps(previous))
    args = ["bench", str(bundle), "--data", DATA, "--backends", "ort-cpu", "--variants", "L1", "--batch", "1", *FAST]
    regressed = runner.invoke(app, [*args, "--out", str(tmp_path / "c"), "--compare", str(prev_path)])
    assert regressed.exit_code == 1, regressed.output
    assert "p50" in regressed.output and "gate failed" in regressed.output
    same = runner.invoke(app, [*args, "--out", str(tmp_path / "d"), "--compare", str(out / "results.json"), "--latency-tolerance", "1000"])
    assert same.exit_code == 0, same.output


def test_bad_input_is_one_line(tmp_path):
    result = runner.invoke(app, ["bench", str(tmp_path), "--backends", "ort-cpu"])
    assert result.exit_code == 2 and "neither a bundle" in result.output and "Traceback" not in result.output
    assert runner.invoke(app, ["bench", str(tmp_path), "--batch", "0"]).exit_code == 2
    assert "unknown backend" in runner.invoke(app, ["bench", str(tmp_path), "--backends", "cuda"]).output
    from edgeseg.bench.sweep import SweepPlan

    assert SweepPlan(backends=["tensorrt", "ort-tensorrt", "ort-cpu"], batches=[1]).backends == ["trt", "ort-trt", "ort-cpu"]
    fp64 = runner.invoke(app, ["bench", str(tmp_path), "--backends", "ort-cpu", "--precision", "fp64"])
    assert fp64.exit_code == 2 and "unknown precision(s) fp64" in fp64.output
