"""Benchmark reports: results.json (schema-versioned), results.csv, results.md, pareto.png, a rich table.

A result is a dict: {"schema", "created", "command", "settings", "environment", "rows", "warnings"}.
Each row is one (model, variant, precision, backend, batch, img_size) with `status` "ok", "skipped"
(with the reason: a backend that cannot run here is listed, never dropped) or "failed" (with the
error). Every file is written atomically.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from ..errors import EdgesegError
from ..files import atomic_path, write_json, write_text
from .pareto import pareto_front

SCHEMA = "edgeseg.bench/1"
KEY = ("model", "variant", "precision", "backend", "batch", "img_size")

# CSV columns: (header, path into the row dict)
COLUMNS = [
    ("model", ("model",)),
    ("variant", ("variant",)),
    ("precision", ("precision",)),
    ("backend", ("backend",)),
    ("device", ("device",)),
    ("batch", ("batch",)),
    ("img_size", ("img_size",)),
    ("status", ("status",)),
    ("reason", ("reason",)),
    ("params", ("params",)),
    ("gflops", ("gflops",)),
    ("file", ("file",)),
    ("file_size_mb", ("file_size_mb",)),
    ("iters", ("latency_ms", "n")),
    ("p50_ms", ("latency_ms", "p50")),
    ("p90_ms", ("latency_ms", "p90")),
    ("p99_ms", ("latency_ms", "p99")),
    ("mean_ms", ("latency_ms", "mean")),
    ("std_ms", ("latency_ms", "std")),
    ("cv", ("latency_ms", "cv")),
    ("throughput_ips", ("throughput",)),
    ("throughput_e2e_ips", ("throughput_e2e",)),
    ("preprocess_p50_ms", ("preprocess_ms", "p50")),
    ("postprocess_p50_ms", ("postprocess_ms", "p50")),
    ("end_to_end_p50_ms", ("end_to_end_ms", "p50")),
    ("h2d_p50_ms", ("device_ms", "h2d", "p50")),
    ("gpu_compute_p50_ms", ("device_ms", "compute", "p50")),
    ("d2h_p50_ms", ("device_ms", "d2h", "p50")),
    ("peak_rss_mb", ("peak_rss_mb",)),
    ("gpu_mem_mb", ("gpu_mem_mb",)),
    ("power_w", ("power", "avg_w")),
    ("mj_per_image", ("power", "mj_per_image")),
    ("fps_per_w", ("power", "fps_per_w")),
    ("iou", ("iou",)),
    ("dice", ("dice",)),
    ("scored_images", ("scored_images",)),
    ("parity_reference", ("parity", "reference")),
    ("parity_flips", ("parity", "flips")),
    ("parity_iou", ("parity", "iou")),
]


def get(row: dict, path: tuple) -> object:
    value: object = row
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def row_key(row: dict) -> tuple:
    return tuple(row.get(k) for k in KEY)


def ok_rows(result: dict) -> list[dict]:
    return [r for r in result["rows"] if r.get("status") == "ok"]


# --- files ------------------------------------------------------------------------------------------


def write_all(result: dict, out: Path) -> dict[str, Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": write_json(out / "results.json", result),
        "csv": write_text(out / "results.csv", to_csv(result)),
        "md": write_text(out / "results.md", to_markdown(result)),
    }
    paths["png"] = plot_pareto(result, out / "pareto.png")
    return paths


def to_csv(result: dict) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([name for name, _ in COLUMNS])
    for row in result["rows"]:
        writer.writerow(["" if (v := get(row, path)) is None else _csv_value(v) for _, path in COLUMNS])
    return buf.getvalue()


def _csv_value(v):
    return f"{v:.6g}" if isinstance(v, float) else v


def _fmt(v, spec: str = ".3g") -> str:
    if v is None:
        return "-"
    return format(v, spec) if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v)


MD_COLUMNS = [
    ("model", ("model",), "s"),
    ("variant", ("variant",), "s"),
    ("precision", ("precision",), "s"),
    ("backend", ("backend",), "s"),
    ("batch", ("batch",), "d"),
    ("size", ("img_size",), "d"),
    ("params (M)", ("params_m",), ".3f"),
    ("GFLOPs", ("gflops",), ".2f"),
    ("file (MB)", ("file_size_mb",), ".2f"),
    ("p50 ms", ("latency_ms", "p50"), ".2f"),
    ("p90 ms", ("latency_ms", "p90"), ".2f"),
    ("p99 ms", ("latency_ms", "p99"), ".2f"),
    ("CV", ("latency_ms", "cv"), ".1%"),
    ("img/s", ("throughput",), ".1f"),
    ("pre ms", ("preprocess_ms", "p50"), ".2f"),
    ("post ms", ("postprocess_ms", "p50"), ".2f"),
    ("RSS MB", ("peak_rss_mb",), ".0f"),
    ("W", ("power", "avg_w"), ".1f"),
    ("mJ/img", ("power", "mj_per_image"), ".1f"),
    ("img/s/W", ("power", "fps_per_w"), ".1f"),
    ("IoU", ("iou",), ".4f"),
    ("Dice", ("dice",), ".4f"),
    ("flips", ("parity", "flips"), ".3%"),
]


# The terminal shows the columns that decide a choice; the Markdown and CSV files have all of them.
TERMINAL_COLUMNS = ("variant", "precision", "backend", "batch", "size", "GFLOPs", "p50 ms", "p99 ms", "CV",
                    "img/s", "pre ms", "post ms", "IoU", "flips")


def table_cells(row: dict, columns=None) -> list[str]:
    row = {**row, "params_m": row["params"] / 1e6 if row.get("params") else None}
    return [_fmt(get(row, path), spec) for h, path, spec in MD_COLUMNS if columns is None or h in columns]


def to_markdown(result: dict) -> str:
    env = result.get("environment", {})
    settings = result.get("settings", {})
    lines = ["# edgeseg benchmark", ""]
    lines += [f"- created: {result.get('created')}", f"- command: `{result.get('command')}`"]
    lines += [f"- {line}" for line in environment_lines(env)]
    lines += [f"- timing: {settings.get('timing')}", ""]
    lines.append("Latency = the runner's infer call per batch (wall clock); img/s = batch / p50 latency; "
                 "pre/post = the runtime's preprocessing and postprocessing per batch (p50).")
    lines.append("")
    ok = ok_rows(result)
    lines.append("| " + " | ".join(h for h, _, _ in MD_COLUMNS) + " |")
    lines.append("|" + "|".join("---" for _ in MD_COLUMNS) + "|")
    for row in ok:
        lines.append("| " + " | ".join(table_cells(row)) + " |")
    others = [r for r in result["rows"] if r.get("status") != "ok"]
    if others:
        lines += ["", "## Not run", "", "| backend | variant | precision | batch | status | reason |", "|---|---|---|---|---|---|"]
        for r in others:
            lines.append(f"| {r.get('backend')} | {_fmt(r.get('variant'))} | {_fmt(r.get('precision'))} | "
                         f"{_fmt(r.get('batch'))} | {r.get('status')} | {r.get('reason')} |")
    gpu_rows = [r for r in ok if r.get("device_ms")]
    if gpu_rows:
        lines += ["", "## GPU time (CUDA events, p50 ms)", "", "| variant | precision | backend | batch | H2D | compute | D2H |", "|---|---|---|---|---|---|---|"]
        for r in gpu_rows:
            d = r["device_ms"]
            lines.append(f"| {r['variant']} | {r['precision']} | {r['backend']} | {r['batch']} | "
                         f"{_fmt(get(d, ('h2d', 'p50')), '.3f')} | {_fmt(get(d, ('compute', 'p50')), '.3f')} | {_fmt(get(d, ('d2h', 'p50')), '.3f')} |")
    if result.get("warnings"):
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in result["warnings"]]
    return "\n".join(lines) + "\n"


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
        lines.append(f"Jetson: {jet.get('model')}, L4T {jet.get('l4t')}, power mode "
                     f"{(jet.get('nvpmodel') or {}).get('name', (jet.get('nvpmodel') or {}).get('reason'))}, "
                     f"clocks {'locked (jetson_clocks)' if clocks.get('locked') else clocks.get('reason', 'not locked')}")
    return lines


# --- Pareto plot ------------------------------------------------------------------------------------

BACKEND_MARKERS = {"torch": "o", "ort-cpu": "s", "ort-cuda": "D", "ort-trt": "^", "trt": "*"}
PRECISION_COLORS = {"fp32": "tab:blue", "fp16": "tab:green", "int8": "tab:red"}


def plot_points(result: dict) -> tuple[list[dict], str]:
    """Rows to plot and the y-axis quantity: IoU vs ground truth, else mask IoU vs the torch reference."""
    ok = [r for r in ok_rows(result) if r.get("throughput")]
    with_iou = [r for r in ok if r.get("iou") is not None]
    if with_iou:
        return with_iou, "iou"
    return [r for r in ok if get(r, ("parity", "iou")) is not None], "parity"


def plot_pareto(result: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, quantity = plot_points(result)
    ys = [r["iou"] if quantity == "iou" else r["parity"]["iou"] for r in rows]
    xs = [r["throughput"] for r in rows]
    front = set(pareto_front(list(zip(xs, ys))))

    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=120)
    groups: dict[tuple[str, str], list[int]] = {}
    for i, r in enumerate(rows):
        groups.setdefault((r["precision"], r["backend"]), []).append(i)
    for (precision, backend), idx in sorted(groups.items()):
        color = PRECISION_COLORS.get(precision, "tab:gray")
        marker = BACKEND_MARKERS.get(backend, "P")
        on = [i for i in idx if i in front]
        off = [i for i in idx if i not in front]
        if on:
            ax.scatter([xs[i] for i in on], [ys[i] for i in on], marker=marker, s=70, color=color,
                       edgecolors="black", zorder=3, label=f"{precision} / {backend}")
        if off:
            ax.scatter([xs[i] for i in off], [ys[i] for i in off], marker=marker, s=70, facecolors="none",
                       edgecolors=color, alpha=0.7, zorder=2, label=None if on else f"{precision} / {backend}")
    several_batches = len({r["batch"] for r in rows}) > 1
    for i, r in enumerate(rows):
        text = f"{r['variant']} b{r['batch']}" if several_batches else r["variant"]
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
    ax.set_ylabel("IoU vs ground truth" if quantity == "iou" else "mask IoU vs torch fp32 reference (no ground truth)")
    model = ", ".join(sorted({r["model"] for r in rows})) or "no rows with a quality score"
    ax.set_title(f"edgeseg bench: {model}")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)


# --- terminal ---------------------------------------------------------------------------------------


def print_table(result: dict, console=None) -> None:
    from rich import box
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    if console is None:
        console = Console()
        if not console.is_terminal:  # piped or captured: do not squeeze the numbers into 80 columns
            console = Console(width=max(console.width, 140))
    models = sorted({r["model"] for r in ok_rows(result)})
    table = Table(title=f"edgeseg bench: {', '.join(models)}", box=box.SIMPLE_HEAD, padding=(0, 0), pad_edge=False)
    for header, _, spec in MD_COLUMNS:
        if header in TERMINAL_COLUMNS:
            table.add_column(header, justify="left" if spec == "s" else "right", no_wrap=True)
    for row in ok_rows(result):
        table.add_row(*(escape(c) for c in table_cells(row, TERMINAL_COLUMNS)))
    console.print(table)
    for r in result["rows"]:
        if r.get("status") != "ok":
            what = " ".join(str(r[k]) for k in ("variant", "precision") if r.get(k))
            what += f" batch {r['batch']}" if r.get("batch") else ""
            console.print(f"[yellow]{r.get('status')}[/] {escape(r.get('backend') or '')}{escape(' ' + what if what else '')}: "
                          + escape(str(r.get("reason"))))
    noisy = [w for w in result.get("warnings", []) if "latency CV" in w]
    for w in result.get("warnings", []):
        if w not in noisy:
            console.print("[yellow]warning[/]: " + escape(w))
    if noisy:
        console.print(f"[yellow]warning[/]: {len(noisy)} row(s) with latency CV > 5% (busy machine or too few "
                      "iterations; results.md lists them): medians are reported")


# --- gates ------------------------------------------------------------------------------------------


def min_iou_failures(result: dict, min_iou: float) -> list[str]:
    scored = [r for r in ok_rows(result) if r.get("iou") is not None]
    if not scored:
        return ["--min-iou: no row has an IoU (give --data with masks)"]
    return [f"{_label(r)}: IoU {r['iou']:.4f} < --min-iou {min_iou}" for r in scored if r["iou"] < min_iou]


def load_result(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EdgesegError(f"--compare {path}: cannot read a results.json ({exc})") from exc
    if not isinstance(data, dict) or data.get("schema") != SCHEMA or not isinstance(data.get("rows"), list):
        raise EdgesegError(f"--compare {path}: not an edgeseg results.json (schema {SCHEMA})")
    return data


def compare(previous: dict, current: dict, iou_tol: float, latency_tol: float) -> tuple[list[str], list[str]]:
    """(regressions, notes): a row regresses when its IoU drops by more than `iou_tol` (absolute) or
    its p50 latency rises by more than `latency_tol` (relative), or it ran before and fails now."""
    before = {row_key(r): r for r in ok_rows(previous)}
    regressions, notes = [], []
    matched = 0
    for row in current["rows"]:
        old = before.get(row_key(row))
        if old is None:
            continue
        matched += 1
        if row.get("status") != "ok":
            regressions.append(f"{_label(row)}: ran before, now {row.get('status')} ({row.get('reason')})")
            continue
        if old.get("iou") is not None and row.get("iou") is not None and old["iou"] - row["iou"] > iou_tol:
            regressions.append(f"{_label(row)}: IoU {old['iou']:.4f} -> {row['iou']:.4f} (drop > {iou_tol})")
        p_old, p_new = get(old, ("latency_ms", "p50")), get(row, ("latency_ms", "p50"))
        if p_old and p_new and p_new > p_old * (1 + latency_tol):
            regressions.append(f"{_label(row)}: p50 {p_old:.3f} -> {p_new:.3f} ms (+{p_new / p_old - 1:.0%} > {latency_tol:.0%})")
    if not matched:
        notes.append("--compare: no row of the previous run matches this one (model/variant/precision/backend/batch/size)")
    return regressions, notes


def _label(row: dict) -> str:
    return f"{row.get('model')} {row.get('variant')} {row.get('precision')} {row.get('backend')} b{row.get('batch')} {row.get('img_size')}px"
