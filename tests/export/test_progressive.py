"""Progressive export: one graph per step, parity with the standalone variants, the manifest's step schema."""

import json
import shutil

import numpy as np
import pytest
import torch

from edgeseg import manifest as mf
from edgeseg.errors import EdgesegError, IntegrityError
from edgeseg.export import export_bundle, parity
from edgeseg.export.progressive import ort_chain
from edgeseg.metrics import masks_from_output
from edgeseg.models import create_model

from .conftest import NORM, trained_looking

SIZE = 32
CASES = {
    "unet_sharp": ("unet_sharp", {"width_mult": 0.0625}, "L1,L2,L3,L4,progressive"),
    "unet_sharp_cgm": ("unet_sharp", {"width_mult": 0.0625, "cgm": True}, "L1,L2,L3,L4,progressive"),
    "plnet": ("plnet", {"width_mult": 0.0625}, "final,fused,progressive,progressive-final"),
}


def _model(name, config):
    torch.manual_seed(0)
    model = trained_looking(create_model(name, **config))
    if getattr(model, "cls", None) is not None:  # CGM: a gate that is open for some images and shut for others
        for classifier in model.cls:
            classifier[-1].bias.data = torch.tensor([0.0, 0.02])
    return model


@pytest.fixture(scope="module", params=sorted(CASES))
def fp32_bundle(request, tmp_path_factory):
    name, config, variants = CASES[request.param]
    out = tmp_path_factory.mktemp(request.param)
    model = _model(name, config)
    manifest = export_bundle((model, NORM), out, variants=variants, precisions="fp32", img_size=SIZE,
                             parity_images=4)
    return model, out, manifest


def _images(n=6, seed=3):
    return np.random.default_rng(seed).standard_normal((n, 3, SIZE, SIZE)).astype(np.float32)


def _graphs(folder, chain):
    import onnx

    return [onnx.load(str(folder / step.file)) for step in chain.steps]


def test_each_step_equals_its_standalone_variant(fp32_bundle):
    """fp32 on ONNX Runtime CPU: step k's prediction == the standalone variant's within 1e-5, same masks."""
    import onnx

    _, out, manifest = fp32_bundle
    images = _images()
    for chain in manifest.progressive:
        _, predictions = ort_chain(_graphs(out, chain), chain.steps,
                                   [{"input": images[i : i + 1]} for i in range(len(images))], len(images))
        compared = 0
        for step, prediction in zip(chain.steps, predictions):
            reference = chain.details["references"].get(step.level)
            if reference is None:
                continue
            standalone = parity.ort_outputs(onnx.load(str(out / manifest.artifact(reference, "fp32").file)), images)
            assert np.abs(prediction - standalone).max() <= 1e-5, (chain.key, step.level)
            kind = chain.output_kind
            assert (masks_from_output(prediction, kind, 0.5) == masks_from_output(standalone, kind, 0.5)).all()
            compared += 1
        assert compared == (4 if manifest.model["name"] == "unet_sharp" else 1)


def test_steps_read_only_what_later_steps_need(fp32_bundle):
    _, out, manifest = fp32_bundle
    for chain in manifest.progressive:
        written = {"input"}
        for k, step in enumerate(chain.steps):
            names = {spec.name for spec in step.inputs}
            assert names <= written
            later = {spec.name for s in chain.steps[k + 1 :] for spec in s.inputs}
            assert {spec.name for spec in step.outputs} - {step.prediction} <= later  # nothing passed in vain
            written |= {spec.name for spec in step.outputs}
            assert step.trt_check["ok"] and step.parity["mask_flip_share"] == 0
            assert step.output.shape == (1, 1, SIZE, SIZE)


def test_unet_sharp_carries_the_nested_levels_nodes(fp32_bundle):
    _, _, manifest = fp32_bundle
    if manifest.model["name"] != "unet_sharp":
        pytest.skip("UNet# only")
    chain = manifest.chain("progressive", "fp32")
    assert chain.levels == ("L1", "L2", "L3", "L4")
    assert [len(step.inputs) for step in chain.steps] == [1, 3, 6, 10]
    assert [step.prediction for step in chain.steps] == ["output_L1", "output_L2", "output_L3", "output_L4"]
    assert chain.output_kind == ("probabilities" if manifest.model["config"]["cgm"] else "logits")
    assert sum(step.gflops for step in chain.steps) == pytest.approx(manifest.artifact("L4", "fp32").gflops, rel=0.02)


def test_plnet_fused_reads_stage_one_logits_and_final_does_not(fp32_bundle):
    _, _, manifest = fp32_bundle
    if manifest.model["name"] != "plnet":
        pytest.skip("PL-Net only")
    fused, final = manifest.chain("progressive", "fp32"), manifest.chain("progressive-final", "fp32")
    assert fused.levels == ("stage1", "fused") and final.levels == ("stage1", "final")
    assert [s.name for s in fused.steps[1].inputs] == ["input", "d0", "d1", "d2", "output_stage1"]
    assert [s.name for s in final.steps[1].inputs] == ["input", "d0", "d1", "d2"]


def test_int8_and_fp16_report_mask_parity_per_step(tmp_path):
    model = _model("unet_sharp", {"width_mult": 0.0625})
    manifest = export_bundle((model, NORM), tmp_path / "b", variants="progressive", precisions="fp16,int8",
                             img_size=SIZE, calib_data="synthetic:nuclei?n=10&size=32&seed=0", calib_images=6,
                             parity_images=4)
    assert not manifest.artifacts and [c.key for c in manifest.progressive] == ["progressive.fp16", "progressive.int8"]
    loaded = mf.load(tmp_path / "b")
    for chain in loaded.progressive:
        for step in chain.steps:
            assert step.trt_check["ok"]
            assert {"max_abs_prob_err", "mask_flip_share", "iou_gt", "iou_gt_drop"} <= set(step.parity)
            assert step.parity["mask_flip_share"] <= (0.01 if chain.precision == "fp16" else 0.05)
    int8 = loaded.chain("progressive", "int8")
    assert int8.details["calibration"]["on"] == "the activations the fp32 chain produces"
    assert all(n["quantized_tensors"] > 0 for n in int8.details["steps"].values())


def test_unknown_progressive_variant_lists_the_valid_ones(tmp_path):
    model = _model("plnet", {"width_mult": 0.0625})
    with pytest.raises(EdgesegError, match="valid: final, fused, progressive, progressive-final"):
        export_bundle((model, NORM), tmp_path / "b", variants="progressive-L9", img_size=SIZE)


# --- the manifest's step schema ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chain_bundle(tmp_path_factory):
    """A bundle holding only UNet#'s progressive chain in fp32: (folder, manifest dict)."""
    folder = tmp_path_factory.mktemp("chain")
    export_bundle((_model("unet_sharp", {"width_mult": 0.0625}), NORM), folder, variants="progressive",
                  img_size=SIZE, parity_images=2)
    return folder, json.loads((folder / mf.MANIFEST).read_text())


def _write(folder, d):
    d = {k: v for k, v in d.items() if k != "digest"}
    (folder / mf.MANIFEST).write_text(json.dumps({**d, "digest": mf.digest_of(d)}))


def _crafted(chain_bundle, tmp_path, edit):
    folder, d = chain_bundle
    for f in folder.glob("*.onnx"):
        shutil.copy(f, tmp_path / f.name)
    d = json.loads(json.dumps(d))
    edit(d, d["progressive"][0], d["progressive"][0]["steps"])
    _write(tmp_path, d)
    return tmp_path


def test_a_chain_only_bundle_loads_and_lists_every_step_file(chain_bundle):
    folder, _ = chain_bundle
    loaded = mf.load(folder)
    assert loaded.files() == tuple(f"progressive.L{k}.fp32.onnx" for k in range(1, 5))


def _set(obj, key, value):
    obj[key] = value


CRAFTED = {
    "an unknown step field": (lambda d, c, s: _set(s[0], "extra", 1), "has an unknown field 'extra'"),
    "a step reading a map nobody writes": (
        lambda d, c, s: _set(s[1]["inputs"][0], "name", "x99"), "reads 'x99', which no earlier step writes"),
    "a map written twice": (
        lambda d, c, s: _set(s[1]["outputs"][1], "name", "x00"), "writes 'x00', which the chain already has"),
    "a first step not reading the image": (
        lambda d, c, s: c.update(steps=s[1:]), "the first step must read the image"),
    "a prediction that is no output": (
        lambda d, c, s: _set(s[0], "prediction", "x00x"), "prediction 'x00x' is not one of its outputs"),
    "a carried map with too many channels": (
        lambda d, c, s: _set(s[0]["outputs"][1], "shape", [1, 9000, 32, 32]), r"shape\[1\] must be in \[1, 8192\]"),
    "a prediction with carried-map channels": (
        lambda d, c, s: _set(s[0]["outputs"][0], "shape", [1, 2000, 32, 32]), r"shape\[1\] must be in \[1, 1024\]"),
    "a path as step file": (lambda d, c, s: _set(s[0], "file", "../x.onnx"), "must be a plain name"),
    "a step without checksum": (lambda d, c, s: _set(s[0], "sha256", ""), "needs its file name and sha256"),
    "two steps of one level": (lambda d, c, s: _set(s[1], "level", "L1"), "lists L1 twice"),
    "too many steps": (lambda d, c, s: c.update(steps=s * 5), "steps must be a list of 1 to 16 steps"),
    "a chain listed twice": (lambda d, c, s: d["progressive"].append(c), "twice"),
    "steps that are not a list": (lambda d, c, s: c.update(steps={}), "steps must be a list"),
    "a prediction at another size": (
        lambda d, c, s: _set(s[1]["outputs"][0], "shape", [1, 1, 16, 16]), "batch, height and width must match"),
    "a step file that is another step's": (
        lambda d, c, s: _set(s[1], "sha256", s[0]["sha256"]), "sha256 mismatch"),
}


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_crafted_chains_are_refused_with_one_line(chain_bundle, tmp_path, case):
    edit, message = CRAFTED[case]
    folder = _crafted(chain_bundle, tmp_path, edit)
    with pytest.raises(IntegrityError, match=message) as info:
        mf.load(folder)
    assert "\n" not in str(info.value)


def test_swapped_step_files_are_refused_by_their_stamp_or_tensors(chain_bundle, tmp_path):
    def swap(d, c, s):
        s[1]["file"], s[2]["file"] = s[2]["file"], s[1]["file"]
        s[1]["sha256"], s[2]["sha256"] = s[2]["sha256"], s[1]["sha256"]

    folder = _crafted(chain_bundle, tmp_path, swap)
    with pytest.raises(IntegrityError, match="progressive.L3.fp32.onnx has 6 inputs; the manifest describes 3"):
        mf.load(folder)


def test_a_missing_step_file_is_refused(chain_bundle, tmp_path):
    folder = _crafted(chain_bundle, tmp_path, lambda d, c, s: None)
    (folder / "progressive.L3.fp32.onnx").unlink()
    with pytest.raises(IntegrityError, match="progressive.L3.fp32.onnx is listed in the manifest but missing"):
        mf.load(folder)


def test_a_bundle_without_chains_writes_no_progressive_field(fp32_bundle, tmp_path):
    """Older readers refuse unknown fields: a bundle without progressive variants must look as before."""
    _, out, manifest = fp32_bundle
    plain = mf.Manifest(**{**manifest.__dict__, "progressive": ()})
    assert "progressive" not in plain.to_dict() and "progressive" in manifest.to_dict()
    assert plain.to_dict()["schema"] == "edgeseg.bundle/2"


def test_a_dynamic_batch_chain_exports_and_refines_several_images(tmp_path):
    """Step modules take `*maps`: the batch axis must reach every one of them (torch.export's varargs)."""
    from edgeseg.runtime import Segmenter

    model = _model("plnet", {"width_mult": 0.0625})
    manifest = export_bundle((model, NORM), tmp_path / "b", variants="progressive", img_size=SIZE, parity_images=3,
                             dynamic_batch=4)
    chain = manifest.chain()
    assert all(spec.shape[0] == "batch" for step in chain.steps for spec in (*step.inputs, *step.outputs))
    images = [np.full((SIZE, SIZE, 3), v, np.uint8) for v in (0, 100, 200)]
    with Segmenter.from_bundle(tmp_path / "b", backend="ort-cpu") as seg:
        levels = list(seg.refine(images))
        assert [level for level, _ in levels] == ["stage1", "fused"] and len(levels[-1][1]) == 3
        assert all((a == b).all() for a, b in zip(levels[-1][1], seg.segment(images)))


def test_export_cli_lists_each_step(tmp_path):
    from clirun import invoke

    from edgeseg import checkpoint
    from edgeseg.checkpoint import CheckpointInfo

    model = _model("unet_sharp", {"width_mult": 0.0625})
    info = CheckpointInfo(model="unet_sharp", config=model.config, normalization=NORM.to_dict(),
                          recipe={"img_size": SIZE})
    checkpoint.save(tmp_path / "best", model, info)
    r = invoke("export", tmp_path / "best", "--out", tmp_path / "b", "--variants", "progressive",
               "--parity-images", "2", env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    for level in ("L1", "L2", "L3", "L4"):
        assert r.says(f"progressive.fp32@{level} 1x3x32x32")


def test_split_concat_convs_leaves_no_concat_of_a_carried_map_and_the_same_function():
    """Conv(cat[carried, carried, new, new]) -> Conv(carried) + Conv(carried) + Conv(cat[new, new])."""
    import onnx
    from onnx import TensorProto, helper
    from onnx import numpy_helper as nh

    from edgeseg.export.progressive import split_concat_convs

    rng = np.random.default_rng(0)
    w = rng.standard_normal((5, 2 + 3 + 1 + 1, 3, 3)).astype(np.float32)
    b = rng.standard_normal(5).astype(np.float32)
    nodes = [
        helper.make_node("Relu", ["n"], ["m1"]),
        helper.make_node("Neg", ["n"], ["m2"]),
        helper.make_node("Concat", ["a", "c", "m1", "m2"], ["cat"], axis=1),
        helper.make_node("Conv", ["cat", "w", "b"], ["y"], pads=[1, 1, 1, 1]),
    ]
    sizes = (("a", 2), ("c", 3), ("n", 1))
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, c, 8, 8]) for n, c in sizes]
    graph = helper.make_graph(nodes, "g", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              initializer=[nh.from_array(w, "w"), nh.from_array(b, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=8)
    split = split_concat_convs(model)
    ops = [n.op_type for n in split.graph.node]
    assert ops.count("Conv") == 3 and ops.count("Add") == 2 and ops.count("Concat") == 1
    concat = next(n for n in split.graph.node if n.op_type == "Concat")
    assert list(concat.input) == ["m1", "m2"]
    assert sum(len(n.input) == 3 for n in split.graph.node if n.op_type == "Conv") == 1  # the bias is added once
    feed = {n: rng.standard_normal((1, c, 8, 8)).astype(np.float32) for n, c in sizes}
    want, got = (parity.ort_session(m).run(["y"], feed)[0] for m in (model, split))
    assert np.abs(want - got).max() < 1e-5
    onnx.checker.check_model(split)


def test_unet_sharp_steps_convolve_carried_maps_without_concatenating_them(fp32_bundle):
    import onnx

    _, out, manifest = fp32_bundle
    for chain in manifest.progressive:
        for step in chain.steps[1:]:
            graph = onnx.load(str(out / step.file)).graph
            carried = {i.name for i in graph.input} - {"input"}
            assert not any(n.op_type == "Concat" and carried & set(n.input) for n in graph.node), step.file
