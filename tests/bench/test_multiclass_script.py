"""benchmarks/multiclass.py on an untrained 4-class PGU-net+ and tiny class-index data: it exports fp32 and
int8, prints per-class parity and the int8 mean-Dice drop, and benches with per-class rows."""

import importlib.util
from pathlib import Path

import pytest

from edgeseg.bench.results import BenchResult

from .bundles import NORM, write_class_data

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "multiclass.py"


def _script():
    spec = importlib.util.spec_from_file_location("multiclass_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_verdict_by_hand():
    script = _script()
    assert script.verdict({"stage4": 0.01, "stage3": -0.02}, 0.01) == []
    assert script.verdict({"stage4": 0.0125}, 0.01) == ["stage4: int8 loses 1.25 points of mean Dice (> 1.00)"]


@pytest.mark.slow
def test_runs_on_an_untrained_four_class_pgunet(tmp_path, capsys):
    import torch

    from edgeseg import checkpoint
    from edgeseg.checkpoint import CheckpointInfo
    from edgeseg.models import create_model

    torch.manual_seed(0)
    model = create_model("pgunet", num_classes=4, width_mult=0.125, stages=2)
    ckpt = checkpoint.save(tmp_path / "ckpt", model, CheckpointInfo(
        model="pgunet", config=model.config, normalization=NORM, recipe={"img_size": 32}))
    data = write_class_data(tmp_path / "data", n=6)
    out = tmp_path / "out"
    code = _script().main([str(ckpt), "--data", data, "--out", str(out), "--calib-images", "3", "--parity-images", "3",
                           "--eval-images", "2", "--threads", "1", "--warmup", "0", "--iters", "2",
                           "--max-drop", "1"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    text = (out / "multiclass.md").read_text()
    assert text in printed and "int8 within the target" in text
    variant = model.default_variant()
    for precision in ("fp32", "int8"):
        for k in range(4):
            assert f"| {variant} | {precision} | {k} |" in text  # parity per class, and bench per class below
    assert f"- {variant}: " in text and "points (target <= 100.00)" in text
    rows = BenchResult.load(out / "bench" / "results.json").ok_rows
    assert [(r.precision, r.backend.short) for r in rows] == [("fp32", "torch"), ("fp32", "ort-cpu"),
                                                             ("int8", "ort-cpu")]
    assert all(set(r.class_scores) == {"0", "1", "2", "3"} for r in rows)


def test_a_binary_checkpoint_is_refused(tmp_path, capsys):
    from edgeseg import checkpoint
    from edgeseg.checkpoint import CheckpointInfo
    from edgeseg.models import create_model

    model = create_model("pgunet", width_mult=0.125, stages=1)
    ckpt = checkpoint.save(tmp_path / "ckpt", model, CheckpointInfo(
        model="pgunet", config=model.config, normalization=NORM, recipe={"img_size": 32}))
    assert _script().main([str(ckpt), "--data", "unused", "--out", str(tmp_path / "out")]) == 2
    assert "is a binary model (num_classes 1)" in capsys.readouterr().err
