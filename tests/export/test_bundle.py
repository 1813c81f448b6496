"""export_bundle end to end on tiny models: artifacts, manifest, seed-job graphs, determinism, integrity."""

import onnx
import pytest
import torch

from edgeseg import checkpoint
from edgeseg import manifest as mf
from edgeseg.errors import EdgesegError, IntegrityError
from edgeseg.export import export_bundle
from edgeseg.models import create_model, list_models

from .conftest import NORM, trained_looking

TINY = {
    "unet": {"width_mult": 0.0625},
    "unet_sharp": {"width_mult": 0.0625},
    "plnet": {"width_mult": 0.0625},
    "pgunet": {"width_mult": 0.0625},
    "m2snet": {"encoder": "vgg_light"},
}
# Mask pixels that may flip against eager fp32 on the tiny UNet# below (fp32: the exporter's own limit)
PARITY_MAX_FLIPS = {"fp32": 1e-4, "fp16": 0.01, "int8": 0.05}
# m2snet is exported once, in the fold test below (its graph is the slowest to trace)
CHECKPOINT_CASES = [name for name in list_models() if name != "m2snet"]


def _tiny(name):
    if name not in TINY:
        pytest.fail(f"add a tiny config for {name} to TINY")
    torch.manual_seed(0)
    return trained_looking(create_model(name, **TINY.get(name, {})))


@pytest.fixture(scope="module")
def sharp_bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("sharp")
    model = _tiny("unet_sharp")
    manifest = export_bundle(
        (model, NORM), out, variants="all", precisions="fp32,fp16,int8", img_size=32,
        calib_data="synthetic:nuclei?n=10&size=32&seed=0", calib_images=6, parity_images=4,
    )
    return model, out, manifest


def test_twelve_artifacts_with_a_valid_manifest(sharp_bundle):
    _, out, manifest = sharp_bundle
    expected = sorted(f"L{k}.{p}" for k in range(1, 5) for p in ("fp32", "fp16", "int8"))
    assert sorted(a.key for a in manifest.artifacts) == expected
    loaded = mf.load(out)
    assert loaded == manifest
    for art in loaded.artifacts:
        assert (out / art.file).is_file() and art.trt_check["ok"]
        assert art.input.shape == (1, 3, 32, 32) and art.output.shape == (1, 1, 32, 32)
        graph = onnx.load(str(out / art.file))
        assert [i.name for i in graph.graph.input] == ["input"] and [o.name for o in graph.graph.output] == ["output"]
        p = art.parity
        reference = loaded.artifact(art.variant, "fp32").parity
        # every precision of a level is compared with the same eager fp32 masks and ground truth
        assert p["iou_gt_fp32"] == reference["iou_gt_fp32"] and p["iou_gt_drop"] == p["iou_gt_fp32"] - p["iou_gt"]
        assert p["mask_flip_share"] <= PARITY_MAX_FLIPS[art.precision], (art.key, p)
        if art.precision == "fp32":
            assert p["max_abs_prob_err"] <= 1e-4 and p["mask_flip_share"] <= 1e-4
        if art.precision == "fp16":
            assert "fp32_nodes" in art.details and art.details["fp16_check"]["checked_with"]
        if art.precision == "int8":
            assert art.details["calibration"]["method"] == "minmax"
    assert loaded.export.batch == mf.BatchSettings(dynamic=False, size=1)


def test_l2_graph_holds_only_levels_up_to_2(sharp_bundle):
    _, out, _ = sharp_bundle
    graph = onnx.load(str(out / "L2.fp32.onnx")).graph
    names = [n.name for n in graph.node] + [i.name for i in graph.initializer]
    present = {f"x{i}{j}" for i in range(5) for j in range(5) if any(f"nodes.x{i}{j}" in n for n in names)}
    assert present == {"x00", "x10", "x20", "x01", "x11", "x02"}
    assert not any(n.startswith(("prune", "hier", "cls")) for n in names)
    assert sum(1 for n in graph.node if n.name.startswith("head/")) == 1
    assert len(graph.output) == 1


def test_int8_artifacts_are_explicit_qdq_for_tensorrt(sharp_bundle):
    _, out, manifest = sharp_bundle
    for art in manifest.artifacts:
        if art.precision != "int8":
            continue
        graph = onnx.load(str(out / art.file))
        ops = {n.op_type for n in graph.graph.node}
        assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops
        assert not any(op.startswith("QLinear") or "Integer" in op for op in ops)
        assert all(n.domain in ("", "ai.onnx") for n in graph.graph.node)


def test_reexport_is_byte_identical(sharp_bundle, tmp_path):
    model, out, manifest = sharp_bundle
    again = export_bundle(
        (model, NORM), tmp_path, variants="L1,L3", precisions="fp32,fp16,int8", img_size=32,
        calib_data="synthetic:nuclei?n=10&size=32&seed=0", calib_images=6, parity_images=4,
    )
    first = [a for a in manifest.artifacts if a.variant in ("L1", "L3")]
    assert len(again.artifacts) == len(first) == 6
    for a, b in zip(first, again.artifacts, strict=True):
        assert (out / a.file).read_bytes() == (tmp_path / b.file).read_bytes(), a.file
        assert a.sha256 == b.sha256


def test_export_over_a_bundle_leaves_no_stale_file_and_keeps_engines_of_unchanged_onnx(sharp_bundle, tmp_path):
    from dataclasses import replace

    model, out, manifest = sharp_bundle
    for art in manifest.artifacts:
        (tmp_path / art.file).write_bytes((out / art.file).read_bytes())
    engines = []
    for variant in ("L1", "L4"):  # engine records as `edgeseg build` writes them, over stand-in bytes
        (tmp_path / f"{variant}.engine").write_bytes(variant.encode())
        engines.append(mf.Engine(file=f"{variant}.engine", sha256=mf.sha256(tmp_path / f"{variant}.engine"),
                                 artifact=f"{variant}.fp32.onnx", target="cuda", gpu="GPU", compute_capability="8.9",
                                 trt_version="10.3.0", cache_key=variant))
    mf.save(tmp_path, replace(manifest, engines=tuple(engines)))
    again = export_bundle(
        (model, NORM), tmp_path, variants="L1,L3", precisions="fp32", img_size=32,
        calib_data="synthetic:nuclei?n=10&size=32&seed=0", calib_images=6, parity_images=4,
    )
    assert [e.file for e in again.engines] == ["L1.engine"]  # its ONNX came out byte-identical
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["L1.engine", "L1.fp32.onnx", "L3.fp32.onnx", "manifest.json"]


def test_export_refuses_a_folder_that_is_not_a_bundle(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(EdgesegError, match="no manifest.json"):
        export_bundle((_tiny("unet_sharp"), NORM), tmp_path, img_size=32)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_tampered_onnx_is_refused(sharp_bundle, tmp_path):
    _, out, manifest = sharp_bundle
    for art in manifest.artifacts:
        (tmp_path / art.file).write_bytes((out / art.file).read_bytes())
    (tmp_path / "manifest.json").write_bytes((out / "manifest.json").read_bytes())
    mf.load(tmp_path)
    data = bytearray((tmp_path / "L3.int8.onnx").read_bytes())
    data[len(data) // 2] ^= 0x01
    (tmp_path / "L3.int8.onnx").write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="L3.int8.onnx: sha256 mismatch"):
        mf.load(tmp_path)


@pytest.mark.parametrize("name", CHECKPOINT_CASES)
def test_every_family_exports_from_a_checkpoint_with_dynamic_batch(name, tmp_path):
    model = _tiny(name)
    size = 64 if model.size_divisor == 32 else 32
    variant = model.variants()[0]  # the cheapest to export
    ckpt = checkpoint.save(tmp_path / "ckpt", model, checkpoint.CheckpointInfo(
        model=name, config=model.config, normalization={"color": "rgb", "mean": [0.5] * 3, "std": [0.25] * 3},
        recipe={"img_size": size}, epoch=3))
    manifest = export_bundle(ckpt, tmp_path / "bundle", variants=variant, dynamic_batch=4, parity_images=3)
    assert torch.is_grad_enabled(), "export must not leave autograd switched off"
    art = manifest.artifact(variant, "fp32")
    assert art.input.shape == ("batch", 3, size, size) and art.output.shape[0] == "batch"
    assert manifest.source.epoch == 3 and manifest.export.batch == mf.BatchSettings(dynamic=True, max=4)
    assert art.parity["max_abs_prob_err"] <= 1e-4 and art.parity["images"] == 3
    graph = onnx.load(str(tmp_path / "bundle" / art.file)).graph
    assert len(graph.output) == 1
    if name == "plnet":  # `final`: the stage-1 head and anything only it uses are gone
        names = [n.name for n in graph.node] + [i.name for i in graph.initializer]
        assert variant == "final" and not any("head1" in n for n in names) and any("head2" in n for n in names)


def test_m2snet_folded_graph_has_no_box_filters_and_matches_unfolded(tmp_path):
    model = _tiny("m2snet")
    manifest = export_bundle((model, NORM), tmp_path, variants="folded", img_size=64, parity_images=2)
    folded = manifest.artifact("folded", "fp32")
    fold = folded.details["fold"]
    assert fold["box_filter_weights_after"] == []
    before = {tuple(shape) for shape in fold["box_filter_weights_before"]}
    assert before == {(64, 64, 3, 3), (64, 64, 5, 5)}
    assert fold["gflops_after"] < fold["gflops_before"]
    assert fold["max_abs_prob_err_vs_reference"] <= 1e-4
    assert fold["max_rel_output_err_vs_reference"] <= 1e-4
    assert folded.parity["max_abs_prob_err"] <= 1e-4


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"variants": "L7"}, "no variant 'L7'"),
        ({"precisions": "fp64"}, "unknown precision fp64"),
        ({"img_size": 40}, "multiple of 16"),
        ({"target": "tpu"}, "unknown target"),
    ],
)
def test_bad_arguments_fail_with_one_line(kwargs, message, tmp_path):
    model = _tiny("unet_sharp")
    with pytest.raises(EdgesegError, match=message):
        export_bundle((model, NORM), tmp_path, **{"img_size": 32, **kwargs})
    assert not (tmp_path / "manifest.json").exists()

