"""`edgeseg build`: one TensorRT engine per ONNX artifact of a bundle, recorded in its manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..engines.targets import TargetName
from ..errors import MissingDependency

app = typer.Typer()


@app.command("build")
def build_cmd(
    bundle: Annotated[
        Path, typer.Argument(exists=True, file_okay=False, help="Bundle folder made by `edgeseg export`.")
    ],
    target: Annotated[
        TargetName, typer.Option(help="Device profile the engine is for (build on that device).")
    ] = TargetName.cuda,
    workspace: Annotated[float | None, typer.Option(help="Builder workspace in GiB (default: the target's).")] = None,
    dla_core: Annotated[
        int | None, typer.Option(min=0, help="Run on this DLA core (fp16/int8), GPU fallback on.")
    ] = None,
    timing_cache: Annotated[
        Path | None, typer.Option(dir_okay=False, help="Timing cache file, read and updated.")
    ] = None,
    opt_level: Annotated[int, typer.Option(min=0, max=5, help="TensorRT builder optimization level.")] = 3,
    min_batch: Annotated[int | None, typer.Option(min=1, help="Smallest batch of the optimization profile.")] = None,
    opt_batch: Annotated[int | None, typer.Option(min=1, help="Batch TensorRT tunes for.")] = None,
    max_batch: Annotated[
        int | None,
        typer.Option(min=1, help="Largest batch (default: the export's --dynamic-batch, else the target's)."),
    ] = None,
    variant: Annotated[str | None, typer.Option(help="Only this deploy variant's artifacts.")] = None,
    precision: Annotated[
        str | None, typer.Option(help="Only artifacts of this precision (fp32, fp16, int8), e.g. for DLA.")
    ] = None,
    verbose: Annotated[bool, typer.Option(help="TensorRT's verbose log.")] = False,
    dry_run: Annotated[
        bool, typer.Option(help="Print the build plans and stop (needs no GPU; without TensorRT give --trt-version).")
    ] = False,
    trt_version: Annotated[
        str | None, typer.Option(help="With --dry-run: TensorRT version to plan for (default: installed).")
    ] = None,
    compute_capability: Annotated[
        str | None, typer.Option(help="With --dry-run: GPU to plan for, e.g. 8.7 (default: the target's).")
    ] = None,
) -> None:
    """Build TensorRT engines for every ONNX file in BUNDLE (reusing engines whose cache key matches)."""
    from ..engines import build
    from ..engines.targets import get_target

    options = dict(
        target=target.value,
        workspace_gib=workspace,
        dla_core=dla_core,
        opt_level=opt_level,
        timing_cache=str(timing_cache) if timing_cache else None,
        min_batch=min_batch,
        opt_batch=opt_batch,
        max_batch=max_batch,
        variant=variant,
        precision=precision,
    )
    if not dry_run:
        if trt_version or compute_capability:
            raise typer.BadParameter(
                "--trt-version and --compute-capability only go with --dry-run (a build uses the real ones)"
            )
        build.build_bundle(bundle, report=typer.echo, verbose=verbose, **options)
        return
    cc = compute_capability or get_target(target.value).compute_capability
    if cc is None:
        raise typer.BadParameter("--target cuda has no fixed GPU: give --compute-capability (e.g. 8.9) with --dry-run")
    if trt_version is None:
        try:
            trt_version = build.trt_version()
        except MissingDependency:
            raise typer.BadParameter(
                "TensorRT is not installed here: give --trt-version (e.g. 10.3 or 11.0) to plan for one"
            ) from None
    build.dry_run(bundle, trt_version=trt_version, compute_capability=cc, report=typer.echo, **options)
