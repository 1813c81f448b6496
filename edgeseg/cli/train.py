"""`edgeseg train`: train a model family on a folder or synthetic data source (single process or torchrun)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .flags import flag_errors, flags_of

app = typer.Typer()


def _pairs(values: list[str], what: str) -> dict[str, str]:
    """key=value strings -> dict of text; the model and the recipe read each value as its field's type."""
    from ..errors import EdgesegError

    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise EdgesegError(f"{what} {item!r}: write it as key=value")
        out[key] = value
    return out


@app.command("train")
def train_cmd(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="Model family: unet, unet_sharp, plnet, m2snet, pgunet.")],
    data: Annotated[str, typer.Option(
        "--data", help="Folder (images/ + masks/, or DSB2018; ?classes=, ?small= for class masks) or "
                 "synthetic:NAME?n=..&size=..&seed=..")],
    out: Annotated[Path, typer.Option(
        "--out", file_okay=False, help="Run folder: metrics.jsonl, best/last checkpoints, resume state.")],
    epochs: Annotated[int | None, typer.Option(min=1, help="Epochs (default: the recipe's).")] = None,
    batch: Annotated[int | None, typer.Option(min=1, help="Batch size per process (default: the recipe's).")] = None,
    img_size: Annotated[int | None, typer.Option(
        min=16, help="Training size in pixels (default: a synthetic source's size, else 256).")] = None,
    lr: Annotated[float | None, typer.Option(help="Learning rate, > 0 (default: the recipe's).")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    seed: Annotated[int | None, typer.Option(
        min=0, help="Seed for split, shuffling, augmentation and init (default 0).")] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue the run in --out from its last finished epoch.")] = False,
    workers: Annotated[int, typer.Option(min=0, help="DataLoader worker processes.")] = 0,
    val_split: Annotated[float | None, typer.Option(
        min=0.0, max=0.95, help="Share of samples held out for validation (default 0.2).")] = None,
    config: Annotated[list[str] | None, typer.Option(
        "--config", "-c", help="Model config key=value, e.g. width_mult=0.25, num_classes=4.")] = None,
    option: Annotated[list[str] | None, typer.Option(
        "--option", "-o",
        help="Recipe option key=value, e.g. lossnet_weights=vgg16.safetensors, class_weights=0.5,1,2,2.")] = None,
    augment: Annotated[bool | None, typer.Option(
        "--augment/--no-augment", help="Flips, rot90, small affine, intensity jitter (default on).")] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")] = True,
) -> None:
    """Train MODEL on --data; writes metrics.jsonl and best/last checkpoints (safetensors + JSON) to --out."""
    from ..train import TrainConfig, train

    with flag_errors(flags_of(ctx, model_config="--config", options="--option")):
        cfg = TrainConfig(model=model, data=data, out=str(out), epochs=epochs, batch=batch, img_size=img_size, lr=lr,
                          seed=seed, val_split=val_split, model_config=_pairs(config or [], "--config"),
                          options=_pairs(option or [], "--option"), augment=augment, device=device,
                          workers=workers, progress=progress)
        summary = train(cfg, resume=resume)
    best = summary["best"]
    if best:
        typer.echo(f"best: epoch {best['epoch']} ({best['head']} score {best['score']:.4f}) -> {out / 'best.json'}")
