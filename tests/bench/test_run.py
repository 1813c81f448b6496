"""`edgeseg.bench.run` end to end on a tiny UNet# (width 1/8, 32 px): a bundle with its source
checkpoint next to it, rows on torch and ONNX Runtime (CPU), reports, skipped backends, the gates,
and a checkpoint exported then benchmarked."""

import csv
import json
import shutil

import pytest

from edgeseg import bench
from edgeseg.bench.results import BenchResult
from edgeseg.errors import EdgesegError
from edgeseg.runtime.backends import Backend

from .bundles import tiny_bundle, tiny_checkpoint

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


def test_rows_cover_the_sweep_and_reports_are_written(first_run):
    out, result, lines = first_run
    assert set(result.files) == {"json", "csv", "md", "png"} and all(p.parent == out for p in result.files.values())
    assert result.files["png"].read_bytes()[:4] == b"\x89PNG"
    assert result.passed and result.environment["cpu"]["threads"] == 1
    ok = result.ok_rows
    assert {(r.variant, r.backend, r.batch) for r in ok} == {
        (v, b, n) for v in ("L1", "L2") for b in (Backend.TORCH, Backend.ORT_CPU) for n in (1, 2)
    }
    for r in ok:
        assert r.latency_ms.n == 3 and r.latency_ms.p50 > 0 and r.throughput > 0
        assert r.preprocess_ms.p50 > 0 and r.postprocess_ms.p50 > 0 and r.end_to_end_ms.p50 > 0
        assert r.params > 0 and r.gflops > 0 and r.file_size_mb > 0 and r.peak_rss_mb > 0
        assert 0 <= r.iou <= 1 and 0 <= r.dice <= 1 and r.scored_images == 4
        assert r.parity.reference == "torch fp32"
        assert r.parity.flips < 0.01  # ORT fp32 vs eager torch through the same pre/post
        assert r.device_ms == {}  # CPU runners time nothing on a device
    assert all(r.parity.flips == 0.0 for r in ok if r.backend is Backend.TORCH)
    assert "bench: L1 fp32 ort-cpu batch 2 at 32px" in lines
    saved = json.loads(result.files["json"].read_text())
    assert saved["schema"] == "edgeseg.bench/1" and saved == result.to_dict()
    assert BenchResult.load(result.files["json"]).rows == result.rows  # the JSON round-trips to the same rows
    csv_rows = list(csv.DictReader(result.files["csv"].open()))
    assert len(csv_rows) == len(result.rows) and all(c["p50_ms"] and c["iou"] for c in csv_rows if c["status"] == "ok")
    assert "| unet_sharp | L2 | fp32 | ort-cpu | 2 |" in result.files["md"].read_text()


def test_unavailable_backend_is_a_skipped_row_with_its_reason(first_run):
    _, result, _ = first_run
    trt = [r for r in result.rows if r.backend is Backend.TENSORRT]
    assert len(trt) == 1 and trt[0].status == "skipped" and trt[0].reason
    assert result.to_dict()["rows"][result.rows.index(trt[0])]["backend"] == "trt"  # reports write the short name


def test_min_iou_gate(bundle, first_run, tmp_path):
    _, result, _ = first_run
    achieved = min(r.iou for r in result.ok_rows if r.variant == "L1" and r.backend is Backend.ORT_CPU)
    assert achieved < 0.95  # an untrained model: the gate below is above what it reaches
    args = {"data": DATA, "backends": "ort-cpu", "variants": ["L1"], **FAST}
    failing = bench.run(bundle, out=tmp_path / "a", min_iou=round(achieved + 0.05, 4), **args)
    assert not failing.passed and len(failing.failures) == 1  # the one row: L1 fp32 ort-cpu batch 1
    assert all("`min_iou`" in line and "--" not in line for line in failing.failures)
    assert (tmp_path / "a" / "results.json").is_file()  # reports are written before the gate decides
    passing = bench.run(bundle, out=tmp_path / "b", min_iou=max(achieved - 0.05, 0.0), **args)
    assert passing.passed


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
    assert not regressed.passed and all("p50" in line for line in regressed.failures)
    same = bench.run(bundle, out=tmp_path / "d", compare=out / "results.json", latency_tolerance=1000, **args)
    assert same.passed and same.notes == []


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


def test_bad_data_fails_before_the_checkpoint_is_exported(tmp_path):
    tiny_checkpoint(tmp_path / "best")
    out = tmp_path / "bench"
    with pytest.raises(EdgesegError, match="nope"):
        bench.run(tmp_path / "best", out=out, data="synthetic:nope", calib_data="synthetic:nuclei?n=4&size=32",
                  variants=["L1"])
    assert not (out / "bundle-32").exists()
