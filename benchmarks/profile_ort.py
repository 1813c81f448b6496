"""Where an ONNX artifact spends its time in ONNX Runtime (CPU): kernel time per operator, from a profile.

    python benchmarks/profile_ort.py ARTIFACT.onnx [--threads 2] [--runs 20] [--batch 1] [--as-exported]

Runs the graph with ONNX Runtime's profiler (all graph optimizations on, as `edgeseg` runs it) on random
input, then prints the share of kernel time per operator type as ONNX Runtime executed it (after its own
fusions: QLinearConv, QLinearConcat, FusedConv...), with the element type each one read, and one line for
the share spent outside int8 kernels: QuantizeLinear/DequantizeLinear plus float Concat, Resize, Relu and
MaxPool. The first run (warm-up) is left out. An int8 artifact runs as edgeseg's ORT CPU runner runs it
(rewritten by `edgeseg.runtime.ort_int8`); `--as-exported` profiles the file as it is.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

CONVERSIONS = ("QuantizeLinear", "DequantizeLinear")
FLOAT_DATA_OPS = ("Concat", "Resize", "Upsample", "Relu", "MaxPool")  # ORT names its float Resize kernel Upsample


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("artifact", type=Path)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--batch", type=int, default=1, help="used where the batch axis is dynamic")
    ap.add_argument("--as-exported", action="store_true", help="run an int8 artifact without the runtime's CPU rewrite")
    args = ap.parse_args()
    events = profile(args.artifact, threads=args.threads, runs=args.runs, batch=args.batch,
                     as_exported=args.as_exported)
    rows, outside = share_table(events, args.runs)
    graph = "as exported" if args.as_exported else "as the edgeseg ORT CPU runner runs it"
    print(f"# {args.artifact} ({graph}) -- ONNX Runtime {_ort_version()}, {args.threads} threads, {args.runs} runs, "
          f"load average {os.getloadavg()[0]:.2f}")
    print(to_markdown(rows, outside))
    return 0


def profile(artifact: Path, *, threads: int, runs: int, batch: int = 1, as_exported: bool = False) -> list[dict]:
    """Kernel events ({"op", "type", "us"}) of `runs` timed runs after one warm-up run."""
    import onnxruntime as ort
    from int8_speed import runtime_graph

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    opts.enable_profiling = True
    with tempfile.TemporaryDirectory(prefix="edgeseg-profile-") as tmp:
        opts.profile_file_prefix = str(Path(tmp) / "ort")
        model = runtime_graph(artifact, as_exported=as_exported)
        session = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
        spec = session.get_inputs()[0]
        shape = [d if isinstance(d, int) else batch for d in spec.shape]
        feed = {spec.name: np.random.default_rng(0).standard_normal(shape).astype(np.float32)}
        for _ in range(runs + 1):
            session.run(None, feed)
        trace = json.loads(Path(session.end_profiling()).read_text())
    return kernel_events(trace)


def kernel_events(trace: list[dict]) -> list[dict]:
    """The node kernel events of an ONNX Runtime profile, without the first (warm-up) run."""
    runs = [e for e in trace if e.get("cat") == "Session" and e.get("name") == "model_run"]
    start = runs[0]["ts"] + runs[0]["dur"] if len(runs) > 1 else 0
    events = []
    for e in trace:
        if e.get("cat") != "Node" or not e.get("name", "").endswith("_kernel_time") or e["ts"] < start:
            continue
        args = e.get("args", {})
        events.append({"op": args.get("op_name", "?"), "type": _data_type(args), "us": float(e["dur"])})
    return events


def _data_type(args: dict) -> str:
    """Element type of the first input of rank >= 3 (the data, not a QLinear* op's scale or zero point)."""
    for entry in args.get("input_type_shape") or []:
        for dtype, shape in entry.items():
            if len(shape) >= 3:
                return dtype
    return "?"


def share_table(events: list[dict], runs: int) -> tuple[list[dict], float]:
    """Rows {"op", "type", "nodes", "share"} by kernel time (nodes: per run), and the share outside int8 kernels."""
    total = sum(e["us"] for e in events) or 1.0
    time: dict[tuple[str, str], float] = defaultdict(float)
    count: dict[tuple[str, str], int] = defaultdict(int)
    for e in events:
        time[(e["op"], e["type"])] += e["us"]
        count[(e["op"], e["type"])] += 1
    rows = [{"op": op, "type": dtype, "nodes": count[(op, dtype)] // max(runs, 1), "share": t / total}
            for (op, dtype), t in sorted(time.items(), key=lambda kv: -kv[1])]
    outside = sum(r["share"] for r in rows if is_outside_int8(r["op"], r["type"]))
    return rows, outside


def is_outside_int8(op: str, dtype: str) -> bool:
    """Q/DQ conversions, and data-movement operators that run on float tensors."""
    return op in CONVERSIONS or (op in FLOAT_DATA_OPS and dtype.startswith("float"))


def to_markdown(rows: list[dict], outside: float) -> str:
    lines = ["| operator | reads | nodes | share of kernel time |", "|---|---|---:|---:|"]
    lines += [f"| {r['op']} | {r['type']} | {r['nodes']} | {r['share']:.1%} |" for r in rows]
    lines.append(f"\noutside int8 kernels (Q/DQ + float Concat/Resize/Upsample/Relu/MaxPool): {outside:.1%}")
    return "\n".join(lines)


def _ort_version() -> str:
    import onnxruntime

    return onnxruntime.__version__


if __name__ == "__main__":
    sys.exit(main())
