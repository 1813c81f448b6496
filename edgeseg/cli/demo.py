"""`edgeseg demo`: the whole pipeline on synthetic nuclei, end to end, on whatever this machine has.

synthetic data -> train UNet# -> export L1..L4 in fp32 and int8 -> build TensorRT engines (only where
TensorRT and a GPU exist) -> benchmark every available backend -> table, reports and Pareto plot.
Each step is the same code the corresponding command runs; the demo only chooses the settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from . import app


@dataclass(frozen=True)
class DemoSettings:
    samples: int  # synthetic training images (80% train, 20% validation)
    size: int  # image side in pixels
    width_mult: float  # UNet# width (1.0 = the paper's 32..512)
    epochs: int
    calib_images: int
    iters: int  # timed iterations per benchmark row


FULL = DemoSettings(samples=192, size=64, width_mult=0.5, epochs=10, calib_images=32, iters=40)
QUICK = DemoSettings(samples=48, size=32, width_mult=0.25, epochs=2, calib_images=8, iters=10)


@app.command("demo")
def demo_cmd(
    out: Annotated[Path, typer.Option(help="Folder for the run: train/, bundle/, bench/.")] = Path("runs/demo"),
    quick: Annotated[bool, typer.Option("--quick", help="Tiny model, 2 epochs: a smoke run well under a minute.")] = False,
) -> None:
    """Train UNet# on synthetic nuclei, export L1..L4 (fp32, int8), build engines if possible, benchmark."""
    from rich.console import Console

    from ..bench import env
    from ..export import export_bundle
    from ..train import TrainConfig, train
    from .bench import bench_cmd

    s = QUICK if quick else FULL
    console = Console(stderr=True)
    train_data = f"synthetic:nuclei?n={s.samples}&size={s.size}&seed=0"
    held_out = f"synthetic:nuclei?n=32&size={s.size}&seed=1000"  # images training never saw

    console.rule(f"1/4 train unet_sharp (width {s.width_mult}) on {train_data}, {s.epochs} epochs")
    train(TrainConfig(model="unet_sharp", data=train_data, out=str(out / "train"), epochs=s.epochs, seed=0,
                      model_config={"width_mult": s.width_mult}))

    console.rule("2/4 export L1..L4 in fp32 and int8 (calibrated on synthetic nuclei)")
    bundle = out / "bundle"
    export_bundle(out / "train" / "best.json", bundle, variants="all", precisions=("fp32", "int8"),
                  img_size=s.size, calib_data=f"synthetic:nuclei?n={s.calib_images}&size={s.size}&seed=500",
                  calib_images=s.calib_images, progress=True)

    console.rule("3/4 TensorRT engines")
    trt = next(b for b in env.backends() if b.name == "trt")
    if trt.available:
        from ..engines.build import build_bundle

        build_bundle(bundle, report=typer.echo, target="cuda")
    else:
        console.print(f"skipped: {trt.reason}", markup=False, highlight=False)

    console.rule("4/4 benchmark every backend (unavailable ones are listed with the reason)")
    bench_cmd(target=bundle, data=held_out, out=out / "bench", iters=s.iters, warmup=5, eval_images=32)
    typer.echo(f"pareto plot: {out / 'bench' / 'pareto.png'}")
