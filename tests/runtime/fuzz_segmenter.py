"""Fuzz driver (run in a subprocess by test_fuzz.py): N fuzzed inputs through one Segmenter.

Every call must return a mask or raise EdgesegInputError. Prints one JSON line: counts per outcome,
the first few unexpected exceptions, and resident memory after warm-up and at the end.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np

from edgeseg.errors import EdgesegInputError
from edgeseg.runtime import Segmenter

WARMUP = 1000


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def valid(rng) -> np.ndarray:
    h, w = rng.integers(1, 48, size=2)
    shape = [(h, w), (h, w, 1), (h, w, 3), (h, w, 4)][rng.integers(4)]
    kind = rng.integers(5)
    if kind == 0:
        return rng.integers(0, 256, size=shape).astype(np.uint8)
    if kind == 1:
        return rng.integers(0, 65536, size=shape).astype(np.uint16)
    dtype = (np.float16, np.float32, np.float64)[kind - 2]
    return rng.random(shape).astype(dtype)


def fuzzed(rng, i: int):
    """One input; the case number picks the family so every family is well represented."""
    family = i % 12
    base = valid(rng)
    if family == 0:
        return base
    if family == 1:  # wrong rank
        return rng.random(tuple(rng.integers(1, 6, size=rng.choice([0, 1, 4, 5])))).astype(np.float32)
    if family == 2:  # wrong channel count
        return rng.integers(0, 255, size=(8, 8, int(rng.choice([2, 5, 7, 16])))).astype(np.uint8)
    if family == 3:  # unsupported dtypes
        dtype = rng.choice(["int8", "int16", "int32", "int64", "uint32", "bool", "complex64", "object", "<U1",
                            "datetime64[s]", "V4"])
        return np.zeros((6, 5), dtype=dtype)
    if family == 4:  # NaN / Inf somewhere
        a = rng.random((9, 7, 3)).astype(rng.choice([np.float16, np.float32, np.float64]))
        a[rng.integers(9), rng.integers(7), rng.integers(3)] = rng.choice([np.nan, np.inf, -np.inf])
        return a
    if family == 5:  # floats out of [0, 1]
        return (rng.random((5, 6)) * rng.choice([-1.0, 2.0, 255.0, 1e30])).astype(np.float32)
    if family == 6:  # empty
        return np.zeros([(0, 5), (5, 0), (0, 0, 3), (4, 0, 1)][rng.integers(4)], dtype=np.uint8)
    if family == 7:  # huge (views: no memory behind them)
        shape = [(8193, 8193), (1, 70_000_000), (100_000, 100_000, 3)][rng.integers(3)]
        return np.broadcast_to(np.zeros(1, np.uint8), shape)
    if family == 8:  # non-contiguous and odd strides
        return [base[::-1], base.T if base.ndim == 2 else base[:, ::-1], base[::2]][rng.integers(3)]
    if family == 9:  # not an image at all
        return [None, 3, 2.5, b"bytes", {"a": 1}, "missing.png", "no_suffix", [[1, 2]], object()][rng.integers(9)]
    if family == 10:  # a list mixing good and bad
        return [base, fuzzed(rng, int(rng.integers(1, 10)))]
    return [valid(rng) for _ in range(int(rng.integers(1, 4)))]  # good batches of mixed sizes


def main(bundle: str, n: int) -> None:
    rng = np.random.default_rng(12345)
    counts = {"mask": 0, "input_error": 0, "other": 0}
    unexpected = []
    with Segmenter.from_bundle(bundle, threads=1) as seg:
        for i in range(n):
            if i == WARMUP:
                rss_start = rss_bytes()
            x = fuzzed(rng, i)
            try:
                out = seg.segment(x)
                outs = out if isinstance(out, list) else [out]
                assert all(m.dtype == np.uint8 and m.ndim == 2 for m in outs)
                counts["mask"] += 1
            except EdgesegInputError:
                counts["input_error"] += 1
            except Exception as exc:  # noqa: BLE001  (this is what the fuzz test looks for)
                counts["other"] += 1
                if len(unexpected) < 5:
                    unexpected.append(f"case {i}: {type(exc).__name__}: {exc}")
    print(json.dumps({"counts": counts, "unexpected": unexpected, "rss_start": rss_start, "rss_end": rss_bytes()}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
