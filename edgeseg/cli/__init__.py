"""The `edgeseg` command line: one module per command, each with its own `typer.Typer()`, added to `app`
here. Heavy imports stay inside commands."""

from __future__ import annotations

import typer
from typer.core import TyperGroup

from ..errors import EdgesegError
from . import bench, build, demo, env, export, models, predict, sign, train


class _Group(TyperGroup):
    """Turns an EdgesegError or a file-system error into a one-line message and exit code 2, never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except EdgesegError as exc:
            typer.secho(f"error: {exc}", err=True, fg="red")
            raise typer.Exit(code=2) from None
        except OSError as exc:  # a path given on the command line that cannot be read or written
            where = f": {exc.filename}" if exc.filename else ""
            typer.secho(f"error: {exc.strerror or exc}{where}", err=True, fg="red")
            raise typer.Exit(code=2) from None


app = typer.Typer(
    cls=_Group,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Medical image segmentation from PyTorch training to TensorRT engines, with measured trade-offs.",
)


def _version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"edgeseg {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Medical image segmentation from PyTorch training to TensorRT engines, with measured trade-offs."""


for command in (demo, models, train, export, build, predict, bench, sign, env):
    app.add_typer(command.app)  # no name: the module's command joins the top level (Typer's "one file per command")


def main() -> None:
    app()
