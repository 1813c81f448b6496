"""`edgeseg bench`: parse the options, run `edgeseg.bench.run`, print the table and the gates.

Exit codes: 0 ok, 1 a gate failed (--min-iou, --compare), 2 bad input. The library names its
parameters in messages (`min_iou`); this command shows them as its flags (--min-iou).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..runtime.backends import names
from .flags import as_flags, flag_errors, flags_of

app = typer.Typer()

ALL_BACKENDS = ",".join(names(short=True))


@app.command("bench")
def bench_cmd(
    ctx: typer.Context,
    target: Annotated[
        Path,
        typer.Argument(
            metavar="BUNDLE_OR_CHECKPOINT",
            help="A bundle folder (manifest.json) or a checkpoint (.safetensors/.json or its stem).",
        ),
    ],
    data: Annotated[
        str | None,
        typer.Option(
            help="Images to run on: a folder or synthetic:NAME?n=..&size=..; with masks, rows get IoU/Dice. Default: "
            "random noise (timing and parity only).",
        ),
    ] = None,
    variants: Annotated[str, typer.Option(help="Comma-separated deploy variants, or 'all'.")] = "all",
    precisions: Annotated[
        str | None,
        typer.Option(
            "--precision",
            help="Comma-separated precisions (fp32,fp16,int8). Default: all in the bundle; fp32 for a checkpoint.",
        ),
    ] = None,
    backends: Annotated[
        str,
        typer.Option(
            help=f"Comma-separated backends from {ALL_BACKENDS}; those that cannot run here are listed as skipped, "
            "with the reason.",
        ),
    ] = ALL_BACKENDS,
    batches: Annotated[str, typer.Option("--batch", help="Comma-separated batch sizes.")] = "1",
    img_sizes: Annotated[
        str | None,
        typer.Option(
            "--img-size",
            help="Comma-separated input sizes (checkpoint: exported at each; bundle: must match its export size).",
        ),
    ] = None,
    warmup: Annotated[int, typer.Option(min=0, help="Untimed iterations before timing.")] = 10,
    iters: Annotated[int, typer.Option(min=1, help="Timed iterations per row.")] = 50,
    duration: Annotated[
        float | None,
        typer.Option(min=0.001, help="Seconds of timed iterations per row (replaces --iters)."),
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option(min=1, help="CPU threads for torch and ONNX Runtime (same for both). Default: the usable cores."),
    ] = None,
    eval_images: Annotated[
        int,
        typer.Option(min=1, help="Images segmented once per row for IoU/Dice and parity."),
    ] = 16,
    checkpoint: Annotated[
        Path | None,
        typer.Option(help="Checkpoint for the torch rows when TARGET is a bundle (default: the manifest's source)."),
    ] = None,
    calib_data: Annotated[
        str | None,
        typer.Option(help="Calibration images for int8 when exporting from a checkpoint (default: --data)."),
    ] = None,
    calib_images: Annotated[
        int,
        typer.Option(min=1, help="Calibration images for int8 when exporting from a checkpoint."),
    ] = 32,
    out: Annotated[
        Path,
        typer.Option(file_okay=False, help="Folder for results.json/.csv/.md and pareto.png."),
    ] = Path("runs/bench"),
    min_iou: Annotated[
        float | None,
        typer.Option(min=0.0, max=1.0, help="Exit 1 if any row's IoU is below this (multi-class: the mean over "
                     "classes 1..C-1)."),
    ] = None,
    min_class_iou: Annotated[
        list[str] | None,
        typer.Option(metavar="CLASS=IOU", help="Exit 1 if a multi-class row's IoU of CLASS is below IOU; repeatable "
                     "(--min-class-iou 2=0.6 --min-class-iou 3=0.5)."),
    ] = None,
    compare: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="A previous results.json: exit 1 on regressions."),
    ] = None,
    iou_tolerance: Annotated[float, typer.Option(min=0.0, help="--compare: allowed absolute IoU drop.")] = 0.01,
    latency_tolerance: Annotated[
        float,
        typer.Option(min=0.0, help="--compare: allowed relative p50 latency rise (0.10 = 10%)."),
    ] = 0.10,
    deadlines: Annotated[
        str | None,
        typer.Option(help="Comma-separated budgets in ms: deadline sweep of progressive variants (progressive.md)."),
    ] = None,
) -> None:
    """Benchmark deploy variants across precisions, backends and batch sizes; write JSON/CSV/Markdown and a
    Pareto plot."""
    from ..bench import run

    flags = flags_of(ctx)
    with flag_errors(flags):
        result = run(
            target, out=out, data=data, variants=_names(variants), precisions=_names(precisions),
            backends=_names(backends), batches=_ints(batches, "--batch"),
            img_sizes=_ints(img_sizes, "--img-size") if img_sizes else None,
            warmup=warmup, iters=iters, duration=duration, threads=threads, eval_images=eval_images,
            checkpoint=checkpoint, calib_data=calib_data, calib_images=calib_images,
            min_iou=min_iou, min_class_iou=_class_minimums(min_class_iou),
            compare=compare, iou_tolerance=iou_tolerance, latency_tolerance=latency_tolerance,
            deadlines=_numbers(deadlines, "--deadlines") if deadlines else None,
            command=command_line(), log=progress_printer(),
        )
    show(result)
    for note in result.notes:
        typer.secho(as_flags(note, flags), fg="yellow", err=True)
    if result.failures:
        for line in result.failures:
            typer.secho(f"gate failed: {as_flags(line, flags)}", fg="red", err=True)
        raise typer.Exit(code=1)


def show(result) -> None:
    """The table, what did not run and why, and where the reports are."""
    from ..bench import report

    report.print_table(result)
    typer.echo("reports: " + ", ".join(str(p) for p in result.files.values()))


def progress_printer():
    """Prints the benchmark's progress lines to stderr, as they are."""
    from rich.console import Console

    console = Console(stderr=True)
    return lambda line: console.print(line, markup=False, highlight=False)


def command_line() -> str | None:
    """This process's `edgeseg ...` command line, to record in the reports (None when not run as edgeseg)."""
    if Path(sys.argv[0]).name not in ("edgeseg", "__main__.py"):
        return None
    return "edgeseg " + shlex.join(sys.argv[1:])


def _numbers(text: str, option: str, kind: type = float) -> list:
    """Comma-separated numbers of `kind` (int or float), or one BadParameter line naming `option`."""
    try:
        return [kind(v) for v in text.split(",") if v.strip()]
    except ValueError:
        what = "integers" if kind is int else "numbers"
        raise typer.BadParameter(f"{option} takes comma-separated {what}, got {text!r}") from None


def _ints(text: str, option: str) -> list[int]:
    values = _numbers(text, option, int)
    if not values or any(v < 1 for v in values):
        raise typer.BadParameter(f"{option} takes positive integers, got {text!r}")
    return values


def _class_minimums(items: list[str] | None) -> dict[int, float] | None:
    """`--min-class-iou 2=0.6` (repeatable) -> {2: 0.6}; one class given twice is an error."""
    if not items:
        return None
    minimums: dict[int, float] = {}
    for item in items:
        k, sep, v = item.partition("=")
        try:
            k, v = int(k), float(v)
        except ValueError:
            k = None
        if not sep or k is None or k < 0 or not 0.0 <= v <= 1.0:
            raise typer.BadParameter(f"--min-class-iou takes CLASS=IOU, a class index and an IoU in [0, 1] "
                                     f"(2=0.6), got {item!r}")
        if k in minimums:
            raise typer.BadParameter(f"--min-class-iou gives class {k} twice")
        minimums[k] = v
    return minimums


def _names(text: str | None) -> list[str] | None:
    if text is None or text.strip() in ("", "all"):
        return None
    return [v.strip() for v in text.split(",") if v.strip()]
