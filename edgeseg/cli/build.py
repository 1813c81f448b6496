"""`edgeseg build`: one TensorRT engine per ONNX artifact of a bundle, recorded in its manifest."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import app


class TargetName(str, Enum):
    cuda = "cuda"
    jetson_orin_nano = "jetson-orin-nano"
    jetson_orin_nx = "jetson-orin-nx"
    jetson_agx_orin = "jetson-agx-orin"
    jetson_xavier_nx = "jetson-xavier-nx"


@app.command("build")
def build_cmd(
    bundle: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="Bundle folder made by `edgeseg export`.")],
    target: Annotated[TargetName, typer.Option(help="Device profile the engine is for (build on that device).")] = TargetName.cuda,
    workspace: Annotated[Optional[float], typer.Option(help="Builder workspace in GiB (default: the target's).")] = None,
    dla_core: Annotated[Optional[int], typer.Option(min=0, help="Run on this DLA core (fp16/int8), GPU fallback on.")] = None,
    timing_cache: Annotated[Optional[Path], typer.Option(dir_okay=False, help="Timing cache file, read and updated.")] = None,
    opt_level: Annotated[int, typer.Option(min=0, max=5, help="TensorRT builder optimization level.")] = 3,
    min_batch: Annotated[Optional[int], typer.Option(min=1, help="Smallest batch of the optimization profile.")] = None,
    opt_batch: Annotated[Optional[int], typer.Option(min=1, help="Batch TensorRT tunes for.")] = None,
    max_batch: Annotated[Optional[int], typer.Option(min=1, help="Largest batch (default: the target's).")] = None,
    verbose: Annotated[bool, typer.Option(help="TensorRT's verbose log.")] = False,
) -> None:
    """Build TensorRT engines for every ONNX file in BUNDLE (reusing engines whose cache key matches)."""
    from ..engines.build import build_bundle

    build_bundle(
        bundle,
        report=typer.echo,
        verbose=verbose,
        target=target.value,
        workspace_gib=workspace,
        dla_core=dla_core,
        opt_level=opt_level,
        timing_cache=str(timing_cache) if timing_cache else None,
        min_batch=min_batch,
        opt_batch=opt_batch,
        max_batch=max_batch,
    )
