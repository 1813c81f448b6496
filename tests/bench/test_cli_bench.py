"""`edgeseg bench` is a thin shell over `edgeseg.bench.run` (tested in test_run.py): options in, the
table and the reports out, the library's parameter names shown as flags, exit codes 0/1/2."""

import json

import pytest
from clirun import invoke

from .bundles import tiny_bundle, tiny_checkpoint

DATA = "synthetic:nuclei?n=4&size=32&seed=1"
FAST = ["--warmup", "1", "--iters", "2", "--eval-images", "2", "--threads", "1", "--variants", "L1"]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    tiny_checkpoint(root / "best")
    tiny_bundle(root / "bundle", root / "best", variants=("L1",))
    return root / "bundle"


def test_table_reports_and_the_min_iou_gate(bundle, tmp_path):
    ran = invoke("bench", bundle, "--data", DATA, "--backends", "ort-cpu,trt", "--out", tmp_path / "a", *FAST)
    assert ran.exit_code == 0, ran.output
    assert ran.says("edgeseg bench: unet_sharp") and ran.says("skipped trt") and ran.says("reports:")
    rows = json.loads((tmp_path / "a" / "results.json").read_text())["rows"]
    assert [(r["backend"], r["status"]) for r in rows] == [("trt", "skipped"), ("ort-cpu", "ok")]
    gated = invoke("bench", bundle, "--data", DATA, "--backends", "ort-cpu", "--out", tmp_path / "b", "--min-iou", "1",
                   *FAST)
    assert gated.exit_code == 1 and gated.says("gate failed:") and gated.says("< --min-iou 1.0"), gated.output
    assert "`" not in gated.output


def test_library_errors_show_flags_and_exit_2(bundle, tmp_path):
    no_masks = invoke("bench", bundle, "--backends", "ort-cpu", "--min-iou", "0.5", "--out", tmp_path)
    assert no_masks.exit_code == 2 and no_masks.says("error: --min-iou needs --data with ground-truth masks")
    size = invoke("bench", bundle, "--backends", "ort-cpu", "--img-size", "64", "--out", tmp_path)
    assert size.exit_code == 2 and size.says("not at --img-size 64"), size.output
    nothing = invoke("bench", tmp_path, "--backends", "ort-cpu")
    assert nothing.exit_code == 2 and nothing.says("neither a bundle") and "Traceback" not in nothing.output
    assert invoke("bench", tmp_path, "--batch", "0").exit_code == 2
    assert invoke("bench", tmp_path, "--backends", "cuda").says("unknown backend 'cuda'")
    fp64 = invoke("bench", tmp_path, "--backends", "ort-cpu", "--precision", "fp64")
    assert fp64.exit_code == 2 and fp64.says("unknown precision(s) fp64")


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
