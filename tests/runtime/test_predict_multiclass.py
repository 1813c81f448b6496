"""Multi-class prediction: class-index PNGs, the coloured overlay with its legend, and per-class probabilities."""

import shutil
from dataclasses import replace

import numpy as np
import pytest
from clirun import invoke

from edgeseg import manifest as mf
from edgeseg.data.images import read_image, write_png
from edgeseg.runtime import Segmenter
from edgeseg.runtime.predict import LEGEND_LINE, LEGEND_PAD, PALETTE, class_color, class_names, legend, overlay_png

from .bundles import make_bundle

NAMES = ["background", "cytoplasm", "large nucleus", "small nucleus"]


def test_overlay_of_a_three_class_toy_by_hand():
    image = np.full((2, 2), 100, np.uint8)
    mask = np.array([[0, 1], [2, 3]], np.uint8)
    out = overlay_png(image, mask)  # no names: no legend, the image's own size
    # half image, half colour (vermillion, blue, bluish green), rounded half to even
    assert out.tolist() == [[[100, 100, 100], [156, 97, 50]], [[50, 107, 139], [50, 129, 108]]]
    assert class_color(8).tolist() == class_color(1).tolist() == PALETTE[0].tolist()  # 7 colours, then again


def test_legend_lists_every_foreground_class_in_its_colour():
    strip = legend(60, NAMES)  # too narrow for two entries a line: one line per class
    assert strip.shape == (LEGEND_PAD + 3 * LEGEND_LINE, 60, 3) and strip.dtype == np.uint8
    for k in (1, 2, 3):
        top, left = LEGEND_PAD // 2 + (k - 1) * LEGEND_LINE + 2, LEGEND_PAD
        swatch = strip[top : top + 10, left : left + 10]
        assert (swatch == class_color(k)).all(), k  # a 10x10 swatch of class k's colour
        text = strip[top : top + 10, left + LEGEND_LINE :]
        assert (text.sum(axis=2) < 200).any(), k  # dark text next to it
    wide = legend(600, NAMES)
    assert wide.shape[0] == LEGEND_PAD + LEGEND_LINE  # all three on one line
    assert not np.array_equal(legend(600, ["a", "b", "c", "d"]), wide)  # the names are drawn


def test_overlay_with_names_puts_the_legend_under_the_image():
    image = np.full((5, 60), 100, np.uint8)
    mask = np.zeros((5, 60), np.uint8)
    out = overlay_png(image, mask, NAMES)
    assert out.shape == (5 + LEGEND_PAD + 3 * LEGEND_LINE, 60, 3)
    assert (out[:5] == 100).all()
    np.testing.assert_array_equal(out[5:], legend(60, NAMES))


def test_class_names_from_the_manifest_or_by_index():
    assert class_names({"class_names": NAMES}, 4) == NAMES
    assert class_names({"class_names": NAMES[:3]}, 4) == ["class 0", "class 1", "class 2", "class 3"]
    assert class_names({"class_names": [1, 2, 3, 4]}, 4)[3] == "class 3"
    assert class_names({}, 2) == ["class 0", "class 1"]


def test_probabilities_are_a_softmax_over_classes(gray_multiclass_bundle):
    import torch

    folder, _, model = gray_multiclass_bundle
    rng = np.random.default_rng(7)
    at_size = (rng.random((24, 40)) * 255).astype(np.uint8)
    other = (rng.random((30, 50)) * 255).astype(np.uint8)
    with Segmenter.from_bundle(folder, threads=1) as seg:
        masks, probs = seg.segment([at_size, other], probabilities=True)
        batch, _ = seg.preprocess(at_size)
    for mask, p in zip(masks, probs, strict=True):
        assert p.shape == (3, *mask.shape) and p.dtype == np.float32
        assert p.min() >= 0 and p.max() <= 1
        np.testing.assert_allclose(p.sum(axis=0), 1.0, atol=1e-5)
        np.testing.assert_array_equal(mask, p.argmax(axis=0))
    with torch.no_grad():
        eager = torch.softmax(model(torch.from_numpy(batch)), dim=1)[0].numpy()
    np.testing.assert_allclose(probs[0], eager, atol=1e-5)
    assert len(np.unique(masks[0])) > 1


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    """A 3-class gray bundle (seed 1: a ramp gets classes 0 and 2), and a copy whose manifest names the classes."""
    root = tmp_path_factory.mktemp("mc")
    manifest, _ = make_bundle(root / "plain", classes=3, color="gray", size=(24, 40), seed=1)
    shutil.copytree(root / "plain", root / "named")
    mf.save(root / "named", replace(manifest, model={**manifest.model, "class_names": NAMES[:3]}))
    return root / "plain", root / "named"


def test_predict_writes_class_indices_and_a_legend(bundles, tmp_path):
    folder, named_bundle = bundles
    image = np.tile(np.linspace(0, 255, 90), (30, 1)).astype(np.uint8)  # a ramp: dark to bright
    write_png(tmp_path / "in" / "a.png", image)
    for bundle, names in ((folder, ["class 0", "class 1", "class 2"]), (named_bundle, NAMES[:3])):
        out = tmp_path / bundle.name
        result = invoke("predict", bundle, tmp_path / "in", "--out", out, "--overlay", "--backend", "ort-cpu",
                        "--threads", "1")
        assert result.exit_code == 0, result.output
        with Segmenter.from_bundle(bundle, threads=1) as seg:
            expected = seg.segment(image)
        written = read_image(out / "a.png")
        np.testing.assert_array_equal(written, expected)  # class indices, not 0/255
        assert set(np.unique(written)) == {0, 2}
        overlay = read_image(out / "a.overlay.png")
        np.testing.assert_array_equal(overlay, overlay_png(image, expected, names))
        assert overlay.shape == (30 + LEGEND_PAD + 2 * LEGEND_LINE, 90, 3)  # two entries do not fit one 90 px line
