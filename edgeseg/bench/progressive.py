"""`edgeseg bench` for progressive variants: latency to each level, and what a deadline delivers.

Per chain of a bundle (variant x precision) and runtime backend: one `BenchRow` per level, its variant
written `progressive@L2`, whose latency is the time from the start of the chain until that level's
prediction is out (the runner's steps only, like a standalone row's infer latency: the two are
comparable on the Pareto plot), with the level's own mask quality. Then a deadline sweep: for each
budget, every image is segmented with `Segmenter.segment(image, deadline_ms=budget)`, and the share of
frames reaching each level and the mean IoU delivered (when the data has masks) are recorded. Both use
the Segmenter's clock, so tests inject one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..errors import EdgesegError
from ..metrics import dataset_scores
from ..runtime.backends import Backend
from .results import BenchRow
from .stats import LatencyStats

SEPARATOR = "@"  # progressive@L2: a progressive variant's row at one level


def level_latencies(seg, images: Sequence[np.ndarray], *, warmup: int, iters: int) -> dict[str, list[float]]:
    """Milliseconds from the start of the chain until each level's prediction is out, per timed run."""
    batches = [seg.preprocess(image)[0] for image in images[: max(1, min(len(images), iters))]]
    times: dict[str, list[float]] = {level: [] for level in seg.levels}
    for i in range(warmup + iters):
        feed = {seg.input_name: batches[i % len(batches)]}
        start = seg.clock()
        marks = [seg.clock() - start for _ in seg.runner.steps(feed)]
        if i >= warmup:
            for level, seconds in zip(seg.levels, marks, strict=True):
                times[level].append(seconds * 1000)
    return times


def level_scores(seg, images: Sequence[np.ndarray], masks: Sequence[np.ndarray] | None) -> dict[str, float | None]:
    """Mean IoU of each level's masks against the ground truth (None without masks)."""
    if masks is None:
        return dict.fromkeys(seg.levels)
    per_level: dict[str, list[np.ndarray]] = {level: [] for level in seg.levels}
    for image in images:
        for level, mask in seg.refine(image):
            per_level[level].append(mask)
    return {level: dataset_scores(got, list(masks))["mean_iou"] for level, got in per_level.items()}


def deadline_sweep(seg, images: Sequence[np.ndarray], masks: Sequence[np.ndarray] | None,
                   budgets_ms: Sequence[float]) -> list[dict]:
    """Per budget: the share of frames that reached each level, and the mean IoU of the masks delivered."""
    sweep = []
    for budget in budgets_ms:
        delivered, levels = [], Counter()
        for image in images:
            mask, level = seg.segment(image, deadline_ms=budget)
            delivered.append(mask)
            levels[level] += 1
        entry = {"budget_ms": float(budget),
                 "levels": {level: levels[level] / len(images) for level in seg.levels},
                 "mean_iou": dataset_scores(delivered, list(masks))["mean_iou"] if masks is not None else None}
        sweep.append(entry)
    return sweep


def budgets(deadlines: Sequence[float] | None) -> list[float]:
    """The deadline budgets in ms, checked: finite numbers > 0."""
    import math

    values = list(deadlines or ())
    bad = [d for d in values if isinstance(d, bool) or not isinstance(d, (int, float)) or not 0 < d < math.inf]
    if bad:
        raise EdgesegError(f"`deadlines` must be milliseconds > 0, got {bad[0]!r}")
    return [float(d) for d in values]


def chains_to_run(manifest, variants: Sequence[str] | None, precisions: Sequence[str] | None):
    """The bundle's progressive chains the plan asks for (all when it names no variants)."""
    return [c for c in manifest.progressive
            if (variants is None or c.variant in variants) and (precisions is None or c.precision in precisions)]


def progressive_rows(targets, plan, images, deadlines_ms: Sequence[float] | None, log=print):
    """(rows, sweeps): level rows and deadline sweeps of every progressive chain in the targets' bundles."""
    from ..runtime import Segmenter

    rows: list[BenchRow] = []
    sweeps: list[dict] = []
    backends = [b for b in plan.backends if b is not Backend.TORCH]
    for t in targets:
        if t.manifest is None:
            continue
        for chain in chains_to_run(t.manifest, plan.variants, plan.precisions):
            for backend in backends:
                label = f"{chain.key} {backend.short}"
                base = BenchRow(model=t.manifest.model["name"], backend=backend, variant=chain.variant,
                                precision=chain.precision, batch=1, img_size=t.size)
                try:
                    seg = Segmenter.from_bundle(t.bundle, backend=backend.value, variant=chain.variant,
                                                precision=chain.precision, threads=plan.threads)
                except EdgesegError as exc:
                    rows.append(replace(base, status="skipped", reason=str(exc)))
                    continue
                with seg:
                    log(f"bench: {label}, time to each level")
                    rows += level_rows(base, seg, chain, t.bundle, images, warmup=plan.timing.warmup,
                                       iters=plan.timing.iters)
                    if deadlines_ms:
                        log(f"bench: {label}, deadline sweep over {len(deadlines_ms)} budgets")
                        sweep = deadline_sweep(seg, images.images, images.masks, deadlines_ms)
                        sweeps.append({"variant": chain.variant, "precision": chain.precision,
                                       "backend": backend.short, "sweep": sweep})
    return rows, sweeps


def level_rows(base: BenchRow, seg, chain, bundle: Path, images, *, warmup: int, iters: int) -> list[BenchRow]:
    latencies = level_latencies(seg, images.images, warmup=warmup, iters=iters)
    scores = level_scores(seg, images.images, images.masks)
    rows, gflops = [], 0.0
    for step in chain.steps:
        gflops += step.gflops or 0.0
        stats = LatencyStats.of(latencies[step.level])
        rows.append(replace(
            base, variant=f"{chain.variant}{SEPARATOR}{step.level}", device=seg.backend, file=step.file,
            file_size_mb=(Path(bundle) / step.file).stat().st_size / 2**20, gflops=round(gflops, 6),
            latency_ms=stats, throughput=1000 / stats.p50 if stats.p50 > 0 else None, iou=scores[step.level],
        ))
    return rows


def sweep_markdown(sweeps: list[dict]) -> str:
    """One table per chain: budget, share of frames at each level, mean IoU delivered."""
    lines = ["# Deadline sweep", ""]
    for entry in sweeps:
        levels = list(entry["sweep"][0]["levels"]) if entry["sweep"] else []
        lines += [f"## {entry['variant']}.{entry['precision']} on {entry['backend']}", "",
                  "| budget ms | " + " | ".join(levels) + " | mean IoU delivered |",
                  "|---:|" + "---:|" * (len(levels) + 1)]
        for row in entry["sweep"]:
            shares = " | ".join(f"{row['levels'][level]:.0%}" for level in levels)
            iou = "-" if row["mean_iou"] is None else f"{row['mean_iou']:.4f}"
            lines.append(f"| {row['budget_ms']:g} | {shares} | {iou} |")
        lines.append("")
    return "\n".join(lines)
