import numpy as np
import pytest

from edgeseg.errors import EdgesegInputError
from edgeseg.manifest import Normalization
from edgeseg.metrics import masks_from_output
from edgeseg.runtime import preprocess as pre


def test_scaling_by_dtype_range():
    assert pre.to_float(np.array([[0, 255]], np.uint8)).ravel().tolist() == [0.0, 1.0]
    assert pre.to_float(np.array([[0, 65535]], np.uint16)).ravel().tolist() == [0.0, 1.0]
    assert pre.to_float(np.array([[0.25]], np.float64)).dtype == np.float32


def test_color_conversion_follows_manifest():
    gray = np.full((2, 2, 1), 0.5, np.float32)
    rgb = pre.to_color(gray, "rgb")
    assert rgb.shape == (2, 2, 3) and np.all(rgb == 0.5)
    red = np.zeros((1, 1, 3), np.float32)
    red[..., 0] = 1.0
    assert pre.to_color(red, "gray")[0, 0, 0] == pytest.approx(0.299)


def test_normalize_matches_formula():
    norm = Normalization()
    img = np.random.default_rng(0).random((4, 5, 3), dtype=np.float32)
    out = pre.normalize(img, norm)
    assert out.shape == (3, 4, 5) and out.dtype == np.float32
    np.testing.assert_allclose(out[1], (img[..., 1] - 0.456) / 0.224, rtol=1e-6)


def test_pad_keeps_aspect_and_restores_size():
    img = np.ones((10, 40, 3), np.float32)
    fitted, meta = pre.fit(img, (32, 32), "pad")
    assert fitted.shape == (32, 32, 3)
    assert meta.region == (12, 0, 8, 32)
    assert fitted[:12].max() == 0 and fitted[12:20].min() == pytest.approx(1.0)
    probs = np.zeros((1, 32, 32), np.float32)
    probs[:, 12:20] = 1.0  # foreground exactly where the image sits
    back = pre.restore(probs, meta)
    assert back.shape == (1, 10, 40) and back.min() == pytest.approx(1.0)


def test_model_size_image_gives_exact_masks_from_output():
    logits = np.random.default_rng(1).normal(size=(1, 1, 8, 8)).astype(np.float32)
    meta = pre.Meta((8, 8), (0, 0, 8, 8))
    mask = pre.to_mask(pre.restore(pre.probabilities(logits[0], "logits"), meta), 0.5)
    np.testing.assert_array_equal(mask, masks_from_output(logits, "logits", 0.5)[0])
    multi = np.random.default_rng(2).normal(size=(1, 4, 8, 8)).astype(np.float32)
    mask = pre.to_mask(pre.restore(pre.probabilities(multi[0], "logits"), meta), 0.5)
    np.testing.assert_array_equal(mask, masks_from_output(multi)[0])


@pytest.mark.parametrize(
    "array, message",
    [
        (np.zeros((4,), np.uint8), "HxW or HxWxC"),
        (np.zeros((2, 4, 4, 3), np.uint8), "HxW or HxWxC"),
        (np.zeros((3, 16, 16), np.uint8), "np.moveaxis"),
        (np.zeros((0, 5), np.uint8), "empty"),
        (np.zeros((4, 4), np.int32), "dtype int32"),
        (np.zeros((4, 4), bool), "dtype bool"),
        (np.full((4, 4), np.nan, np.float32), "NaN or Inf"),
        (np.full((4, 4), np.inf, np.float64), "NaN or Inf"),
        (np.full((4, 4), 255.0, np.float32), r"\[0, 1\]"),
        (np.broadcast_to(np.zeros(1, np.uint8), (9000, 9000)), "pixel limit"),
    ],
)
def test_bad_images_say_what_is_wrong(array, message):
    with pytest.raises(EdgesegInputError, match=message):
        pre.check(array)


def test_paths_and_non_images(tmp_path):
    from edgeseg.data.images import write_png

    write_png(tmp_path / "a.png", np.full((5, 6), 200, np.uint8))
    assert pre.load(tmp_path / "a.png").shape == (5, 6)
    with pytest.raises(EdgesegInputError, match="cannot read"):
        pre.load(tmp_path / "missing.png")
    with pytest.raises(EdgesegInputError, match="path or a numpy array"):
        pre.load([[1, 2], [3, 4]])
