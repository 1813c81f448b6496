import numpy as np
import pytest

from edgeseg.errors import EdgesegInputError
from edgeseg.manifest import Normalization
from edgeseg.metrics import masks_from_output
from edgeseg.runtime import preprocess as pre


def test_same_pixels_as_training():
    """The runtime feeds the network exactly what `edgeseg.data.prepare` (training, export parity) makes."""
    from edgeseg.data import prepare as train_prepare

    rng = np.random.default_rng(0)
    cases = [
        ((rng.random((37, 50, 3)) * 255).astype(np.uint8), Normalization()),
        ((rng.random((20, 20)) * 65535).astype(np.uint16), Normalization()),
        ((rng.random((64, 48, 3))).astype(np.float32), Normalization("gray", (0.5,), (0.25,))),
        ((rng.random((32, 32, 4)) * 255).astype(np.uint8), Normalization()),
    ]
    for image, norm in cases:
        ours, meta = pre.prepare(image, (32, 32), norm)
        np.testing.assert_array_equal(ours, train_prepare(image[..., :3] if image.ndim == 3 else image, norm, (32, 32)))
        assert meta == pre.Meta(image.shape[:2], (0, 0, 32, 32))


def test_normalize_is_the_manifest_formula():
    from edgeseg.data.transforms import normalize

    img = np.random.default_rng(0).random((4, 5, 3), dtype=np.float32)
    out = normalize(img, Normalization())
    assert out.shape == (3, 4, 5) and out.dtype == np.float32 and out.flags.c_contiguous
    np.testing.assert_array_equal(out[1], (img[..., 1] - np.float32(0.456)) / np.float32(0.224))


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


def _peak_bytes(fn):
    import tracemalloc

    tracemalloc.start()
    try:
        result = fn()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("color, how", [("rgb", "resize"), ("gray", "pad")])
def test_a_large_image_is_shrunk_exactly_without_a_float_copy(color, how):
    from edgeseg.data.transforms import resize_image, to_color, to_unit

    rng = np.random.default_rng(1)
    image = (rng.random((1500, 1100, 3)) * 255).astype(np.uint8)  # 4.7 MiB; as float32 it would be 19 MiB
    norm = Normalization() if color == "rgb" else Normalization("gray", (0.5,), (0.25,))
    (ours, meta), peak = _peak_bytes(lambda: pre.prepare(image, (64, 64), norm, how))
    assert peak < image.nbytes / 2
    region = meta.region
    expected = resize_image(to_color(to_unit(image), color), region[2:])
    top, left, h, w = region
    np.testing.assert_array_equal(ours[:, top : top + h, left : left + w], pre.normalize(expected, norm))


def test_masks_at_a_large_size_match_and_stay_small(monkeypatch):
    monkeypatch.setattr(pre, "BAND", 37)  # bands of 37 rows: a last, shorter band too
    rng = np.random.default_rng(2)
    output = rng.normal(size=(1, 32, 32)).astype(np.float32)
    meta = pre.Meta((1200, 900), (0, 0, 32, 32))
    mask, peak = _peak_bytes(lambda: pre.mask_at_size(output, meta, "logits", 0.5))
    assert mask.shape == (1200, 900) and peak < 3 * mask.nbytes  # probabilities at full size: 4x the mask alone
    expected = pre.to_mask(pre.restore(pre.probabilities(output, "logits"), meta), 0.5)
    np.testing.assert_array_equal(mask, expected)
    from edgeseg.data.transforms import resize_image

    probs = pre.probabilities(output, "logits")
    np.testing.assert_array_equal(pre.restore(probs, meta)[0], resize_image(probs[0], meta.size))
    np.testing.assert_array_equal(mask, (resize_image(probs[0], meta.size) > 0.5).astype(np.uint8))
