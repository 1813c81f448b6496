"""Runtime pre/post-processing cost per frame (numpy + Pillow, torch-free) for several camera sizes.

What `Segmenter.preprocess` does per image (validate, scale by dtype, colour, resize to the model
size, normalise) and what `postprocess` does per output (sigmoid, crop, bilinear resize back to the
image size, threshold), timed with the same functions the Segmenter calls. Model inference is not
in here: `edgeseg bench` times it per backend. Medians of --runs interleaved runs, one thread.

    python benchmarks/runtime_prepost.py --out benchmarks/results/runtime_prepost.txt
"""

from __future__ import annotations

import argparse
import functools
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgeseg.files import write_text  # noqa: E402
from edgeseg.manifest import Normalization  # noqa: E402
from edgeseg.runtime import preprocess as pre  # noqa: E402

CASES = [
    ("256x256 RGB uint8", (256, 256, 3), np.uint8),
    ("352x352 RGB uint8 (= model size)", (352, 352, 3), np.uint8),
    ("576x720 RGB uint8 (SD endoscope)", (576, 720, 3), np.uint8),
    ("1080x1920 RGB uint8 (HD)", (1080, 1920, 3), np.uint8),
    ("512x512 gray uint16", (512, 512), np.uint16),
]


def median_ms(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=352, help="model input height and width")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--fit", choices=pre.FITS, default="resize")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    norm = Normalization()
    size = (args.size, args.size)
    lines = [
        f"# runtime pre/post-processing, model input {args.size}x{args.size}, fit={args.fit}, "
        f"medians of {args.runs} runs",
        f"# {platform.processor() or platform.machine()}, Python {platform.python_version()}, numpy {np.__version__}",
        "| image | preprocess ms | postprocess ms |",
        "|---|---:|---:|",
    ]
    for name, shape, dtype in CASES:
        image = rng.integers(0, np.iinfo(dtype).max, size=shape, dtype=dtype)
        _, meta = pre.prepare(image, size, norm, args.fit)
        logits = rng.normal(size=(1, *size)).astype(np.float32)
        prep = functools.partial(pre.prepare, image, size, norm, args.fit)

        def post(logits=logits, meta=meta):
            return pre.to_mask(pre.restore(pre.probabilities(logits, "logits"), meta), 0.5)

        prep(), post()  # warm-up
        lines.append(f"| {name} | {median_ms(prep, args.runs):.2f} | {median_ms(post, args.runs):.2f} |")
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.out:
        write_text(args.out, text)


if __name__ == "__main__":
    main()
