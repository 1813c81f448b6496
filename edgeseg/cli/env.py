"""`edgeseg env`: versions, CPU, GPUs, Jetson state, and which backends can run here (and why not)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

app = typer.Typer()


@app.command("env")
def env_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print the captured environment as JSON.")] = False,
) -> None:
    """Show what this machine offers: versions, CPU, GPUs, Jetson power mode and the usable backends."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from ..bench import env
    from ..bench.report import environment_lines

    info = env.capture()
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    console = Console()
    for line in environment_lines(info):
        console.print(line, markup=False, highlight=False)
    providers = info.get("onnxruntime_providers")
    listed = ", ".join(providers) if providers else "none (not installed)"
    console.print(f"onnxruntime providers listed: {listed}", markup=False)
    table = Table(title="backends")
    for col in ("backend", "available", "details / why not"):
        table.add_column(col, overflow="fold")
    for b in info["backends"]:
        available = "[green]yes[/]" if b["available"] else "[red]no[/]"
        table.add_row(b["name"], available, escape(b["detail"] if b["available"] else b["reason"]))
    console.print(table)
