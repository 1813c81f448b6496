"""Segmenter on ONNX Runtime CPU, with torch unimportable, reproduces the export's parity outputs."""

import json

import numpy as np
import pytest

import edgeseg.export as export
from edgeseg.manifest import Normalization
from edgeseg.metrics import mask_flips, masks_from_output, sigmoid

from .subprocess_env import run_without_torch

pytestmark = pytest.mark.slow
N, SIZE = 4, 32

CODE = """
import json, sys
import numpy as np
from edgeseg.runtime import Segmenter
pixels = np.load({pixels!r})
out = {{}}
for precision in ("fp32", "int8"):
    with Segmenter.from_bundle({bundle!r}, precision=precision, threads=1) as seg:
        batch, _ = seg.preprocess(list(pixels))
        masks, probs = seg.segment(list(pixels), probabilities=True)
        np.save({folder!r} + f"/{{precision}}.masks.npy", np.stack(masks))
        np.save({folder!r} + f"/{{precision}}.probs.npy", np.stack(probs))
        np.save({folder!r} + f"/{{precision}}.batch.npy", batch)
        out[precision] = seg.backend
print(json.dumps({{"backends": out, "torch": "torch" in sys.modules}}))
"""


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    import torch

    from edgeseg.models import create_model

    torch.manual_seed(0)
    model = create_model("unet", width_mult=0.125).eval()
    folder = tmp_path_factory.mktemp("exported")
    manifest = export.export_bundle(
        (model, Normalization()), folder, precisions=("fp32", "int8"), img_size=SIZE, dynamic_batch=4,
        calib_images=4, parity_images=N,
    )
    return folder, manifest, model


def test_segmenter_reproduces_export_parity(exported, tmp_path):
    import torch

    from edgeseg.export import samples

    folder, manifest, model = exported
    # The export's parity images are seeded uint8 pixels prepared like training; rebuild the pixels
    # and check that they are exactly those images before comparing anything.
    pixels = np.random.default_rng(1).integers(0, 256, (N, SIZE, SIZE, 3), dtype=np.uint8)
    parity_images = samples.random_samples(N, SIZE, manifest.normalization, seed=1).images
    np.save(tmp_path / "pixels.npy", pixels)
    code = CODE.format(pixels=str(tmp_path / "pixels.npy"), bundle=str(folder), folder=str(tmp_path))
    proc = run_without_torch(code, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report == {"backends": {"fp32": "ort-cpu", "int8": "ort-cpu"}, "torch": False}

    with torch.no_grad():
        reference = model.deploy(model.default_variant()).eval()(torch.from_numpy(parity_images)).numpy()
    eager = masks_from_output(reference, "logits", 0.5)
    eager_probs = sigmoid(reference[:, 0])
    for precision in ("fp32", "int8"):
        np.testing.assert_array_equal(np.load(tmp_path / f"{precision}.batch.npy"), parity_images)
        masks = np.load(tmp_path / f"{precision}.masks.npy")
        parity = manifest.artifact(None, precision).parity
        assert mask_flips(masks, eager) == pytest.approx(parity["mask_flip_share"], abs=1e-12), precision
        err = float(np.abs(np.load(tmp_path / f"{precision}.probs.npy") - eager_probs).max())
        assert err == pytest.approx(parity["max_abs_prob_err"], abs=1e-6), precision  # int8: ~1e-3, pinned to 1e-6
    np.testing.assert_array_equal(np.load(tmp_path / "fp32.masks.npy"), eager)  # fp32: identical masks
