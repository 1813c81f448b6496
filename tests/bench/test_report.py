import csv
import dataclasses
import io
import json

import pytest

from edgeseg.bench import gates, report
from edgeseg.bench.pareto import pareto_front
from edgeseg.bench.results import COLUMNS, SCHEMA, TABLE_COLUMNS, TERMINAL_COLUMNS, BenchResult, BenchRow, Parity
from edgeseg.bench.stats import LatencyStats
from edgeseg.runtime.backends import Backend


def _row(variant, precision, backend, p50, iou, throughput):
    lat = LatencyStats.of([p50 * 0.98, p50, p50 * 1.02])
    return BenchRow(
        model="unet_sharp", variant=variant, precision=precision, backend=Backend(backend), device="cpu",
        batch=1, img_size=64, params=103_000, gflops=0.4, file=f"{variant}.{precision}.onnx", file_size_mb=0.4,
        latency_ms=lat, throughput=throughput, throughput_e2e=throughput * 0.9, preprocess_ms=lat, postprocess_ms=lat,
        end_to_end_ms=lat, peak_rss_mb=300.0, power={"reason": "no power source"},
        iou=iou, dice=None if iou is None else 2 * iou / (1 + iou), scored_images=8,
        parity=Parity(reference="torch fp32", flips=0.001, iou=0.99),
    )


def _result(rows):
    return BenchResult(
        rows=rows, warnings=["L1 fp32 ort-cpu: CV 7% > 5%"], settings={"timing": {"warmup": 1, "iters": 3}},
        environment={"cpu": {"model": "test cpu", "threads": 2}, "system": {}, "versions": {"onnxruntime": "1"},
                     "gpu": {"gpus": [], "reason": "none"}},
        command="edgeseg bench x", created="2026-11-22T03:00:00Z",
    )


@pytest.fixture
def result():
    return _result([
        _row("L1", "fp32", "ort-cpu", 1.0, 0.70, 1000.0),
        _row("L4", "fp32", "ort-cpu", 10.0, 0.85, 100.0),
        _row("L4", "int8", "ort-cpu", 12.0, 0.80, 80.0),  # dominated by L4 fp32
        _row("L4", "fp32", "torch", 15.0, 0.85, 66.0),
        BenchRow(model="unet_sharp", backend=Backend.TENSORRT, batch=1, img_size=64, status="skipped",
                 reason="TensorRT not importable"),
    ])


def test_writes_four_files_with_all_fields(result, tmp_path):
    paths = report.write_all(result, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pareto.png", "results.csv", "results.json", "results.md"]
    assert json.loads(paths["json"].read_text())["schema"] == SCHEMA
    rows = list(csv.DictReader(paths["csv"].open()))
    assert [c.name for c in COLUMNS] == list(rows[0].keys())
    assert rows[0]["p50_ms"] == "1" and rows[0]["iou"] == "0.7" and rows[0]["parity_flips"] == "0.001"
    assert rows[-1]["status"] == "skipped" and rows[-1]["reason"] == "TensorRT not importable"
    assert rows[-1]["backend"] == "trt"
    md = paths["md"].read_text()
    assert "TensorRT not importable" in md and "CV 7%" in md and "| L4 | int8 | ort-cpu |" in md
    assert "| unet_sharp | L1 | fp32 | ort-cpu | 1 | 64 | 0.103 | 0.40 | 0.40 | 1.00 |" in md
    from PIL import Image

    with Image.open(paths["png"]) as png:
        png.load()  # decodes every pixel: a truncated file fails here
        assert png.format == "PNG" and png.size == (960, 660)  # 8 x 5.5 inches at 120 dpi


def test_columns_are_defined_once_and_every_view_derives_from_them(result, tmp_path):
    fields = {f.name for f in dataclasses.fields(BenchRow)}
    assert all(c.path.split(".")[0] in fields for c in COLUMNS)  # every column reads a BenchRow field
    assert len({c.name for c in COLUMNS}) == len(COLUMNS)
    row = result.rows[0]
    assert [c.value(row) for c in COLUMNS if c.name in ("p50_ms", "iters", "power_w", "parity_iou", "backend")] == [
        "ort-cpu", 3, 1.0, None, 0.99]
    md = report.to_markdown(result)
    assert "| " + " | ".join(c.header for c in TABLE_COLUMNS) + " |" in md
    assert {c.header for c in TERMINAL_COLUMNS} < {c.header for c in TABLE_COLUMNS}
    from rich.console import Console

    console = Console(record=True, width=300, file=io.StringIO())
    report.print_table(result, console)
    header = next(line for line in console.export_text().splitlines() if line.strip().startswith("variant"))
    assert header.split() == " ".join(c.header for c in TERMINAL_COLUMNS).split()  # the terminal's columns, in order


@pytest.mark.parametrize("width", [60, 80])
def test_a_narrow_terminal_gets_fewer_columns_never_cut_numbers(result, width):
    import io

    from rich.console import Console

    console = Console(record=True, width=width, file=io.StringIO())
    report.print_table(result, console)
    text = console.export_text()
    assert "\u2026" not in text  # no cell cut to an ellipsis
    header = next(line for line in text.splitlines() if line.strip().startswith("variant")).split()
    for kept in ("variant", "precision", "backend", "IoU", "flips"):
        assert kept in header
    assert "p99" not in header and "left out here; results.md has every column" in " ".join(text.split())
    for row in result.ok_rows:  # every IoU with all its digits
        assert f"{row.iou:.4f}" in text


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


def _front_line(ax):
    (line,) = [line for line in ax.get_lines() if line.get_label() == "Pareto front"]
    return line.get_xydata().tolist()


def test_pareto_plot_draws_the_front_it_computes(result, tmp_path, monkeypatch):
    rows, quantity = report.plot_points(result)
    assert quantity == "iou" and [r.backend for r in rows] == [Backend.ORT_CPU] * 3 + [Backend.TORCH]
    points = [(r.throughput, r.iou) for r in rows]
    # L4 fp32 ort-cpu (100/s, 0.85) then L1 (1000/s, 0.70); L4 int8 and L4 torch are dominated by L4 fp32
    assert pareto_front(points) == [1, 0]

    ax = _drawn(result, tmp_path, monkeypatch)
    assert _front_line(ax) == [[100.0, 0.85], [1000.0, 0.70]]
    filled, hollow = set(), set()
    for collection in ax.collections:
        faces = collection.get_facecolors()
        kept = filled if len(faces) and faces[0][3] > 0 else hollow
        kept.update(map(tuple, collection.get_offsets().tolist()))
    assert filled == {(100.0, 0.85), (1000.0, 0.70)}
    assert hollow == {(80.0, 0.80), (66.0, 0.85)}
    assert sorted((t.get_text(), t.xy) for t in ax.texts) == sorted((r.variant, p) for r, p in zip(rows, points))
    assert ax.get_xscale() == "linear" and ax.get_ylabel() == "IoU vs ground truth"


def test_plot_uses_parity_when_no_ground_truth(result, tmp_path, monkeypatch):
    for r in result.rows:
        r.iou = None
    rows, quantity = report.plot_points(result)
    assert quantity == "parity" and rows == result.ok_rows
    ax = _drawn(result, tmp_path, monkeypatch)
    assert ax.get_ylabel() == "mask IoU vs torch fp32 reference (no ground truth)"
    assert _front_line(ax) == [[1000.0, 0.99]]  # every row has parity IoU 0.99: the fastest wins


def test_min_iou_gate(result):
    assert gates.min_iou_failures(result, 0.5) == []
    failures = gates.min_iou_failures(result, 0.75)
    assert failures == ["unet_sharp L1 fp32 ort-cpu b1 64px: IoU 0.7000 < `min_iou` 0.75"]
    no_truth = _result([_row("L1", "fp32", "ort-cpu", 1.0, None, 1.0)])
    assert gates.min_iou_failures(no_truth, 0.1) == ["`min_iou`: no row has an IoU (give `data` with masks)"]


def test_compare_detects_regressions(result):
    import copy

    same, notes = gates.compare(result, result, iou_tol=0.01, latency_tol=0.1)
    assert same == [] and notes == []
    worse = copy.deepcopy(result)
    worse.rows[0].iou = 0.65  # IoU drop 0.05
    worse.rows[1].latency_ms = dataclasses.replace(worse.rows[1].latency_ms, p50=11.5)  # +15%
    worse.rows[2].latency_ms = dataclasses.replace(worse.rows[2].latency_ms, p50=12.5)  # +4%: inside the tolerance
    worse.rows[3] = dataclasses.replace(worse.rows[3], status="failed", reason="boom")
    regressions, _ = gates.compare(result, worse, iou_tol=0.01, latency_tol=0.1)
    assert regressions == [
        "unet_sharp L1 fp32 ort-cpu b1 64px: IoU 0.7000 -> 0.6500 (drop > 0.01)",
        "unet_sharp L4 fp32 ort-cpu b1 64px: p50 10.000 -> 11.500 ms (+15% > 10%)",
        "unet_sharp L4 fp32 torch b1 64px: ran before, now failed (boom)",
    ]
    other = _result([_row("L2", "fp32", "ort-cpu", 1.0, 0.7, 1.0)])
    assert gates.compare(result, other, 0.01, 0.1) == ([], [
        "`compare`: no row of the previous run matches this one (model/variant/precision/backend/batch/size)"
    ])


def test_load_result_refuses_other_json(result, tmp_path):
    from edgeseg.errors import EdgesegError

    (tmp_path / "x.json").write_text('{"schema": "something/1", "rows": []}')
    with pytest.raises(EdgesegError, match="not an edgeseg results.json"):
        BenchResult.load(tmp_path / "x.json")
    with pytest.raises(EdgesegError, match="cannot read"):
        BenchResult.load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text(json.dumps({"schema": SCHEMA, "rows": [{"model": "m"}]}))
    with pytest.raises(EdgesegError, match="a row is malformed"):
        BenchResult.load(tmp_path / "bad.json")
    report.write_all(result, tmp_path)
    assert BenchResult.load(tmp_path / "results.json").rows == result.rows
