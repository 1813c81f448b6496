"""`edgeseg bench` is a thin shell over `edgeseg.bench.run` (tested in test_run.py): options in, the
table and the reports out, the library's parameter names shown as flags, exit codes 0/1/2."""

import json

import pytest
from clirun import invoke

from .bundles import tiny_bundle, tiny_checkpoint
from .reports import read_reports

DATA = "synthetic:nuclei?n=4&size=32&seed=1"
FAST = ["--warmup", "1", "--iters", "2", "--eval-images", "2", "--threads", "1", "--variants", "L1"]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    tiny_checkpoint(root / "best")
    tiny_bundle(root / "bundle", root / "best", variants=("L1",))
    return root / "bundle"


def test_table_reports_and_the_gates(bundle, tmp_path):
    ran = invoke("bench", bundle, "--data", DATA, "--backends", "ort-cpu,trt", "--out", tmp_path / "a", *FAST)
    assert ran.exit_code == 0, ran.output
    names = ("results.json", "results.csv", "results.md", "pareto.png")
    assert ran.says("reports: " + ", ".join(str(tmp_path / "a" / name) for name in names))
    reports = read_reports(tmp_path / "a")  # each file parses, and they list the same rows
    rows = reports.saved["rows"]
    assert [(r["backend"], r["status"]) for r in rows] == [("trt", "skipped"), ("ort-cpu", "ok")]
    assert ran.says("edgeseg bench: unet_sharp") and ran.says(f"skipped trt: {rows[0]['reason']}")
    assert not ran.says("gate failed")

    gated = invoke("bench", bundle, "--data", DATA, "--backends", "ort-cpu", "--out", tmp_path / "b", "--min-iou", "1",
                   *FAST)
    assert gated.exit_code == 1, gated.output
    (row,) = json.loads((tmp_path / "b" / "results.json").read_text())["rows"]  # written before the gate decides
    assert gated.says(f"gate failed: unet_sharp L1 fp32 ort-cpu b1 32px: IoU {row['iou']:.4f} < --min-iou 1.0")
    assert "`" not in gated.output

    previous = reports.saved
    for r in previous["rows"]:
        if r["status"] == "ok":
            r["latency_ms"]["p50"] /= 100.0  # the "previous" run was 100x faster
    (tmp_path / "previous.json").write_text(json.dumps(previous))
    regressed = invoke("bench", bundle, "--data", DATA, "--backends", "ort-cpu", "--out", tmp_path / "c",
                       "--compare", tmp_path / "previous.json", *FAST)
    assert regressed.exit_code == 1, regressed.output
    assert regressed.says("gate failed: unet_sharp L1 fp32 ort-cpu b1 32px: p50") and regressed.says("> 10%)")


def test_library_errors_show_flags_and_exit_2(bundle, tmp_path):
    no_masks = invoke("bench", bundle, "--backends", "ort-cpu", "--min-iou", "0.5", "--out", tmp_path)
    assert no_masks.exit_code == 2 and no_masks.says("error: --min-iou needs --data with ground-truth masks")
    size = invoke("bench", bundle, "--backends", "ort-cpu", "--img-size", "64", "--out", tmp_path)
    assert size.exit_code == 2 and size.says("not at --img-size 64"), size.output
    nothing = invoke("bench", tmp_path, "--backends", "ort-cpu")
    assert nothing.exit_code == 2 and nothing.says("neither a bundle") and len(nothing.lines) == 1, nothing.output
    assert "Traceback" not in nothing.output
    batch0 = invoke("bench", tmp_path, "--batch", "0")
    assert batch0.exit_code == 2 and batch0.says("--batch takes positive integers"), batch0.output
    cuda = invoke("bench", tmp_path, "--backends", "cuda")
    assert cuda.exit_code == 2 and cuda.says("unknown backend 'cuda'"), cuda.output
    fp64 = invoke("bench", tmp_path, "--backends", "ort-cpu", "--precision", "fp64")
    assert fp64.exit_code == 2 and fp64.says("unknown precision(s) fp64")


def test_bad_data_is_one_line_before_the_checkpoint_is_exported(tmp_path):
    tiny_checkpoint(tmp_path / "best")
    out = tmp_path / "bench"
    result = invoke("bench", tmp_path / "best", "--data", "synthetic:nope", "--out", out,
                    "--calib-data", "synthetic:nuclei?n=4&size=32", "--variants", "L1")
    assert result.exit_code == 2 and result.says("unknown synthetic dataset 'nope'") and len(result.lines) == 1
    assert "Traceback" not in result.output
    assert not (out / "bundle-32").exists()


def test_every_parameter_of_run_is_documented_and_has_a_flag():
    import inspect
    import re

    import typer.main

    from edgeseg import bench
    from edgeseg.cli import app

    params = set(inspect.signature(bench.run).parameters)
    assert all(re.search(rf"\b{name}\b", bench.run.__doc__) for name in params)  # help(edgeseg.bench.run) says
    command = typer.main.get_command(app).commands["bench"]
    flags = {p.name for p in command.params}
    assert params - flags == {"command", "log"}  # the rest can be named in a message as a flag
