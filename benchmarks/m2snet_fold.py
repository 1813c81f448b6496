"""M2SNet: speed and exactness of the `folded` deploy variant against `unfolded` on ONNX Runtime (CPU).

Builds a res2net50 M2SNet with random weights and trained-looking BatchNorm statistics, exports both
deploy variants to ONNX (torch.onnx.export, opset 17, onnx.checker), checks that the folded graph
holds no fixed (64, 64, k, k) box kernel, then times ONNX Runtime on the CPU with the same thread count,
interleaving the two sessions run by run, and reports medians, their ratio, MACs before/after and
the max abs error of the probabilities between the two graphs.

    python benchmarks/m2snet_fold.py --runs 30 --threads 2,1 --out benchmarks/results/m2snet_fold.txt
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgeseg.files import atomic_path, write_text  # noqa: E402
from edgeseg.models import create_model  # noqa: E402
from edgeseg.models.bn import trained_looking  # noqa: E402
from edgeseg.models.flops import count_flops  # noqa: E402


def export(module: nn.Module, x: torch.Tensor, path: Path):
    import onnx

    with atomic_path(path) as tmp:
        torch.onnx.export(module, (x,), str(tmp), input_names=["input"], output_names=["output"], opset_version=17,
                          dynamo=False)
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    return model


def box_kernels(model) -> list[str]:
    """Initializers shaped (64, 64, k, k) that are constant per output channel: the fixed all-ones
    convolutions, possibly with a BatchNorm folded in by the exporter."""
    from onnx import numpy_helper

    found = []
    for init in model.graph.initializer:
        dims = tuple(init.dims)
        if len(dims) == 4 and dims[:2] == (64, 64) and dims[2] == dims[3] and dims[2] in (3, 5):
            w = numpy_helper.to_array(init).reshape(64, -1)
            if np.all(w == w[:, :1]):
                found.append(f"{init.name}{dims}")
    return found


def op_counts(model) -> dict[str, int]:
    counts: dict[str, int] = {}
    for node in model.graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def load_average() -> str:
    return f"{os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else "n/a"


def session(path: Path, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def time_pair(paths: dict[str, Path], threads: int, feed: dict, warmup: int, runs: int) -> list[str]:
    """Both variants at one thread count, interleaved run by run (order alternating)."""
    sessions = {v: session(p, threads) for v, p in paths.items()}
    times: dict[str, list[float]] = {v: [] for v in sessions}
    order = list(sessions)
    lines = [f"ONNX Runtime CPU, intra_op_num_threads={threads}: {warmup} warm-up + {runs} timed runs per variant, "
             f"interleaved; 1-min load average {load_average()} at start"]
    for i in range(warmup + runs):
        for variant in order if i % 2 == 0 else order[::-1]:
            start = time.perf_counter()
            sessions[variant].run(None, feed)
            if i >= warmup:
                times[variant].append((time.perf_counter() - start) * 1e3)
    med = {v: statistics.median(t) for v, t in times.items()}
    # Each iteration runs both variants back to back, so a pair shares the machine's load at that moment.
    paired = statistics.median(u / f for u, f in zip(times["unfolded"], times["folded"]))
    for v in order:
        t = sorted(times[v])
        lines.append(f"  {v:9s} median {med[v]:8.1f} ms   min {t[0]:8.1f}   p25 {t[len(t) // 4]:8.1f}   "
                     f"max {t[-1]:8.1f}")
    lines += [
        f"  speed-up folded vs unfolded: ratio of medians {med['unfolded'] / med['folded']:.2f}x, "
        f"median of per-iteration ratios {paired:.2f}x, "
        f"ratio of minima {min(times['unfolded']) / min(times['folded']):.2f}x  (target >= 1.8x)",
        f"  1-min load average at end {load_average()} (other jobs share these cores)",
    ]
    return lines


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=352)
    parser.add_argument("--encoder", default="res2net50")
    parser.add_argument("--threads", default="2", help="ONNX Runtime intra-op threads; a comma list times each")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="also write the report to this file")
    args = parser.parse_args(argv)
    threads = [int(t) for t in args.threads.split(",")]

    import onnxruntime as ort

    torch.manual_seed(args.seed)
    torch.set_num_threads(max(threads))
    model = trained_looking(create_model("m2snet", encoder=args.encoder), args.size, args.seed)
    x = torch.randn(1, 3, args.size, args.size, generator=torch.Generator().manual_seed(args.seed + 1))
    with torch.no_grad():  # a random deep net gives huge logits and saturated probabilities: bring them to std 4
        model.body.outputs[-1].weight.mul_(4.0 / model(x).std())
        model.body.outputs[-1].bias.zero_()
    modules = {v: model.deploy(v) for v in ("unfolded", "folded")}
    with torch.no_grad():
        eager = {v: m(x).numpy() for v, m in modules.items()}
    macs = {v: count_flops(m, x) / 2 for v, m in modules.items()}
    feed = {"input": x.numpy()}

    lines = [
        f"M2SNet fold benchmark: encoder={args.encoder}, {args.size}x{args.size}, batch 1, random weights with "
        f"trained-looking BN statistics (seed {args.seed}), last conv scaled to logit std 4",
        f"torch {torch.__version__} torch.onnx.export (TorchScript exporter, opset 17) + onnx.checker; "
        f"onnxruntime {ort.__version__} CPUExecutionProvider, sequential; {os.cpu_count()} CPUs shared with other jobs",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        paths = {v: Path(tmp) / f"{v}.onnx" for v in modules}
        graphs = {v: export(m, x, paths[v]) for v, m in modules.items()}
        leftover = box_kernels(graphs["folded"])
        if leftover:
            raise SystemExit(f"folded graph still holds fixed (64, 64, k, k) box kernels: {leftover}")
        outs = {v: session(p, threads[0]).run(None, feed)[0] for v, p in paths.items()}
        ops = {v: op_counts(g) for v, g in graphs.items()}
        lines += [
            f"fixed (64,64,k,k) box-sum kernels (all-ones, BN folded in by the exporter): "
            f"unfolded {len(box_kernels(graphs['unfolded']))}, folded 0",
            f"ops folded:   {', '.join(f'{k} {n}' for k, n in sorted(ops['folded'].items()))}",
            f"ops unfolded: {', '.join(f'{k} {n}' for k, n in sorted(ops['unfolded'].items()))}",
            f"MACs (torch flop counter / 2): unfolded {macs['unfolded'] / 1e9:.2f} G, "
            f"folded {macs['folded'] / 1e9:.2f} G "
            f"({macs['unfolded'] / macs['folded']:.2f}x fewer)",
            f"max abs prob error folded vs unfolded (ORT): "
            f"{np.abs(sigmoid(outs['folded']) - sigmoid(outs['unfolded'])).max():.2e}",
            f"max abs prob error ORT folded vs eager unfolded: "
            f"{np.abs(sigmoid(outs['folded']) - sigmoid(eager['unfolded'])).max():.2e}",
            f"max abs logit error eager folded vs eager unfolded: "
            f"{np.abs(eager['folded'] - eager['unfolded']).max():.2e} "
            f"(logit range {np.abs(eager['unfolded']).max():.2f})",
        ]
        for n in threads:
            lines += time_pair(paths, n, feed, args.warmup, args.runs)
    report = "\n".join(lines) + "\n"
    print(report, end="")
    if args.out:
        write_text(args.out, report)
    return report


if __name__ == "__main__":
    main()
