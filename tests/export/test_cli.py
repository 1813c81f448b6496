import shlex

import torch
from clirun import invoke

from edgeseg import checkpoint
from edgeseg import manifest as mf
from edgeseg.models import create_model


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
    result = invoke(
        "export", ckpt, "--out", out, "--variants", "L1", "--precision", "fp32,int8",
        "--calib-images", "4", "--parity-images", "2", "--calib-method", "percentile", "--batch", "2",
        "--calib-data", "synthetic:nuclei?n=5&size=32&seed=3",
    )
    assert result.exit_code == 0, result.output
    manifest = mf.load(out)
    assert [a.key for a in manifest.artifacts] == ["L1.fp32", "L1.int8"]
    assert manifest.artifact("L1", "int8").input.shape == (2, 3, 32, 32)
    assert manifest.artifact("L1", "int8").details["calibration"]["method"] == "percentile"
    # 5 images: 2 kept for parity, so 3 calibrate, and the manifest says so
    calibration = mf.Calibration(data="synthetic:nuclei?n=5&size=32&seed=3", method="percentile", requested=4, images=3)
    assert manifest.export.calibration == calibration
    # the next commands are printed one a line, each a shell command that works as printed, even when
    # the bundle's path holds spaces
    printed = [shlex.split(line) for line in result.output.split("\nNext:\n")[1].splitlines() if line.strip()]
    commands = ("build", "bench", "predict")
    assert [words[:3] for words in printed] == [["edgeseg", command, str(out)] for command in commands]
    assert printed[2][-2:] == ["--out", str(out / "masks")]


def test_bad_arguments_give_one_line_and_nonzero_exit(tmp_path):
    ckpt = _checkpoint(tmp_path)
    for args, message in [
        (["--precision", "fp64"], "unknown precision fp64"),
        (["--variants", "L9"], "no variant 'L9'"),
        (["--batch", "2", "--dynamic-batch", "4"], "either --batch or --dynamic-batch"),
        (["--opset", "99"], "opset 99 is newer than"),
    ]:
        result = invoke("export", ckpt, "--out", tmp_path / "b", *args)
        assert result.exit_code == 2, result.output
        assert result.says(message)
        assert "Traceback" not in result.output
    result = invoke("export", tmp_path / "missing", "--out", tmp_path / "b")
    assert result.exit_code == 2 and len(result.lines) == 1 and result.says("missing"), result.output
