import numpy as np
import pytest

from edgeseg.metrics import Confusion, class_scores, dataset_scores, mask_flips, masks_from_output, sigmoid


def test_confusion_by_hand():
    pred = np.array([[1, 1, 0], [0, 0, 0]], bool)
    target = np.array([[1, 0, 0], [1, 0, 0]], bool)
    c = Confusion.of(pred, target)
    assert (c.tp, c.fp, c.fn, c.tn) == (1, 1, 1, 3)
    assert c.iou() == pytest.approx(1 / 3)
    assert c.dice() == pytest.approx(0.5)
    assert c.accuracy() == pytest.approx(4 / 6)
    assert c.sensitivity() == pytest.approx(0.5)
    assert c.specificity() == pytest.approx(0.75)
    assert c.precision() == pytest.approx(0.5)


def test_empty_prediction_of_empty_target_is_perfect():
    z = np.zeros((4, 4), bool)
    assert Confusion.of(z, z).iou() == 1.0


def test_dataset_scores_mean_vs_micro():
    # a small image found whole (IoU 1) and a large one missed (IoU 0): the mean of the per-image scores
    # weighs them alike, the micro score (one confusion over all pixels) weighs them by their pixels
    small, large = np.ones((2, 2), bool), np.ones((4, 4), bool)
    s = dataset_scores([small, np.zeros_like(large)], [small, large])
    assert s["mean_iou"] == pytest.approx(0.5) and s["mean_dice"] == pytest.approx(0.5)
    assert s["micro_iou"] == pytest.approx(4 / 20)
    assert s["images"] == 2


def test_mask_flips_and_shape_check():
    a = np.zeros((10, 10), np.uint8)
    b = a.copy()
    b[0, :3] = 1
    assert mask_flips(a, b) == pytest.approx(0.03)
    with pytest.raises(ValueError):
        mask_flips(a, b[:5])


def test_masks_from_output_binary_and_multiclass():
    logits = np.array([[[[-1.0, 2.0]]]], np.float32)
    assert masks_from_output(logits).tolist() == [[[0, 1]]]
    probs = sigmoid(logits)
    assert masks_from_output(probs, kind="probabilities").tolist() == [[[0, 1]]]
    multi = np.zeros((1, 3, 1, 2), np.float32)
    multi[0, 2, 0, 1] = 5
    assert masks_from_output(multi).tolist() == [[[0, 2]]]


def test_sigmoid_is_stable_at_extremes():
    out = sigmoid(np.array([-1e4, 0.0, 1e4]))
    assert np.isfinite(out).all() and out.tolist() == [0.0, 0.5, 1.0]


def test_class_scores_by_hand():
    # 3 classes on one 2x3 image; class 1: tp 1, fp 1, fn 1; class 2: tp 1, fp 0, fn 1
    pred = np.array([[1, 1, 2], [0, 0, 0]])
    target = np.array([[1, 2, 2], [1, 0, 0]])
    s = class_scores([pred], [target], classes=3)
    assert s["classes"]["1"]["iou"] == pytest.approx(1 / 3)
    assert s["classes"]["2"]["iou"] == pytest.approx(1 / 2)
    assert s["classes"]["2"]["precision"] == pytest.approx(1.0)
    assert s["classes"]["2"]["recall"] == pytest.approx(0.5)
    assert s["classes"]["0"]["iou"] == pytest.approx(2 / 3)
    assert s["mean_iou"] == pytest.approx((1 / 3 + 1 / 2) / 2)
    assert s["mean_dice"] == pytest.approx((0.5 + 2 / 3) / 2)
    assert s["images"] == 1


def test_class_scores_sum_confusions_over_images_and_check_the_range():
    a = np.array([[1, 0]])
    s = class_scores([a, np.zeros_like(a)], [a, a], classes=2)
    assert s["classes"]["1"]["iou"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="class 3"):
        class_scores([np.array([[3]])], [np.array([[0]])], classes=3)
    with pytest.raises(ValueError):
        class_scores([], [], classes=3)


def test_a_class_never_predicted_but_present_has_precision_zero_and_an_absent_one_scores_one():
    target = np.array([[0, 1, 2]])
    s = class_scores([np.zeros_like(target)], [target], classes=4)
    assert s["classes"]["1"]["precision"] == 0.0 and s["classes"]["1"]["recall"] == 0.0
    assert s["classes"]["3"] == {"iou": 1.0, "dice": 1.0, "precision": 1.0, "recall": 1.0}
