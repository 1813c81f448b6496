import numpy as np
from clirun import invoke

from edgeseg.data.images import read_image, write_png
from edgeseg.runtime import Segmenter
from edgeseg.runtime.predict import overlay_png, to_rgb8


def test_predict_writes_masks_and_overlays(bundle, tmp_path):
    folder, _, _ = bundle
    rng = np.random.default_rng(5)
    images = tmp_path / "images"
    arrays = {
        "a": (rng.random((32, 32, 3)) * 255).astype(np.uint8),
        "b": (rng.random((20, 44)) * 65535).astype(np.uint16),
    }
    write_png(images / "a.png", arrays["a"])
    _write16(images / "b.png", arrays["b"])
    (images / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    result = invoke("predict", folder, images, "--out", out, "--overlay", "--backend", "ort-cpu", "--threads", "1")
    assert result.exit_code == 0, result.output
    assert result.says(f"wrote 2 mask(s) to {out} (ort-cpu, full.fp32)")
    assert sorted(p.name for p in out.iterdir()) == ["a.overlay.png", "a.png", "b.overlay.png", "b.png"]
    with Segmenter.from_bundle(folder, threads=1) as seg:
        for name in arrays:
            expected = seg.segment(read_image(images / f"{name}.png"))
            written = read_image(out / f"{name}.png")
            np.testing.assert_array_equal(written, expected * 255)
            assert read_image(out / f"{name}.overlay.png").shape == (*expected.shape, 3)
    assert not list(out.glob(".*.tmp"))  # atomic writes leave no temp files


def _write16(path, array):
    """A 16-bit gray PNG (Pillow keeps all 16 bits)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_predict_user_errors_are_one_line(bundle, tmp_path):
    folder, _, _ = bundle
    empty = tmp_path / "empty"
    empty.mkdir()
    result = invoke("predict", folder, empty, "--out", tmp_path / "o")
    assert result.exit_code == 2 and result.says("holds no images") and "Traceback" not in result.output
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    write_png(tmp_path / "x" / "same.png", np.zeros((4, 4), np.uint8))
    write_png(tmp_path / "y" / "same.png", np.zeros((4, 4), np.uint8))
    result = invoke("predict", folder, tmp_path / "x", tmp_path / "y", "--out", tmp_path / "o")
    assert result.exit_code == 2 and result.says("both write same.png")
    import tifffile

    tifffile.imwrite(tmp_path / "x" / "hot.tif", np.full((4, 4), 7.0, np.float32))
    result = invoke("predict", folder, tmp_path / "x" / "hot.tif", "--out", tmp_path / "o")
    assert result.exit_code == 2 and result.says("hot.tif: float images must hold values in [0, 1]")
    # in a folder, the bad image is reported and skipped, the good one still gets its mask
    result = invoke("predict", folder, tmp_path / "x", "--out", tmp_path / "o2")
    assert result.exit_code == 2 and result.says("1 of 2 image(s) could not be segmented")
    assert (tmp_path / "o2" / "same.png").is_file() and not (tmp_path / "o2" / "hot.png").exists()


def test_overlay_colours_only_foreground():
    image = np.full((2, 2), 100, np.uint8)
    mask = np.array([[0, 1], [0, 0]], np.uint8)
    out = overlay_png(image, mask)
    assert out[0, 0].tolist() == [100, 100, 100]
    assert out[0, 1].tolist() == [178, 50, 50]
    assert to_rgb8(np.full((1, 1), 65535, np.uint16)).tolist() == [[[255, 255, 255]]]
