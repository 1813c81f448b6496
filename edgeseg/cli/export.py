"""`edgeseg export`: a checkpoint's deploy variants -> an ONNX bundle (fp32 / fp16 / int8) with parity checks."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from ..engines.targets import TargetName
from .flags import flag_errors, flags_of

app = typer.Typer()


class CalibMethod(str, Enum):
    minmax = "minmax"
    entropy = "entropy"
    percentile = "percentile"


@app.command("export")
def export_cmd(
    ctx: typer.Context,
    checkpoint: Annotated[Path, typer.Argument(help="Checkpoint: X.safetensors, X.json or the stem X.")],
    out: Annotated[Path, typer.Option(
        "--out", file_okay=False,
        help="Bundle folder (ONNX files + manifest.json): new, empty, or a bundle to replace (its engines of "
        "unchanged ONNX files are kept).",
    )],
    variants: Annotated[
        str,
        typer.Option(help="'all' or a comma list of deploy variants, e.g. L1,L3 or final."),
    ] = "all",
    precision: Annotated[str, typer.Option(help="Comma list of fp32, fp16, int8.")] = "fp32",
    img_size: Annotated[
        int | None,
        typer.Option(min=1, help="Input height = width (default: the training size, else 256)."),
    ] = None,
    batch: Annotated[int | None, typer.Option(min=1, help="Static batch size (default 1).")] = None,
    dynamic_batch: Annotated[
        int | None,
        typer.Option(min=1, help="Dynamic batch axis; the largest batch engines are built for."),
    ] = None,
    calib_data: Annotated[
        str | None,
        typer.Option(help="Calibration/parity images: a folder or synthetic:NAME?n=..; default random images."),
    ] = None,
    calib_images: Annotated[
        int,
        typer.Option(min=1, help="Images used for int8 calibration and fp16 range checks."),
    ] = 32,
    calib_method: Annotated[CalibMethod, typer.Option(help="ONNX Runtime calibrator for int8.")] = CalibMethod.minmax,
    parity_images: Annotated[int, typer.Option(min=1, help="Images compared against eager PyTorch per artifact.")] = 8,
    opset: Annotated[int, typer.Option(min=13, help="ONNX opset (TensorRT 10 parses 9..20).")] = 18,
    target: Annotated[TargetName, typer.Option(help="Where the engines will be built.")] = TargetName.cuda,
    sign_key: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="Sign the bundle with this EC private key (PEM; extra `sign`)."),
    ] = None,
) -> None:
    """Export deploy variants to ONNX in fp32/fp16/int8, check parity and TensorRT compatibility, write a bundle."""
    if batch is not None and dynamic_batch is not None:
        raise typer.BadParameter("give either --batch or --dynamic-batch, not both", param_hint="--batch")
    from rich.console import Console

    from ..export import bundle, export_bundle
    from ..files import exclusive

    console = Console()
    with exclusive(out, "a bundle"), flag_errors(flags_of(ctx, precisions="--precision")):
        for line in bundle.recover(out):  # an earlier export of this bundle was interrupted
            typer.echo(f"{out}: {line}")
        manifest = export_bundle(
            checkpoint,
            out,
            variants=variants,
            precisions=precision,
            img_size=img_size,
            batch=batch or 1,
            dynamic_batch=dynamic_batch,
            calib_data=calib_data,
            calib_images=calib_images,
            calib_method=calib_method.value,
            parity_images=parity_images,
            opset=opset,
            target=target.value,
            progress=True,
            sign_key=sign_key,
        )
    console.print(_table(manifest, out))
    typer.echo("\nNext:")
    for line in next_commands(out, target.value, calib_data):
        typer.echo(f"  {line}")


def next_commands(out: Path, target: str, data: str | None) -> list[str]:
    import shlex

    bundle = shlex.quote(str(out))
    images = shlex.quote(data) if data and not data.startswith("synthetic:") else "IMAGES_DIR"
    return [
        f"edgeseg build {bundle} --target {target}",
        f"edgeseg bench {bundle} --data {shlex.quote(data) if data else 'DATA'}",
        f"edgeseg predict {bundle} {images} --out {shlex.quote(str(out / 'masks'))}",
    ]


def _checks(p: dict, trt: dict) -> tuple[str, ...]:
    """The parity and TensorRT columns of one artifact or progressive step (IoU: the foreground's, or for
    several classes the mean over classes 1..C-1)."""
    iou = "mean_iou_gt" if "mean_iou_gt" in p else "iou_gt"
    return (
        f"{p['max_abs_prob_err']:.1e}",
        f"{p['mask_flip_share']:.3%}",
        f"{p[iou]:.4f}" if iou in p else "-",
        f"{p[iou] - p[iou + '_fp32']:+.4f}" if iou + "_fp32" in p else "-",
        "ok" if trt.get("ok") else "no",
    )


def _table(manifest, out: Path):
    from rich.table import Table

    table = Table(title=f"{manifest.model['name']} -> {out}")
    parities = [a.parity for a in manifest.artifacts] + [s.parity for c in manifest.progressive for s in c.steps]
    if any("mean_iou_gt" in p for p in parities):
        table.caption = "IoU GT: mean over classes 1..C-1; per class in manifest.json's parity"
    for col in ("artifact", "input", "GFLOPs", "max|dp|", "flips", "IoU GT", "dIoU", "TRT10"):
        table.add_column(col, justify="left" if col == "artifact" else "right", no_wrap=True)
    for a in manifest.artifacts:
        table.add_row(a.key, "x".join(str(s) for s in a.input.shape), f"{a.gflops:.3f}",
                      *_checks(a.parity, a.trt_check))
    for chain in manifest.progressive:
        gflops = 0.0
        for step in chain.steps:
            gflops += step.gflops or 0.0
            table.add_row(f"{chain.key}@{step.level}", "x".join(str(s) for s in chain.input.shape), f"{gflops:.3f}",
                          *_checks(step.parity, step.trt_check))
    return table
