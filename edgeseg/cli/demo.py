"""`edgeseg demo`: the whole pipeline on synthetic nuclei, end to end, on whatever this machine has.

synthetic data -> train UNet# -> export L1..L4 in fp32 and int8 -> build TensorRT engines (only where
TensorRT and a GPU exist) -> benchmark every available backend -> table, reports and Pareto plot.
Each step is the same code the corresponding command runs; the demo only chooses the settings.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer()


@dataclass(frozen=True)
class DemoSettings:
    samples: int  # synthetic training images (80% train, 20% validation)
    size: int  # image side in pixels
    width_mult: float  # UNet# width (1.0 = the paper's 32..512)
    epochs: int
    lr: float
    calib_images: int
    iters: int  # timed iterations per benchmark row


# Measured on a 2-core CPU: QUICK reaches ~0.7 IoU at L4 in 28 s all told, FULL ~0.88 in 99 s (README, Results).
FULL = DemoSettings(samples=192, size=64, width_mult=0.25, epochs=8, lr=2e-3, calib_images=24, iters=40)
QUICK = DemoSettings(samples=192, size=32, width_mult=0.25, epochs=3, lr=3e-3, calib_images=8, iters=10)
PARITY_IMAGES = 8  # export's parity images, drawn after the calibration images from the same source
MARKER = ".edgeseg-demo"  # a folder holding it is a previous demo run, safe to replace


def _fresh(out: Path) -> None:
    """Start from an empty run folder; only a previous demo run (marked) is ever removed."""
    import shutil

    from ..errors import EdgesegError
    from ..files import write_text

    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).is_file():
            raise EdgesegError(f"{out} exists and is not a demo run folder; choose another --out")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / MARKER, "made by `edgeseg demo`; the next demo run replaces this folder\n")


@contextmanager
def _step(console, title: str):
    console.rule(title)
    start = time.perf_counter()
    yield
    console.print(f"done in {time.perf_counter() - start:.1f} s", style="dim")


@app.command("demo")
def demo_cmd(
    out: Annotated[
        Path,
        typer.Option(file_okay=False, help="Folder for the run: train/, bundle/, bench/."),
    ] = Path("runs/demo"),
    quick: Annotated[
        bool,
        typer.Option("--quick", help="32 px images, 3 epochs: a smoke run in about 30 s on a 2-core CPU."),
    ] = False,
) -> None:
    """Train UNet# on synthetic nuclei, export L1..L4 (fp32, int8), build engines if possible, benchmark."""
    from rich.console import Console

    from .. import bench
    from ..bench import env
    from ..export import export_bundle
    from ..runtime.backends import Backend
    from ..train import TrainConfig, train
    from .bench import command_line, progress_printer, show

    s = QUICK if quick else FULL
    _fresh(out)
    console = Console(stderr=True)
    train_data = f"synthetic:nuclei?n={s.samples}&size={s.size}&seed=0"
    held_out = f"synthetic:nuclei?n=32&size={s.size}&seed=1000"  # images training never saw

    checkpoint = out / "train" / "best.json"
    bundle = out / "bundle"
    with _step(console, f"1/4 train unet_sharp (width {s.width_mult}) on {train_data}, {s.epochs} epochs"):
        train(TrainConfig(model="unet_sharp", data=train_data, out=str(out / "train"), epochs=s.epochs, lr=s.lr,
                          seed=0, model_config={"width_mult": s.width_mult}))

    with _step(console, "2/4 export L1..L4 in fp32 and int8 (calibrated on synthetic nuclei)"):
        export_bundle(checkpoint, bundle, variants="all", precisions=("fp32", "int8"), img_size=s.size,
                      calib_data=f"synthetic:nuclei?n={s.calib_images + PARITY_IMAGES}&size={s.size}&seed=500",
                      calib_images=s.calib_images, parity_images=PARITY_IMAGES, progress=True)

    with _step(console, "3/4 TensorRT engines"):
        trt = env.status(Backend.TENSORRT)
        if trt.available:
            from ..engines.build import build_bundle

            build_bundle(bundle, report=typer.echo, target="cuda")
        else:
            console.print(f"skipped: {trt.reason}", markup=False, highlight=False)

    with _step(console, "4/4 benchmark every backend (unavailable ones are listed with the reason)"):
        result = bench.run(bundle, data=held_out, checkpoint=checkpoint, out=out / "bench", iters=s.iters, warmup=5,
                           eval_images=32, command=command_line(), log=progress_printer())
        show(result)
    typer.echo(f"pareto plot: {out / 'bench' / 'pareto.png'}")
