"""`edgeseg models`: families, deploy variants, parameters and GFLOPs."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer()


@app.command("models")
def models_cmd(
    img_size: Annotated[int, typer.Option(min=1, help="Input height and width used for GFLOPs.")] = 256,
    in_channels: Annotated[int, typer.Option(min=1, help="Input channels.")] = 3,
) -> None:
    """List model families and their deploy variants with parameters and GFLOPs."""
    from rich.console import Console
    from rich.table import Table

    from ..models import create_model, list_models
    from ..models.flops import deploy_stats

    table = Table(title=f"edgeseg models (GFLOPs at {img_size}x{img_size}, {in_channels} input channels)")
    for col in ("model", "variant", "input", "params (M)", "GFLOPs"):
        table.add_column(col, justify="right" if col not in ("model", "variant") else "left")
    for name in list_models():
        model = create_model(name, in_channels=in_channels)
        for variant in model.variants():
            stats = deploy_stats(model, variant, img_size)
            table.add_row(name, variant, f"{stats.size}", f"{stats.params / 1e6:.3f}", f"{stats.gflops:.2f}")
    Console().print(table)
