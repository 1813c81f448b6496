"""Peak memory of `edgeseg predict` on one large RGB image, with and without --overlay.

Each run is its own process (the `edgeseg predict` command, ONNX Runtime on the CPU, one thread);
its peak resident set size is the kernel's VmHWM, read as the process exits (`ru_maxrss` would
carry over the parent's peak across fork + exec). The same command on a 64x64 image gives the
baseline (interpreter, imports, ONNX Runtime session), so "added" is what the large image costs.
Both are compared with the decoded image (H x W x 3 bytes). Medians of --runs runs.

    python benchmarks/predict_memory.py --out benchmarks/results/predict_memory.txt
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgeseg.files import write_text  # noqa: E402, I001


LAUNCH = """
import atexit, sys
def report():
    hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    print(int(hwm.split()[1]) * 1024, file=sys.stderr)
atexit.register(report)
from edgeseg.cli import main
sys.argv = ["edgeseg", *sys.argv[1:]]
main()
"""


def peak_rss(args: list[str]) -> int:
    """Peak RSS in bytes of `edgeseg ARGS` in a fresh process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", LAUNCH, *args], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)  # cwd: `-c` puts it first on sys.path
    if done.returncode != 0:
        raise SystemExit(f"edgeseg {' '.join(args)} failed: {done.stderr[-500:]}")
    return int(done.stderr.split()[-1])


def make_bundle(folder: Path) -> Path:
    from edgeseg import checkpoint
    from edgeseg.export import export_bundle
    from edgeseg.models import create_model

    model = create_model("unet", width_mult=0.125)
    ckpt = checkpoint.save(folder / "ckpt", model, checkpoint.CheckpointInfo(
        model="unet", config=model.config, normalization={"color": "rgb", "mean": [0.5] * 3, "std": [0.25] * 3},
        recipe={"img_size": 256}))
    export_bundle(ckpt, folder / "bundle", variants="default", parity_images=2)
    return folder / "bundle"


def make_image(path: Path, side: int) -> int:
    from PIL import Image

    y, x = np.mgrid[0:side, 0:side].astype(np.float32) / side
    rgb = np.stack([x, y, 0.5 + 0.5 * np.sin(40 * x * y)], axis=-1)
    Image.fromarray((rgb * 255).astype(np.uint8)).save(path, compress_level=1)
    return side * side * 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=8000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        bundle = make_bundle(tmp)
        decoded = make_image(tmp / "large.png", args.side)
        make_image(tmp / "small.png", 64)
        lines = [f"# edgeseg predict peak RSS, {args.side}x{args.side} RGB uint8 ({decoded / 2**20:.0f} MiB decoded), "
                 f"unet width 0.125 at 256x256, ort-cpu 1 thread, medians of {args.runs} runs",
                 f"# {platform.machine()}, {platform.processor() or 'cpu'}, Python {platform.python_version()}, "
                 f"numpy {np.__version__}",
                 "| run | peak MiB | baseline MiB | added MiB | added / decoded | peak / decoded |",
                 "|---|---:|---:|---:|---:|---:|"]
        for label, extra in (("masks", []), ("masks + --overlay", ["--overlay"])):
            big, small = [], []
            for run in range(args.runs):
                for image, peaks in (("large", big), ("small", small)):
                    command = ["predict", str(bundle), str(tmp / f"{image}.png"), "--out", str(tmp / f"{image}{run}"),
                               "--backend", "ort-cpu", "--threads", "1", *extra]
                    peaks.append(peak_rss(command))
            peak, base = statistics.median(big), statistics.median(small)
            lines.append(f"| {label} | {peak / 2**20:.0f} | {base / 2**20:.0f} | {(peak - base) / 2**20:.0f} | "
                         f"{(peak - base) / decoded:.2f}x | {peak / decoded:.2f}x |")
        lines.append(f"# load average after the run: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.out:
        write_text(args.out, text)


if __name__ == "__main__":
    main()
