import json
from pathlib import Path

import pytest

from edgeseg.engines import layers

DATA = Path(__file__).parent / "data"


def sample(name):
    return (DATA / name).read_text()


def test_trt10_int8_sample():
    s = layers.summarize(sample("inspector_trt10_int8.json"))
    assert s["format"] == "trt10" and s["layers"] == 7
    assert s["compute_layers"] == {"fp32": 1, "int8": 4}
    assert s["data_movement_layers"] == {"fp32": 1, "unknown": 1}  # the fp32->int8 reformat, the dynamic NoOp
    assert s["dominant"] == "int8"
    assert s["fp32_compute_layers"] == ["/head/Sigmoid"]
    assert s["io"] == [{"name": "input"}, {"name": "output"}]


def test_trt11_fp16_sample():
    s = layers.summarize(json.loads(sample("inspector_trt11_fp16.json")))
    assert s["format"] == "trt11"
    assert s["compute_layers"] == {"fp16": 2, "fp32": 1}
    assert s["data_movement_layers"] == {"fp32": 1}  # the Cast
    assert s["dominant"] == "fp16"
    assert s["io"] == [
        {"name": "input", "mode": "Input", "precision": "fp32"},
        {"name": "output", "mode": "Output", "precision": "fp32"},
    ]


@pytest.mark.parametrize(
    "text, precision",
    [
        ("Row major linear FP32 format", "fp32"),
        ("Float", "fp32"),
        ("Channel major FP16 format where channel % 8 == 0", "fp16"),
        ("Half", "fp16"),
        ("Thirty-two wide channel vectorized row major Int8 format.", "int8"),
        ("BFloat16", "bf16"),
        ("UInt8", "uint8"),
        ("Float8E4M3", "fp8"),
        ("Int32", "int32"),
        ("N/A due to dynamic shapes", "unknown"),
        ("", "unknown"),
    ],
)
def test_tensor_precision_words(text, precision):
    assert layers.tensor_precision({"Format/Datatype": text}) == precision  # TensorRT 10 layers
    assert layers.tensor_precision({"Datatype": text, "Format": "Row major linear (kLINEAR)"}) == precision  # 11
    assert layers.tensor_precision({"DataType": text}) == precision  # TensorRT 11 I/O tensors


def test_trt11_layer_tensors_use_datatype_with_lower_case_t():
    """Polygraphy's inspector (tools/inspect/.../extractors/_trt.py) reads TensorRT 11 layers' "Datatype"."""
    sample = json.loads(sample_text := (DATA / "inspector_trt11_fp16.json").read_text())
    assert '"DataType"' not in sample_text.split('"I/O Tensors"')[0]
    first = sample["Layers"][0]["Inputs"][0]
    assert set(first) >= {"Datatype", "Format"} and layers.tensor_precision(first) == "fp16"


def test_names_only_verbosity_and_garbage():
    s = layers.summarize({"Layers": ["conv1 + relu1", "conv2"], "Bindings": ["input", "output"]})
    assert s["compute_layers"] == {"unknown": 2} and s["dominant"] == "unknown"
    with pytest.raises(ValueError, match="Layers"):
        layers.summarize("{}")
    with pytest.raises(ValueError):
        layers.summarize("[1, 2]")
