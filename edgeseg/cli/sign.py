"""`edgeseg sign`: sign a bundle with an EC private key (OpenSSF model-signing, offline; extra `sign`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer()


@app.command("sign")
def sign_cmd(
    bundle: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="Bundle folder.")],
    key: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="EC private key (PEM) to sign with.")],
    public_key: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="Check the new signature with this public key (PEM)."),
    ] = None,
) -> None:
    """Write BUNDLE/bundle.sig over manifest.json and every file it lists; sign again after `edgeseg build`."""
    from .. import signing

    path = signing.sign(bundle, key)
    if public_key is not None:
        signing.verify(bundle, public_key)
    typer.echo(f"signed {bundle}: {path.name}" + (f" (verifies with {public_key.name})" if public_key else ""))
