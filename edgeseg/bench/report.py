"""Benchmark reports: results.json (schema-versioned), results.csv, results.md, pareto.png, a rich table.

Each row is one (model, variant, precision, backend, batch, img_size) with `status` "ok", "skipped"
(with the reason: a backend that cannot run here is listed, never dropped) or "failed" (with the
error); the columns of every table come from `results.COLUMNS`. Every file is written atomically.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ..files import atomic_path, write_json, write_text
from ..metrics import CLASS_SCORES
from ..runtime.backends import Backend
from ..runtime.base import DEVICE_STEPS
from .pareto import pareto_front
from .results import TABLE_COLUMNS, TERMINAL_COLUMNS, BenchResult, BenchRow, class_count, csv_columns

# --- files ------------------------------------------------------------------------------------------


def write_all(result: BenchResult, out: Path) -> dict[str, Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": write_json(out / "results.json", result.to_dict()),
        "csv": write_text(out / "results.csv", to_csv(result)),
        "md": write_text(out / "results.md", to_markdown(result)),
    }
    paths["png"] = plot_pareto(result, out / "pareto.png")
    return paths


def to_csv(result: BenchResult) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    columns = csv_columns(result.rows)
    writer.writerow([c.name for c in columns])
    for row in result.rows:
        writer.writerow([_csv_value(c.value(row)) for c in columns])
    return buf.getvalue()


def _csv_value(v):
    if v is None:
        return ""
    return f"{v:.6g}" if isinstance(v, float) else v


def _fmt(v, spec: str = ".3g") -> str:
    if v is None:
        return "-"
    return format(v, spec) if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v)


def to_markdown(result: BenchResult) -> str:
    lines = ["# edgeseg benchmark", ""]
    lines += [f"- created: {result.created}", f"- command: `{result.command}`"]
    lines += [f"- {line}" for line in environment_lines(result.environment)]
    lines += [f"- timing: {result.settings.get('timing')}", ""]
    lines.append("Latency = the runner's infer call per batch (wall clock); img/s = batch / p50 latency; "
                 "pre/post = the runtime's preprocessing and postprocessing per batch (p50).")
    lines.append(IOU_LEGEND)
    lines.append("")
    lines.append("| " + " | ".join(c.header for c in TABLE_COLUMNS) + " |")
    lines.append("|" + "|".join("---" for _ in TABLE_COLUMNS) + "|")
    for row in result.ok_rows:
        lines.append("| " + " | ".join(c.cell(row) for c in TABLE_COLUMNS) + " |")
    others = [r for r in result.rows if not r.ok]
    if others:
        lines += ["", "## Not run", "", "| backend | variant | precision | batch | status | reason |",
                  "|---|---|---|---|---|---|"]
        for r in others:
            lines.append(f"| {r.backend.short} | {_fmt(r.variant)} | {_fmt(r.precision)} | "
                         f"{_fmt(r.batch)} | {r.status} | {r.reason} |")
    lines += per_class_table(result.ok_rows)
    gpu_rows = [r for r in result.ok_rows if r.device_ms]
    if gpu_rows:
        lines += ["", "## GPU time (CUDA events, p50 ms)", "",
                  "| variant | precision | backend | batch | H2D | compute | D2H |", "|---|---|---|---|---|---|---|"]
        for r in gpu_rows:
            cells = [_fmt(r.device_ms[k].p50 if k in r.device_ms else None, ".3f") for k in DEVICE_STEPS]
            lines.append(f"| {r.variant} | {r.precision} | {r.backend.short} | {r.batch} | " + " | ".join(cells) + " |")
    if result.warnings:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in result.warnings]
    return "\n".join(lines) + "\n"


IOU_LEGEND = ("IoU/Dice = vs the ground truth: for a binary model the mean over images; for a multi-class model "
              "the mean over the foreground classes 1..C-1 of each class's score (pixels summed over the images), "
              "each class in 'Per class', results.json `class_scores` and results.csv `class_K_*`.")


def per_class_table(rows: list[BenchRow]) -> list[str]:
    """results.md's "Per class" section: one line per multi-class row and class (none for binary rows)."""
    rows = [r for r in rows if r.class_scores]
    if not rows:
        return []
    lines = ["", "## Per class (vs ground truth; the table's IoU/Dice is the mean of classes 1..C-1)", "",
             "| variant | precision | backend | batch | size | class | " + " | ".join(CLASS_SCORES) + " |",
             "|---|---|---|---|---|---|" + "---|" * len(CLASS_SCORES)]
    for r in rows:
        for k, scores in r.class_scores.items():
            cells = [r.variant, r.precision, r.backend.short, r.batch, r.img_size, k,
                     *(_fmt(scores.get(s), ".4f") for s in CLASS_SCORES)]
            lines.append("| " + " | ".join(map(str, cells)) + " |")
    return lines


def environment_lines(env: dict) -> list[str]:
    cpu, system, v = env.get("cpu", {}), env.get("system", {}), env.get("versions", {})
    lines = [
        f"CPU: {cpu.get('model')} ({cpu.get('usable_cores')} usable of {cpu.get('logical_cores')} logical cores)"
        + (f", threads used: {cpu['threads']}" if cpu.get("threads") else ""),
        f"OS: {system.get('os')}, Python {system.get('python')}",
        "versions: " + ", ".join(f"{k} {val or 'not installed'}" for k, val in v.items() if k != "python"),
    ]
    gpus = (env.get("gpu") or {}).get("gpus") or []
    for g in gpus:
        lines.append(f"GPU: {g.get('name')} (compute {g.get('compute_capability')}, driver {g.get('driver')}, "
                     f"CUDA {(env.get('gpu') or {}).get('cuda_driver')})")
    if not gpus:
        lines.append(f"GPU: none ({(env.get('gpu') or {}).get('reason', 'not found')})")
    jet = env.get("jetson")
    if jet:
        clocks = jet.get("clocks") or {}
        mode = jet.get("nvpmodel") or {}
        locked = "locked (jetson_clocks)" if clocks.get("locked") else clocks.get("reason", "not locked")
        lines.append(f"Jetson: {jet.get('model')}, L4T {jet.get('l4t')}, power mode "
                     f"{mode.get('name', mode.get('reason'))}, clocks {locked}")
    return lines


# --- Pareto plot ------------------------------------------------------------------------------------

BACKEND_MARKERS = {Backend.TORCH: "o", Backend.ORT_CPU: "s", Backend.ORT_CUDA: "D", Backend.ORT_TENSORRT: "^",
                   Backend.TENSORRT: "*"}
PRECISION_COLORS = {"fp32": "tab:blue", "fp16": "tab:green", "int8": "tab:red"}


def plot_points(result: BenchResult) -> tuple[list[BenchRow], str]:
    """Rows to plot and the y-axis quantity: IoU vs ground truth, else mask IoU vs the torch reference."""
    ok = [r for r in result.ok_rows if r.throughput]
    with_iou = [r for r in ok if r.iou is not None]
    if with_iou:
        return with_iou, "iou"
    return [r for r in ok if r.parity is not None and r.parity.iou is not None], "parity"


def plot_pareto(result: BenchResult, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, quantity = plot_points(result)
    ys = [r.iou if quantity == "iou" else r.parity.iou for r in rows]
    xs = [r.throughput for r in rows]
    front = set(pareto_front(list(zip(xs, ys))))

    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=120)
    groups: dict[tuple[str, str], list[int]] = {}
    for i, r in enumerate(rows):
        groups.setdefault((r.precision, r.backend.short), []).append(i)
    for (precision, backend), idx in sorted(groups.items()):
        color = PRECISION_COLORS.get(precision, "tab:gray")
        marker = BACKEND_MARKERS.get(Backend(backend), "P")
        on = [i for i in idx if i in front]
        off = [i for i in idx if i not in front]
        if on:
            ax.scatter([xs[i] for i in on], [ys[i] for i in on], marker=marker, s=70, color=color,
                       edgecolors="black", zorder=3, label=f"{precision} / {backend}")
        if off:
            ax.scatter([xs[i] for i in off], [ys[i] for i in off], marker=marker, s=70, facecolors="none",
                       edgecolors=color, alpha=0.7, zorder=2, label=None if on else f"{precision} / {backend}")
    several_batches = len({r.batch for r in rows}) > 1
    for i, r in enumerate(rows):
        text = f"{r.variant} b{r.batch}" if several_batches else r.variant
        on_front = i in front
        ax.annotate(text, (xs[i], ys[i]), textcoords="offset points", xytext=(4, 4), fontsize=7 if on_front else 6,
                    color="black" if on_front else "gray")
    if front:
        order = sorted(front, key=lambda i: xs[i])
        fx = [xs[i] for i in order]
        fy = [ys[i] for i in order]
        ax.step(fx, fy, where="pre", color="black", linewidth=1, linestyle="--", zorder=1, label="Pareto front")
    ax.scatter([], [], marker="o", facecolors="none", edgecolors="gray", label="dominated (hollow)")
    if xs and max(xs) / max(min(xs), 1e-9) > 20:
        ax.set_xscale("log")
    ax.set_xlabel("throughput (images/s)")
    iou_label = "IoU vs ground truth" + (" (mean of classes 1..C-1)" if class_count(rows) else "")
    ax.set_ylabel(iou_label if quantity == "iou" else "mask IoU vs torch fp32 reference (no ground truth)")
    model = ", ".join(sorted({r.model for r in rows})) or "no rows with a quality score"
    ax.set_title(f"edgeseg bench: {model}")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)


# --- terminal ---------------------------------------------------------------------------------------


# Left out first, in this order, where the terminal is too narrow for every column: the numbers a
# choice between rows rests on (variant, backend, latency, img/s, IoU, flips) stay.
NARROW_DROPS = ("p99_ms", "preprocess_p50_ms", "postprocess_p50_ms", "cv", "gflops", "img_size", "batch")


def fitting_columns(rows: list[BenchRow], width: int) -> list:
    """The terminal columns that fit `width` without cutting a number, dropping NARROW_DROPS in order."""
    def needed(columns) -> int:  # each cell as wide as its widest value, one space between cells
        return sum(max([len(c.header), *(len(c.cell(r)) for r in rows)]) + 1 for c in columns) + 1

    columns = list(TERMINAL_COLUMNS)
    for name in NARROW_DROPS:
        if needed(columns) <= width:
            break
        columns = [c for c in columns if c.name != name]
    return columns


def print_table(result: BenchResult, console=None) -> None:
    from rich import box
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    if console is None:
        console = Console()
        if not console.is_terminal:  # piped or captured: do not squeeze the numbers into 80 columns
            console = Console(width=max(console.width, 140))
    models = sorted({r.model for r in result.ok_rows})
    columns = fitting_columns(result.ok_rows, console.width)
    table = Table(title=f"edgeseg bench: {', '.join(models)}", box=box.SIMPLE_HEAD, padding=(0, 0), pad_edge=False)
    for c in columns:
        table.add_column(c.header, justify="left" if c.spec == "s" else "right", no_wrap=True)
    for row in result.ok_rows:
        table.add_row(*(escape(c.cell(row)) for c in columns))
    console.print(table)
    if class_count(result.ok_rows):
        console.print("IoU: for a multi-class model, the mean over the foreground classes 1..C-1; "
                      "results.md, .json and .csv have each class")
    hidden = [c.header for c in TERMINAL_COLUMNS if c not in columns]
    if hidden:
        console.print(f"(a narrow terminal: {', '.join(hidden)} left out here; results.md has every column)")
    for r in result.rows:
        if not r.ok:
            what = [r.backend.short, *(v for v in (r.variant, r.precision) if v)]
            what += [f"batch {r.batch}"] if r.batch else []
            console.print(f"[yellow]{r.status}[/] {escape(' '.join(what))}: " + escape(str(r.reason)))
    noisy = [w for w in result.warnings if "latency CV" in w]
    for w in result.warnings:
        if w not in noisy:
            console.print("[yellow]warning[/]: " + escape(w))
    if noisy:
        console.print(f"[yellow]warning[/]: {len(noisy)} row(s) with latency CV > 5% (busy machine or too few "
                      "iterations; results.md lists them): medians are reported")
