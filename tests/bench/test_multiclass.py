"""Multi-class rows: per-class scores in results.json/.csv/.md, the foreground mean as the row's IoU/Dice,
and the per-class gate (`min_class_iou`, `--min-class-iou CLASS=IOU`)."""

import csv
import json
import re

import numpy as np
import pytest
from clirun import invoke

from edgeseg import bench
from edgeseg.bench import gates, report
from edgeseg.bench.results import BenchResult, BenchRow, csv_columns
from edgeseg.errors import EdgesegError
from edgeseg.metrics import class_scores
from edgeseg.runtime import Segmenter
from edgeseg.runtime.backends import Backend

from .bundles import tiny_bundle, tiny_checkpoint, write_class_data
from .reports import markdown_table, read_reports

FAST = {"warmup": 1, "iters": 2, "eval_images": 4, "threads": 1, "variants": ["L1"]}
CLI_FAST = ["--warmup", "1", "--iters", "2", "--eval-images", "4", "--threads", "1", "--variants", "L1",
            "--backends", "ort-cpu"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("mc")
    tiny_checkpoint(root / "best", classes=4)
    tiny_bundle(root / "bundle", root / "best", variants=("L1",))
    return root / "bundle", write_class_data(root / "data")


@pytest.fixture(scope="module")
def ran(setup, tmp_path_factory):
    bundle, data = setup
    out = tmp_path_factory.mktemp("bench")
    return out, bench.run(bundle, out=out, data=data, backends=["torch", "ort-cpu"], **FAST)


def test_rows_hold_each_class_and_the_foreground_mean(setup, ran):
    bundle, data = setup
    out, result = ran
    assert [(r.backend.short, r.status) for r in result.rows] == [("torch", "ok"), ("ort-cpu", "ok")]
    from edgeseg.data import open_source

    dataset = open_source(data)
    images = [dataset[i].image for i in range(4)]
    truth = [dataset[i].mask for i in range(4)]
    with Segmenter.from_bundle(bundle, backend="ort-cpu", threads=1) as seg:
        expected = class_scores(seg.segment(images), truth, 4)
    row = result.rows[1]
    assert row.class_scores == expected["classes"] and set(row.class_scores) == {"0", "1", "2", "3"}
    assert row.iou == pytest.approx(np.mean([row.class_scores[k]["iou"] for k in "123"]))
    assert row.dice == pytest.approx(np.mean([row.class_scores[k]["dice"] for k in "123"]))

    reports = read_reports(out)  # results.json, .csv, .md and .png agree on the rows
    assert reports.saved["schema"] == "edgeseg.bench/2"
    assert reports.saved["rows"][1]["class_scores"]["3"]["recall"] == row.class_scores["3"]["recall"]
    assert reports.result.rows == result.rows
    csv_row = reports.csv_rows[1]
    assert [name for name in csv_row if name.startswith("class_")] == [
        f"class_{k}_{s}" for k in range(4) for s in ("iou", "dice", "precision", "recall")]
    assert float(csv_row["class_2_dice"]) == pytest.approx(row.class_scores["2"]["dice"], rel=1e-5)
    assert float(reports.md_rows[1]["IoU"]) == pytest.approx(row.iou, abs=5e-5)  # the table shows the mean
    md = (out / "results.md").read_text()
    per_class = markdown_table(md, "variant")
    assert [(r["backend"], r["class"]) for r in per_class] == [(b, k) for b in ("torch", "ort-cpu") for k in "0123"]
    assert float(per_class[7]["recall"]) == pytest.approx(row.class_scores["3"]["recall"], abs=5e-5)
    assert "mean over the foreground classes 1..C-1" in md


def test_per_class_gate_by_hand():
    row = BenchRow(model="m", backend=Backend.ORT_CPU, variant="L1", precision="int8", batch=1, img_size=32,
                   iou=0.5, class_scores={"0": {"iou": 0.9}, "1": {"iou": 0.7}, "2": {"iou": 0.3}})
    result = BenchResult(rows=[row, BenchRow(model="m", backend=Backend.TENSORRT, status="skipped")])
    assert gates.min_class_iou_failures(result, {1: 0.7, 2: 0.25}) == []
    assert gates.min_class_iou_failures(result, {2: 0.31, 1: 0.71}) == [
        "m L1 int8 ort-cpu b1 32px: class 1 IoU 0.7000 < `min_class_iou` 1=0.71",
        "m L1 int8 ort-cpu b1 32px: class 2 IoU 0.3000 < `min_class_iou` 2=0.31",
    ]
    binary = BenchResult(rows=[BenchRow(model="m", backend=Backend.ORT_CPU, iou=0.5)])
    assert gates.min_class_iou_failures(binary, {1: 0.1}) == [
        "`min_class_iou`: no row has per-class IoU (give `data` with masks, and a multi-class model)"]


@pytest.mark.parametrize(("minimum", "classes", "message"), [
    ({1: 0.5}, 1, "needs a multi-class model; this one is binary"),
    ({4: 0.5}, 4, "names class 4; this model's classes are 0..3"),
    ({-1: 0.5}, 4, "names class -1"),
    ({1: 1.5}, 4, "for class 1 is 1.5; give an IoU in [0, 1]"),
])
def test_class_minimums_are_checked_against_the_model(minimum, classes, message):
    with pytest.raises(EdgesegError, match=re.escape(message)):
        gates.check_class_minimums(minimum, classes)
    gates.check_class_minimums({0: 0.0, 3: 1.0}, 4)


def test_binary_csv_keeps_its_columns():
    rows = [BenchRow(model="m", backend=Backend.ORT_CPU, iou=0.5)]
    assert not any(c.name.startswith("class_") for c in csv_columns(rows))
    assert report.per_class_table(rows) == []
    header = next(csv.reader(report.to_csv(BenchResult(rows=rows)).splitlines()))
    assert header == [c.name for c in csv_columns([])]


def test_a_version_1_results_json_still_loads(ran, tmp_path):
    out, _ = ran
    old = json.loads((out / "results.json").read_text())
    old["schema"] = "edgeseg.bench/1"
    for r in old["rows"]:
        del r["class_scores"]
    (tmp_path / "old.json").write_text(json.dumps(old))
    assert all(r.class_scores is None for r in BenchResult.load(tmp_path / "old.json").rows)
    (tmp_path / "future.json").write_text(json.dumps({**old, "schema": "edgeseg.bench/9"}))
    with pytest.raises(EdgesegError, match="not an edgeseg results.json"):
        BenchResult.load(tmp_path / "future.json")


def test_cli_per_class_gate_and_its_errors(setup, tmp_path):
    bundle, data = setup
    gated = invoke("bench", bundle, "--data", data, "--out", tmp_path / "a", "--min-class-iou", "1=1",
                   "--min-class-iou", "3=0", *CLI_FAST)
    assert gated.exit_code == 1, gated.output
    (row,) = json.loads((tmp_path / "a" / "results.json").read_text())["rows"]
    iou = row["class_scores"]["1"]["iou"]
    assert gated.says(f"gate failed: unet_sharp L1 fp32 ort-cpu b1 32px: class 1 IoU {iou:.4f} < --min-class-iou 1=1.0")
    assert not gated.says("class 3 IoU") and "`" not in gated.output
    assert gated.says("IoU: for a multi-class model, the mean over the foreground classes 1..C-1")

    for value, message in (("2", "--min-class-iou takes CLASS=IOU"), ("x=0.5", "got 'x=0.5'"),
                           ("2=1.5", "an IoU in [0, 1]"), ("-1=0.5", "got '-1=0.5'")):
        bad = invoke("bench", bundle, "--data", data, "--out", tmp_path / "b", "--min-class-iou", value, *CLI_FAST)
        assert bad.exit_code == 2 and bad.says(message) and "Traceback" not in bad.output, (value, bad.output)
    twice = invoke("bench", bundle, "--data", data, "--min-class-iou", "2=0.5", "--min-class-iou", "2=0.6",
                   "--out", tmp_path / "b", *CLI_FAST)
    assert twice.exit_code == 2 and twice.says("--min-class-iou gives class 2 twice")
    high = invoke("bench", bundle, "--data", data, "--min-class-iou", "4=0.5", "--out", tmp_path / "b", *CLI_FAST)
    assert high.exit_code == 2 and high.says("error: --min-class-iou names class 4; this model's classes are 0..3")
    assert len(high.lines) == 1, high.output
    no_data = invoke("bench", bundle, "--min-class-iou", "1=0.5", "--out", tmp_path / "b", *CLI_FAST)
    assert no_data.exit_code == 2 and no_data.says("--min-class-iou needs --data with ground-truth masks")
    assert not (tmp_path / "b").exists()


def test_a_checkpoint_is_checked_before_it_is_exported(setup, tmp_path):
    bundle, data = setup
    with pytest.raises(EdgesegError, match=r"`min_class_iou` names class 5; this model's classes are 0..3"):
        bench.run(bundle.parent / "best", out=tmp_path, data=data, min_class_iou={5: 0.5}, **FAST)
    assert not (tmp_path / "bundle-32").exists()
