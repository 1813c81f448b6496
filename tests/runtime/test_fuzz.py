import json

import pytest

from .subprocess_env import run_without_torch

N = 10_000


@pytest.mark.slow
def test_fuzzed_inputs_give_masks_or_input_errors(bundle, tmp_path):
    """10,000 fuzzed inputs: each a mask or EdgesegInputError, no crash, RSS growth < 5% after warm-up."""
    folder, _, _ = bundle
    code = (f"import sys; sys.argv = ['fuzz', {str(folder)!r}, '{N}']; import runpy; "
            "runpy.run_module('tests.runtime.fuzz_segmenter', run_name='__main__')")
    proc = run_without_torch(code, tmp_path, timeout=500)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    counts = report["counts"]
    assert report["unexpected"] == [] and counts["other"] == 0
    assert counts["mask"] + counts["input_error"] == N
    assert counts["mask"] > N // 10 and counts["input_error"] > N // 2  # both outcomes really exercised
    growth = report["rss_end"] / report["rss_start"] - 1
    assert growth < 0.05, f"RSS grew {growth:.1%} ({report['rss_start']} -> {report['rss_end']} bytes)"
