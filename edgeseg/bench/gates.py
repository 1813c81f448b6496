"""The benchmark's gates: a minimum IoU for every row (a multi-class row's IoU is its foreground mean),
a minimum IoU per class, and no regression against a previous run.

Each returns lines that say what failed; a run with any fails its gate (`edgeseg bench` exits 1).
Parameter names appear in backquotes (`min_iou`), which the command line shows as its flags.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import EdgesegError
from .results import BenchResult


def min_iou_failures(result: BenchResult, min_iou: float) -> list[str]:
    scored = [r for r in result.ok_rows if r.iou is not None]
    if not scored:
        return ["`min_iou`: no row has an IoU (give `data` with masks)"]
    return [f"{r.label}: IoU {r.iou:.4f} < `min_iou` {min_iou}" for r in scored if r.iou < min_iou]


def check_class_minimums(minimum: Mapping[int, float], classes: int) -> None:
    """`min_class_iou` ({class: IoU}) against a model of `classes` output channels (1: binary)."""
    if classes < 2:
        raise EdgesegError("`min_class_iou` needs a multi-class model; this one is binary (one output channel): "
                           "use `min_iou`")
    for k, value in minimum.items():
        if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < classes:
            raise EdgesegError(f"`min_class_iou` names class {k!r}; this model's classes are 0..{classes - 1}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise EdgesegError(f"`min_class_iou` for class {k} is {value!r}; give an IoU in [0, 1]")


def min_class_iou_failures(result: BenchResult, minimum: Mapping[int, float]) -> list[str]:
    scored = [r for r in result.ok_rows if r.class_scores]
    if not scored:
        return ["`min_class_iou`: no row has per-class IoU (give `data` with masks, and a multi-class model)"]
    return [f"{r.label}: class {k} IoU {r.class_scores[str(k)]['iou']:.4f} < `min_class_iou` {k}={value}"
            for r in scored for k, value in sorted(minimum.items()) if r.class_scores[str(k)]["iou"] < value]


def compare(
    previous: BenchResult, current: BenchResult, iou_tol: float, latency_tol: float
) -> tuple[list[str], list[str]]:
    """(regressions, notes): a row regresses when its IoU drops by more than `iou_tol` (absolute) or
    its p50 latency rises by more than `latency_tol` (relative), or it ran before and fails now."""
    before = {r.key: r for r in previous.ok_rows}
    regressions, notes = [], []
    matched = 0
    for row in current.rows:
        old = before.get(row.key)
        if old is None:
            continue
        matched += 1
        if not row.ok:
            regressions.append(f"{row.label}: ran before, now {row.status} ({row.reason})")
            continue
        if old.iou is not None and row.iou is not None and old.iou - row.iou > iou_tol:
            regressions.append(f"{row.label}: IoU {old.iou:.4f} -> {row.iou:.4f} (drop > {iou_tol})")
        p_old, p_new = _p50(old), _p50(row)
        if p_old and p_new and p_new > p_old * (1 + latency_tol):
            rise = p_new / p_old - 1
            regressions.append(f"{row.label}: p50 {p_old:.3f} -> {p_new:.3f} ms (+{rise:.0%} > {latency_tol:.0%})")
    if not matched:
        notes.append("`compare`: no row of the previous run matches this one "
                     "(model/variant/precision/backend/batch/size)")
    return regressions, notes


def _p50(row) -> float | None:
    return row.latency_ms.p50 if row.latency_ms else None
