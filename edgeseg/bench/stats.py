"""Latency statistics over timed iterations (numpy; milliseconds in, milliseconds out)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

CV_WARN = 0.05  # a coefficient of variation above this means the machine was noisy: say so


@dataclass(frozen=True)
class LatencyStats:
    n: int
    p50: float
    p90: float
    p99: float
    mean: float
    std: float  # sample standard deviation (ddof=1; 0 for a single iteration)
    min: float
    max: float
    cv: float  # std / mean

    @classmethod
    def of(cls, ms) -> LatencyStats:
        a = np.asarray(ms, dtype=np.float64)
        if a.ndim != 1 or a.size == 0:
            raise ValueError("latency statistics need a non-empty list of times")
        if not np.all(np.isfinite(a)) or np.any(a < 0):
            raise ValueError("latency times must be finite and non-negative")
        p50, p90, p99 = np.percentile(a, [50, 90, 99])
        mean = float(a.mean())
        std = float(a.std(ddof=1)) if a.size > 1 else 0.0
        return cls(
            n=int(a.size),
            p50=float(p50),
            p90=float(p90),
            p99=float(p99),
            mean=mean,
            std=std,
            min=float(a.min()),
            max=float(a.max()),
            cv=std / mean if mean > 0 else 0.0,
        )

    @property
    def noisy(self) -> bool:
        return self.cv > CV_WARN

    def as_dict(self) -> dict:
        return asdict(self)
