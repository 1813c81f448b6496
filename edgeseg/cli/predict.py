"""`edgeseg predict`: segment image files with a bundle and write mask PNGs (and overlays)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from ..runtime.backends import RUNTIME, names

app = typer.Typer()

BackendChoice = Enum("BackendChoice", {n.replace("-", "_"): n for n in ("auto", *names(RUNTIME))}, type=str)


class Precision(str, Enum):
    fp32 = "fp32"
    fp16 = "fp16"
    int8 = "int8"


@app.command("predict")
def predict_cmd(
    bundle: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="Bundle folder.")],
    images: Annotated[list[Path], typer.Argument(exists=True, help="Image files or folders of images.")],
    out: Annotated[Path, typer.Option(file_okay=False, help="Folder for the mask PNGs.")],
    backend: Annotated[BackendChoice, typer.Option(help="Inference backend; auto picks the best that runs here.")] = (
        BackendChoice.auto),
    variant: Annotated[str | None, typer.Option(help="Deploy variant (default: the bundle's first).")] = None,
    precision: Annotated[Precision | None,
                         typer.Option(help="Artifact precision (default: the bundle's first).")] = None,
    overlay: Annotated[bool, typer.Option(help="Also write NAME.overlay.png: the image with each class in its colour "
                                          "(multi-class: a legend under it).")] = False,
    threads: Annotated[int, typer.Option(min=0, help="CPU threads for ONNX Runtime (0: its default).")] = 0,
    public_key: Annotated[Path | None, typer.Option(
        exists=True, dir_okay=False, help="Refuse the bundle unless its signature verifies with this public key (PEM).",
    )] = None,
    deadline_ms: Annotated[float | None, typer.Option(
        min=0, help="Per image: the deepest level of a progressive variant that fits (at least the first); "
        "writes OUT/levels.csv.",
    )] = None,
) -> None:
    """Write OUT/NAME.png for every image: 0/255 for a binary model, class indices (0..C-1) for a multi-class one.

    An image that cannot be read or segmented is reported and skipped; the exit code is then 2.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from ..data.images import read_image, write_png, write_png_rows
    from ..errors import EdgesegError, EdgesegInputError
    from ..files import shown, write_bytes
    from ..manifest import load
    from ..runtime import Segmenter
    from ..runtime.predict import (
        check_no_overwrite,
        check_threads,
        class_names,
        collect_images,
        mask_png,
        output_files,
        output_names,
        overlay_bands,
    )
    from ..runtime.preprocess import mask_at_size
    from ..runtime.progressive import LEVELS_FILE, level_counts, levels_csv

    try:
        check_threads(threads)
    except EdgesegError as exc:
        raise EdgesegError(f"--{exc}") from None
    files = collect_images(images)
    outputs = output_files(out, output_names(files), overlay)
    levels_file = out / LEVELS_FILE
    check_no_overwrite(files, [*outputs, [levels_file]] if deadline_ms is not None else outputs)
    levels: list[tuple[str, str]] = []
    chosen = precision.value if precision else None
    with Segmenter.from_bundle(bundle, backend.value, variant, chosen, threads=threads,
                              public_key=public_key) as seg:
        classes = seg.artifact.output.shape[1]
        binary = classes == 1
        names = None if binary else class_names(load(bundle, verify=False).model, classes)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, transient=False) as progress:
            task = progress.add_task(f"segmenting on {seg.backend}", total=len(files))
            failed = []  # a bad image is reported and skipped; the others are still segmented
            for path, (mask_file, *overlay_file) in zip(files, outputs):
                try:
                    image = read_image(path)
                    if deadline_ms is not None:
                        mask, level = seg.segment(image, deadline_ms=deadline_ms)
                        levels.append((path.name, level))
                    else:
                        batch, (meta,) = seg.preprocess(image)  # seg.segment, without probabilities at image size
                        mask = mask_at_size(seg.infer(batch)[0], meta, seg.artifact.output_kind,
                                            seg.artifact.threshold)
                except EdgesegInputError as exc:
                    failed.append(path)
                    progress.console.print(f"skipped {shown(path)}: {exc}", style="yellow", markup=False,
                                           highlight=False, soft_wrap=True)
                else:
                    write_png(mask_file, mask_png(mask, binary))
                    if overlay_file:
                        write_png_rows(overlay_file[0], *overlay_bands(image, mask, names))
                progress.advance(task)
    typer.echo(f"wrote {len(files) - len(failed)} mask(s) to {shown(out)} ({seg.backend}, {seg.artifact.key})")
    if deadline_ms is not None:
        write_bytes(levels_file, levels_csv(levels).encode())
        typer.echo(f"levels within {deadline_ms:g} ms: {level_counts(levels)} (per image in {shown(levels_file)})")
    if failed:
        raise EdgesegInputError(f"{len(failed)} of {len(files)} image(s) could not be segmented, "
                                f"first: {shown(failed[0])}")
