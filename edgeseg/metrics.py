"""Segmentation metrics on numpy masks (torch-free): shared by training, export checks and benchmarks.

Masks are boolean (binary) or integer class maps. For a class map, the binary metrics are taken over
the foreground (every class but 0) unless `cls` picks one class. An empty prediction of an empty
target scores 1.0 (nothing to find, nothing found).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Confusion:
    tp: int
    fp: int
    fn: int
    tn: int

    def __add__(self, other: Confusion) -> Confusion:
        return Confusion(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn)

    @classmethod
    def of(cls, pred: np.ndarray, target: np.ndarray, cls_index: int | None = None) -> Confusion:
        p, t = _binary(pred, cls_index), _binary(target, cls_index)
        if p.shape != t.shape:
            raise ValueError(f"prediction shape {p.shape} != target shape {t.shape}")
        tp = int(np.count_nonzero(p & t))
        fp = int(np.count_nonzero(p & ~t))
        fn = int(np.count_nonzero(~p & t))
        return cls(tp, fp, fn, p.size - tp - fp - fn)

    def iou(self) -> float:
        return _ratio(self.tp, self.tp + self.fp + self.fn)

    def dice(self) -> float:
        return _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)

    def accuracy(self) -> float:
        return _ratio(self.tp + self.tn, self.tp + self.tn + self.fp + self.fn)

    def sensitivity(self) -> float:
        return _ratio(self.tp, self.tp + self.fn)

    def specificity(self) -> float:
        return _ratio(self.tn, self.tn + self.fp)

    def precision(self) -> float:
        return _ratio(self.tp, self.tp + self.fp)

    def scores(self) -> dict[str, float]:
        return {
            "iou": self.iou(),
            "dice": self.dice(),
            "accuracy": self.accuracy(),
            "sensitivity": self.sensitivity(),
            "specificity": self.specificity(),
            "precision": self.precision(),
        }

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _binary(mask: np.ndarray, cls_index: int | None) -> np.ndarray:
    mask = np.asarray(mask)
    if cls_index is not None:
        return mask == cls_index
    return mask.astype(bool) if mask.dtype != bool else mask


def _ratio(num: int, den: int) -> float:
    return 1.0 if den == 0 else num / den


def iou(pred: np.ndarray, target: np.ndarray) -> float:
    return Confusion.of(pred, target).iou()


def dice(pred: np.ndarray, target: np.ndarray) -> float:
    return Confusion.of(pred, target).dice()


def dataset_scores(preds, targets) -> dict[str, float]:
    """Scores over a dataset: `micro` sums the confusion over all pixels, `mean_iou`/`mean_dice` average
    the per-image scores (the papers report the latter)."""
    total = Confusion(0, 0, 0, 0)
    per_image = []
    for p, t in zip(preds, targets, strict=True):
        c = Confusion.of(p, t)
        total = total + c
        per_image.append((c.iou(), c.dice()))
    if not per_image:
        raise ValueError("no images to score")
    out = {f"micro_{k}": v for k, v in total.scores().items()}
    out["mean_iou"] = float(np.mean([i for i, _ in per_image]))
    out["mean_dice"] = float(np.mean([d for _, d in per_image]))
    out["images"] = len(per_image)
    return out


CLASS_SCORES = ("iou", "dice", "precision", "recall")


def class_scores(preds, targets, classes: int) -> dict:
    """Per-class scores over a dataset of class-index masks, and their mean over the foreground classes.

    Each class's confusion is summed over all images (a class absent from most images still weighs by
    its pixels). Returns `{"classes": {"0": {...}, "1": {...}, ...}, "mean_iou": .., "mean_dice": ..,
    "mean_precision": .., "mean_recall": .., "images": n}`; the means skip class 0 (background) and
    are taken over the classes 1..classes-1. A binary mask set is `classes=2`. A class never predicted
but present in the truth has precision 0 (not the 0/0 = 1 of an absent class).
    """
    if classes < 2:
        raise ValueError(f"classes must be >= 2 (background and at least one class), got {classes}")
    totals = [Confusion(0, 0, 0, 0) for _ in range(classes)]
    images = 0
    for p, t in zip(preds, targets, strict=True):
        p, t = np.asarray(p), np.asarray(t)
        for mask, what in ((p, "prediction"), (t, "target")):
            bad = mask[(mask < 0) | (mask >= classes)]
            if bad.size:
                raise ValueError(f"{what} holds class {int(bad.flat[0])}, outside 0..{classes - 1}")
        totals = [total + Confusion.of(p, t, c) for c, total in enumerate(totals)]
        images += 1
    if not images:
        raise ValueError("no images to score")
    per_class = {
        str(c): dict(zip(CLASS_SCORES, (t.iou(), t.dice(), _class_precision(t), t.sensitivity()), strict=True))
        for c, t in enumerate(totals)
    }
    out: dict = {"classes": per_class}
    for score in CLASS_SCORES:
        out[f"mean_{score}"] = float(np.mean([per_class[str(c)][score] for c in range(1, classes)]))
    out["images"] = images
    return out


def _class_precision(c: Confusion) -> float:
    """Precision, except that predicting nothing of a class the truth holds scores 0, not 0/0 = 1."""
    return 0.0 if c.tp + c.fp == 0 and c.fn > 0 else c.precision()


def mask_flips(a: np.ndarray, b: np.ndarray) -> float:
    """Share of pixels whose class differs between two masks of the same shape (backend parity)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"mask shapes differ: {a.shape} vs {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.count_nonzero(a != b)) / a.size


def masks_from_output(output: np.ndarray, kind: str = "logits", threshold: float = 0.5) -> np.ndarray:
    """(N, C, H, W) network output -> (N, H, W) masks: threshold for one channel, argmax for several.

    `kind` says whether the output holds logits or probabilities (the manifest states which).
    """
    output = np.asarray(output)
    if output.ndim != 4:
        raise ValueError(f"expected an (N, C, H, W) output, got shape {output.shape}")
    if output.shape[1] > 1:
        return output.argmax(axis=1).astype(np.uint8)
    probs = sigmoid(output[:, 0]) if kind == "logits" else output[:, 0]
    return (probs > threshold).astype(np.uint8)


def sigmoid(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return np.exp(-np.logaddexp(0.0, -x)).astype(np.float32)
