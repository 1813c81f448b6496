import numpy as np
import pytest
import tifffile
from PIL import Image

from edgeseg.data.images import read_image, write_png
from edgeseg.errors import EdgesegInputError


def test_png_16bit_tiff_and_rgba(tmp_path):
    gray = (np.arange(64, dtype=np.uint8).reshape(8, 8))
    write_png(tmp_path / "g.png", gray)
    assert np.array_equal(read_image(tmp_path / "g.png"), gray)
    deep = (np.arange(64, dtype=np.uint16) * 1000).reshape(8, 8)
    tifffile.imwrite(tmp_path / "d.tif", deep)
    out = read_image(tmp_path / "d.tif")
    assert out.dtype == np.uint16 and np.array_equal(out, deep)
    Image.fromarray(np.zeros((4, 4, 4), np.uint8), "RGBA").save(tmp_path / "a.png")
    assert read_image(tmp_path / "a.png").shape == (4, 4, 3)


def test_bad_files_are_input_errors(tmp_path):
    (tmp_path / "x.png").write_bytes(b"garbage")
    with pytest.raises(EdgesegInputError, match="cannot read"):
        read_image(tmp_path / "x.png")
    with pytest.raises(EdgesegInputError, match="unsupported"):
        read_image(tmp_path / "x.gif")


def test_one_bit_images_read_as_0_and_255(tmp_path):
    bits = np.zeros((4, 4), bool)
    bits[1, 2] = True
    Image.fromarray(bits).save(tmp_path / "b.png")
    tifffile.imwrite(tmp_path / "b.tif", bits)
    for name in ("b.png", "b.tif"):
        out = read_image(tmp_path / name)
        assert out.dtype == np.uint8 and np.array_equal(out, bits * np.uint8(255)), name


def test_oversized_images_are_refused_from_the_header(tmp_path, monkeypatch):
    from edgeseg.data import images

    Image.fromarray(np.zeros((20, 20), np.uint8)).save(tmp_path / "big.png")
    monkeypatch.setattr(images, "MAX_PIXELS", 100)
    with pytest.raises(EdgesegInputError, match="big.png: image of 20x20 pixels is over"):
        read_image(tmp_path / "big.png")
    monkeypatch.setattr(images, "MAX_PIXELS", 10**9)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow's decompression-bomb guard
    with pytest.raises(EdgesegInputError, match="cannot read"):
        read_image(tmp_path / "big.png")


def test_oversized_tiffs_are_refused_from_the_header(tmp_path, monkeypatch):
    import tifffile

    from edgeseg.data import images

    tifffile.imwrite(tmp_path / "big.tif", np.zeros((20, 20, 3), np.uint8))
    tifffile.imwrite(tmp_path / "stack.tif", np.zeros((30, 8, 8), np.uint8))
    monkeypatch.setattr(images, "MAX_PIXELS", 100)
    with pytest.raises(EdgesegInputError, match="big.tif: image of 20x20 pixels is over"):
        read_image(tmp_path / "big.tif")
    monkeypatch.setattr(images, "MAX_PIXELS", 64)  # one 8x8 frame fits, 30 of them do not
    monkeypatch.setattr(tifffile.TiffFile, "asarray", lambda *a, **k: pytest.fail("decoded before the check"))
    with pytest.raises(EdgesegInputError, match=r"stack.tif: expected a 2-D gray or RGB image, got shape \(30, 8, 8\)"):
        read_image(tmp_path / "stack.tif")


def _traced_peak(fn):
    import tracemalloc

    tracemalloc.start()
    try:
        return fn(), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_large_image_is_read_and_written_without_extra_copies(tmp_path, monkeypatch):
    import edgeseg.data.images

    monkeypatch.setattr(edgeseg.data.images, "PNG_BAND", 32)  # bands small against this image, as at 8000x8000
    rng = np.random.default_rng(3)
    image = (rng.random((1200, 900, 3)) * 255).astype(np.uint8)
    Image.fromarray(image).save(tmp_path / "big.png", compress_level=1)
    read, peak = _traced_peak(lambda: read_image(tmp_path / "big.png"))
    np.testing.assert_array_equal(read, image)
    assert peak < 1.3 * image.nbytes  # the array itself, and one band at a time besides (Pillow's way: 2x)
    _, peak = _traced_peak(lambda: write_png(tmp_path / "out.png", image))
    assert peak < 0.3 * image.nbytes  # a few bands
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out.png")), image)


@pytest.mark.parametrize("shape", [(1, 1), (5, 7), (300, 2), (513, 40, 3)])
def test_written_pngs_read_back_exactly(tmp_path, shape):
    array = (np.random.default_rng(4).random(shape) * 255).astype(np.uint8)
    write_png(tmp_path / "x.png", array)
    with Image.open(tmp_path / "x.png") as img:
        assert img.mode == ("L" if len(shape) == 2 else "RGB")
        np.testing.assert_array_equal(np.asarray(img), array)


def test_only_8_bit_gray_or_rgb_pngs_are_written(tmp_path):
    for bad in (np.zeros((4, 4), np.uint16), np.zeros((4, 4, 4), np.uint8)):
        with pytest.raises(EdgesegInputError, match="PNG"):
            write_png(tmp_path / "x.png", bad)
    assert not list(tmp_path.iterdir())
