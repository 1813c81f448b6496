"""The plan -> Polygraphy glue, checked on Polygraphy's real loader objects (constructing them needs no
TensorRT; calling them does, which the `gpu` tests do)."""

import inspect

import pytest

from edgeseg.engines import loaders

from .test_plan import plan

pg = pytest.importorskip("polygraphy.backend.trt", reason="polygraphy is part of edgeseg[trt]")


def test_fp16_plan_on_tensorrt_10_is_a_weakly_typed_network_with_the_fp16_flag(tmp_path):
    p = plan("fp16", min_batch=1, opt_batch=2, max_batch=4)
    network = loaders.network_loader(p, tmp_path / "m.onnx")
    assert isinstance(network, pg.NetworkFromOnnxPath)
    assert network.path == str(tmp_path / "m.onnx") and network.strongly_typed is False
    config = loaders.create_config(p)
    assert isinstance(config, pg.CreateConfig)
    assert (config.fp16, config.int8, config.use_dla, config.allow_gpu_fallback) == (True, False, False, False)
    assert config.builder_optimization_level == p.opt_level
    (profile,) = config.profiles
    assert profile["input"].min == (1, 3, 64, 64) and profile["input"].opt == (2, 3, 64, 64)
    assert profile["input"].max == (4, 3, 64, 64)
    assert config.profiling_verbosity is None  # Polygraphy's default: DETAILED, which the inspector needs


def test_int8_dla_plan_sets_dla_gpu_fallback_and_both_precisions():
    p = plan("int8", dla_core=1, opt_batch=2)
    config = loaders.create_config(p)
    assert (config.int8, config.fp16, config.use_dla, config.allow_gpu_fallback) == (True, True, True, True)
    (profile,) = config.profiles
    assert profile["input"].min == profile["input"].max == (2, 3, 64, 64)
    wrapped = loaders.config_loader(p)
    assert isinstance(wrapped, pg.PostprocessConfig)


def test_tensorrt_11_plan_is_strongly_typed_without_precision_flags(tmp_path):
    p = plan("int8", trt="11.4.1", target="jetson-agx-orin", dla_core=0)
    assert loaders.network_loader(p, tmp_path / "m.onnx").strongly_typed is True
    config = loaders.create_config(p)
    assert (config.fp16, config.int8, config.use_dla, config.allow_gpu_fallback) == (False, False, True, True)


def test_every_plan_flag_is_a_createconfig_argument():
    accepted = set(inspect.signature(pg.CreateConfig.__init__).parameters)
    assert set(loaders.FLAG_ARGUMENTS.values()) <= accepted
    plans = [plan(precision, dla_core=dla) for precision in ("fp16", "int8") for dla in (None, 0)]
    plans += [plan("fp32"), plan("fp16", trt="11.4.1", target="jetson-agx-orin")]
    assert {flag for p in plans for flag in p.flags} <= set(loaders.FLAG_ARGUMENTS)
