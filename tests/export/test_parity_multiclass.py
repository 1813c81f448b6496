"""Export parity for multi-class outputs: per-class flips against eager and per-class accuracy against the truth."""

import numpy as np
import pytest
from bench.bundles import write_class_data  # tests/bench, imported by pytest as package "bench"

from edgeseg.errors import EdgesegError
from edgeseg.export import export_bundle, parity
from edgeseg.manifest import Normalization

# A 3-class toy, one 2x3 image: the eager masks, the exported graph's masks and the truth.
EAGER = np.array([[[0, 1, 2], [1, 1, 0]]])
EXPORTED = np.array([[[0, 2, 2], [1, 0, 0]]])  # (0,1) flips 1 -> 2, (1,1) flips 1 -> 0
TRUTH = np.array([[[0, 1, 2], [1, 1, 2]]])


def logits(masks, classes=3):
    """Logits whose argmax is `masks`: 5 on the chosen class, 0 elsewhere."""
    return (np.eye(classes, dtype=np.float32)[masks] * 5).transpose(0, 3, 1, 2).copy()


def test_three_class_toy_flips_and_drops_by_hand():
    p = parity.compare(logits(EAGER), logits(EXPORTED), targets=TRUTH)
    assert p["mask_flip_share"] == pytest.approx(2 / 6)
    assert p["mask_iou_vs_fp32"] == pytest.approx(3 / 4)  # foreground (any class but 0), as for binary models
    assert p["classes"] == 3
    # class 0 differs at (1,1); class 1 at (0,1) and (1,1); class 2 at (0,1)
    assert p["class_flip_share"] == pytest.approx({"0": 1 / 6, "1": 2 / 6, "2": 1 / 6})
    assert p["class_iou_vs_fp32"] == pytest.approx({"0": 2 / 3, "1": 1 / 3, "2": 1 / 2})
    # eager vs truth: class 1 exact, class 2 finds 1 of its 2 pixels
    assert p["class_gt_fp32"]["1"] == pytest.approx({"iou": 1.0, "dice": 1.0, "precision": 1.0, "recall": 1.0})
    assert p["class_gt_fp32"]["2"] == pytest.approx({"iou": 1 / 2, "dice": 2 / 3, "precision": 1.0, "recall": 1 / 2})
    # exported vs truth: class 1 keeps 1 of 3 pixels; class 2 one right, one wrong, one missed
    assert p["class_gt"]["1"] == pytest.approx({"iou": 1 / 3, "dice": 1 / 2, "precision": 1.0, "recall": 1 / 3})
    assert p["class_gt"]["2"] == pytest.approx({"iou": 1 / 3, "dice": 1 / 2, "precision": 1 / 2, "recall": 1 / 2})
    assert p["class_gt_drop"]["1"]["dice"] == pytest.approx(1 / 2)
    assert p["class_gt_drop"]["2"]["dice"] == pytest.approx(2 / 3 - 1 / 2)
    assert p["mean_dice_gt_fp32"] == pytest.approx(5 / 6) and p["mean_dice_gt"] == pytest.approx(1 / 2)
    assert p["mean_dice_gt_drop"] == pytest.approx(1 / 3)
    assert p["mean_iou_gt_fp32"] == pytest.approx(3 / 4) and p["mean_iou_gt"] == pytest.approx(1 / 3)
    assert p["mean_iou_gt_drop"] == pytest.approx(3 / 4 - 1 / 3)


def test_identical_outputs_flip_nothing_and_lose_nothing():
    p = parity.compare(logits(EAGER), logits(EAGER), targets=TRUTH)
    assert p["class_flip_share"] == {"0": 0.0, "1": 0.0, "2": 0.0}
    assert p["class_iou_vs_fp32"] == {"0": 1.0, "1": 1.0, "2": 1.0}
    assert p["mean_dice_gt_drop"] == 0.0 and all(d["dice"] == 0.0 for d in p["class_gt_drop"].values())


def test_without_truth_only_flips():
    p = parity.compare(logits(EAGER), logits(EXPORTED))
    assert "class_flip_share" in p and not any(k.endswith(("_gt", "_gt_fp32", "_gt_drop")) for k in p)


def test_binary_output_keeps_its_fields_only():
    ref = np.array([[[[3.0, -3.0], [3.0, -3.0]]]], np.float32)
    out = np.array([[[[3.0, 3.0], [3.0, -3.0]]]], np.float32)
    p = parity.compare(ref, out, targets=np.array([[[1, 0], [1, 0]]]))
    assert set(p) == {"images", "max_abs_prob_err", "mean_abs_prob_err", "mask_flip_share", "mask_iou_vs_fp32",
                      "iou_gt", "iou_gt_fp32", "iou_gt_drop"}
    assert p["mask_flip_share"] == 0.25 and p["iou_gt_drop"] == pytest.approx(1 - 2 / 3)


def test_truth_with_a_class_the_model_lacks_is_one_line():
    with pytest.raises(EdgesegError, match=r"ground truth does not fit a 3-class model: target holds class 5") as e:
        parity.compare(logits(EAGER), logits(EXPORTED), targets=np.where(TRUTH == 2, 5, TRUTH))
    assert "\n" not in str(e.value)


@pytest.mark.slow
def test_four_class_pgunet_export_writes_per_class_parity(tmp_path):
    import torch

    from edgeseg.models import create_model

    torch.manual_seed(0)
    model = create_model("pgunet", num_classes=4, width_mult=0.125, stages=1).eval()
    data = write_class_data(tmp_path / "data")
    manifest = export_bundle((model, Normalization()), tmp_path / "bundle", precisions=("fp32", "int8"), img_size=32,
                             calib_data=data, calib_images=3, parity_images=3)
    for precision in ("fp32", "int8"):
        p = manifest.artifact(None, precision).parity
        assert p["classes"] == 4 and set(p["class_gt"]) == {"0", "1", "2", "3"}
        assert set(p["class_gt"]["2"]) == {"iou", "dice", "precision", "recall"}
        assert p["mean_dice_gt_drop"] == pytest.approx(p["mean_dice_gt_fp32"] - p["mean_dice_gt"])
        assert "iou_gt" in p and "mask_flip_share" in p  # the binary fields stay
        assert sum(p["class_flip_share"].values()) == pytest.approx(2 * p["mask_flip_share"])
    fp32 = manifest.artifact(None, "fp32").parity
    assert fp32["mean_dice_gt_drop"] == pytest.approx(0.0, abs=1e-3)  # fp32 ORT flips at most 0.01 % of pixels


def test_export_table_shows_the_foreground_class_mean(tmp_path):
    import json

    from bench.bundles import tiny_checkpoint
    from clirun import invoke

    tiny_checkpoint(tmp_path / "best", classes=4)
    data = write_class_data(tmp_path / "data")
    r = invoke("export", tmp_path / "best", "--out", tmp_path / "bundle", "--variants", "L1", "--img-size", "32",
               "--calib-data", data, "--parity-images", "3")
    assert r.exit_code == 0, r.output
    p = json.loads((tmp_path / "bundle" / "manifest.json").read_text())["artifacts"][0]["parity"]
    assert p["mean_iou_gt"] != p["iou_gt"]  # the table must show the one it names
    assert r.says(f"{p['mean_iou_gt']:.4f}") and r.says("IoU GT: mean over classes 1..C-1")
