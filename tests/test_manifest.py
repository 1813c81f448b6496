import json

import pytest

from edgeseg import manifest as mf
from edgeseg.errors import IntegrityError
from edgeseg.files import sha256


def _bundle(tmp_path):
    onnx_file = tmp_path / "L1.fp32.onnx"
    onnx_file.write_bytes(b"not really onnx, but checksummed")
    art = mf.Artifact(
        file=onnx_file.name,
        sha256=sha256(onnx_file),
        variant="L1",
        precision="fp32",
        input=mf.TensorSpec("input", ("batch", 3, 64, 64), "float32"),
        output=mf.TensorSpec("logits", ("batch", 1, 64, 64), "float32"),
    )
    m = mf.Manifest(model={"name": "unet_sharp", "config": {}}, normalization=mf.Normalization(), artifacts=(art,))
    mf.save(tmp_path, m)
    return m, onnx_file


def test_round_trip(tmp_path):
    m, _ = _bundle(tmp_path)
    loaded = mf.load(tmp_path)
    assert loaded == m
    assert loaded.artifact("L1", "fp32").input.shape == ("batch", 3, 64, 64)


def test_tampered_file_is_refused(tmp_path):
    _, onnx_file = _bundle(tmp_path)
    data = bytearray(onnx_file.read_bytes())
    data[3] ^= 0x01
    onnx_file.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="sha256 mismatch"):
        mf.load(tmp_path)


def test_path_traversal_and_bad_schema_are_refused(tmp_path):
    m, _ = _bundle(tmp_path)
    d = m.to_dict()
    d["artifacts"][0]["file"] = "../evil.onnx"
    (tmp_path / "manifest.json").write_text(json.dumps(d))
    with pytest.raises(IntegrityError, match="plain names"):
        mf.load(tmp_path)
    d["schema"] = "edgeseg.bundle/99"
    (tmp_path / "manifest.json").write_text(json.dumps(d))
    with pytest.raises(IntegrityError, match="unsupported manifest schema"):
        mf.load(tmp_path)


def test_missing_artifact_lists_available(tmp_path):
    m, _ = _bundle(tmp_path)
    with pytest.raises(IntegrityError, match="L1.fp32"):
        m.artifact("L4", "int8")


def test_malformed_manifest_is_integrity_error(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({"schema": mf.SCHEMA, "model": {"name": "x"}}))
    with pytest.raises(IntegrityError, match="malformed"):
        mf.load(tmp_path)


@pytest.mark.parametrize("change", [
    lambda d: d["artifacts"][0].update(threshold="x"),
    lambda d: d["artifacts"][0].update(opset="17"),
    lambda d: d["artifacts"][0]["input"].update(dtype=None),
    lambda d: d.update(export={"img_size": "big"}),
    lambda d: d.update(engines=[{"file": "e.engine", "sha256": "0", "artifact": "L1.fp32.onnx", "target": "cuda",
                                 "gpu": "x", "compute_capability": 8.9, "trt_version": "10.3", "cache_key": "k"}]),
])
def test_fields_of_the_wrong_type_are_refused(tmp_path, change):
    m, _ = _bundle(tmp_path)
    d = m.to_dict()
    change(d)
    (tmp_path / "manifest.json").write_text(json.dumps(d))
    with pytest.raises(IntegrityError, match="must be"):
        mf.load(tmp_path)
