import csv
import json

import pytest

from edgeseg.bench import report
from edgeseg.bench.pareto import pareto_front
from edgeseg.bench.stats import LatencyStats


def _row(variant, precision, backend, p50, iou, throughput):
    lat = LatencyStats.of([p50 * 0.98, p50, p50 * 1.02]).as_dict()
    return {
        "model": "unet_sharp", "variant": variant, "precision": precision, "backend": backend, "device": "cpu",
        "batch": 1, "img_size": 64, "status": "ok", "reason": "", "params": 103_000, "gflops": 0.4,
        "file": f"{variant}.{precision}.onnx", "file_size_mb": 0.4, "latency_ms": lat, "throughput": throughput,
        "throughput_e2e": throughput * 0.9, "preprocess_ms": lat, "postprocess_ms": lat, "end_to_end_ms": lat,
        "device_ms": {}, "peak_rss_mb": 300.0, "gpu_mem_mb": None, "power": {"reason": "no power source"},
        "iou": iou, "dice": None if iou is None else 2 * iou / (1 + iou), "scored_images": 8,
        "parity": {"reference": "torch fp32", "flips": 0.001, "iou": 0.99},
    }


def _result(rows):
    return {
        "schema": report.SCHEMA, "created": "2026-11-22T03:00:00Z", "command": "edgeseg bench x",
        "settings": {"timing": {"warmup": 1, "iters": 3}},
        "environment": {"cpu": {"model": "test cpu", "threads": 2}, "system": {}, "versions": {"onnxruntime": "1"},
                        "gpu": {"gpus": [], "reason": "none"}},
        "rows": rows, "warnings": ["L1 fp32 ort-cpu: CV 7% > 5%"],
    }


@pytest.fixture
def result():
    return _result([
        _row("L1", "fp32", "ort-cpu", 1.0, 0.70, 1000.0),
        _row("L4", "fp32", "ort-cpu", 10.0, 0.85, 100.0),
        _row("L4", "int8", "ort-cpu", 12.0, 0.80, 80.0),  # dominated by L4 fp32
        _row("L4", "fp32", "torch", 15.0, 0.85, 66.0),
        {"model": "unet_sharp", "variant": None, "precision": None, "backend": "trt", "batch": 1, "img_size": 64,
         "status": "skipped", "reason": "TensorRT not importable"},
    ])


def test_writes_four_files_with_all_fields(result, tmp_path):
    paths = report.write_all(result, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pareto.png", "results.csv", "results.json", "results.md"]
    assert json.loads(paths["json"].read_text())["schema"] == report.SCHEMA
    rows = list(csv.DictReader(paths["csv"].open()))
    assert [h for h, _ in report.COLUMNS] == list(rows[0].keys())
    assert rows[0]["p50_ms"] == "1" and rows[0]["iou"] == "0.7" and rows[0]["parity_flips"] == "0.001"
    assert rows[-1]["status"] == "skipped" and rows[-1]["reason"] == "TensorRT not importable"
    md = paths["md"].read_text()
    assert "TensorRT not importable" in md and "CV 7%" in md and "| L4 | int8 | ort-cpu |" in md
    from PIL import Image

    with Image.open(paths["png"]) as png:
        png.load()
        assert png.format == "PNG" and png.size == (960, 660)  # 8 x 5.5 inches at 120 dpi


def _drawn(result, tmp_path, monkeypatch):
    """The Axes `plot_pareto` drew into, kept open for reading back."""
    import matplotlib.pyplot as plt

    figures = []
    monkeypatch.setattr(plt, "close", figures.append)
    report.plot_pareto(result, tmp_path / "pareto.png")
    monkeypatch.undo()
    (figure,) = figures
    plt.close(figure)
    (ax,) = figure.axes
    return ax


def test_pareto_plot_draws_the_front_it_computes(result, tmp_path, monkeypatch):
    rows, quantity = report.plot_points(result)
    assert quantity == "iou" and [r["backend"] for r in rows] == ["ort-cpu", "ort-cpu", "ort-cpu", "torch"]
    points = [(r["throughput"], r["iou"]) for r in rows]
    # L4 fp32 ort-cpu (100/s, 0.85) then L1 (1000/s, 0.70); L4 int8 and L4 torch are dominated by L4 fp32
    assert pareto_front(points) == [1, 0]

    ax = _drawn(result, tmp_path, monkeypatch)
    (front_line,) = [line for line in ax.get_lines() if line.get_label() == "Pareto front"]
    assert front_line.get_xydata().tolist() == [[100.0, 0.85], [1000.0, 0.70]]
    filled, hollow = set(), set()
    for collection in ax.collections:
        faces = collection.get_facecolors()
        kept = filled if len(faces) and faces[0][3] > 0 else hollow
        kept.update(map(tuple, collection.get_offsets().tolist()))
    assert filled == {(100.0, 0.85), (1000.0, 0.70)}
    assert hollow == {(80.0, 0.80), (66.0, 0.85)}
    assert sorted((t.get_text(), t.xy) for t in ax.texts) == sorted((r["variant"], p) for r, p in zip(rows, points))
    assert ax.get_xscale() == "linear" and ax.get_ylabel() == "IoU vs ground truth"


def test_plot_uses_parity_when_no_ground_truth(result, tmp_path, monkeypatch):
    for r in result["rows"]:
        r.pop("iou", None)
    rows, quantity = report.plot_points(result)
    assert quantity == "parity" and rows == report.ok_rows(result)
    ax = _drawn(result, tmp_path, monkeypatch)
    assert ax.get_ylabel() == "mask IoU vs torch fp32 reference (no ground truth)"
    (front_line,) = [line for line in ax.get_lines() if line.get_label() == "Pareto front"]
    assert front_line.get_xydata().tolist() == [[1000.0, 0.99]]  # every row has parity IoU 0.99: the fastest wins


def test_min_iou_gate(result):
    assert report.min_iou_failures(result, 0.5) == []
    failures = report.min_iou_failures(result, 0.75)
    assert len(failures) == 1 and "L1 fp32 ort-cpu" in failures[0]
    no_truth = _result([{**_row("L1", "fp32", "ort-cpu", 1.0, None, 1.0)}])
    assert "no row has an IoU" in report.min_iou_failures(no_truth, 0.1)[0]


def test_compare_detects_regressions(result):
    import copy

    same, notes = report.compare(result, result, iou_tol=0.01, latency_tol=0.1)
    assert same == [] and notes == []
    worse = copy.deepcopy(result)
    worse["rows"][0]["iou"] = 0.65  # IoU drop 0.05
    worse["rows"][1]["latency_ms"]["p50"] = 11.5  # +15%
    worse["rows"][2]["latency_ms"]["p50"] = 12.5  # +4%: inside the tolerance
    worse["rows"][3] = {**worse["rows"][3], "status": "failed", "reason": "boom"}
    regressions, _ = report.compare(result, worse, iou_tol=0.01, latency_tol=0.1)
    assert len(regressions) == 3
    assert "IoU 0.7000 -> 0.6500" in regressions[0] and "+15%" in regressions[1] and "now failed" in regressions[2]
    other = _result([_row("L2", "fp32", "ort-cpu", 1.0, 0.7, 1.0)])
    assert report.compare(result, other, 0.01, 0.1) == ([], [
        "--compare: no row of the previous run matches this one (model/variant/precision/backend/batch/size)"
    ])


def test_load_result_refuses_other_json(tmp_path):
    from edgeseg.errors import EdgesegError

    (tmp_path / "x.json").write_text('{"schema": "something/1", "rows": []}')
    with pytest.raises(EdgesegError, match="not an edgeseg results.json"):
        report.load_result(tmp_path / "x.json")
    with pytest.raises(EdgesegError, match="cannot read"):
        report.load_result(tmp_path / "missing.json")
