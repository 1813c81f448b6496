"""Progressive UNet# on ONNX Runtime CPU: time to L1 and to L4 through the chain vs the standalone L1 and L4.

Exports a full-width UNet# (random weights; timing does not depend on them) as a bundle holding the
standalone L1 and L4 and the `progressive` chain (fp32, 224x224, batch 1), then times, round after
round and interleaved, the standalone L1, the chain (the time its L1 prediction is out, and its L4),
and the standalone L4. Every session gets the same `--threads`. The chain runs as the runtime runs
it (`edgeseg.runtime.progressive.OrtChain`: OrtValues and I/O binding between steps); `--numpy`
adds a row for plain `session.run` with numpy arrays between steps. Ratios are taken per round
(chain / standalone of the same round, so load changes between rounds cancel), then their median;
the same for process CPU time. Each timed run follows `--gap` idle seconds (ONNX Runtime's threads
spin for more work after a run, and would take cores from whatever is timed next). Prints the target
table (Markdown) with the load average.

    python benchmarks/progressive.py [--threads 2] [--rounds 15] [--size 224] [--width 1.0]
                                     [--work /tmp/progressive_bench] [--numpy] [--reuse] [--gap 0.2]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGETS = {"L1": 1.10, "L4": 1.15}


def export(work: Path, size: int, width: float) -> None:
    import torch

    from edgeseg import manifest as mf
    from edgeseg.export import export_bundle
    from edgeseg.models import create_model

    torch.manual_seed(0)
    model = create_model("unet_sharp", width_mult=width).eval()
    export_bundle((model, mf.Normalization()), work, variants="L1,L4,progressive", img_size=size, parity_images=1)


def timed(run) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = run()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def chain_times(steps) -> list[float]:
    """Seconds from the start until each step's prediction is out."""
    start = time.perf_counter()
    marks = []
    for _ in steps:
        marks.append(time.perf_counter() - start)
    return marks


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2, help="intra-op threads of every session")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--width", type=float, default=1.0, help="UNet# width_mult (1.0: full width)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/progressive_bench"), help="the bundle is written here")
    ap.add_argument("--numpy", action="store_true", help="also time the chain with numpy arrays between steps")
    ap.add_argument("--reuse", action="store_true", help="time the bundle already in --work (no export)")
    ap.add_argument("--gap", type=float, default=0.2,
                    help="seconds idle before each timed run, so threads still spinning after one run do not "
                    "take cores from the next")
    args = ap.parse_args()

    import numpy as np

    from edgeseg import manifest as mf
    from edgeseg.runtime.ort import OrtRunner
    from edgeseg.runtime.progressive import OrtChain

    began = time.perf_counter()
    if not (args.reuse and (args.work / mf.MANIFEST).is_file()):
        export(args.work, args.size, args.width)
    exported = time.perf_counter() - began
    manifest = mf.load(args.work)
    chain_spec = manifest.chain("progressive", "fp32")
    standalone = {level: OrtRunner(args.work / manifest.artifact(level, "fp32").file, threads=args.threads)
                  for level in ("L1", "L4")}
    chain = OrtChain(args.work, chain_spec, threads=args.threads)
    sessions = chain.sessions
    x = np.random.default_rng(0).standard_normal((1, 3, args.size, args.size)).astype(np.float32)
    feed = {"input": x}

    def numpy_chain():
        pool = dict(feed)
        for step, session in zip(chain_spec.steps, sessions):
            names = [spec.name for spec in step.outputs]
            pool.update(zip(names, session.run(names, {s.name: pool[s.name] for s in step.inputs})))
            yield pool[step.prediction]

    runs = {
        "L1": lambda: standalone["L1"].infer(feed),
        "L4": lambda: standalone["L4"].infer(feed),
        "chain": lambda: chain_times(chain.steps(feed)),
    }
    if args.numpy:
        runs["numpy chain"] = lambda: chain_times(numpy_chain())
    for run in runs.values():  # warm-up
        run()
    load_before = os.getloadavg()
    rows: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        got = {}
        for name, run in runs.items():
            time.sleep(args.gap)
            got[name] = timed(run)
        for name in ("L1", "L4"):
            rows.setdefault(f"{name} wall", []).append(got[name][0])
            rows.setdefault(f"{name} cpu", []).append(got[name][1])
        for name in [n for n in runs if "chain" in n]:
            wall, cpu, marks = got[name]
            rows.setdefault(f"{name} L1 wall", []).append(marks[0])
            rows.setdefault(f"{name} L4 wall", []).append(marks[-1])
            rows.setdefault(f"{name} L4 cpu", []).append(cpu)
            rows.setdefault(f"{name} L1 ratio", []).append(marks[0] / got["L1"][0])
            rows.setdefault(f"{name} L4 ratio", []).append(marks[-1] / got["L4"][0])
            rows.setdefault(f"{name} L4 cpu ratio", []).append(cpu / got["L4"][1])
    load_after = os.getloadavg()
    total = time.perf_counter() - began

    def med(key: str) -> float:
        return statistics.median(rows[key])

    print(f"CPU: {cpu_model()}; threads {args.threads}; {args.size}x{args.size} batch 1; UNet# width {args.width}; "
          f"{args.rounds} interleaved rounds; medians")
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}; export {exported:.0f} s, "
          f"whole run {total:.0f} s")
    print()
    print("| to | standalone ms | chain | chain ms | ratio (per round, median) | CPU-time ratio | target | met |")
    print("|---|---:|---|---:|---:|---:|---:|---|")
    for name in [n for n in runs if "chain" in n]:
        for level in ("L1", "L4"):
            ratio = med(f"{name} {level} ratio")
            cpu = f"{med(f'{name} L4 cpu ratio'):.3f}" if level == "L4" else "-"
            print(f"| {level} | {med(f'{level} wall') * 1000:.1f} | {name} | {med(f'{name} {level} wall') * 1000:.1f} "
                  f"| {ratio:.3f} | {cpu} | {TARGETS[level]:.2f} | {'yes' if ratio <= TARGETS[level] else 'no'} |")
    return 0


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        return platform.processor() or "unknown"


if __name__ == "__main__":
    raise SystemExit(main())
