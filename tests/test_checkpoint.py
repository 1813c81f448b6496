import json

import pytest
import torch

from edgeseg import checkpoint
from edgeseg.errors import IntegrityError
from edgeseg.models import create_model

NORM = {"color": "rgb", "mean": [0.5] * 3, "std": [0.25] * 3}


def _save(tmp_path):
    model = create_model("unet", width_mult=0.25)
    info = checkpoint.CheckpointInfo(model="unet", config=model.config, normalization=NORM, epoch=3)
    checkpoint.save(tmp_path / "best", model, info)
    return model


def test_round_trip_by_any_name(tmp_path):
    model = _save(tmp_path)
    for name in ("best", "best.json", "best.safetensors"):
        loaded, info = checkpoint.load(tmp_path / name)
        assert info.epoch == 3 and info.model == "unet"
        state, restored = model.state_dict(), loaded.state_dict()
        assert list(restored) == list(state)
        for k, a in state.items():
            assert torch.equal(a, restored[k]), k


def test_pickle_is_refused(tmp_path):
    torch.save({"x": torch.zeros(1)}, tmp_path / "model.pt")
    with pytest.raises(IntegrityError, match="pickle"):
        checkpoint.load(tmp_path / "model.pt")


def test_changed_weights_are_refused(tmp_path):
    _save(tmp_path)
    weights = tmp_path / "best.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="sha256"):
        checkpoint.load(tmp_path / "best")


def test_shape_mismatch_is_refused(tmp_path):
    _save(tmp_path)
    sidecar = tmp_path / "best.json"
    info = json.loads(sidecar.read_text())
    info["config"]["width_mult"] = 0.5
    sidecar.write_text(json.dumps(info))
    with pytest.raises(IntegrityError, match="model expects"):
        checkpoint.load(tmp_path / "best")


@pytest.mark.parametrize("change", [
    {"config": [1]},
    {"recipe": "x"},
    {"epoch": "x"},
    {"weights": "/etc/passwd"},
    {"recipe": {"img_size": "big"}},
])
def test_sidecar_with_wrong_field_types_is_refused(tmp_path, change):
    _save(tmp_path)
    sidecar = tmp_path / "best.json"
    sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()), **change}))
    with pytest.raises(IntegrityError, match="malformed checkpoint sidecar"):
        checkpoint.load(tmp_path / "best")


def test_sidecar_with_bad_normalization_is_integrity_error():
    from edgeseg.manifest import Normalization

    for bad in ({"color": "gray"}, "x", {"color": "gray", "mean": [0.5], "std": "x"}):
        with pytest.raises(IntegrityError, match="normalization"):
            Normalization.from_dict(bad)


@pytest.mark.parametrize("field, value", [
    ("std", [float("nan"), 0.25, 0.25]), ("std", [float("inf"), 0.25, 0.25]), ("std", [1e-300, 0.25, 0.25]),
    ("mean", [float("nan"), 0.5, 0.5]), ("mean", [1e308, 0.5, 0.5]),
])
def test_sidecar_with_non_finite_or_degenerate_normalization_is_refused(tmp_path, field, value):
    _save(tmp_path)
    sidecar = tmp_path / "best.json"
    info = json.loads(sidecar.read_text())
    info["normalization"][field] = value
    sidecar.write_text(json.dumps(info))  # json writes NaN / Infinity, as a hand edit could
    with pytest.raises(IntegrityError, match=rf"normalization.{field} values must be finite and (in|within)"):
        checkpoint.load(tmp_path / "best")


def test_weights_with_nan_are_refused(tmp_path):
    model = create_model("unet", width_mult=0.25)
    with torch.no_grad():
        next(model.parameters())[0] = float("nan")
    checkpoint.save(tmp_path / "best", model, checkpoint.CheckpointInfo(model="unet", config=model.config,
                                                                        normalization=NORM))
    with pytest.raises(IntegrityError, match="holds NaN or inf"):
        checkpoint.load(tmp_path / "best")


def test_a_config_far_larger_than_its_weights_is_refused_before_allocating(tmp_path):
    _save(tmp_path)
    sidecar = tmp_path / "best.json"
    info = json.loads(sidecar.read_text())
    info["config"]["width_mult"] = 1000  # ~31 TB of weights if built
    sidecar.write_text(json.dumps(info))
    with pytest.raises(IntegrityError, match="the sidecar does not match its weights"):
        checkpoint.load(tmp_path / "best")


@pytest.mark.parametrize("change, message", [
    ({"colour": "rgb"}, "unknown field(s) ['colour']"),
    ({"model": None}, "checkpoint.model must be a string, got None"),
])
def test_sidecar_errors_name_the_field(tmp_path, change, message):
    _save(tmp_path)
    sidecar = tmp_path / "best.json"
    sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()), **change}))
    with pytest.raises(IntegrityError) as caught:
        checkpoint.load(tmp_path / "best")
    assert message in str(caught.value) and "__init__" not in str(caught.value)


def test_sidecar_missing_a_field_names_it(tmp_path):
    _save(tmp_path)
    sidecar = tmp_path / "best.json"
    info = json.loads(sidecar.read_text())
    del info["config"]
    sidecar.write_text(json.dumps(info))
    with pytest.raises(IntegrityError, match=r"missing field\(s\) \['config'\]"):
        checkpoint.load(tmp_path / "best")
