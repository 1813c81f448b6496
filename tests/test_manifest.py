"""The manifest as untrusted input: its digest, schema and limits, and each entry bound to its ONNX graph.

Bundles here hold real (tiny) ONNX graphs built with onnx.helper, so no torch is needed. A crafted
manifest is written with a recomputed digest (`_write`) so the check under test is the one that fires.
"""

import json
import math
from dataclasses import replace

import onnx
import pytest
from tinygraphs import SOURCE
from tinygraphs import add as _add
from tinygraphs import artifact as _artifact
from tinygraphs import graph as _graph

from edgeseg import manifest as mf
from edgeseg import onnxgraph
from edgeseg.errors import IntegrityError
from edgeseg.export.bundle import write_model
from edgeseg.normalization import Normalization


def _bundle(tmp_path, variants=("L1",)):
    arts = tuple(_add(tmp_path, _artifact(v), _graph(seed=i)) for i, v in enumerate(variants))
    m = mf.Manifest(model={"name": "unet_sharp", "config": {}}, normalization=Normalization(), artifacts=arts,
                    source=SOURCE)
    mf.save(tmp_path, m)
    return m


def _write(folder, d):
    """A manifest dict written with a correct digest of its (crafted) content."""
    d = {k: v for k, v in d.items() if k != "digest"}
    (folder / mf.MANIFEST).write_text(json.dumps({**d, "digest": mf.digest_of(d)}))


def test_round_trip(tmp_path):
    m = _bundle(tmp_path)
    loaded = mf.load(tmp_path)
    assert loaded == m
    assert loaded.artifact("L1", "fp32").input.shape == ("batch", 3, 8, 8)
    assert json.loads((tmp_path / mf.MANIFEST).read_text())["digest"].startswith("sha256:")


def test_tampered_file_is_refused(tmp_path):
    _bundle(tmp_path)
    onnx_file = tmp_path / "L1.fp32.onnx"
    data = bytearray(onnx_file.read_bytes())
    data[-3] ^= 0x01
    onnx_file.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="sha256 mismatch"):
        mf.load(tmp_path)


# --- item 7: the manifest's own digest -----------------------------------------------------------------


def _relist(folder, m):
    """The manifest `m` with its first artifact's sha256 updated to the file now in `folder`."""
    fresh = replace(m.artifacts[0], sha256=mf.sha256(folder / m.artifacts[0].file))
    _write(folder, replace(m, artifacts=(fresh,)).to_dict())


def test_a_one_byte_edit_of_the_manifest_is_refused(tmp_path):
    _bundle(tmp_path)
    text = (tmp_path / mf.MANIFEST).read_text()
    assert text.count('"threshold": 0.5') == 1
    (tmp_path / mf.MANIFEST).write_text(text.replace('"threshold": 0.5', '"threshold": 0.4'))
    with pytest.raises(IntegrityError, match="changed after it was written"):
        mf.load(tmp_path)
    (tmp_path / mf.MANIFEST).write_text(text.replace('  "digest"', '  "other"'))
    with pytest.raises(IntegrityError, match="no digest"):
        mf.load(tmp_path)


def test_the_digest_ignores_formatting_but_not_content(tmp_path):
    _bundle(tmp_path)
    d = json.loads((tmp_path / mf.MANIFEST).read_text())
    (tmp_path / mf.MANIFEST).write_text(json.dumps(d, indent=None, sort_keys=True))  # same content, other layout
    mf.load(tmp_path)


# --- items 2, 11, 12, 19: schema first, with limits and field names ------------------------------------


def test_a_foreign_manifest_json_is_not_a_bundle(tmp_path):
    (tmp_path / mf.MANIFEST).write_text(json.dumps({"name": "My PWA", "start_url": "/"}))
    assert not mf.is_bundle(tmp_path)
    with pytest.raises(IntegrityError, match="unsupported manifest schema"):
        mf.load(tmp_path)


def test_path_traversal_and_bad_schema_are_refused(tmp_path):
    m = _bundle(tmp_path)
    d = m.to_dict()
    d["artifacts"][0]["file"] = "../evil.onnx"
    _write(tmp_path, d)
    with pytest.raises(IntegrityError, match="plain name"):
        mf.load(tmp_path)
    d["schema"] = "edgeseg.bundle/99"
    _write(tmp_path, d)
    with pytest.raises(IntegrityError, match="unsupported manifest schema"):
        mf.load(tmp_path)


def test_missing_artifact_lists_available(tmp_path):
    m = _bundle(tmp_path)
    with pytest.raises(IntegrityError, match="L1.fp32"):
        m.artifact("L4", "int8")


CRAFTED = {
    # field types (19: the field is named, never a Python TypeError)
    "threshold text": (lambda d: d["artifacts"][0].update(threshold="x"), r"artifacts?.*threshold must be"),
    "opset text": (lambda d: d["artifacts"][0].update(opset="17"), "opset must be"),
    "dtype null": (lambda d: d["artifacts"][0]["input"].update(dtype=None), "dtype must be"),
    "img_size text": (lambda d: d.update(export={"target": "cuda", "img_size": "big", "opset": 17, "parity_images": 1,
                                               "batch": {"dynamic": False, "size": 1}}), "img_size must be"),
    "engine cc number": (lambda d: d.update(engines=[{"file": "e.engine", "sha256": "0" * 64, "target": "cuda",
                                                     "artifact": "L1.fp32.onnx", "gpu": "x", "compute_capability": 8.9,
                                                     "trt_version": "10.3", "cache_key": "k"}]),
                         "compute_capability must be"),
    "unknown artifact field": (lambda d: d["artifacts"][0].update(colour="red"), "unknown field 'colour'"),
    "missing artifact field": (lambda d: d["artifacts"][0].pop("variant"), "missing its variant field"),
    "tools as a string": (lambda d: d.update(tools="x"), "tools must be an object"),
    "artifacts as a string": (lambda d: d.update(artifacts="x"), "artifacts must be a list"),
    "no artifacts": (lambda d: d.update(artifacts=[]), "at least one"),
    # 11 and 12: sizes and ranges before anything is allocated from them
    "zero size": (lambda d: d["artifacts"][0]["input"].update(shape=[1, 3, 0, 0]),
                  r"shape\[2\] must be in \[1, 8192\]"),
    "float size": (lambda d: d["artifacts"][0]["input"].update(shape=[1, 3, 1e30, 1e30]),
                   r"shape\[2\] must be an integer"),
    "huge size": (lambda d: d["artifacts"][0]["input"].update(shape=[1, 3, 10**9, 10**9]),
                  r"shape\[2\] must be in \[1, 8192\]"),
    "negative batch": (lambda d: d["artifacts"][0]["input"].update(shape=[-1, 3, 8, 8]), r"shape\[0\] must be in"),
    "too many values": (lambda d: d["artifacts"][0]["input"].update(shape=[4096, 3, 8192, 8192]), "values per batch"),
    "rank 3": (lambda d: d["artifacts"][0]["input"].update(shape=[3, 8, 8]), r"\[batch, channels, height, width\]"),
    "channels vs colour": (lambda d: d["artifacts"][0]["input"].update(shape=["batch", 1, 8, 8]), "takes 1 channels"),
    "checkpoint glob": (lambda d: d["source"].update(checkpoint="**"), "source.checkpoint must be a plain name"),
    "checkpoint path": (lambda d: d["source"].update(checkpoint="../other/best"),
                        "source.checkpoint must be a plain name"),
    "checkpoint number": (lambda d: d["source"].update(checkpoint=5), "source.checkpoint must be"),
    "checkpoint without sha": (lambda d: d["source"].update(weights_sha256=None), "needs source.weights_sha256"),
    # 6: normalisation and thresholds
    "std tiny": (lambda d: d["normalization"].update(std=[1e-300] * 3), "normalization.std values must be finite"),
    "std huge": (lambda d: d["normalization"].update(std=[1e300] * 3), "normalization.std values must be finite"),
    "mean huge": (lambda d: d["normalization"].update(mean=[1e308] * 3), "normalization.mean values must be finite"),
    "mean text": (lambda d: d["normalization"].update(mean=["a"] * 3), "normalization.mean must hold numbers"),
    "threshold negative": (lambda d: d["artifacts"][0].update(threshold=-0.1),
                           r"threshold must be a finite number in \(0, 1\)"),
    "threshold above 1": (lambda d: d["artifacts"][0].update(threshold=1.5),
                          r"threshold must be a finite number in \(0, 1\)"),
    "class names of a binary model": (lambda d: d["model"].update(class_names=["a", "b"]),
                                      "class names are for outputs of several classes"),
    # 8: duplicates
    "duplicate entry": (lambda d: d["artifacts"].append(dict(d["artifacts"][0])), "lists L1.fp32.onnx twice"),
    "same key twice": (lambda d: d["artifacts"].append({**d["artifacts"][0], "file": "x.onnx"}), "lists L1.fp32 twice"),
}


@pytest.mark.parametrize("case", CRAFTED)
def test_crafted_manifests_are_refused_with_one_line_naming_the_field(tmp_path, case):
    change, message = CRAFTED[case]
    d = json.loads(json.dumps(_bundle(tmp_path).to_dict()))
    change(d)
    _write(tmp_path, d)
    with pytest.raises(IntegrityError, match=message) as info:
        mf.load(tmp_path)
    assert "\n" not in str(info.value) and "__init__" not in str(info.value) and "Error:" not in str(info.value)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_refused(tmp_path, value):
    _bundle(tmp_path)
    text = (tmp_path / mf.MANIFEST).read_text().replace('"threshold": 0.5', f'"threshold": {value}')
    (tmp_path / mf.MANIFEST).write_text(text)
    with pytest.raises(IntegrityError, match=f"{value.lstrip('-')} is not a number a manifest may hold"):
        mf.load(tmp_path)


@pytest.mark.parametrize("std, mean", [((math.nan,), (0.5,)), ((math.inf,), (0.5,)), ((1e-300,), (0.5,)),
                                       ((0.2,), (math.nan,)), ((0.2,), (1e308,)), ((0.0,), (0.5,))])
def test_degenerate_normalization_is_refused_wherever_it_comes_from(std, mean):
    with pytest.raises(IntegrityError, match="normalization"):
        Normalization("gray", mean, std)
    with pytest.raises(IntegrityError, match="normalization"):
        Normalization.from_dict({"color": "gray", "mean": list(mean), "std": list(std)})


def test_deep_nesting_huge_integers_and_huge_files_are_refused(tmp_path):
    path = tmp_path / mf.MANIFEST
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(IntegrityError, match="nested too deeply"):
        mf.load(tmp_path)
    path.write_text('{"schema": "edgeseg.bundle/2", "x": ' + "[" * 40 + "]" * 40 + "}")
    with pytest.raises(IntegrityError, match="nested too deeply"):
        mf.load(tmp_path)
    path.write_text('{"schema": "edgeseg.bundle/2", "x": ' + "9" * 5000 + "}")
    with pytest.raises(IntegrityError, match="integer of 5000 digits"):
        mf.load(tmp_path)
    with open(path, "w") as f:
        f.write('{"schema": "edgeseg.bundle/2", "pad": "')
        f.write("x" * (mf.MAX_MANIFEST_BYTES + 10))
        f.write('"}')
    with pytest.raises(IntegrityError, match="a manifest is at most"):
        mf.load(tmp_path)


# --- items 8 and 9: each entry bound to its graph --------------------------------------------------------


def test_swapped_files_and_checksums_are_refused(tmp_path):
    m = _bundle(tmp_path, variants=("L1", "L2"))
    d = m.to_dict()
    a, b = d["artifacts"]
    a["file"], a["sha256"], b["file"], b["sha256"] = b["file"], b["sha256"], a["file"], a["sha256"]
    _write(tmp_path, d)
    swapped = "L2.fp32.onnx was exported as unet_sharp L2.fp32 .* lists it as unet_sharp L1.fp32"
    with pytest.raises(IntegrityError, match=swapped):
        mf.load(tmp_path)
    a["sha256"], b["sha256"] = b["sha256"], a["sha256"]  # only the file names swapped
    _write(tmp_path, d)
    with pytest.raises(IntegrityError, match="sha256 mismatch"):
        mf.load(tmp_path)


def test_another_runs_network_with_the_same_names_is_refused(tmp_path):
    m = _bundle(tmp_path)
    other = _add(tmp_path, _artifact(), _graph(seed=7), source=mf.Source(checkpoint="best", weights_sha256="b" * 64))
    _write(tmp_path, replace(m, artifacts=(other,)).to_dict())
    with pytest.raises(IntegrityError, match="weights bbbbbbbbbbbb.*weights aaaaaaaaaaaa"):
        mf.load(tmp_path)


@pytest.mark.parametrize("graph, listed, message", [
    (dict(int8=True), "fp32", "listed as fp32 but its graph is int8"),
    (dict(fp16=True), "fp32", "listed as fp32 but its graph is fp16"),
    ({}, "int8", "listed as int8 but its graph is fp32"),
    (dict(input_name="image"), "fp32", "input is named 'image', the manifest says 'input'"),
    (dict(output_name="logits"), "fp32", "output is named 'logits'"),
    (dict(size=16), "fp32", "has shape \\?x3x16x16, the manifest says \\?x3x8x8"),
    (dict(batch=2), "fp32", "has shape 2x3x8x8"),
])
def test_an_entry_that_disagrees_with_its_graph_is_refused_at_load(tmp_path, graph, listed, message):
    art = _artifact(precision=listed)
    m = mf.Manifest(model={"name": "unet_sharp"}, normalization=Normalization(), source=SOURCE,
                    artifacts=(_add(tmp_path, replace(art, precision="fp32"), _graph(**graph)),))
    fixed = replace(m.artifacts[0], precision=listed)
    if listed != "fp32":  # stamp what the manifest will claim, so the graph check is the one that fires
        fixed = _add(tmp_path, replace(art, file="L1.fp32.onnx"), _graph(**graph))
        fixed = replace(fixed, precision=listed)
        raw = onnx.load(str(tmp_path / "L1.fp32.onnx"))
        fixed = replace(fixed, sha256=write_model(tmp_path, "L1.fp32.onnx", raw, mf.stamp("unet_sharp", fixed, SOURCE)))
    _write(tmp_path, replace(m, artifacts=(fixed,)).to_dict())
    with pytest.raises(IntegrityError, match=message):
        mf.load(tmp_path)


def test_an_onnx_file_without_the_export_stamp_is_refused(tmp_path):
    m = _bundle(tmp_path)
    raw = _graph()
    (tmp_path / "L1.fp32.onnx").write_bytes(raw.SerializeToString())
    _relist(tmp_path, m)
    with pytest.raises(IntegrityError, match="no edgeseg stamp"):
        mf.load(tmp_path)


def test_onnx_external_data_is_refused(tmp_path):
    m = _bundle(tmp_path)
    model = onnx.load(str(tmp_path / "L1.fp32.onnx"))
    onnx.save(model, str(tmp_path / "L1.fp32.onnx"), save_as_external_data=True, location="L1.weights.bin",
              size_threshold=0)
    assert (tmp_path / "L1.weights.bin").is_file()
    assert onnxgraph.read((tmp_path / "L1.fp32.onnx").read_bytes()).external == ("w",)
    _relist(tmp_path, m)
    with pytest.raises(IntegrityError, match="external data"):
        mf.load(tmp_path)


def test_an_engine_built_from_an_unlisted_file_is_refused(tmp_path):
    d = _bundle(tmp_path).to_dict()
    d["engines"] = [{"file": "e.engine", "sha256": "0" * 64, "artifact": "L9.fp32.onnx", "target": "cuda", "gpu": "x",
                     "compute_capability": "8.9", "trt_version": "10.3", "cache_key": "k"}]
    _write(tmp_path, d)
    with pytest.raises(IntegrityError, match="built from L9.fp32.onnx, which the manifest does not list"):
        mf.load(tmp_path)


def test_garbage_onnx_is_one_line(tmp_path):
    with pytest.raises(IntegrityError, match="x.onnx is not a readable ONNX model"):
        onnxgraph.read(b"\xff" * 20, "x.onnx")


def test_an_artifact_without_a_checksum_is_refused(tmp_path):
    d = json.loads(json.dumps(_bundle(tmp_path).to_dict()))
    d["artifacts"][0]["sha256"] = ""
    _write(tmp_path, d)
    with pytest.raises(IntegrityError, match="needs its file name and sha256"):
        mf.load(tmp_path)


@pytest.mark.parametrize("names, message", [
    (["background", "cell"], "one name for each of the 3 classes"),
    ("background,cell,nucleus", "one name for each of the 3 classes"),
    (["background", "cell", 7], "each name must be 1-40 printable characters, got 7"),
    (["background", "cell", "x" * 41], "1-40 printable characters"),
    (["background", "cell", "a\nb"], "1-40 printable characters"),
])
def test_class_names_are_one_short_printable_name_per_output_class(names, message):
    artifact = mf.Artifact(file="a.onnx", sha256="0" * 64, variant="L1", precision="fp32",
                           input=mf.TensorSpec("input", (1, 3, 8, 8), "float32"),
                           output=mf.TensorSpec("output", (1, 3, 8, 8), "float32"))
    norm = mf.Normalization(color="rgb", mean=(0.5,) * 3, std=(0.25,) * 3)
    good = mf.Manifest(model={"name": "m", "class_names": ["background", "cell", "nucleus"]}, normalization=norm,
                       artifacts=(artifact,))
    assert good.model["class_names"][2] == "nucleus"
    with pytest.raises(IntegrityError, match=message):
        mf.Manifest(model={"name": "m", "class_names": names}, normalization=norm, artifacts=(artifact,))
