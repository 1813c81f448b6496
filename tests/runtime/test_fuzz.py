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


def test_fuzzed_manifests_load_or_give_one_integrity_error(bundle):
    """2,000 random edits of a real manifest (digest recomputed, so the schema is what is tested): each
    one loads or raises IntegrityError with a one-line message; never another exception."""
    import copy
    import random

    from edgeseg import manifest as mf
    from edgeseg.errors import IntegrityError

    folder, _, _ = bundle
    original = json.loads((folder / mf.MANIFEST).read_text())
    rng = random.Random(7)
    odd = [None, True, -1, 0, 1e308, -1e-300, 10**19, "", "x" * 300, "../x", "**", [], [[[]]], {}, {"a": {"b": 1}},
           0.5, 3, "batch"]
    outcomes = {"loaded": 0, "refused": 0}
    for _ in range(2000):
        d = copy.deepcopy(original)
        for _ in range(rng.randint(1, 3)):
            path, node = _random_path(rng, d)
            if path is None:
                continue
            parent, key = path
            action = rng.random()
            if action < 0.7:
                parent[key] = copy.deepcopy(rng.choice(odd))
            elif action < 0.85 and isinstance(parent, dict):
                del parent[key]
            elif isinstance(parent, dict):
                parent[rng.choice(["extra", "colour", "__class__"])] = rng.choice(odd)
        d.pop("digest", None)
        try:
            mf.Manifest.from_dict({**d, "digest": mf.digest_of(d)})
            outcomes["loaded"] += 1
        except IntegrityError as exc:
            message = str(exc)
            assert "\n" not in message and len(message) < 400, message
            assert not any(leak in message for leak in ("__init__", "Error:", "dictionary update", "argument")), message
            outcomes["refused"] += 1
    assert outcomes["refused"] > 1000 and outcomes["loaded"] > 20, outcomes


def _random_path(rng, d):
    """A random (container, key) inside the JSON tree `d`, and the value there."""
    node, path = d, None
    for _ in range(rng.randint(1, 5)):
        keys = list(node.keys()) if isinstance(node, dict) else list(range(len(node))) if isinstance(node, list) else []
        if not keys:
            break
        key = rng.choice(keys)
        path, node = (node, key), node[key]
    return path, node
