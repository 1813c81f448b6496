"""Deploy interface checks over every registered family (tiny configs where a family has one)."""

import pytest
import torch

from edgeseg.models import create_model, list_models

TINY = {
    "unet": dict(width_mult=0.125),
    "unet_sharp": dict(width_mult=0.125, cgm=True),
    "plnet": dict(width_mult=0.125),
    "pgunet": dict(width_mult=0.0625),
    "m2snet": dict(encoder="vgg_light"),
}


@pytest.mark.parametrize("name", list_models())
def test_every_variant_is_one_tensor_of_the_right_shape(name):
    torch.manual_seed(0)
    model = create_model(name, num_classes=2, **TINY.get(name, {})).eval()
    assert model.variants() and model.default_variant() in model.variants()
    for variant in model.variants():
        size = model.input_size(variant, 32)
        deployed = model.deploy(variant)
        assert deployed is not model and not deployed.training
        with torch.no_grad():
            y = deployed(torch.randn(1, model.config.get("in_channels", 3), size, size))
        assert isinstance(y, torch.Tensor), f"{name}/{variant} returned {type(y).__name__}"
        assert y.shape == (1, 2, size, size)
        assert model.output_kind(variant) in ("logits", "probabilities")


NO_WIDTH_MULT = {"m2snet"}  # its encoders have fixed widths
NON_POSITIVE = [dict(num_classes=0), dict(in_channels=-1), dict(width_mult=0), dict(width_mult=-1.0)]


@pytest.mark.parametrize("name, bad", [(name, bad) for name in list_models() for bad in NON_POSITIVE
                                       if not ("width_mult" in bad and name in NO_WIDTH_MULT)])
def test_non_positive_sizes_are_refused_not_rounded_up(name, bad):
    from edgeseg.errors import EdgesegError

    with pytest.raises(EdgesegError, match="must be a positive"):
        create_model(name, **{**TINY.get(name, {}), **bad})


@pytest.mark.parametrize("name, bad", [("unet_sharp", {"cgm": "maybe"}), ("unet_sharp", {"cgm": 1}),
                                       ("m2snet", {"encoder": 3}), ("plnet", {"width_mult": True})])
def test_config_values_of_the_wrong_type_are_refused_not_coerced(name, bad):
    from edgeseg.errors import EdgesegError

    with pytest.raises(EdgesegError, match=f"{next(iter(bad))} must be"):
        create_model(name, **bad)


@pytest.mark.parametrize("name", list_models())
def test_every_family_survives_a_checkpoint_round_trip(name, tmp_path):
    from edgeseg.checkpoint import CheckpointInfo, load, save

    model = create_model(name, **TINY.get(name, {}))
    info = CheckpointInfo(model=name, config=model.config, normalization={})
    save(tmp_path / "ckpt", model, info)
    loaded, _ = load(tmp_path / "ckpt")
    assert loaded.config == model.config
    state, restored = model.state_dict(), loaded.state_dict()
    assert list(restored) == list(state)  # every tensor, none added or dropped
    assert all(torch.equal(t, state[k]) for k, t in restored.items())


OLD_SIDECAR_CONFIGS = {  # model.config as checkpoints written before the options dataclasses stored it
    "unet": {"num_classes": 1, "in_channels": 3, "width_mult": 0.125},
    "unet_sharp": {"num_classes": 1, "in_channels": 1, "width_mult": 0.125, "cgm": True},
    "plnet": {"num_classes": 2, "in_channels": 3, "width_mult": 0.125},
    "pgunet": {"num_classes": 1, "in_channels": 3, "width_mult": 0.0625, "stages": 2},
    "m2snet": {"num_classes": 1, "in_channels": 3, "encoder": "vgg_light"},
}


@pytest.mark.parametrize("name", sorted(OLD_SIDECAR_CONFIGS))
def test_configs_stored_by_earlier_checkpoints_rebuild_with_the_same_keys(name):
    model = create_model(name, **OLD_SIDECAR_CONFIGS[name])
    assert model.config == OLD_SIDECAR_CONFIGS[name]


def test_command_line_text_builds_the_same_model_as_json_values():
    model = create_model("unet_sharp", width_mult="0.125", cgm="true", in_channels="1")
    assert model.config == {"num_classes": 1, "in_channels": 1, "width_mult": 0.125, "cgm": True}


def test_the_encoder_weights_file_is_an_option_but_not_stored_in_the_config():
    from edgeseg.models.m2snet import M2SNetOptions

    assert "encoder_weights" in {f.name for f in __import__("dataclasses").fields(M2SNetOptions)}
    assert "encoder_weights" not in create_model("m2snet", encoder="vgg_light", encoder_weights=None).config
