import numpy as np
import pytest
from clirun import invoke

from edgeseg.data.images import read_image, write_png
from edgeseg.errors import EdgesegInputError
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
    assert out[0, 1].tolist() == [156, 97, 50]  # half vermillion (213, 94, 0), rounded half to even
    assert to_rgb8(np.full((1, 1), 65535, np.uint16)).tolist() == [[[255, 255, 255]]]


def test_predict_refuses_to_overwrite_its_inputs(bundle, tmp_path):
    folder, _, _ = bundle
    images = tmp_path / "images"
    original = (np.arange(32 * 32 * 3) % 251).astype(np.uint8).reshape(32, 32, 3)
    write_png(images / "a.png", original)
    before = (images / "a.png").read_bytes()
    for out, extra in ((images, []), (tmp_path / "o", ["--overlay"])):
        if extra:  # a.overlay.png given as an input would be overwritten by a.png's overlay
            write_png(out / "a.overlay.png", original)
            write_png(out / "a.png", original)
            target = [out / "a.overlay.png", images / "a.png"]
        else:
            target = [images]
        result = invoke("predict", folder, *target, "--out", out, "--backend", "ort-cpu", *extra)
        assert result.exit_code == 2, result.output
        assert result.says("would overwrite the input image") and "Traceback" not in result.output
    assert (images / "a.png").read_bytes() == before


def _within(seconds, fn):
    """fn(), or TimeoutError when it blocks longer (opening a FIFO waits for a writer forever)."""
    import signal

    def hung(*_):
        raise TimeoutError(f"blocked for {seconds} s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        return fn()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_a_fifo_is_refused_without_hanging(bundle, tmp_path):
    import os

    folder, _, _ = bundle
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    result = _within(20, lambda: invoke("predict", folder, fifo, "--out", tmp_path / "o", "--backend", "ort-cpu"))
    assert result.exit_code == 2 and result.says("pipe.png is not a regular file"), result.output
    with pytest.raises(EdgesegInputError, match="pipe.png: not a regular file"):
        _within(20, lambda: read_image(fifo))


def test_file_names_are_printed_escaped(bundle, tmp_path):
    folder, _, _ = bundle
    images = tmp_path / "images"
    write_png(images / "good.png", np.zeros((8, 8), np.uint8))
    evil = "x\x1b[31m\nwrote 99 mask(s) to nowhere.png"
    (images / evil).write_bytes(b"not a png")
    result = invoke("predict", folder, images, "--out", tmp_path / "o", "--backend", "ort-cpu")
    assert result.exit_code == 2
    assert "\x1b" not in result.output
    assert not any(line.startswith("wrote 99") for line in result.output.splitlines())
    assert result.says(repr(evil))


def test_threads_are_bounded_by_the_cores(bundle, tmp_path):
    folder, _, _ = bundle
    write_png(tmp_path / "a.png", np.zeros((8, 8), np.uint8))
    result = invoke("predict", folder, tmp_path / "a.png", "--out", tmp_path / "o", "--threads", "100000")
    assert result.exit_code == 2 and result.says("--threads 100000 is more than 4 per usable CPU core")
    assert result.output.count("\n") == 1 and not (tmp_path / "o").exists()
