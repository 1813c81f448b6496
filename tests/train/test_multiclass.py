"""Training with several classes: every family on synthetic:cells (4 classes), per-class reports, errors."""

import json

import numpy as np
import pytest
from clirun import invoke

from edgeseg import checkpoint
from edgeseg.data import write_png
from edgeseg.errors import EdgesegError
from edgeseg.train import TrainConfig, recipe_for, train

from .test_trainer import FAMILIES, ONE_PHASE, TINY

CELLS = "synthetic:cells?n=10&size=32&seed=1"
FOUR = {"num_classes": 4}


def _cfg(tmp_path, model, **kw):
    config = {**TINY[model], "cgm": False} if model == "unet_sharp" else TINY[model]
    base = dict(model=model, data=CELLS, out=str(tmp_path / model), epochs=2, batch=4, lr=3e-3,
                model_config={**config, **FOUR}, options=ONE_PHASE.get(model, {}), augment=False, progress=False)
    return TrainConfig(**{**base, **kw})


@pytest.mark.parametrize("model", FAMILIES)
def test_each_family_trains_four_classes_and_reports_each_class(tmp_path, model):
    summary = train(_cfg(tmp_path, model))
    first, second = summary["history"]
    assert second["loss"] < first["loss"]
    for scores in second["val"].values():
        assert sorted(scores["classes"]) == ["0", "1", "2", "3"]
        assert set(scores["classes"]["2"]) == {"iou", "dice", "precision", "recall"}
        foreground = [scores["classes"][c]["dice"] for c in "123"]
        assert scores["dice"] == pytest.approx(np.mean(foreground))  # the primary figure: mean over 1..3
    records = [json.loads(line) for line in (tmp_path / model / "metrics.jsonl").read_text().splitlines()]
    assert [r["val"] for r in records] == [first["val"], second["val"]]
    loaded, info = checkpoint.load(tmp_path / model / "last")
    assert loaded.config["num_classes"] == 4 and info.metrics["val"] == second["val"]
    assert info.recipe["classes"]["num_classes"] == 4 and info.recipe["loss"] == recipe_for(model).multi_loss_name


def test_pgunet_grows_with_four_classes_and_reports_every_stage(tmp_path):
    summary = train(_cfg(tmp_path, "pgunet", options={"stages": 2, "class_weights": "0.5,1,2,2"}, lr=1e-3))
    assert [(r["phase"], r["img_size"]) for r in summary["history"]] == [("stage1", 32), ("stage2", 64)]
    assert all(sorted(r["val"]["output"]["classes"]) == ["0", "1", "2", "3"] for r in summary["history"])
    _, info = checkpoint.load(tmp_path / "pgunet" / "best")
    assert info.recipe["classes"]["class_weights"] == [0.5, 1.0, 2.0, 2.0]


def test_binary_runs_describe_no_classes(tmp_path):
    summary = train(_cfg(tmp_path, "unet", data="synthetic:nuclei?n=6&size=32", model_config=TINY["unet"], epochs=1))
    assert set(summary["history"][0]["val"]["output"]) == {"iou", "dice", "micro_iou"}
    _, info = checkpoint.load(tmp_path / "unet" / "last")
    assert "classes" not in info.recipe and info.recipe["options"] == {}


@pytest.mark.parametrize("model, config, options, message", [
    ("unet", {}, {"class_weights": "1,2"}, "class_weights apply to several classes; this model has num_classes=1"),
    ("unet", FOUR, {"class_weights": "1,2"}, "class_weights has 2 values, the model has num_classes=4"),
    ("unet_sharp", {**FOUR, "cgm": True}, {}, "cgm=true trains binary models only"),
    ("unet_sharp", {**FOUR, "cgm": False}, {"hier_priority": "3,2,1"},
     "hier_priority must list every class 0..3 once, got 3,2,1"),
])
def test_class_options_are_checked_against_the_model(tmp_path, model, config, options, message):
    recipe = recipe_for(model, **options)
    with pytest.raises(EdgesegError, match=message):
        recipe.build({**TINY[model], "in_channels": 3, **config})


def _folder(tmp_path, top_class: int, border: int = 0):
    (tmp_path / "images").mkdir(parents=True)
    (tmp_path / "masks").mkdir()
    for i in range(3):
        write_png(tmp_path / "images" / f"s{i}.png", np.full((16, 16, 3), 60 * i, np.uint8))
        mask = np.zeros((16, 16), np.uint8)
        mask[2:9, 2:9] = 1
        mask[4:6, 4:6] = top_class if i == 2 else 2
        if border:
            mask[2, 2:9] = border
        write_png(tmp_path / "masks" / f"s{i}.png", mask)
    return tmp_path


def test_a_mask_class_beyond_num_classes_is_a_one_line_error_naming_the_file(tmp_path):
    data = _folder(tmp_path / "data", top_class=5)
    result = invoke("train", "unet", "--data", data, "--out", tmp_path / "run", "--epochs", "1", "--batch", "3",
                    "-c", "num_classes=4", "-c", "width_mult=0.125", "--val-split", "0", "--no-progress")
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert result.lines[-1].startswith("error: masks/s2.png") and len(result.lines) == 2  # the intro, the error
    assert result.says("masks/s2.png: mask holds class 5, outside 0..3 for num_classes=4")


def test_m2snet_refuses_lossnet_with_several_classes(tmp_path):
    from .test_losses import _vgg_file

    recipe = recipe_for("m2snet", lossnet_weights=str(_vgg_file(tmp_path)))
    with pytest.raises(EdgesegError, match="LossNet compares one probability map .* binary only; for num_classes=4"):
        recipe.build({**TINY["m2snet"], "in_channels": 3, **FOUR})
    assert recipe_for("m2snet", lossnet_weights=str(_vgg_file(tmp_path))).build(TINY["m2snet"]) is not None


class _Stop(Exception):
    pass


def test_a_resumed_four_class_run_matches_an_uninterrupted_one(tmp_path, monkeypatch):
    from edgeseg.train import loop

    kw = dict(options={"stages": 2, "class_weights": "1,1,2,2"}, augment=True)
    whole = train(_cfg(tmp_path / "a", "pgunet", **kw))["history"]
    printed = loop._print_epoch

    def stop(console, record, total, improved):
        printed(console, record, total, improved)
        raise _Stop

    monkeypatch.setattr(loop, "_print_epoch", stop)
    with pytest.raises(_Stop):
        train(_cfg(tmp_path / "b", "pgunet", **kw))
    monkeypatch.setattr(loop, "_print_epoch", printed)
    resumed = train(_cfg(tmp_path / "b", "pgunet", **kw), resume=True)["history"]
    assert [r["phase"] for r in resumed] == ["stage1", "stage2"]
    assert resumed[1]["loss"] == pytest.approx(whole[1]["loss"], abs=1e-6)
    for c, scores in whole[1]["val"]["output"]["classes"].items():
        assert resumed[1]["val"]["output"]["classes"][c] == pytest.approx(scores, abs=1e-6)
    _, info = checkpoint.load(tmp_path / "b" / "pgunet" / "last")
    assert info.recipe["classes"] == {"num_classes": 4, "class_weights": [1.0, 1.0, 2.0, 2.0], "dice_background": False}


def test_a_mask_that_is_not_class_indices_is_refused_with_several_classes_not_binarised(tmp_path):
    data = _folder(tmp_path / "data", top_class=3, border=255)  # classes 0..3 and a 255 "unknown" border
    args = ["--epochs", "1", "--batch", "3", "-c", "width_mult=0.125", "--val-split", "0", "--no-progress"]
    result = invoke("train", "unet", "--data", data, "--out", tmp_path / "run", "-c", "num_classes=4", *args)
    assert result.exit_code == 2 and result.lines[-1].startswith("error: masks/s"), result.output
    assert result.says(".png: mask is not a class-index image") and result.says("?classes=")
    mapped = f"{data}?classes=0:0,1:1,2:2,3:3,255:0"
    assert invoke("train", "unet", "--data", mapped, "--out", tmp_path / "mapped", "-c", "num_classes=4",
                  *args).exit_code == 0
    binary = invoke("train", "unet", "--data", data, "--out", tmp_path / "binary", *args)  # C = 1: as before
    assert binary.exit_code == 0, binary.output


def test_class_names_of_the_data_go_from_training_to_the_bundle(tmp_path):
    from edgeseg.data.synthetic import CELL_CLASSES
    from edgeseg.export import export_bundle

    train(_cfg(tmp_path, "unet", epochs=1))
    _, info = checkpoint.load(tmp_path / "unet" / "best")
    assert info.recipe["class_names"] == list(CELL_CLASSES)
    manifest = export_bundle(tmp_path / "unet" / "best", tmp_path / "bundle", img_size=32, parity_images=2)
    assert manifest.model["class_names"] == list(CELL_CLASSES)

    train(_cfg(tmp_path, "unet", data="synthetic:nuclei?n=6&size=32", model_config=TINY["unet"], epochs=1,
               out=str(tmp_path / "binary")))
    _, info = checkpoint.load(tmp_path / "binary" / "best")
    assert "class_names" not in info.recipe
    manifest = export_bundle(tmp_path / "binary" / "best", tmp_path / "binary bundle", img_size=32, parity_images=2)
    assert "class_names" not in manifest.model
