import json

from clirun import invoke

NUCLEI = "synthetic:nuclei?n=4&size=32"


def test_bad_inputs_are_one_line_errors(tmp_path):
    cases = [
        (["unet", "--data", "synthetic:tissue"], "unknown synthetic dataset 'tissue'"),
        (["unet", "--data", str(tmp_path / "none")], "not found"),
        (["nonet", "--data", NUCLEI], "no training recipe for model 'nonet'"),
        (["unet", "--data", NUCLEI, "-o", "x=1"], "recipe 'unet' has no option 'x'"),
        (["unet", "--data", NUCLEI, "-c", "depth=3"], "model 'unet' has no option 'depth'"),
        (["unet", "--data", "synthetic:nuclei?n=4&size=24", "--epochs", "1"],
         "training size 24 is not a multiple of 16 for unet; use --img-size 32"),
        (["unet", "--data", NUCLEI, "--resume"], "nothing to resume"),
        (["unet", "--data", NUCLEI, "--lr", "0"], "--lr must be a positive finite number, got 0"),
        (["unet", "--data", NUCLEI, "-c", "width_mult=-1"], "width_mult must be a positive number"),
        (["unet", "--data", NUCLEI, "--lr", "inf"], "--lr must be a positive finite number, got inf"),
        (["unet", "--data", NUCLEI, "--lr", "nan"], "--lr must be a positive finite number, got nan"),
        (["unet", "--data", NUCLEI, "-c", "width_mult=Infinity"], "width_mult must be a positive number, got inf"),
        (["unet", "--data", NUCLEI, "-c", "width_mult=NaN"], "width_mult must be a positive number, got nan"),
        (["unet", "--data", NUCLEI, "-c", "width_mult"], "--config 'width_mult': write it as key=value"),
        (["unet", "--data", NUCLEI, "-c", "width_mult=1000"], "GiB to train (weights, gradients, optimizer state)"),
    ]
    for i, (args, message) in enumerate(cases):
        result = invoke("train", *args, "--out", tmp_path / f"run{i}")
        assert result.exit_code == 2, (args, result.output)
        assert result.says(message) and len(result.lines) == 1, result.output
        assert "Traceback" not in result.output


def test_train_command_writes_a_run(tmp_path):
    out = tmp_path / "run"
    result = invoke("train", "unet", "--data", "synthetic:polyp?n=6&size=32", "--out", out, "--epochs", "1",
                    "--batch", "2", "-c", "width_mult=0.125", "--no-progress", "--val-split", "0.34", "--seed", "3")
    assert result.exit_code == 0, result.output
    assert result.says("epoch 1/1") and result.says("best: epoch 1 (output score")
    assert result.says(str(out / "best.json"))
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1]
    scores = records[0]["val"]["output"]
    assert 0.0 <= scores["iou"] <= scores["dice"] <= 1.0  # Dice = 2 IoU / (1 + IoU) >= IoU
    info = json.loads((out / "best.json").read_text())
    assert info["normalization"]["color"] == "rgb" and info["config"]["in_channels"] == 3
    assert info["recipe"]["seed"] == 3 and info["recipe"]["data"] == "synthetic:polyp?n=6&size=32"


    again = invoke("train", "unet", "--data", "synthetic:polyp?n=6&size=32", "--out", out, "--epochs", "1")
    assert again.exit_code == 2 and len(again.lines) == 1, again.output
    assert again.says("already holds a training run; pass --resume to continue it or choose another --out")
    changed = invoke("train", "unet", "--data", "synthetic:polyp?n=6&size=32", "--out", out, "--batch", "1",
                     "--resume")
    assert changed.exit_code == 2 and len(changed.lines) == 1, changed.output
    assert changed.says("--resume continues the run as it was started: batch was 2, now 1")
    assert changed.says("start a new run in another --out")


def test_worker_refusal_names_the_flag(tmp_path, monkeypatch):
    import tempfile

    long = tmp_path / ("t" * 110)
    long.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(long))
    result = invoke("train", "unet", "--data", NUCLEI, "--out", tmp_path / "run", "--workers", "2")
    assert result.exit_code == 2 and len(result.lines) == 1, result.output
    assert result.says("--workers 2 needs a temporary folder") and result.says("or use --workers 0")


def test_a_second_training_into_the_same_folder_is_refused(tmp_path):
    import os

    from edgeseg.files import exclusive

    out = tmp_path / "run"
    with exclusive(out, "a training run"):
        result = invoke("train", "unet", "--data", NUCLEI, "--out", out, "--epochs", "1",
                        "-c", "width_mult=0.125", "--no-progress")
    assert result.exit_code == 2, result.output
    assert result.says(f"process {os.getpid()} is writing a training run into it")
    assert len(result.lines) == 1 and not (out / "metrics.jsonl").exists()
