"""ORT CPU latency of ONNX artifacts measured interleaved: one run of each in turn, repeated, medians.

    python benchmarks/int8_speed.py L4.fp32.onnx L4.int8.onnx [more.onnx ...] [--threads 2] [--rounds 30] \
        [--as-exported]

An int8 (Q/DQ) artifact runs as edgeseg's ORT CPU runner runs it: rewritten in memory by
`edgeseg.runtime.ort_int8` (uint8 activations, Conv+ReLU folded); `--as-exported` runs the file as it is.

On a machine shared with other jobs the load changes from second to second; timing A for a minute and
then B for a minute compares two different machines. Here every round runs each artifact once, in
turn, so all of them see the same load; the table gives per artifact the median latency and its ratio
to the first artifact (> 1: faster than the first), with the load average before and after. It also
gives the median CPU time of the process per run (ONNX Runtime's thread spinning off, so waiting threads
burn nothing): on a machine where other jobs take the cores, wall time counts the time the run waited
for a core and CPU time does not, so its ratio is the steadier of the two.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this tree's edgeseg, also when not installed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("artifacts", type=Path, nargs="+")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--as-exported", action="store_true", help="run int8 artifacts without the runtime's CPU rewrite")
    args = ap.parse_args()
    load_before = os.getloadavg()
    times = interleaved(args.artifacts, threads=args.threads, rounds=args.rounds, warmup=args.warmup,
                        as_exported=args.as_exported)
    load_after = os.getloadavg()
    print(f"# {time.strftime('%Y-%m-%d %H:%M')} `python benchmarks/int8_speed.py {' '.join(sys.argv[1:])}`")
    print(f"# CPU: {cpu_model()}; onnxruntime {_ort_version()}; {args.threads} threads; "
          f"{args.rounds} interleaved rounds after {args.warmup} warm-up; medians; "
          f"load average before {_load(load_before)}, after {_load(load_after)}; int8 artifacts "
          f"{'as exported' if args.as_exported else 'as the edgeseg ORT CPU runner runs them (runtime/ort_int8.py)'}")
    print(to_markdown(args.artifacts, times))
    return 0


Times = list[tuple[list[float], list[float]]]


def runtime_graph(path: Path, *, as_exported: bool = False) -> str | bytes:
    """What edgeseg's ORT CPU runner hands ONNX Runtime for this file: an int8 artifact's rewritten bytes."""
    from edgeseg import onnxgraph
    from edgeseg.runtime import ort_int8

    data = path.read_bytes()
    if as_exported or not onnxgraph.read(data, path.name).quantized:
        return str(path)
    return ort_int8.cpu_bytes(data)


def interleaved(artifacts: list[Path], *, threads: int, rounds: int, warmup: int, as_exported: bool = False) -> Times:
    """Per artifact (wall ms, CPU ms) of `rounds` runs, the artifacts taking turns within each round."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    sessions, feeds = [], []
    for path in artifacts:
        session = ort.InferenceSession(runtime_graph(path, as_exported=as_exported), opts,
                                       providers=["CPUExecutionProvider"])
        spec = session.get_inputs()[0]
        shape = [d if isinstance(d, int) else 1 for d in spec.shape]
        feeds.append({spec.name: np.random.default_rng(0).standard_normal(shape).astype(np.float32)})
        sessions.append(session)
    for _ in range(warmup):
        for session, feed in zip(sessions, feeds):
            session.run(None, feed)
    times: Times = [([], []) for _ in sessions]
    for _ in range(rounds):
        for (wall, cpu), session, feed in zip(times, sessions, feeds):
            start, start_cpu = time.perf_counter(), time.process_time()
            session.run(None, feed)
            wall.append((time.perf_counter() - start) * 1e3)
            cpu.append((time.process_time() - start_cpu) * 1e3)
    return times


def to_markdown(artifacts: list[Path], times: Times) -> str:
    wall0, cpu0 = (statistics.median(t) for t in times[0])
    lines = ["| artifact | wall median ms | wall p10..p90 ms | speed-up (wall) | CPU median ms | speed-up (CPU) |",
             "|---|---:|---:|---:|---:|---:|"]
    for path, (wall, cpu) in zip(artifacts, times):
        lo, hi = np.percentile(wall, [10, 90])
        w, c = statistics.median(wall), statistics.median(cpu)
        lines.append(f"| {path} | {w:.1f} | {lo:.1f}..{hi:.1f} | {wall0 / w:.2f}x | {c:.1f} | {cpu0 / c:.2f}x |")
    return "\n".join(lines)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _load(load: tuple[float, float, float]) -> str:
    return "/".join(f"{x:.2f}" for x in load)


def _ort_version() -> str:
    import onnxruntime

    return onnxruntime.__version__


if __name__ == "__main__":
    sys.exit(main())
