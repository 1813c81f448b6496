"""Read back the four files a benchmark writes, each parsed as its own format, and check that they
agree with one another: the tests that run a benchmark assert on what these return."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from edgeseg.bench.results import SCHEMA, BenchResult, csv_columns


@dataclass
class Reports:
    saved: dict  # results.json as parsed
    result: BenchResult  # results.json read back the library's way
    csv_rows: list[dict[str, str]]  # results.csv, one dict a row
    md_rows: list[dict[str, str]]  # results.md's main table, one dict a row
    png_size: tuple[int, int]  # pareto.png, width x height in pixels


def markdown_table(text: str, first_header: str) -> list[dict[str, str]]:
    """The rows of the Markdown table whose header row starts with `first_header`."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    header = [cell.strip() for cell in lines[start].strip("|").split("|")]
    assert set(lines[start + 1].strip("|").split("|")) == {"---"}, lines[start + 1]
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        assert len(cells) == len(header), line
        rows.append(dict(zip(header, cells)))
    return rows


def read_reports(folder: Path) -> Reports:
    from PIL import Image

    saved = json.loads((folder / "results.json").read_text())
    assert saved["schema"] == SCHEMA
    result = BenchResult.load(folder / "results.json")
    with (folder / "results.csv").open(newline="") as f:
        reader = csv.DictReader(f)
        csv_rows = list(reader)
    assert reader.fieldnames == [c.name for c in csv_columns(result.rows)]
    md_rows = markdown_table((folder / "results.md").read_text(), "model")
    with Image.open(folder / "pareto.png") as png:
        assert png.format == "PNG"
        png.load()  # decodes every pixel: a truncated file fails here
        size = png.size
    assert [(c["variant"], c["backend"], c["status"]) for c in csv_rows] == [
        (r.variant or "", r.backend.short, r.status) for r in result.rows
    ]
    assert [(m["variant"], m["precision"], m["backend"], m["batch"]) for m in md_rows] == [
        (r.variant, r.precision, r.backend.short, str(r.batch)) for r in result.ok_rows
    ]
    return Reports(saved, result, csv_rows, md_rows, size)
