import pytest

from edgeseg import manifest as mf
from edgeseg.engines.plan import GIB, cache_key, make_plan, parse_version
from edgeseg.errors import EdgesegError


def artifact(precision="fp32", batch="batch", variant="L4"):
    return mf.Artifact(
        file=f"{variant}.{precision}.onnx",
        sha256="ab" * 32,
        variant=variant,
        precision=precision,
        input=mf.TensorSpec("input", (batch, 3, 64, 64), "float32"),
        output=mf.TensorSpec("output", (batch, 1, 64, 64), "float32"),
    )


def plan(precision="fp32", trt="10.3.0", cc="8.7", target="jetson-orin-nx", **kw):
    return make_plan(artifact(precision, kw.pop("batch", "batch")), target=target, trt_version=trt,
                     compute_capability=cc, **kw)


@pytest.mark.parametrize(
    "precision, trt, strongly_typed, flags",
    [
        ("fp32", "10.3.0", False, ()),
        ("fp16", "10.3.0", False, ("FP16",)),
        ("int8", "10.3.0", False, ("INT8",)),
        ("fp32", "11.0.0", True, ()),
        ("fp16", "11.2.1", True, ()),
        ("int8", "11.4.1", True, ()),
    ],
)
def test_trt10_flags_and_trt11_strong_typing(precision, trt, strongly_typed, flags):
    p = plan(precision, trt, target="cuda", cc="8.9")
    assert p.strongly_typed is strongly_typed
    assert p.flags == flags
    assert p.trt_major == int(trt.split(".")[0])
    assert "FP16" not in p.flags or precision == "fp16"  # the FP16 flag only for fp16 graphs (without DLA)


def test_dla_plans():
    p = plan("int8", dla_core=1)
    assert p.flags == ("INT8", "FP16", "GPU_FALLBACK")  # DLA runs non-quantized layers in fp16
    assert p.settings()["gpu_fallback"] is True and p.settings()["dla_core"] == 1
    assert plan("fp16", dla_core=0).flags == ("FP16", "GPU_FALLBACK")
    static = plan("fp16", dla_core=0, opt_batch=2)
    assert static.profile.min == static.profile.opt == static.profile.max == (2, 3, 64, 64)  # DLA: no dynamic shapes
    agx_trt11 = plan("fp16", trt="11.4.1", dla_core=0, target="jetson-agx-orin")
    assert agx_trt11.flags == ("GPU_FALLBACK",) and agx_trt11.strongly_typed
    for kwargs, message in [
        (dict(precision="fp32", dla_core=0), "DLA runs only"),
        (dict(precision="fp16", dla_core=2), "DLA cores 0-1"),
        (dict(precision="fp16", dla_core=0, target="jetson-orin-nano"), "has no DLA"),
        (dict(precision="fp16", dla_core=0, max_batch=4), "no dynamic shapes"),
    ]:
        with pytest.raises(EdgesegError, match=message):
            plan(**kwargs)


@pytest.mark.parametrize(
    "target, trt, reason",
    [
        ("jetson-orin-nx", "10.3.0", None),  # JetPack 6
        ("jetson-agx-orin", "10.7.0", None),  # the last TensorRT 10 with DLA
        ("jetson-agx-orin", "11.4.1", None),  # JetPack 7.2.2: DLA back, strongly typed
        ("jetson-agx-orin", "11.5.0", None),
        ("jetson-orin-nx", "10.8.0", "10.7 was the last TensorRT 10 with DLA"),
        ("jetson-agx-orin", "10.16.1", "10.7 was the last TensorRT 10 with DLA"),
        ("jetson-agx-orin", "11.2.0", "does not support jetson-agx-orin"),  # no TensorRT 11 on Jetson before 11.4.1
        ("jetson-orin-nx", "11.4.1", "jetson-orin-nx has no TensorRT 11"),  # JetPack 6 has no TensorRT 11
        ("jetson-thor", "11.4.1", "jetson-thor has no DLA"),
    ],
)
def test_dla_follows_nvidias_support_per_tensorrt_version(target, trt, reason):
    cc = "11.0" if target == "jetson-thor" else "8.7"
    if reason is None:
        assert plan("fp16", trt=trt, cc=cc, target=target, dla_core=0).dla_core == 0
    else:
        with pytest.raises(EdgesegError, match=reason):
            plan("fp16", trt=trt, cc=cc, target=target, dla_core=0)


def test_tensorrt_11_before_11_4_1_has_no_dla_whatever_the_device():
    from dataclasses import replace

    from edgeseg.engines.targets import get_target

    dla_everywhere = replace(get_target("jetson-agx-orin"), trt11_from="11.0")
    for version in ("11.0.0", "11.3.0", "11.4.0"):
        with pytest.raises(EdgesegError, match="no DLA on Jetson"):
            make_plan(
                artifact("fp16"), target=dla_everywhere, trt_version=version, compute_capability="8.7", dla_core=0
            )


@pytest.mark.parametrize("target, cc", [("jetson-agx-orin", "8.7"), ("jetson-thor", "11.0")])
def test_jetpack_7_targets_plan_tensorrt_11_4_1_strongly_typed(target, cc):
    p = plan("int8", trt="11.4.1", cc=cc, target=target)
    assert p.strongly_typed and p.flags == ()
    with pytest.raises(EdgesegError, match="starts at 11.4.1"):
        plan("fp16", trt="11.3.0", cc=cc, target=target)


def test_profiles():
    p = plan(min_batch=1, opt_batch=2, max_batch=8)
    assert (p.profile.input, p.profile.min, p.profile.opt, p.profile.max) == (
        "input", (1, 3, 64, 64), (2, 3, 64, 64), (8, 3, 64, 64),
    )
    assert plan().profile.max[0] == 4  # the Orin NX default
    assert plan(target="cuda", cc="8.6").profile.max[0] == 8
    fixed = plan(batch=2)
    assert fixed.profile.min == fixed.profile.opt == fixed.profile.max == (2, 3, 64, 64)
    with pytest.raises(EdgesegError, match="fixed batch of 2"):
        plan(batch=2, max_batch=4)
    with pytest.raises(EdgesegError, match="min <= opt <= max"):
        plan(min_batch=4, opt_batch=2, max_batch=8)


def test_workspace_opt_level_and_device_checks():
    assert plan().workspace_bytes == 2 * GIB  # Orin NX default
    assert plan(workspace_gib=0.5).workspace_bytes == GIB // 2
    assert plan(opt_level=5).opt_level == 5
    for kwargs, message in [
        (dict(workspace_gib=16), "does not fit"),
        (dict(workspace_gib=0), "positive"),
        (dict(workspace_gib=float("nan")), "positive, finite"),
        (dict(target="cuda", cc="8.6", workspace_gib=float("inf")), "positive, finite"),
        (dict(opt_level=6), "0-5"),
        (dict(cc="8.6"), "build the engine on the target"),
        (dict(target="cuda", cc="6.1"), "7.5 or newer"),
        (dict(trt="8.5.2"), "too old"),
        (dict(target="jetson-xavier-nx", cc="7.2", trt="8.5.2"), "JetPack 5.1 ships TensorRT 8.5"),
        (dict(target="nano"), "unknown target"),
    ]:
        with pytest.raises(EdgesegError, match=message):
            plan(**kwargs)


def test_cache_key_covers_every_input_and_nothing_else():
    base = plan("int8", min_batch=1, opt_batch=1, max_batch=4)
    same = plan("int8", min_batch=1, opt_batch=1, max_batch=4, timing_cache="/tmp/other.cache")
    assert base.cache_key == same.cache_key  # the timing cache only speeds the build up
    variants = [
        plan("fp16", min_batch=1, opt_batch=1, max_batch=4),
        plan("int8", trt="10.4.0", min_batch=1, opt_batch=1, max_batch=4),
        plan("int8", min_batch=1, opt_batch=2, max_batch=4),
        plan("int8", workspace_gib=1, min_batch=1, opt_batch=1, max_batch=4),
        plan("int8", opt_level=4, min_batch=1, opt_batch=1, max_batch=4),
        plan("int8", dla_core=0, opt_batch=1),
    ]
    keys = {p.cache_key for p in variants} | {base.cache_key}
    assert len(keys) == len(variants) + 1
    other_onnx = cache_key("cd" * 32, base.trt_version, base.compute_capability, base.precision, base.settings())
    other_cc = cache_key(base.onnx_sha256, base.trt_version, "8.6", base.precision, base.settings())
    assert base.cache_key not in (other_onnx, other_cc)
    assert base.engine_file == f"L4.int8.jetson-orin-nx.{base.cache_key[:12]}.engine"


def test_parse_version():
    assert parse_version("10.3.0.30") == (10, 3, 0, 30)
    with pytest.raises(EdgesegError):
        parse_version("ten")
