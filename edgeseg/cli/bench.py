"""`edgeseg bench`: latency, throughput, IoU and parity per variant x precision x backend x batch.

Given a bundle, ORT/TensorRT rows run its artifacts and torch rows need the checkpoint the manifest
names in `source` (found in, next to or beside the bundle, or given with --checkpoint). Given a
checkpoint, torch rows run it directly and the ORT/TensorRT rows run a bundle exported from it into
OUT/bundle-SIZE (kept, so the rows can be reproduced with `edgeseg bench OUT/bundle-SIZE`).
Exit codes: 0 ok, 1 a gate failed (--min-iou, --compare), 2 bad input.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer()

ALL_BACKENDS = "torch,ort-cpu,ort-cuda,ort-trt,trt"


def _ints(text: str, option: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise typer.BadParameter(f"{option} takes comma-separated integers, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise typer.BadParameter(f"{option} takes positive integers, got {text!r}")
    return values


def _names(text: str | None) -> list[str] | None:
    if text is None or text.strip() in ("", "all"):
        return None
    return [v.strip() for v in text.split(",") if v.strip()]


@app.command("bench")
def bench_cmd(
    target: Annotated[Path, typer.Argument(metavar="BUNDLE_OR_CHECKPOINT", help="A bundle folder (manifest.json) or a checkpoint (.safetensors/.json or its stem).")],
    data: Annotated[str | None, typer.Option(help="Images to run on: a folder or synthetic:NAME?n=..&size=..; with masks, rows get IoU/Dice. Default: random noise (timing and parity only).")] = None,
    variants: Annotated[str, typer.Option(help="Comma-separated deploy variants, or 'all'.")] = "all",
    precision: Annotated[str | None, typer.Option(help="Comma-separated precisions (fp32,fp16,int8). Default: all in the bundle; fp32 for a checkpoint.")] = None,
    backends: Annotated[str, typer.Option(help=f"Comma-separated backends from {ALL_BACKENDS}; those that cannot run here are listed as skipped, with the reason.")] = ALL_BACKENDS,
    batch: Annotated[str, typer.Option(help="Comma-separated batch sizes.")] = "1",
    img_size: Annotated[str | None, typer.Option(help="Comma-separated input sizes (checkpoint: exported at each; bundle: must match its export size).")] = None,
    warmup: Annotated[int, typer.Option(min=0, help="Untimed iterations before timing.")] = 10,
    iters: Annotated[int, typer.Option(min=1, help="Timed iterations per row.")] = 50,
    duration: Annotated[float | None, typer.Option(min=0.001, help="Seconds of timed iterations per row (replaces --iters).")] = None,
    threads: Annotated[int | None, typer.Option(min=1, help="CPU threads for torch and ONNX Runtime (same for both). Default: the usable cores.")] = None,
    eval_images: Annotated[int, typer.Option(min=1, help="Images segmented once per row for IoU/Dice and parity.")] = 16,
    checkpoint: Annotated[Path | None, typer.Option(help="Checkpoint for the torch rows when TARGET is a bundle (default: the manifest's source).")] = None,
    calib_data: Annotated[str | None, typer.Option(help="Calibration images for int8 when exporting from a checkpoint (default: --data).")] = None,
    calib_images: Annotated[int, typer.Option(min=1, help="Calibration images for int8 when exporting from a checkpoint.")] = 32,
    out: Annotated[Path, typer.Option(file_okay=False, help="Folder for results.json/.csv/.md and pareto.png.")] = Path("runs/bench"),
    min_iou: Annotated[float | None, typer.Option(min=0.0, max=1.0, help="Exit 1 if any row's IoU is below this.")] = None,
    compare: Annotated[Path | None, typer.Option(exists=True, dir_okay=False, help="A previous results.json: exit 1 on regressions.")] = None,
    iou_tolerance: Annotated[float, typer.Option(min=0.0, help="--compare: allowed absolute IoU drop.")] = 0.01,
    latency_tolerance: Annotated[float, typer.Option(min=0.0, help="--compare: allowed relative p50 latency rise (0.10 = 10%).")] = 0.10,
) -> None:
    """Benchmark deploy variants across precisions, backends and batch sizes; write JSON/CSV/Markdown and a Pareto plot."""
    from rich.console import Console

    from ..bench import env, report
    from ..bench.inputs import load_images
    from ..bench.sweep import SweepPlan, result_document, run_sweep
    from ..bench.timing import TimingPlan
    from ..errors import EdgesegError

    console = Console(stderr=True)
    if min_iou is not None and data is None:
        raise EdgesegError("--min-iou needs --data with ground-truth masks")
    previous = report.load_result(compare) if compare else None
    if data is not None:
        from ..data import open_source

        open_source(data)  # a bad --data fails now, not after a checkpoint's bundle has been exported
    threads = threads or _usable_cores()
    plan = SweepPlan(
        backends=[b.strip() for b in backends.split(",") if b.strip()],
        batches=_ints(batch, "--batch"),
        variants=_names(variants),
        precisions=_names(precision),
        timing=TimingPlan(warmup=warmup, iters=iters, duration=duration),
        threads=threads,
    )
    sizes = _ints(img_size, "--img-size") if img_size else None
    targets = _targets(target, plan, sizes, checkpoint, (calib_data or data, calib_images), out, console)
    channels = (targets[0].normalization or targets[0].manifest.normalization).channels
    images = load_images(data, eval_images, targets[0].size, channels)
    if min_iou is not None and images.masks is None:
        raise EdgesegError(f"--min-iou needs ground-truth masks, and --data {data} has none")

    rows, warnings = run_sweep(targets, plan, images, log=lambda m: console.print(m, markup=False, highlight=False))
    settings = {
        "target": str(target),
        "data": images.source,
        "eval_images": len(images.images),
        "timing": {"warmup": warmup, "iters": None if duration else iters, "duration_s": duration},
        "threads": threads,
        "backends": plan.backends,
        "batches": plan.batches,
        "bundles": [str(t.bundle) for t in targets if t.bundle],
        "checkpoint": next((str(t.checkpoint_file) for t in targets if t.checkpoint_file), None),
    }
    command = "edgeseg " + shlex.join(sys.argv[1:]) if Path(sys.argv[0]).name in ("edgeseg", "__main__.py") else None
    result = result_document(rows, warnings, env.capture(threads=threads), settings, command)
    paths = report.write_all(result, out)
    report.print_table(result)
    typer.echo("reports: " + ", ".join(str(p) for p in paths.values()))

    failures = report.min_iou_failures(result, min_iou) if min_iou is not None else []
    if previous is not None:
        regressions, notes = report.compare(previous, result, iou_tolerance, latency_tolerance)
        failures += regressions
        for note in notes:
            typer.secho(note, fg="yellow", err=True)
    if failures:
        for line in failures:
            typer.secho(f"gate failed: {line}", fg="red", err=True)
        raise typer.Exit(code=1)


def _targets(target: Path, plan, sizes, checkpoint, calib, out: Path, console):
    from .. import manifest as mf
    from ..bench.inputs import find_checkpoint, is_bundle, is_checkpoint
    from ..bench.sweep import Target
    from ..errors import EdgesegError

    wants_torch = "torch" in plan.backends
    if is_bundle(target):
        bundle = target if target.is_dir() else target.parent
        manifest = mf.load(bundle)
        size = _bundle_size(manifest)
        if sizes and sizes != [size]:
            raise EdgesegError(f"{bundle} was exported at {size}x{size}; export again with --img-size {','.join(map(str, sizes))} or bench the checkpoint")
        t = Target(size=size, bundle=bundle, manifest=manifest)
        if wants_torch:
            found, why = find_checkpoint(bundle, manifest, checkpoint)
            if found is None:
                t.torch_reason = why
            else:
                _attach_model(t, found)
        return [t]
    if not is_checkpoint(target):
        raise EdgesegError(f"{target} is neither a bundle (no manifest.json) nor a checkpoint (.safetensors + .json)")
    from .. import checkpoint as ckpt

    info = ckpt.read_info(target)
    sizes = sizes or [int(info.recipe.get("img_size") or 256)]
    exported = [b for b in plan.backends if b != "torch"]
    targets = []
    for size in sizes:
        t = Target(size=size)
        _attach_model(t, target)
        if exported:
            from ..export import export_bundle

            bundle = out / f"bundle-{size}"
            console.print(f"bench: exporting {target} at {size}x{size} to {bundle}", markup=False, highlight=False)
            dynamic = max(plan.batches) if max(plan.batches) > 1 else None
            t.manifest = export_bundle(target, bundle, variants=plan.variants or "all", precisions=plan.precisions or ["fp32"],
                                       img_size=size, dynamic_batch=dynamic, calib_data=calib[0], calib_images=calib[1])
            t.bundle = bundle
        targets.append(t)
    return targets


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _attach_model(t, path: Path) -> None:
    from .. import checkpoint as ckpt
    from .. import manifest as mf

    model, info = ckpt.load(path)
    t.model = model
    t.normalization = mf.Normalization.from_dict(info.normalization)
    t.checkpoint_file = ckpt.paths(path)[0]


def _bundle_size(manifest) -> int:
    exported = (getattr(manifest, "export", None) or {}).get("img_size")
    if exported:
        return int(exported)
    return max(int(a.input.shape[2]) for a in manifest.artifacts)
