"""TrtRunner on a real GPU (skipped with the reason where TensorRT, pycuda or a GPU is missing)."""

import shutil

import numpy as np
import pytest

from edgeseg.errors import EdgesegInputError

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def engine_bundle(bundle, tmp_path_factory):
    from edgeseg.engines.build import build_bundle

    folder = tmp_path_factory.mktemp("trt") / "b"
    shutil.copytree(bundle[0], folder)
    manifest = build_bundle(folder, target="cuda", min_batch=1, opt_batch=2, max_batch=4, report=lambda _: None)
    return folder, manifest


@pytest.mark.parametrize("zero_copy", [False, True])
def test_dynamic_batches_match_ort(engine_bundle, zero_copy):
    from edgeseg.runtime import OrtRunner, TrtRunner

    folder, manifest = engine_bundle
    rng = np.random.default_rng(0)
    engine = folder / manifest.engines[0].file
    with TrtRunner(engine, zero_copy=zero_copy) as trt_runner, OrtRunner(folder / "full.fp32.onnx") as ort_runner:
        assert trt_runner.max_batch == 4
        for n in (1, 3, 4, 2):
            x = rng.normal(size=(n, 3, 32, 32)).astype(np.float32)
            got, want = trt_runner.infer({"input": x})["output"], ort_runner.infer({"input": x})["output"]
            np.testing.assert_allclose(got, want, atol=1e-3)
        with pytest.raises(EdgesegInputError, match="maximum 4"):
            trt_runner.infer({"input": np.zeros((5, 3, 32, 32), np.float32)})


def test_segmenter_auto_prefers_tensorrt(engine_bundle):
    from edgeseg.runtime import Segmenter

    folder, _ = engine_bundle
    with Segmenter.from_bundle(folder) as seg:
        assert seg.backend == "tensorrt"
        masks = seg.segment([np.zeros((40, 30, 3), np.uint8)] * 6)  # 6 images, engine max batch 4: two chunks
    assert [m.shape for m in masks] == [(40, 30)] * 6


def test_outputs_identical_to_polygraphys_trt_runner(engine_bundle):
    """Same engine, same input: our pycuda runner and Polygraphy's TrtRunner (NVIDIA's) give the same bytes."""
    from polygraphy.backend.trt import EngineFromBytes
    from polygraphy.backend.trt import TrtRunner as PolygraphyRunner

    from edgeseg.runtime import TrtRunner

    folder, manifest = engine_bundle
    path = folder / manifest.engines[0].file
    x = np.random.default_rng(1).normal(size=(3, 3, 32, 32)).astype(np.float32)
    with TrtRunner(path) as ours:
        mine = ours.infer({"input": x})["output"]
    with PolygraphyRunner(EngineFromBytes(path.read_bytes())) as theirs:
        reference = theirs.infer({"input": x})["output"]
    np.testing.assert_array_equal(mine, np.asarray(reference))


def test_no_context_is_left_current_after_close_even_from_another_thread(engine_bundle):
    import threading

    import pycuda.driver as cuda

    from edgeseg.runtime import TrtRunner

    folder, manifest = engine_bundle
    path = folder / manifest.engines[0].file
    for _ in range(3):
        with TrtRunner(path) as runner:
            runner.infer({"input": np.zeros((1, 3, 32, 32), np.float32)})
        assert cuda.Context.get_current() is None
    runner = TrtRunner(path)
    closer = threading.Thread(target=runner.close)
    closer.start()
    closer.join()
    assert cuda.Context.get_current() is None
