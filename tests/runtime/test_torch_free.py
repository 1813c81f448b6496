import json

import numpy as np

from .bundles import torch_masks
from .subprocess_env import run_without_torch

CODE = """
import json, sys
import numpy as np
try:
    import torch
    sys.exit("torch imported although blocked")
except ImportError:
    pass
from edgeseg.runtime import Segmenter
rng = np.random.default_rng(7)
images = [(rng.random((32, 32, 3)) * 255).astype(np.uint8) for _ in range(4)]
with Segmenter.from_bundle(sys.argv[1] if len(sys.argv) > 1 else {bundle!r}, threads=1) as seg:
    batch, _ = seg.preprocess(images)
    masks = seg.segment(images)
np.save({out!r}, np.stack(masks))
np.save({batch_out!r}, batch)
print(json.dumps({{"backend": seg.backend, "torch_loaded": "torch" in sys.modules,
                   "modules": sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "onnx", "torchvision"))}}))
"""


def test_runtime_segments_with_torch_unimportable(bundle, tmp_path):
    folder, _, model = bundle
    out, batch_out = tmp_path / "masks.npy", tmp_path / "batch.npy"
    proc = run_without_torch(CODE.format(bundle=str(folder), out=str(out), batch_out=str(batch_out)), tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report == {"backend": "ort-cpu", "torch_loaded": False, "modules": []}
    masks, batch = np.load(out), np.load(batch_out)
    np.testing.assert_array_equal(masks, torch_masks(model, batch))


def test_blocker_really_blocks(tmp_path):
    proc = run_without_torch("import torch", tmp_path)
    assert proc.returncode != 0 and "torch is blocked" in proc.stderr
