"""What a benchmark produces: one `BenchRow` per measured (or skipped) configuration, and the
`BenchResult` that holds them with the settings and the machine they ran on.

The row's fields are results.json's row keys. `COLUMNS` is the one list of tabular columns: the CSV
has all of them, the Markdown table those with a `header`, the terminal those marked `terminal`.
A multi-class row's `iou` and `dice` are the mean over its foreground classes 1..C-1, and its
`class_scores` hold each class's scores; the CSV gets a `class_K_SCORE` column for each (`csv_columns`).
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import EdgesegError
from ..metrics import CLASS_SCORES
from ..runtime.backends import Backend
from .stats import LatencyStats

SCHEMA = "edgeseg.bench/2"  # /2: rows gain `class_scores`; a multi-class row's iou/dice are the foreground mean
READABLE = ("edgeseg.bench/1", SCHEMA)  # a /1 file reads as rows without class scores
KEY = ("model", "variant", "precision", "backend", "batch", "img_size")  # what makes two runs' rows the same row


@dataclass(frozen=True)
class Parity:
    """Masks of a row against the reference row of the same variant (the torch fp32 row where there is one)."""

    reference: str  # "torch fp32", "ort-cpu fp32", ...
    flips: float  # share of pixels whose class differs
    iou: float | None  # foreground IoU between the two sets of masks


@dataclass
class BenchRow:
    model: str
    backend: Backend
    variant: str | None = None  # None on a row for a backend that cannot run here
    precision: str | None = None
    batch: int | None = None
    img_size: int | None = None
    status: str = "ok"  # "ok", "skipped" (cannot run here: see reason) or "failed" (the error)
    reason: str = ""
    device: str | None = None  # what ran it: "ort-cpu", "torch cpu", ...
    file: str | None = None  # the artifact (or checkpoint, for torch rows)
    file_size_mb: float | None = None
    params: int | None = None
    gflops: float | None = None
    latency_ms: LatencyStats | None = None  # the runner's infer call per batch
    preprocess_ms: LatencyStats | None = None
    postprocess_ms: LatencyStats | None = None
    end_to_end_ms: LatencyStats | None = None
    throughput: float | None = None  # images/s: batch / median infer latency
    throughput_e2e: float | None = None  # images/s: batch / median of pre + infer + post
    device_ms: dict[str, LatencyStats] = field(default_factory=dict)  # the runner's own timings (h2d, compute, d2h)
    peak_rss_mb: float | None = None
    peak_rss_scope: str | None = None  # "row", or "process" where the peak cannot be reset
    gpu_mem_mb: float | None = None
    power: dict[str, Any] | None = None  # avg_w, mj_per_image, fps_per_w, or the reason it was not measured
    iou: float | None = None  # vs ground truth: binary, the mean over images; C classes, the mean over classes 1..C-1
    dice: float | None = None  # the same as iou
    micro_iou: float | None = None
    scored_images: int | None = None
    parity: Parity | None = None
    class_scores: dict[str, dict[str, float]] | None = None  # C > 1: class -> iou/dice/precision/recall (summed)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def key(self) -> tuple:
        return tuple(plain(getattr(self, name)) for name in KEY)

    @property
    def label(self) -> str:
        return f"{self.model} {self.variant} {self.precision} {self.backend.short} b{self.batch} {self.img_size}px"

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _to_json(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BenchRow:
        def stats(value):
            return None if value is None else LatencyStats(**value)

        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in d.items() if k in known}
        values["backend"] = Backend(d["backend"])
        for name in ("latency_ms", "preprocess_ms", "postprocess_ms", "end_to_end_ms"):
            values[name] = stats(d.get(name))
        values["device_ms"] = {k: stats(v) for k, v in (d.get("device_ms") or {}).items()}
        values["parity"] = Parity(**d["parity"]) if d.get("parity") else None
        return cls(**values)


def _to_json(value):
    if isinstance(value, Backend):
        return value.short
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    if isinstance(value, dict):
        return {k: _to_json(v) for k, v in value.items()}
    return value


def plain(value):
    """A row value as the reports write it: a backend by its short name, everything else as it is."""
    return value.short if isinstance(value, Backend) else value


@dataclass(frozen=True)
class Column:
    name: str  # CSV header
    path: str  # dotted path into a BenchRow: "latency_ms.p50", "power.avg_w"
    header: str | None = None  # Markdown (and terminal) header; None: CSV only
    spec: str = "s"  # format of a Markdown/terminal cell; "s" columns are text, left-aligned
    terminal: bool = False  # also shown in the terminal table
    scale: float = 1.0  # Markdown/terminal cells show value * scale (params in millions)

    def value(self, row: BenchRow):
        value: Any = row
        for part in self.path.split("."):
            if value is None:
                return None
            value = value.get(part) if isinstance(value, dict) else getattr(value, part)
        return plain(value)

    def cell(self, row: BenchRow) -> str:
        value = self.value(row)
        if value is None:
            return "-"
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return format(value * self.scale if self.scale != 1.0 else value, self.spec)
        return str(value)


COLUMNS = (
    Column("model", "model", "model"),
    Column("variant", "variant", "variant", terminal=True),
    Column("precision", "precision", "precision", terminal=True),
    Column("backend", "backend", "backend", terminal=True),
    Column("device", "device"),
    Column("batch", "batch", "batch", "d", terminal=True),
    Column("img_size", "img_size", "size", "d", terminal=True),
    Column("status", "status"),
    Column("reason", "reason"),
    Column("params", "params", "params (M)", ".3f", scale=1e-6),
    Column("gflops", "gflops", "GFLOPs", ".2f", terminal=True),
    Column("file", "file"),
    Column("file_size_mb", "file_size_mb", "file (MB)", ".2f"),
    Column("iters", "latency_ms.n"),
    Column("p50_ms", "latency_ms.p50", "p50 ms", ".2f", terminal=True),
    Column("p90_ms", "latency_ms.p90", "p90 ms", ".2f"),
    Column("p99_ms", "latency_ms.p99", "p99 ms", ".2f", terminal=True),
    Column("mean_ms", "latency_ms.mean"),
    Column("std_ms", "latency_ms.std"),
    Column("cv", "latency_ms.cv", "CV", ".1%", terminal=True),
    Column("throughput_ips", "throughput", "img/s", ".1f", terminal=True),
    Column("throughput_e2e_ips", "throughput_e2e"),
    Column("preprocess_p50_ms", "preprocess_ms.p50", "pre ms", ".2f", terminal=True),
    Column("postprocess_p50_ms", "postprocess_ms.p50", "post ms", ".2f", terminal=True),
    Column("end_to_end_p50_ms", "end_to_end_ms.p50"),
    Column("h2d_p50_ms", "device_ms.h2d.p50"),
    Column("gpu_compute_p50_ms", "device_ms.compute.p50"),
    Column("d2h_p50_ms", "device_ms.d2h.p50"),
    Column("peak_rss_mb", "peak_rss_mb", "RSS MB", ".0f"),
    Column("gpu_mem_mb", "gpu_mem_mb"),
    Column("power_w", "power.avg_w", "W", ".1f"),
    Column("mj_per_image", "power.mj_per_image", "mJ/img", ".1f"),
    Column("fps_per_w", "power.fps_per_w", "img/s/W", ".1f"),
    Column("iou", "iou", "IoU", ".4f", terminal=True),
    Column("dice", "dice", "Dice", ".4f"),
    Column("scored_images", "scored_images"),
    Column("parity_reference", "parity.reference"),
    Column("parity_flips", "parity.flips", "flips", ".3%", terminal=True),
    Column("parity_iou", "parity.iou"),
)
TABLE_COLUMNS = tuple(c for c in COLUMNS if c.header)  # results.md
TERMINAL_COLUMNS = tuple(c for c in TABLE_COLUMNS if c.terminal)  # the columns that decide a choice


def class_count(rows: list[BenchRow]) -> int:
    """The most classes any row has per-class scores for (0: no multi-class row)."""
    return max((len(r.class_scores) for r in rows if r.class_scores), default=0)


def csv_columns(rows: list[BenchRow]) -> tuple[Column, ...]:
    """`COLUMNS`, then `class_K_SCORE` for every class K of a multi-class row and each of CLASS_SCORES."""
    extra = tuple(Column(f"class_{k}_{score}", f"class_scores.{k}.{score}")
                  for k in range(class_count(rows)) for score in CLASS_SCORES)
    return COLUMNS + extra


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass
class BenchResult:
    """A benchmark run: results.json's content, plus what the run wrote and what its gates found."""

    rows: list[BenchRow]
    warnings: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    command: str | None = None  # the command line, when run from `edgeseg`
    created: str = field(default_factory=now)
    files: dict[str, Path] = field(default_factory=dict)  # the reports written: json, csv, md, png
    failures: list[str] = field(default_factory=list)  # gates that failed (min_iou, compare)
    notes: list[str] = field(default_factory=list)  # what the gates have to say besides failures

    @property
    def ok_rows(self) -> list[BenchRow]:
        return [r for r in self.rows if r.ok]

    @property
    def passed(self) -> bool:
        """No gate failed."""
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "created": self.created,
            "command": self.command,
            "settings": self.settings,
            "environment": self.environment,
            "rows": [r.to_dict() for r in self.rows],
            "warnings": self.warnings,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BenchResult:
        return cls(rows=[BenchRow.from_dict(r) for r in d["rows"]], warnings=list(d.get("warnings") or []),
                   settings=d.get("settings") or {}, environment=d.get("environment") or {},
                   command=d.get("command"), created=d.get("created") or "")

    @classmethod
    def load(cls, path: str | Path) -> BenchResult:
        """A results.json written by `edgeseg bench`, or an error naming `path`."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise EdgesegError(f"{path}: cannot read a results.json ({exc})") from exc
        if not isinstance(data, dict) or data.get("schema") not in READABLE or not isinstance(data.get("rows"), list):
            raise EdgesegError(f"{path}: not an edgeseg results.json (schema {SCHEMA})")
        try:
            return cls.from_dict(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise EdgesegError(f"{path}: not an edgeseg results.json (schema {SCHEMA}): "
                               f"a row is malformed ({exc})") from exc
