"""`edgeseg bench CHECKPOINT`: torch rows from the checkpoint, ORT rows from a bundle exported into OUT."""

import json

from clirun import invoke

from .bundles import tiny_checkpoint


def test_checkpoint_is_exported_then_benchmarked(tmp_path):
    tiny_checkpoint(tmp_path / "best")
    out = tmp_path / "bench"
    result = invoke("bench", tmp_path / "best", "--data", "synthetic:nuclei?n=4&size=32&seed=1", "--variants", "L1",
                    "--precision", "fp32,int8", "--backends", "torch,ort-cpu", "--batch", "1", "--warmup", "1",
                    "--iters", "2", "--eval-images", "2", "--threads", "1", "--calib-images", "2", "--out", out)
    assert result.exit_code == 0, result.output
    assert (out / "bundle-32" / "manifest.json").is_file()
    rows = json.loads((out / "results.json").read_text())["rows"]
    got = {(r["precision"], r["backend"]): r for r in rows}
    assert set(got) == {("fp32", "torch"), ("fp32", "ort-cpu"), ("int8", "ort-cpu")}
    assert all(r["status"] == "ok" for r in rows)
    assert got[("fp32", "ort-cpu")]["parity"]["reference"] == "torch fp32"
    assert got[("fp32", "ort-cpu")]["parity"]["flips"] < 0.01
    assert got[("int8", "ort-cpu")]["file"] == "L1.int8.onnx"


def test_bad_data_fails_before_the_checkpoint_is_exported(tmp_path):
    tiny_checkpoint(tmp_path / "best")
    out = tmp_path / "bench"
    result = invoke("bench", tmp_path / "best", "--data", "synthetic:nope", "--out", out,
                    "--calib-data", "synthetic:nuclei?n=4&size=32", "--variants", "L1")
    assert result.exit_code == 2 and result.says("unknown synthetic dataset 'nope'") and len(result.lines) == 1
    assert "Traceback" not in result.output
    assert not (out / "bundle-32").exists()
