import json

from typer.testing import CliRunner

from edgeseg.cli import app

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, ["train", *args])


def test_bad_inputs_are_one_line_errors(tmp_path):
    nuclei = ["--data", "synthetic:nuclei?n=4&size=32"]
    cases = [
        (["unet", "--data", "synthetic:cells", "--out", str(tmp_path / "a")], "unknown synthetic dataset 'cells'"),
        (["unet", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "b")], "not found"),
        (["nonet", *nuclei, "--out", str(tmp_path / "c")], "no training recipe for model 'nonet'"),
        (["unet", *nuclei, "--out", str(tmp_path / "d"), "-o", "x=1"], "recipe 'unet' has no option 'x'"),
        (["unet", *nuclei, "--out", str(tmp_path / "e"), "-c", "depth=3"], "bad config for model 'unet'"),
        (["unet", "--data", "synthetic:nuclei?n=4&size=24", "--out", str(tmp_path / "f"), "--epochs", "1"],
         "training size 24 is not a multiple of 16 for unet; use --img-size 32"),
        (["unet", *nuclei, "--out", str(tmp_path / "g"), "--resume"], "nothing to resume"),
        (["unet", *nuclei, "--out", str(tmp_path / "h"), "--lr", "0"], "--lr must be a positive finite number, got 0"),
        (["unet", *nuclei, "--out", str(tmp_path / "i"), "-c", "width_mult=-1"],
         "width_mult must be a positive number"),
    ]
    cases += [(["unet", *nuclei, "--out", str(tmp_path / "j"), *args], message) for args, message in [
        (["--lr", "inf"], "--lr must be a positive finite number, got inf"),
        (["--lr", "nan"], "--lr must be a positive finite number, got nan"),
        (["-c", "width_mult=Infinity"], "--config width_mult=Infinity: values must be finite numbers"),
        (["-o", "x=NaN"], "--option x=NaN: values must be finite numbers"),
        (["-c", "width_mult"], "--config 'width_mult': write it as key=value"),
        (["-c", "width_mult=1000"], "GiB to train (weights, gradients, optimizer state)"),
    ]]
    for args, message in cases:
        result = _run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output and result.output.count("\n") == 1, result.output
        assert "Traceback" not in result.output


def test_train_command_writes_a_run(tmp_path):
    out = tmp_path / "run"
    result = _run("unet", "--data", "synthetic:polyp?n=6&size=32", "--out", str(out), "--epochs", "1", "--batch", "2",
                  "-c", "width_mult=0.125", "--no-progress", "--val-split", "0.34", "--seed", "3")
    assert result.exit_code == 0, result.output
    assert "epoch 1/1" in result.output and "best: epoch 1" in result.output
    record = json.loads((out / "metrics.jsonl").read_text())
    assert record["epoch"] == 1 and "output" in record["val"]
    info = json.loads((out / "best.json").read_text())
    assert info["normalization"]["color"] == "rgb" and info["config"]["in_channels"] == 3
    assert info["recipe"]["seed"] == 3 and info["recipe"]["data"] == "synthetic:polyp?n=6&size=32"


def test_a_second_training_into_the_same_folder_is_refused(tmp_path):
    import os

    from edgeseg.files import exclusive

    out = tmp_path / "run"
    with exclusive(out, "a training run"):
        result = _run("unet", "--data", "synthetic:nuclei?n=4&size=32", "--out", str(out), "--epochs", "1",
                      "-c", "width_mult=0.125", "--no-progress")
    assert result.exit_code == 2, result.output
    assert f"process {os.getpid()} is writing a training run into it" in result.output
    assert result.output.count("\n") == 1 and not (out / "metrics.jsonl").exists()
