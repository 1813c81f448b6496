import torch
from typer.testing import CliRunner

from edgeseg import checkpoint
from edgeseg import manifest as mf
from edgeseg.cli import app
from edgeseg.models import create_model

runner = CliRunner()


def _checkpoint(tmp_path):
    torch.manual_seed(0)
    model = create_model("unet_sharp", width_mult=0.0625).eval()
    info = checkpoint.CheckpointInfo(
        model="unet_sharp", config=model.config,
        normalization={"color": "rgb", "mean": [0.5] * 3, "std": [0.25] * 3}, recipe={"img_size": 32},
    )
    return checkpoint.save(tmp_path / "best", model, info)


def test_export_writes_a_bundle_and_prints_next_commands(tmp_path):
    ckpt = _checkpoint(tmp_path)
    out = tmp_path / "bundle"
    result = runner.invoke(app, [
        "export", str(ckpt), "--out", str(out), "--variants", "L1", "--precision", "fp32,int8",
        "--calib-images", "4", "--parity-images", "2", "--calib-method", "percentile", "--batch", "2",
        "--calib-data", "synthetic:nuclei?n=5&size=32&seed=3",
    ])
    assert result.exit_code == 0, result.output
    manifest = mf.load(out)
    assert [a.key for a in manifest.artifacts] == ["L1.fp32", "L1.int8"]
    assert manifest.artifact("L1", "int8").input.shape == (2, 3, 32, 32)
    assert manifest.artifact("L1", "int8").details["calibration"]["method"] == "percentile"
    # 5 images: 2 kept for parity, so 3 calibrate, and the manifest says so
    calibration = mf.Calibration(data="synthetic:nuclei?n=5&size=32&seed=3", method="percentile", requested=4, images=3)
    assert manifest.export.calibration == calibration
    for command in ("edgeseg build", "edgeseg bench", "edgeseg predict"):
        assert f"{command} {out}" in result.output  # tmp paths need no shell quoting


def test_bad_arguments_give_one_line_and_nonzero_exit(tmp_path):
    ckpt = _checkpoint(tmp_path)
    for args, message in [
        (["--precision", "fp64"], "unknown precision fp64"),
        (["--variants", "L9"], "no variant 'L9'"),
        (["--batch", "2", "--dynamic-batch", "4"], "either --batch or --dynamic-batch"),
        (["--opset", "99"], "opset 99 is newer than"),
    ]:
        result = runner.invoke(app, ["export", str(ckpt), "--out", str(tmp_path / "b"), *args])
        assert result.exit_code != 0
        assert message in result.output
        assert "Traceback" not in result.output
    result = runner.invoke(app, ["export", str(tmp_path / "missing"), "--out", str(tmp_path / "b")])
    assert result.exit_code == 2 and result.output.strip().count("\n") == 0, result.output
