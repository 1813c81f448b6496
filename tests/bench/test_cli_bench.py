"""`edgeseg bench` end to end on a tiny UNet# (width 1/8, 32 px): a bundle with its source checkpoint
next to it, rows on torch and ONNX Runtime (CPU), reports, skipped backends, and the two gates."""

import json
import shutil

import pytest
from clirun import invoke

from .bundles import tiny_bundle, tiny_checkpoint
from .reports import read_reports

DATA = "synthetic:nuclei?n=6&size=32&seed=1"
FAST = ["--warmup", "1", "--iters", "3", "--eval-images", "4", "--threads", "1"]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    tiny_checkpoint(root / "best")
    tiny_bundle(root / "bundle", root / "best")
    return root / "bundle"


@pytest.fixture(scope="module")
def first_run(bundle, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    result = invoke("bench", bundle, "--data", DATA, "--backends", "torch,ort-cpu,trt", "--batch", "1,2",
                    "--out", out, *FAST)
    assert result.exit_code == 0, result.output
    return out, json.loads((out / "results.json").read_text()), result


def test_writes_reports_with_all_fields(bundle, first_run):
    out, result, run = first_run
    names = ("results.json", "results.csv", "results.md", "pareto.png")
    assert set(names) <= {p.name for p in out.iterdir()}
    assert run.says("reports: " + ", ".join(str(out / name) for name in names))
    reports = read_reports(out)  # each file parses, and they list the same rows
    assert reports.result == result
    assert result["schema"] == "edgeseg.bench/1" and result["environment"]["cpu"]["threads"] == 1
    ok = [r for r in result["rows"] if r["status"] == "ok"]
    assert sorted((r["variant"], r["backend"], r["batch"]) for r in ok) == sorted(
        (v, b, n) for v in ("L1", "L2") for b in ("torch", "ort-cpu") for n in (1, 2)
    )
    for r in ok:
        lat = r["latency_ms"]
        assert lat["n"] == 3 and 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
        assert r["throughput"] == pytest.approx(r["batch"] * 1e3 / lat["p50"])
        # pre + infer + post per iteration, so its median is above the infer median, each part timed
        assert r["end_to_end_ms"]["p50"] > lat["p50"] and r["preprocess_ms"]["n"] == r["postprocess_ms"]["n"] == 3
        assert r["throughput_e2e"] < r["throughput"]
        assert r["peak_rss_mb"] > 10  # a Python process with torch and ONNX Runtime loaded
        assert 0 <= r["iou"] <= r["dice"] <= 1 and r["scored_images"] == 4  # per image, Dice >= IoU
        assert r["parity"]["reference"] == "torch fp32"
        assert r["parity"]["flips"] < 0.01  # ORT fp32 vs eager torch through the same pre/post
    by_key = {(r["variant"], r["backend"], r["batch"]): r for r in ok}
    for r in ok:
        twin = by_key[(r["variant"], "torch", r["batch"])]
        assert (r["params"], r["gflops"]) == (twin["params"], twin["gflops"])  # the same deploy module
        if r["backend"] == "ort-cpu":
            assert r["file"] == f"{r['variant']}.fp32.onnx"
            assert r["file_size_mb"] == pytest.approx((bundle / r["file"]).stat().st_size / 2**20)
    small, large = by_key[("L1", "torch", 1)], by_key[("L2", "torch", 1)]
    assert 0 < small["params"] < large["params"] and 0 < small["gflops"] < large["gflops"]
    assert all(r["parity"]["flips"] == 0.0 for r in ok if r["backend"] == "torch")
    for c, r in zip(reports.csv_rows, result["rows"]):
        if r["status"] == "ok":
            assert float(c["p50_ms"]) == pytest.approx(r["latency_ms"]["p50"], rel=1e-3)
            assert float(c["iou"]) == pytest.approx(r["iou"], rel=1e-3)
    assert [m["IoU"] for m in reports.md_rows] == [f"{r['iou']:.4f}" for r in ok]
    assert "## Not run" in (out / "results.md").read_text()


def test_unavailable_backend_is_listed_with_its_reason(first_run):
    _, result, run = first_run
    trt = [r for r in result["rows"] if r["backend"] == "trt"]
    assert len(trt) == 1 and trt[0]["status"] == "skipped" and trt[0]["reason"]
    assert run.says(f"skipped trt: {trt[0]['reason']}")


def test_min_iou_gate(bundle, first_run, tmp_path):
    _, result, _ = first_run
    achieved = min(r["iou"] for r in result["rows"]
                   if r["status"] == "ok" and r["variant"] == "L1" and r["backend"] == "ort-cpu")
    assert achieved < 0.95  # an untrained model: the gate below is above what it reaches
    base = ["bench", bundle, "--data", DATA, "--backends", "ort-cpu", "--variants", "L1", *FAST]
    failing = invoke(*base, "--out", tmp_path / "a", "--min-iou", f"{achieved + 0.05:.4f}")
    assert failing.exit_code == 1, failing.output
    assert failing.says(f"gate failed: unet_sharp L1 fp32 ort-cpu b1 32px: IoU {achieved:.4f} < --min-iou")
    assert (tmp_path / "a" / "results.json").is_file()  # reports are written before the gate decides
    passing = invoke(*base, "--out", tmp_path / "b", "--min-iou", f"{max(achieved - 0.05, 0.0):.4f}")
    assert passing.exit_code == 0, passing.output
    assert not passing.says("gate failed")


def test_min_iou_needs_masks(bundle, tmp_path):
    result = invoke("bench", bundle, "--backends", "ort-cpu", "--min-iou", "0.5", "--out", tmp_path)
    assert result.exit_code == 2 and result.says("--min-iou needs --data with ground-truth masks")


def test_torch_rows_without_the_checkpoint_are_skipped_with_reason(bundle, tmp_path):
    lonely = tmp_path / "elsewhere" / "bundle"
    shutil.copytree(bundle, lonely)
    result = invoke("bench", lonely, "--backends", "torch,ort-cpu", "--variants", "L1", "--out", tmp_path / "o", *FAST)
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
    args = ["bench", bundle, "--data", DATA, "--backends", "ort-cpu", "--variants", "L1", "--batch", "1", *FAST]
    regressed = invoke(*args, "--out", tmp_path / "c", "--compare", prev_path)
    assert regressed.exit_code == 1, regressed.output
    assert regressed.says("gate failed: unet_sharp L1 fp32 ort-cpu") and regressed.says("p50")
    same = invoke(*args, "--out", tmp_path / "d", "--compare", out / "results.json", "--latency-tolerance", "1000")
    assert same.exit_code == 0, same.output
    assert not same.says("gate failed")


def test_bad_input_is_one_line(tmp_path):
    result = invoke("bench", tmp_path, "--backends", "ort-cpu")
    assert result.exit_code == 2 and result.says("neither a bundle") and len(result.lines) == 1
    assert "Traceback" not in result.output
    batch0 = invoke("bench", tmp_path, "--batch", "0")
    assert batch0.exit_code == 2 and batch0.says("--batch takes positive integers")
    cuda = invoke("bench", tmp_path, "--backends", "cuda")
    assert cuda.exit_code == 2 and cuda.says("unknown backend")
    from edgeseg.bench.sweep import SweepPlan

    plan = SweepPlan(backends=["tensorrt", "ort-tensorrt", "ort-cpu"], batches=[1])
    assert plan.backends == ["trt", "ort-trt", "ort-cpu"]
    fp64 = invoke("bench", tmp_path, "--backends", "ort-cpu", "--precision", "fp64")
    assert fp64.exit_code == 2 and fp64.says("unknown precision(s) fp64")
