"""`edgeseg bench` end to end on a tiny UNet# (width 1/8, 32 px): checkpoint -> exported bundle -> rows
on torch and ONNX Runtime (CPU), reports, skipped backends, and the two gates."""

import csv
import json

import pytest
from typer.testing import CliRunner

from edgeseg.cli import app

DATA = "synthetic:nuclei?n=6&size=32&seed=1"
FAST = ["--warmup", "1", "--iters", "3", "--eval-images", "4", "--threads", "1"]
runner = CliRunner()


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    import torch

    from edgeseg import checkpoint
    from edgeseg.checkpoint import CheckpointInfo
    from edgeseg.models import create_model

    torch.manual_seed(0)
    model = create_model("unet_sharp", width_mult=0.125)
    path = tmp_path_factory.mktemp("ckpt") / "best"
    norm = {"color": "rgb", "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
    checkpoint.save(path, model, CheckpointInfo(model="unet_sharp", config=model.config, normalization=norm, recipe={"img_size": 32}))
    return path


@pytest.fixture(scope="module")
def first_run(tiny_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    args = ["bench", str(tiny_checkpoint), "--data", DATA, "--variants", "L1,L2", "--backends", "torch,ort-cpu,trt",
            "--batch", "1,2", "--out", str(out), *FAST]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return out, json.loads((out / "results.json").read_text()), result.output


def test_checkpoint_run_writes_reports_with_all_fields(first_run):
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
        assert r["preprocess_ms"]["p50"] > 0 and r["postprocess_ms"]["p50"] > 0
        assert r["params"] > 0 and r["gflops"] > 0 and r["file_size_mb"] > 0 and r["peak_rss_mb"] > 0
        assert 0 <= r["iou"] <= 1 and 0 <= r["dice"] <= 1 and r["scored_images"] == 4
        assert r["parity"]["reference"] == "torch fp32"
        assert r["parity"]["flips"] < 0.01  # ORT fp32 vs eager torch on the same preprocessing
    torch_rows = [r for r in ok if r["backend"] == "torch"]
    assert all(r["parity"]["flips"] == 0.0 for r in torch_rows)
    csv_rows = list(csv.DictReader((out / "results.csv").open()))
    assert len(csv_rows) == len(result["rows"]) and all(c["p50_ms"] for c in csv_rows if c["status"] == "ok")
    assert "edgeseg bench" in (out / "results.md").read_text()


def test_unavailable_backend_is_listed_with_its_reason(first_run):
    _, result, output = first_run
    trt = [r for r in result["rows"] if r["backend"] == "trt"]
    assert len(trt) == 1 and trt[0]["status"] == "skipped" and "TensorRT" in trt[0]["reason"]
    assert "skipped trt" in output


def test_bundle_run_with_min_iou_gate(first_run, tmp_path):
    out, result, _ = first_run
    bundle = out / "bundle-32"
    achieved = min(r["iou"] for r in result["rows"] if r["status"] == "ok" and r["backend"] == "ort-cpu")
    base = ["bench", str(bundle), "--data", DATA, "--backends", "ort-cpu", "--variants", "L1", *FAST]
    failing = runner.invoke(app, [*base, "--out", str(tmp_path / "a"), "--min-iou", f"{min(achieved + 0.05, 1.0):.4f}"])
    if achieved + 0.05 <= 1.0:
        assert failing.exit_code == 1, failing.output
        assert "gate failed" in failing.output and "--min-iou" in failing.output
    passing = runner.invoke(app, [*base, "--out", str(tmp_path / "b"), "--min-iou", f"{max(achieved - 0.05, 0.0):.4f}"])
    assert passing.exit_code == 0, passing.output


def test_bundle_torch_rows_need_the_checkpoint(first_run, tiny_checkpoint, tmp_path):
    out, _, _ = first_run
    args = ["bench", str(out / "bundle-32"), "--backends", "torch", "--variants", "L1", *FAST]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "a")])
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "a" / "results.json").read_text())["rows"]
    assert rows[0]["status"] == "skipped" and "--checkpoint" in rows[0]["reason"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "b"), "--checkpoint", str(tiny_checkpoint)])
    rows = json.loads((tmp_path / "b" / "results.json").read_text())["rows"]
    assert [r["status"] for r in rows] == ["ok"] and rows[0]["backend"] == "torch"


def test_compare_fails_on_a_regression(first_run, tmp_path):
    out, result, _ = first_run
    previous = json.loads((out / "results.json").read_text())
    for r in previous["rows"]:
        if r["status"] == "ok":
            r["latency_ms"]["p50"] /= 100.0  # the "previous" run was 100x faster
    prev_path = tmp_path / "previous.json"
    prev_path.write_text(json.dumps(previous))
    bundle = out / "bundle-32"
    args = ["bench", str(bundle), "--data", DATA, "--backends", "ort-cpu", "--variants", "L1", "--batch", "1",
            "--out", str(tmp_path / "c"), "--compare", str(prev_path), *FAST]
    regressed = runner.invoke(app, args)
    assert regressed.exit_code == 1, regressed.output
    assert "p50" in regressed.output and "gate failed" in regressed.output
    same = runner.invoke(app, [*args[:-len(FAST) - 2], "--compare", str(out / "results.json"), "--latency-tolerance", "1000", *FAST])
    assert same.exit_code == 0, same.output


def test_bad_input_is_one_line(tmp_path):
    result = runner.invoke(app, ["bench", str(tmp_path), "--backends", "ort-cpu"])
    assert result.exit_code == 2 and "neither a bundle" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["bench", str(tmp_path), "--batch", "0"])
    assert result.exit_code == 2
