import json

import pytest
import torch

from edgeseg import checkpoint
from edgeseg.errors import EdgesegError, IntegrityError
from edgeseg.models import list_models
from edgeseg.train import RECIPES, TrainConfig, train

TINY = {
    "unet": {"width_mult": 0.125},
    "unet_sharp": {"width_mult": 0.125, "cgm": True},
    "plnet": {"width_mult": 0.125},
    "m2snet": {"encoder": "vgg", "width_mult": 0.125},
    "pgunet": {"width_mult": 0.125},
}
FAMILIES = [name for name in RECIPES if name in list_models()]


def _cfg(tmp_path, model, **kw):
    base = dict(model=model, data="synthetic:nuclei?n=10&size=32&seed=1", out=str(tmp_path / model), epochs=2, batch=4,
                lr=3e-3, model_config=TINY[model], augment=False, progress=False)
    return TrainConfig(**{**base, **kw})


@pytest.mark.parametrize("model", FAMILIES)
def test_each_family_trains_and_the_loss_goes_down(tmp_path, model):
    torch.set_num_threads(2)
    summary = train(_cfg(tmp_path, model))
    first, second = summary["history"]
    assert second["loss"] < first["loss"]
    assert first["val"] and all(0 <= s["iou"] <= 1 for s in second["val"].values())
    lines = (tmp_path / model / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]
    loaded, info = checkpoint.load(tmp_path / model / "last")
    assert info.epoch == 2 and info.model == model and info.recipe["name"] == model
    assert info.normalization["color"] == "gray" and loaded.config["in_channels"] == 1


def test_unet_sharp_logs_every_level(tmp_path):
    assert "unet_sharp" in FAMILIES
    summary = train(_cfg(tmp_path, "unet_sharp", epochs=1))
    record = summary["history"][0]
    assert sorted(record["val"]) == ["L1", "L2", "L3", "L4"] and record["primary"] == "L4"
    assert {"L1", "L2", "L3", "L4", "cgm_bce"} <= set(record["loss_parts"])


def test_run_folder_is_not_overwritten_and_resume_keeps_settings(tmp_path):
    train(_cfg(tmp_path, "unet", epochs=1))
    with pytest.raises(EdgesegError, match="already holds a training run"):
        train(_cfg(tmp_path, "unet", epochs=1))
    with pytest.raises(EdgesegError, match="batch was 4, now 2"):
        train(_cfg(tmp_path, "unet", epochs=1, batch=2), resume=True)
    with pytest.raises(IntegrityError, match="nothing to resume"):
        train(_cfg(tmp_path, "unet", out=str(tmp_path / "empty")), resume=True)


def test_resume_state_is_checked(tmp_path):
    tensors = {"model.w": torch.ones(2), "optim.0.exp_avg": torch.zeros(2), "rng.torch": torch.get_rng_state()}
    checkpoint.save_resume(tmp_path, 1, tensors, {"history": []})
    checkpoint.save_resume(tmp_path, 2, tensors, {"history": [1]})
    assert sorted(p.name for p in tmp_path.glob("resume-*")) == ["resume-0002.safetensors"]
    state, loaded = checkpoint.load_resume(tmp_path)
    assert state["epoch"] == 2 and state["history"] == [1] and torch.equal(loaded["model.w"], torch.ones(2))
    path = tmp_path / "resume-0002.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="sha256"):
        checkpoint.load_resume(tmp_path)


def test_optimizer_state_round_trip():
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model(torch.ones(4, 3)).sum().backward()
    opt.step()
    tensors, rest = checkpoint.split_optimizer_state(opt.state_dict())
    rest = json.loads(json.dumps(rest))
    other = torch.optim.Adam(torch.nn.Linear(3, 2).parameters(), lr=1.0)
    other.load_state_dict(checkpoint.join_optimizer_state(tensors, rest))
    a, b = opt.state_dict(), other.state_dict()
    assert a["param_groups"][0]["lr"] == b["param_groups"][0]["lr"] == 1e-2
    for index in a["state"]:
        for key, value in a["state"][index].items():
            assert torch.equal(value, b["state"][index][key])
