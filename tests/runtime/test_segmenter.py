import re

import numpy as np
import pytest

from edgeseg import manifest as mf
from edgeseg.errors import EdgesegError, EdgesegInputError, IntegrityError
from edgeseg.runtime import OrtRunner, Segmenter
from edgeseg.runtime.backends import cuda_driver_present

from .bundles import make_bundle, torch_masks


def test_masks_equal_eager_torch_on_ort_cpu(bundle):
    rng = np.random.default_rng(0)  # seeded per test: the images do not depend on which tests ran before
    folder, _, model = bundle
    images = [(rng.random((32, 32, 3)) * 255).astype(np.uint8) for _ in range(5)]
    with Segmenter.from_bundle(folder, backend="ort-cpu", threads=1) as seg:
        batch, metas = seg.preprocess(images)
        masks = seg.segment(images)
    expected = torch_masks(model, batch)
    assert len(masks) == 5
    for mask, ref in zip(masks, expected):
        np.testing.assert_array_equal(mask, ref)
    assert 0 < np.mean(expected) < 1  # the check is not vacuous: masks have both classes


def test_public_steps_compose_to_segment(bundle):
    rng = np.random.default_rng(1)
    folder, _, _ = bundle
    images = [rng.random((20, 50)).astype(np.float32), (rng.random((64, 48, 4)) * 65535).astype(np.uint16)]
    with Segmenter.from_bundle(folder, threads=1) as seg:
        assert seg.backend == "ort-cpu"
        batch, metas = seg.preprocess(images)
        outputs = seg.runner.infer({"input": batch})
        masks = seg.postprocess(outputs, metas)
        direct, probs = seg.segment(images, probabilities=True)
    assert [m.shape for m in masks] == [(20, 50), (64, 48)]
    for a, b, p in zip(masks, direct, probs):
        np.testing.assert_array_equal(a, b)
        assert p.shape == a.shape and p.dtype == np.float32
        np.testing.assert_array_equal(a, (p > 0.5).astype(np.uint8))


def test_single_image_in_single_mask_out_and_path_input(bundle, tmp_path):
    rng = np.random.default_rng(2)
    from edgeseg.data.images import write_png

    folder, _, _ = bundle
    img = (rng.random((32, 32, 3)) * 255).astype(np.uint8)
    write_png(tmp_path / "x.png", img)
    with Segmenter.from_bundle(folder, threads=1) as seg:
        from_array = seg.segment(img)
        from_path = seg.segment(tmp_path / "x.png")
        assert seg.segment([]) == []
    assert from_array.shape == (32, 32)
    np.testing.assert_array_equal(from_array, from_path)


def test_fixed_batch_multiclass_gray_bundle(gray_multiclass_bundle):
    rng = np.random.default_rng(3)
    folder, manifest, model = gray_multiclass_bundle
    images = [(rng.random((24, 40)) * 255).astype(np.uint8) for _ in range(3)]  # 3 images, batch of 2: padded
    with Segmenter.from_bundle(folder, threads=1) as seg:
        assert seg.runner.max_batch == 2
        batch, _ = seg.preprocess(images)
        masks = seg.segment(images)
        rgb = seg.segment(np.repeat(images[0][..., None], 3, axis=2))
    padded = np.concatenate([batch[2:], batch[2:]])
    expected = np.concatenate([torch_masks(model, batch[:2]), torch_masks(model, padded)[:1]])
    for mask, ref in zip(masks, expected):
        np.testing.assert_array_equal(mask, ref)
    assert set(np.unique(expected)) <= {0, 1, 2} and len(np.unique(expected)) > 1
    assert rgb.shape == (24, 40)  # RGB input converted to the gray the model takes


def test_pad_fit_returns_original_size(bundle):
    rng = np.random.default_rng(4)
    folder, _, _ = bundle
    with Segmenter.from_bundle(folder, threads=1, fit="pad") as seg:
        mask = seg.segment((rng.random((10, 40, 3)) * 255).astype(np.uint8))
    assert mask.shape == (10, 40)


def test_runner_validates_names_shapes_dtypes(bundle):
    folder, manifest, _ = bundle
    with OrtRunner(folder / manifest.artifacts[0].file, threads=1) as runner:
        ok = np.zeros((2, 3, 32, 32), np.float32)
        assert runner.infer({"input": ok})["output"].shape == (2, 1, 32, 32)
        for feed, message in [
            ({"x": ok}, "model takes"),
            ({"input": ok.astype(np.float64)}, "float32"),
            ({"input": np.zeros((2, 3, 16, 32), np.float32)}, "shape"),
            ({"input": np.zeros((0, 3, 32, 32), np.float32)}, "empty"),
            ([ok], "dict"),
        ]:
            with pytest.raises(EdgesegInputError, match=message):
                runner.infer(feed)


def test_tampered_bundle_and_bad_backend_are_refused(tmp_path):
    make_bundle(tmp_path)
    with pytest.raises(EdgesegError, match="unknown backend"):
        Segmenter.from_bundle(tmp_path, backend="cuda")
    onnx_file = tmp_path / "full.fp32.onnx"
    data = bytearray(onnx_file.read_bytes())
    data[-1] ^= 1
    onnx_file.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="sha256"):
        Segmenter.from_bundle(tmp_path)


@pytest.mark.skipif(cuda_driver_present(), reason="a CUDA driver is present: ort-cuda may really start here")
def test_gpu_backend_without_gpu_says_so(bundle):
    folder, _, _ = bundle
    with pytest.raises(EdgesegError, match="fell back to CPUExecutionProvider"):
        Segmenter.from_bundle(folder, backend="ort-cuda")


@pytest.mark.skipif(cuda_driver_present(), reason="a CUDA driver is present: ort-cuda may really start here")
def test_auto_passes_over_backends_that_cannot_start(bundle, monkeypatch):
    from edgeseg.runtime import segmenter

    folder, _, _ = bundle
    monkeypatch.setattr(segmenter, "candidates", lambda backend: ["ort-cuda", "ort-cpu"])  # as on a GPU machine
    with Segmenter.from_bundle(folder, threads=1) as seg:
        assert seg.backend == "ort-cpu"
        assert len(seg.skipped) == 1 and seg.skipped[0].startswith("ort-cuda: ") and "fell back" in seg.skipped[0]
    monkeypatch.setattr(segmenter, "candidates", lambda backend: ["ort-cuda"])
    with pytest.raises(EdgesegError, match="no backend can run this bundle here: ort-cuda"):
        Segmenter.from_bundle(folder)


def test_tensorrt_backend_without_tensorrt_says_how_to_install(bundle):
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("TensorRT is installed here")
    with pytest.raises(EdgesegError, match=r"pip install 'edgeseg\[trt\]'"):
        Segmenter.from_bundle(bundle[0], backend="tensorrt")


def test_segmenter_checks_the_artifact_against_the_manifest(bundle):
    from dataclasses import replace

    folder, manifest, _ = bundle
    art = manifest.artifacts[0]
    with OrtRunner(folder / art.file, threads=1) as runner:
        with pytest.raises(EdgesegError, match="fit must be one of"):
            Segmenter(runner, art, manifest.normalization, fit="crop")
        with pytest.raises(EdgesegError, match=r"input.shape\[2\] must be an integer"):
            named = replace(art, input=replace(art.input, shape=("batch", 3, "h", "w")))
            Segmenter(runner, named, manifest.normalization)
        with pytest.raises(EdgesegError, match="takes 3 channels"):
            Segmenter(runner, art, mf.Normalization("gray", (0.5,), (0.2,)))
        seg = Segmenter(runner, art, manifest.normalization)
        with pytest.raises(EdgesegInputError, match="no images given"):
            seg.preprocess([])
        with pytest.raises(EdgesegInputError, match="list of them"):
            seg.segment({"a": 1})


def test_unloadable_onnx_is_a_one_line_error(tmp_path):
    (tmp_path / "broken.onnx").write_bytes(b"not a protobuf")
    with pytest.raises(EdgesegError, match="ONNX Runtime cannot load broken.onnx"):
        OrtRunner(tmp_path / "broken.onnx")


def _crafted_copy(folder, tmp_path, change):
    """A copy of the bundle whose manifest was edited by `change` and given a matching digest."""
    import json
    import shutil

    copy = tmp_path / "crafted"
    shutil.copytree(folder, copy)
    d = json.loads((copy / mf.MANIFEST).read_text())
    change(d)
    d["digest"] = mf.digest_of(d)
    (copy / mf.MANIFEST).write_text(json.dumps(d))
    return copy


@pytest.mark.parametrize("change, message", [
    (lambda d: d["artifacts"][0]["input"].update(shape=["batch", 3, 16, 16]),
     "has shape \\?x3x32x32, the manifest says \\?x3x16x16"),
    (lambda d: d["artifacts"][0]["input"].update(name="image"), "input is named 'input', the manifest says 'image'"),
    (lambda d: d["artifacts"][0]["output"].update(name="mask"), "output is named 'output', the manifest says 'mask'"),
    (lambda d: d["artifacts"][0]["input"].update(shape=[1, 3, 10**9, 10**9]), "must be in \\[1, 8192\\]"),
    (lambda d: d["artifacts"][0]["input"].update(shape=[1, 3, 0, 0]), "must be in \\[1, 8192\\]"),
    (lambda d: d.update(model=[[[[]]]]), "model must be an object"),
])
def test_predict_with_a_manifest_that_disagrees_with_its_graph_fails_once_at_load(bundle, tmp_path, change, message):
    from clirun import invoke

    from edgeseg.data.images import write_png

    folder, _, _ = bundle
    crafted = _crafted_copy(folder, tmp_path, change)
    for name in "abcd":
        write_png(tmp_path / "images" / f"{name}.png", np.zeros((8, 8, 3), np.uint8))
    r = invoke("predict", crafted, tmp_path / "images", "--out", tmp_path / "masks", "--backend", "ort-cpu")
    assert r.exit_code == 2 and re.search(message, r.text), r.output
    assert "could not be segmented" not in r.output and "Traceback" not in r.output
    assert not (tmp_path / "masks").exists()


def test_the_runner_must_agree_with_the_manifest(bundle):
    """Checked again against the backend's own view (a TensorRT engine has no ONNX graph to read)."""
    from dataclasses import replace

    folder, manifest, _ = bundle
    art = manifest.artifacts[0]
    with OrtRunner(folder / art.file, threads=1) as runner:
        with pytest.raises(IntegrityError, match="the model has no tensor 'mask'"):
            Segmenter(runner, replace(art, output=replace(art.output, name="mask")), manifest.normalization)
        with pytest.raises(IntegrityError, match="tensor 'input' is float32"):
            smaller = replace(art, input=replace(art.input, shape=("batch", 3, 16, 16)))
            Segmenter(runner, smaller, manifest.normalization)


def test_without_the_sign_extra_digests_are_still_checked_and_a_public_key_asks_for_it(bundle, tmp_path, monkeypatch):
    import json
    import shutil
    import sys

    from edgeseg.errors import MissingDependency

    for name in [m for m in sys.modules if m == "model_signing" or m.startswith("model_signing.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "model_signing", None)  # import model_signing now raises ImportError
    folder = tmp_path / "b"
    shutil.copytree(bundle[0], folder)
    (folder / "bundle.sig").write_text("{}")
    (tmp_path / "pub.pem").write_text("-----BEGIN PUBLIC KEY-----\n")
    with pytest.raises(MissingDependency, match=r"pip install 'edgeseg\[sign\]'"):
        Segmenter.from_bundle(folder, threads=1, public_key=tmp_path / "pub.pem")
    text = (folder / mf.MANIFEST).read_text()
    (folder / mf.MANIFEST).write_text(text.replace('"threshold": 0.5', '"threshold": 0.4'))
    with pytest.raises(IntegrityError, match="changed after it was written"):
        Segmenter.from_bundle(folder, threads=1)
    assert json.loads(text)["digest"].startswith("sha256:")


def test_the_install_extras_for_devices_and_signing():
    from pathlib import Path

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    # the CPU wheel, never onnxruntime-gpu; onnx for the int8 CPU rewrite (runtime/ort_int8.py)
    assert [r.split(">")[0] for r in extras["ort-cpu"]] == ["onnxruntime", "onnx"]
    assert {r.split(">")[0] for r in extras["sign"]} >= {"model-signing", "pyopenssl"}
    assert "edgeseg[sign]" in extras["dev"]  # so the signing tests run in CI
