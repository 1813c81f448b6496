"""Benchmarks: `run` measures a bundle or checkpoint and returns a `BenchResult` of `BenchRow`s;
around it, the timing harness, FLOPs/params, environment capture, reports, plots and gates."""

from .api import run
from .results import BenchResult, BenchRow

__all__ = ["BenchResult", "BenchRow", "run"]
