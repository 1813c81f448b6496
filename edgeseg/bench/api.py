"""`run`: the benchmark as one call, used by `edgeseg bench`, `edgeseg demo` and benchmarks/headline.py."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ..errors import EdgesegError
from ..runtime.backends import Backend
from .results import BenchResult


def run(
    target: str | Path,
    *,
    out: str | Path = "runs/bench",
    data: str | None = None,
    variants: Sequence[str] | None = None,
    precisions: Sequence[str] | None = None,
    backends: Sequence[str | Backend] | None = None,
    batches: Sequence[int] = (1,),
    img_sizes: Sequence[int] | None = None,
    warmup: int = 10,
    iters: int = 50,
    duration: float | None = None,
    threads: int | None = None,
    eval_images: int = 16,
    checkpoint: str | Path | None = None,
    calib_data: str | None = None,
    calib_images: int = 32,
    min_iou: float | None = None,
    min_class_iou: Mapping[int, float] | None = None,
    compare: str | Path | None = None,
    iou_tolerance: float = 0.01,
    latency_tolerance: float = 0.10,
    deadlines: Sequence[float] | None = None,
    command: str | None = None,
    log: Callable[[str], None] | None = None,
) -> BenchResult:
    """Benchmark a bundle or a checkpoint: one row per variant x precision x backend x batch (x size).

    target: a bundle folder (its manifest.json) or a checkpoint (.safetensors/.json, or their stem).
        For a bundle, the ONNX Runtime/TensorRT rows run its artifacts and the torch rows the
        checkpoint its manifest names (found in, next to or beside the bundle), or `checkpoint`.
        For a checkpoint, the torch rows run it and the other rows a bundle exported from it into
        `out`/bundle-SIZE (kept, so they can be reproduced by benchmarking that bundle).
    out: folder for results.json, results.csv, results.md and pareto.png (and exported bundles).
    data: images to run on, a folder or "synthetic:NAME?n=..&size=.."; with masks, rows get IoU/Dice.
        None: seeded random noise (timing and parity only).
    variants, precisions: deploy variants and precisions; None: all in the bundle (a checkpoint
        exports every variant in fp32 unless `precisions` says otherwise).
    backends: `Backend` members or their names; None: all. Those that cannot run here give a
        "skipped" row with the reason.
    batches: batch sizes. img_sizes: input sizes (a checkpoint is exported at each; a bundle must
        match its export size); None: the bundle's size, or the checkpoint's training size.
    warmup, iters, duration: untimed iterations, then `iters` timed ones, or as many as fit in
        `duration` seconds.
    threads: CPU threads for torch and ONNX Runtime (the same for both); None: the usable cores.
    eval_images: images segmented once per row for IoU/Dice and parity.
    checkpoint: the checkpoint for the torch rows when `target` is a bundle.
    calib_data, calib_images: int8 calibration when exporting a checkpoint (default data: `data`).
    min_iou: a gate: every row's IoU must reach it (needs `data` with masks); a multi-class row's IoU is
        the mean over its foreground classes 1..C-1.
    min_class_iou: a gate per class, {class index: IoU}: every multi-class row's IoU of that class must
        reach it (needs `data` with masks and a model of more than one output channel).
    compare: a previous results.json, a gate: no row may lose more than `iou_tolerance` IoU
        (absolute) or gain more than `latency_tolerance` p50 latency (relative).
    deadlines: budgets (ms) for the deadline sweep of a bundle's progressive variants
        (`bench.progressive`), written to progressive.md; their level rows are timed either way.
    command: the command line to record in the reports. log: called with each progress line.

    Returns the BenchResult: its rows, the report files written (`files`) and the gates' `failures`
    (empty when they pass). Raises EdgesegError on bad input, naming the parameter in backquotes.
    """
    from ..files import write_bytes
    from . import env, gates, progressive, report
    from .inputs import Export, load_images, resolve
    from .sweep import SweepPlan, run_sweep
    from .timing import TimingPlan

    say = log or (lambda _: None)
    target, out = Path(target), Path(out)
    for gate, value in (("min_iou", min_iou), ("min_class_iou", min_class_iou)):
        if value is not None and data is None:
            raise EdgesegError(f"`{gate}` needs `data` with ground-truth masks")
    previous = _previous(compare) if compare is not None else None
    if data is not None:
        from ..data import open_source

        open_source(data)  # bad data fails now, not after a checkpoint's bundle has been exported
    if min_class_iou is not None and (classes := _classes(target)) is not None:  # None: `resolve` says what is wrong
        gates.check_class_minimums(min_class_iou, classes)
    threads = threads or usable_cores()
    plan = SweepPlan(
        backends=list(Backend) if backends is None else _listed(backends),
        batches=list(batches),
        variants=_listed(variants),
        precisions=_listed(precisions),
        timing=TimingPlan(warmup=warmup, iters=iters, duration=duration),
        threads=threads,
    )
    budgets = progressive.budgets(deadlines)
    export = None
    if any(b is not Backend.TORCH for b in plan.backends):
        export = Export(out, plan.variants, plan.precisions, max(plan.batches), calib_data or data, calib_images)
    targets = resolve(target, torch_rows=Backend.TORCH in plan.backends, export=export, sizes=img_sizes,
                      checkpoint=Path(checkpoint) if checkpoint is not None else None, log=say)
    channels = (targets[0].normalization or targets[0].manifest.normalization).channels
    images = load_images(data, eval_images, targets[0].size, channels)
    for gate, value in (("min_iou", min_iou), ("min_class_iou", min_class_iou)):
        if value is not None and images.masks is None:
            raise EdgesegError(f"`{gate}` needs ground-truth masks, and `data` {data} has none")

    rows, warnings = run_sweep(targets, plan, images, log=say)
    level_rows, sweeps = progressive.progressive_rows(targets, plan, images, budgets, log=say)
    rows += level_rows
    settings = {
        "target": str(target),
        "data": images.source,
        "eval_images": len(images.images),
        "timing": {"warmup": warmup, "iters": None if duration else iters, "duration_s": duration},
        "threads": threads,
        "backends": [b.short for b in plan.backends],
        "batches": plan.batches,
        "bundles": [str(t.bundle) for t in targets if t.bundle],
        "checkpoint": next((str(t.checkpoint_file) for t in targets if t.checkpoint_file), None),
    }
    result = BenchResult(rows, warnings, settings, env.capture(threads=threads), command)
    if sweeps:
        result.settings["deadline_sweeps"] = sweeps
    result.files = report.write_all(result, out)
    if sweeps:
        result.files["progressive"] = write_bytes(out / "progressive.md", progressive.sweep_markdown(sweeps).encode())
    if min_iou is not None:
        result.failures += gates.min_iou_failures(result, min_iou)
    if min_class_iou is not None:
        result.failures += gates.min_class_iou_failures(result, min_class_iou)
    if previous is not None:
        regressions, notes = gates.compare(previous, result, iou_tolerance, latency_tolerance)
        result.failures += regressions
        result.notes += notes
    return result


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _classes(target: Path) -> int | None:
    """The output channels (1: binary) of a bundle's artifacts or a checkpoint's model, read before any export."""
    from .. import manifest as mf
    from ..checkpoint import read_info
    from .inputs import is_bundle, is_checkpoint

    if is_bundle(target):
        manifest = mf.load(target if target.is_dir() else target.parent, verify=False)
        return max(a.output.shape[1] for a in manifest.artifacts)
    if is_checkpoint(target):
        return int(read_info(target).config.get("num_classes", 1))
    return None


def _previous(path: str | Path) -> BenchResult:
    try:
        return BenchResult.load(path)
    except EdgesegError as exc:
        raise EdgesegError(f"`compare` {exc}") from exc


def _listed(names):
    """A list of the names given; one name may be given on its own."""
    if names is None:
        return None
    return [names] if isinstance(names, str) else list(names)
