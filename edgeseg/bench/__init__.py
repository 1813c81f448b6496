"""Benchmarks: timing harness, FLOPs/params, environment capture, reports and plots."""
