"""`edgeseg.bench.run` end to end on a tiny UNet# (width 1/8, 32 px): a bundle with its source
checkpoint next to it, rows on torch and ONNX Runtime (CPU), reports, skipped backends, the gates,
and a checkpoint exported then benchmarked."""

import json
import shutil

import pytest

from edgeseg import bench
from edgeseg.bench import env
from edgeseg.errors import EdgesegError
from edgeseg.runtime.backends import Backend

from .bundles import tiny_bundle, tiny_checkpoint
from .reports import read_reports

DATA = "synthetic:nuclei?n=6&size=32&seed=1"
FAST = {"warmup": 1, "iters": 3, "eval_images": 4, "threads": 1}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    tiny_checkpoint(root / "best")
    tiny_bundle(root / "bundle", root / "best")
    return root / "bundle"


@pytest.fixture(scope="module")
def first_run(bundle, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    lines = []
    backends = ["torch", "ort-cpu", "trt"]
    result = bench.run(bundle, out=out, data=DATA, backends=backends, batches=[1, 2], log=lines.append, **FAST)
    return out, result, lines


def test_rows_cover_the_sweep_and_reports_are_written(bundle, first_run):
    out, result, lines = first_run
    names = {"json": "results.json", "csv": "results.csv", "md": "results.md", "png": "pareto.png"}
    assert result.files == {kind: out / name for kind, name in names.items()}
    reports = read_reports(out)  # each file parses, and they list the same rows
    assert reports.saved == result.to_dict() and reports.saved["schema"] == "edgeseg.bench/2"
    assert reports.result.rows == result.rows  # the JSON round-trips to the same rows
    assert result.passed and result.failures == [] and result.environment["cpu"]["threads"] == 1
    ok = result.ok_rows
    assert sorted((r.variant, r.backend.short, r.batch) for r in ok) == sorted(
        (v, b, n) for v in ("L1", "L2") for b in ("torch", "ort-cpu") for n in (1, 2)
    )
    for r in ok:
        lat = r.latency_ms
        assert lat.n == 3 and 0 < lat.min <= lat.p50 <= lat.p90 <= lat.p99 <= lat.max
        assert r.throughput == pytest.approx(r.batch * 1e3 / lat.p50)
        # pre + infer + post per iteration, so its median is above the infer median, each part timed
        assert r.end_to_end_ms.p50 > lat.p50 and r.preprocess_ms.n == r.postprocess_ms.n == r.end_to_end_ms.n == 3
        assert r.throughput_e2e == pytest.approx(r.batch * 1e3 / r.end_to_end_ms.p50)
        assert r.throughput_e2e < r.throughput
        assert r.peak_rss_mb > 10  # a Python process with torch and ONNX Runtime loaded
        assert 0 <= r.iou <= r.dice <= 1 and r.scored_images == 4  # per image, Dice >= IoU
        assert r.parity.reference == "torch fp32"
        assert r.parity.flips < 0.01  # ORT fp32 vs eager torch through the same pre/post
        assert r.device_ms == {}  # CPU runners time nothing on a device
    assert all(r.parity.flips == 0.0 for r in ok if r.backend is Backend.TORCH)
    by_key = {(r.variant, r.backend, r.batch): r for r in ok}
    for r in ok:
        twin = by_key[(r.variant, Backend.TORCH, r.batch)]
        assert (r.params, r.gflops) == (twin.params, twin.gflops)  # the same deploy module
        if r.backend is Backend.ORT_CPU:
            assert r.file == f"{r.variant}.fp32.onnx"
            assert r.file_size_mb == pytest.approx((bundle / r.file).stat().st_size / 2**20)
        else:
            assert r.file == "best.safetensors"  # the checkpoint next to the bundle
            assert r.file_size_mb == pytest.approx((bundle.parent / r.file).stat().st_size / 2**20)
    small, large = by_key[("L1", Backend.TORCH, 1)], by_key[("L2", Backend.TORCH, 1)]
    assert 0 < small.params < large.params and 0 < small.gflops < large.gflops
    assert "bench: L1 fp32 ort-cpu batch 2 at 32px" in lines
    for c, r in zip(reports.csv_rows, result.rows, strict=True):
        assert (c["model"], c["status"], c["reason"]) == (r.model, r.status, r.reason)
        if r.ok:
            assert int(c["batch"]) == r.batch and int(c["iters"]) == r.latency_ms.n and c["file"] == r.file
            assert float(c["p50_ms"]) == pytest.approx(r.latency_ms.p50, rel=1e-5)
            assert float(c["p99_ms"]) == pytest.approx(r.latency_ms.p99, rel=1e-5)
            assert float(c["throughput_ips"]) == pytest.approx(r.throughput, rel=1e-5)
            assert float(c["iou"]) == pytest.approx(r.iou, rel=1e-5)
            assert float(c["parity_flips"]) == pytest.approx(r.parity.flips, rel=1e-5, abs=1e-12)
    assert [(m["IoU"], m["p50 ms"], m["img/s"]) for m in reports.md_rows] == [
        (f"{r.iou:.4f}", f"{r.latency_ms.p50:.2f}", f"{r.throughput:.1f}") for r in ok
    ]
    assert "## Not run" in result.files["md"].read_text()  # the trt row


def test_unavailable_backend_is_a_skipped_row_with_its_reason(first_run):
    _, result, _ = first_run
    trt = [r for r in result.rows if r.backend is Backend.TENSORRT]
    assert len(trt) == 1 and trt[0].status == "skipped"
    assert trt[0].reason and trt[0].reason == env.status(Backend.TENSORRT).reason  # what `edgeseg env` says
    assert result.to_dict()["rows"][result.rows.index(trt[0])]["backend"] == "trt"  # reports write the short name


def test_min_iou_gate(bundle, first_run, tmp_path):
    _, result, _ = first_run
    achieved = min(r.iou for r in result.ok_rows if r.variant == "L1" and r.backend is Backend.ORT_CPU)
    assert achieved < 0.95  # an untrained model: the gate below is above what it reaches
    args = {"data": DATA, "backends": "ort-cpu", "variants": ["L1"], **FAST}
    gate = round(achieved + 0.05, 4)
    failing = bench.run(bundle, out=tmp_path / "a", min_iou=gate, **args)
    (row,) = failing.rows  # L1 fp32 ort-cpu batch 1
    assert row.label == "unet_sharp L1 fp32 ort-cpu b1 32px" and row.iou == pytest.approx(achieved)
    assert failing.failures == [f"unet_sharp L1 fp32 ort-cpu b1 32px: IoU {row.iou:.4f} < `min_iou` {gate}"]
    assert not failing.passed
    assert (tmp_path / "a" / "results.json").is_file()  # reports are written before the gate decides
    passing = bench.run(bundle, out=tmp_path / "b", min_iou=max(achieved - 0.05, 0.0), **args)
    assert passing.passed and passing.failures == [] and passing.notes == []


def test_errors_name_parameters_not_flags(bundle, tmp_path):
    with pytest.raises(EdgesegError, match="^`min_iou` needs `data`"):
        bench.run(bundle, out=tmp_path, backends="ort-cpu", min_iou=0.5)
    (tmp_path / "old.json").write_text('{"schema": "something/1", "rows": []}')
    with pytest.raises(EdgesegError, match="^`compare` .*old.json: not an edgeseg results.json"):
        bench.run(bundle, out=tmp_path, backends="ort-cpu", compare=tmp_path / "old.json")
    with pytest.raises(EdgesegError, match="unknown backend 'cuda'"):
        bench.run(bundle, out=tmp_path, backends="cuda")
    with pytest.raises(EdgesegError, match="not at `img_sizes` 64"):
        bench.run(bundle, out=tmp_path, backends="ort-cpu", img_sizes=[64])


def test_torch_rows_without_the_checkpoint_are_skipped_with_reason(bundle, tmp_path):
    lonely = tmp_path / "elsewhere" / "bundle"
    shutil.copytree(bundle, lonely)
    result = bench.run(lonely, out=tmp_path / "o", backends=["torch", "ort-cpu"], variants=["L1"], **FAST)
    torch_rows = [r for r in result.rows if r.backend is Backend.TORCH]
    assert [r.status for r in torch_rows] == ["skipped"] and "give the checkpoint" in torch_rows[0].reason
    ort = [r for r in result.rows if r.backend is Backend.ORT_CPU]
    assert ort[0].ok and ort[0].parity.reference == "ort-cpu fp32" and ort[0].iou is None


def test_compare_fails_on_a_regression(bundle, first_run, tmp_path):
    out, _, _ = first_run
    previous = json.loads((out / "results.json").read_text())
    for r in previous["rows"]:
        if r["status"] == "ok":
            r["latency_ms"]["p50"] /= 100.0  # the "previous" run was 100x faster
    (tmp_path / "previous.json").write_text(json.dumps(previous))
    args = {"data": DATA, "backends": ["ort-cpu"], "variants": ["L1"], **FAST}
    regressed = bench.run(bundle, out=tmp_path / "c", compare=tmp_path / "previous.json", **args)
    (line,) = regressed.failures  # the one row, L1 fp32 ort-cpu batch 1, against a 100x faster one
    assert line.startswith("unet_sharp L1 fp32 ort-cpu b1 32px: p50 ") and line.endswith("> 10%)"), line
    same = bench.run(bundle, out=tmp_path / "d", compare=out / "results.json", latency_tolerance=1000, **args)
    assert same.passed and same.failures == [] and same.notes == []


def test_checkpoint_is_exported_then_benchmarked(tmp_path):
    tiny_checkpoint(tmp_path / "best")
    out = tmp_path / "bench"
    result = bench.run(tmp_path / "best", out=out, data="synthetic:nuclei?n=4&size=32&seed=1", variants=["L1"],
                       precisions=["fp32", "int8"], backends=["torch", "ort-cpu"], warmup=1, iters=2, eval_images=2,
                       threads=1, calib_images=2)
    assert (out / "bundle-32" / "manifest.json").is_file()
    got = {(r.precision, r.backend): r for r in result.rows}
    assert set(got) == {("fp32", Backend.TORCH), ("fp32", Backend.ORT_CPU), ("int8", Backend.ORT_CPU)}
    assert all(r.ok for r in result.rows)
    assert got[("fp32", Backend.ORT_CPU)].parity.reference == "torch fp32"
    assert got[("fp32", Backend.ORT_CPU)].parity.flips < 0.01
    assert got[("int8", Backend.ORT_CPU)].file == "L1.int8.onnx"
    assert got[("int8", Backend.ORT_CPU)].device == "ort-cpu (uint8)"  # the CPU graph the runner derives
    assert got[("fp32", Backend.ORT_CPU)].device == "ort-cpu"


def test_bad_data_fails_before_the_checkpoint_is_exported(tmp_path):
    tiny_checkpoint(tmp_path / "best")
    out = tmp_path / "bench"
    with pytest.raises(EdgesegError, match="^unknown synthetic dataset 'nope'; valid: "):
        bench.run(tmp_path / "best", out=out, data="synthetic:nope", calib_data="synthetic:nuclei?n=4&size=32",
                  variants=["L1"])
    assert not (out / "bundle-32").exists()
