"""The build chain's plain-Python parts (manifest records, cache reuse) and its GPU run (skipped here)."""

from pathlib import Path

import numpy as np
import pytest
from runtime.bundles import make_bundle  # tests/runtime, imported by pytest as package "runtime"

from edgeseg import manifest as mf
from edgeseg.engines import build
from edgeseg.errors import MissingDependency

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    folder = tmp_path_factory.mktemp("engine_bundle")
    manifest, _ = make_bundle(folder)
    return folder, manifest


def test_engine_record_and_cache_reuse(bundle, tmp_path):
    folder, manifest = bundle
    (plan,) = build.plans_for(manifest, target="cuda", trt_version="10.3.0", compute_capability="8.6", max_batch=4)
    assert plan.artifact == "full.fp32.onnx" and plan.profile.max == (4, 3, 32, 32)
    assert build.cached_engine(manifest, plan, folder) is None

    engine_path = folder / plan.engine_file
    engine_path.write_bytes(b"engine bytes written by a TensorRT build")
    inspector = (DATA / "inspector_trt10_int8.json").read_text()
    entry = build.engine_entry(plan, build.Device("NVIDIA RTX A2000", "8.6"), engine_path, inspector)
    assert (entry.artifact, entry.target, entry.gpu, entry.compute_capability, entry.trt_version) == (
        "full.fp32.onnx", "cuda", "NVIDIA RTX A2000", "8.6", "10.3.0")
    assert entry.cache_key == plan.cache_key and entry.settings["profile"]["max"] == [4, 3, 32, 32]
    assert entry.layer_precisions["dominant"] == "int8"

    updated = manifest.with_engine(entry)
    mf.save(folder, updated)
    reloaded = mf.load(folder)  # checksums of the ONNX and the engine verified
    assert reloaded.engines == (entry,)
    assert build.cached_engine(reloaded, plan, folder) == entry  # same key: not rebuilt

    (other,) = build.plans_for(reloaded, target="cuda", trt_version="10.4.0", compute_capability="8.6", max_batch=4)
    assert build.cached_engine(reloaded, other, folder) is None  # new TensorRT: rebuilt
    engine_path.write_bytes(b"corrupted")
    assert build.cached_engine(reloaded, plan, folder) is None  # changed file: rebuilt
    mf.save(folder, manifest)
    engine_path.unlink()


def test_exported_max_batch_is_the_default_profile_max(bundle):
    from dataclasses import replace

    _, manifest = bundle
    options = dict(target="cuda", trt_version="10.3.0", compute_capability="8.6")
    assert build.plans_for(manifest, **options)[0].profile.max[0] == 8  # no export record: the target's default
    exported = replace(manifest, export=mf.ExportSettings(target="cuda", img_size=32, opset=17, parity_images=1,
                                                          batch=mf.BatchSettings(dynamic=True, max=16)))
    assert build.plans_for(exported, **options)[0].profile.max[0] == 16
    assert build.plans_for(exported, **options, max_batch=2)[0].profile.max[0] == 2  # the user's choice wins
    assert build.plans_for(exported, **options, opt_batch=32)[0].profile.max[0] == 32


def test_plans_filter_by_variant_and_precision(bundle):
    from edgeseg.errors import IntegrityError

    _, manifest = bundle
    options = dict(target="cuda", trt_version="10.3.0", compute_capability="8.6")
    assert [p.artifact for p in build.plans_for(manifest, precision="fp32", **options)] == ["full.fp32.onnx"]
    with pytest.raises(IntegrityError, match="full.fp32"):
        build.plans_for(manifest, precision="int8", **options)


def test_without_tensorrt_the_error_says_how_to_install(bundle):
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        with pytest.raises(MissingDependency, match=r"pip install 'edgeseg\[trt\]'"):
            build.trt_version()
    else:
        pytest.skip("TensorRT is installed here")


@pytest.mark.gpu
def test_real_build_and_trt_runner_match_ort(bundle, tmp_path):
    """On a GPU: build the engine, record it, and compare TrtRunner's outputs with ONNX Runtime CPU."""
    import shutil

    from edgeseg.runtime import OrtRunner, Segmenter

    folder = tmp_path / "b"
    shutil.copytree(bundle[0], folder)
    manifest = build.build_bundle(folder, target="cuda", max_batch=4, report=lambda _: None)
    (engine,) = manifest.engines
    assert engine.layer_precisions["layers"] > 0
    again = build.build_bundle(folder, target="cuda", max_batch=4, report=lambda _: None)
    assert again.engines == manifest.engines  # cache key hit: nothing rebuilt
    x = np.random.default_rng(0).normal(size=(3, 3, 32, 32)).astype(np.float32)
    with OrtRunner(folder / "full.fp32.onnx") as ort_runner, Segmenter.from_bundle(folder, backend="tensorrt") as seg:
        ref = ort_runner.infer({"input": x})["output"]
        got = seg.runner.infer({"input": x})["output"]
    np.testing.assert_allclose(got, ref, atol=1e-3)


class Cache:
    def __init__(self, data: bytes):
        self.data = data

    def serialize(self) -> bytes:
        return self.data


class Config:
    """Stand-in for an IBuilderConfig's timing-cache methods, answering as TensorRT documents: `set_timing_cache`
    returns False for a cache made on another GPU/TensorRT when ignore_mismatch is False; `get_timing_cache`
    may return None. (Our handling of those answers is what is tested, not TensorRT.)"""

    def __init__(self, foreign=b"", out: bytes | None = b"cache after the build", engine: Path | None = None):
        self.foreign, self.out, self.engine, self.set = foreign, out, engine, []

    def create_timing_cache(self, data: bytes) -> Cache:
        return Cache(data)

    def set_timing_cache(self, cache: Cache, ignore_mismatch: bool) -> bool:
        self.set.append((cache.data, ignore_mismatch))
        return cache.data != self.foreign or not cache.data

    def get_timing_cache(self):
        assert self.engine is None or self.engine.is_file(), "timing cache saved before the engine"
        return None if self.out is None else Cache(self.out)


def test_a_foreign_timing_cache_is_reported_and_replaced(tmp_path):
    cache = tmp_path / "timing.cache"
    cache.write_bytes(b"made on another GPU")
    config = Config(foreign=b"made on another GPU")
    note = build.use_timing_cache(config, cache)
    assert "another GPU or TensorRT version" in note and "a new one replaces it" in note
    assert config.set == [(b"made on another GPU", False), (b"", False)]
    assert build.use_timing_cache(Config(), cache) is None  # accepted: nothing to say


def test_the_engine_is_saved_before_the_timing_cache_and_a_cache_failure_is_not_fatal(bundle, tmp_path):
    folder, manifest = bundle
    (plan,) = build.plans_for(manifest, target="cuda", trt_version="10.3.0", compute_capability="8.6",
                              timing_cache=str(tmp_path / "timing.cache"))
    notes = []
    path = build.save(folder, plan, b"engine", Config(engine=folder / plan.engine_file), notes.append)
    assert path.read_bytes() == b"engine" and (tmp_path / "timing.cache").read_bytes() == b"cache after the build"
    assert notes == []
    path.unlink()

    path = build.save(folder, plan, b"engine", Config(out=None), notes.append)  # TensorRT returned no cache
    assert path.read_bytes() == b"engine" and "no timing cache" in notes[-1]
    path.unlink()

    (tmp_path / "timing.cache").unlink()
    (tmp_path / "timing.cache").mkdir()  # cannot be written
    path = build.save(folder, plan, b"engine", Config(), notes.append)
    assert path.read_bytes() == b"engine" and "timing cache not saved" in notes[-1]
    path.unlink()


def test_a_polygraphy_failure_is_one_edgeseg_error():
    exception = pytest.importorskip("polygraphy.exception", reason="polygraphy is part of edgeseg[trt]")
    from edgeseg.errors import EdgesegError

    expected = pytest.raises(EdgesegError, match="TensorRT cannot parse m.onnx: Failed to parse ONNX model")
    with expected, build._polygraphy_errors("TensorRT cannot parse m.onnx"):
        raise exception.PolygraphyException("Failed to parse ONNX model")
    with pytest.raises(KeyError), build._polygraphy_errors("not this"):  # other errors pass unchanged
        raise KeyError("x")
