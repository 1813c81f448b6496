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
