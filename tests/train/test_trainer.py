import json

import pytest
import torch

from edgeseg import checkpoint
from edgeseg.errors import EdgesegError, IntegrityError
from edgeseg.models import list_models
from edgeseg.train import RECIPES, TrainConfig, loop, train

TINY = {
    "unet": {"width_mult": 0.125},
    "unet_sharp": {"width_mult": 0.125, "cgm": True},
    "plnet": {"width_mult": 0.125},
    "m2snet": {"encoder": "vgg_light"},
    "pgunet": {"width_mult": 0.125},
}
FAMILIES = [name for name in RECIPES if name in list_models()]
# Options that keep the 2-epoch loss comparison within one phase (the phases have their own tests).
ONE_PHASE = {"plnet": {"stage1_epochs": 0}, "pgunet": {"stages": 1}}


def _cfg(tmp_path, model, **kw):
    base = dict(model=model, data="synthetic:nuclei?n=10&size=32&seed=1", out=str(tmp_path / model), epochs=2, batch=4,
                lr=3e-3, model_config=TINY[model], augment=False, progress=False)
    return TrainConfig(**{**base, **kw})


@pytest.mark.parametrize("model", FAMILIES)
def test_each_family_trains_and_the_loss_goes_down(tmp_path, model):
    summary = train(_cfg(tmp_path, model, options=ONE_PHASE.get(model, {})))
    first, second = summary["history"]
    assert second["loss"] < first["loss"]
    assert set(second["val"]) == set(first["val"]) and first["val"]  # one score per prediction head
    assert all(0 <= s["iou"] <= s["dice"] <= 1 for s in second["val"].values())  # per image, Dice >= IoU
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
    saved = json.loads((tmp_path / "unet" / checkpoint.RESUME).read_text())["settings"]
    resolved = {"model": "unet", "data": "synthetic:nuclei?n=10&size=32&seed=1", "epochs": 1, "batch": 4,
                "img_size": 32, "lr": 3e-3, "seed": 0, "val_split": 0.2, "model_config": TINY["unet"], "options": {},
                "augment": False}
    assert list(saved.items()) == list(resolved.items())  # values and key order as resume.json has always had them
    with pytest.raises(EdgesegError, match="training run; pass `resume` to continue it or choose another `out`"):
        train(_cfg(tmp_path, "unet", epochs=1))
    with pytest.raises(EdgesegError, match="batch was 4, now 2"):
        train(_cfg(tmp_path, "unet", epochs=1, batch=2), resume=True)
    with pytest.raises(IntegrityError, match="nothing to resume"):
        train(_cfg(tmp_path, "unet", out=str(tmp_path / "empty")), resume=True)


def test_a_run_killed_before_its_first_epoch_is_restartable(tmp_path):
    out = tmp_path / "unet"
    out.mkdir()
    (out / "metrics.jsonl").write_text("")  # what a run killed during epoch 1 leaves (and maybe last.*)
    (out / "last.json").write_text("{}")
    with pytest.raises(IntegrityError, match="no epoch finished.*run again without --resume to start over"):
        train(_cfg(tmp_path, "unet", epochs=1), resume=True)
    summary = train(_cfg(tmp_path, "unet", epochs=1))
    assert [h["epoch"] for h in summary["history"]] == [1]
    assert checkpoint.load(out / "last")[1].epoch == 1


def test_divergence_stops_training_naming_the_epoch_and_lr(tmp_path):
    with pytest.raises(EdgesegError, match=r"training diverged in epoch 1 .*learning rate 1e\+30 is too high"):
        train(_cfg(tmp_path, "unet", lr=1e30))
    out = tmp_path / "unet"
    assert not (out / "best.json").exists() and not (out / "last.json").exists()
    assert not (out / "resume.json").exists() and (out / "metrics.jsonl").read_text() == ""


@pytest.mark.parametrize("change, message", [
    ({"lr": float("inf")}, "`lr` must be a positive finite number, got inf"),
    ({"val_split": float("nan")}, "`val_split` must be in [0, 0.95], got nan"),
    ({"model_config": {"width_mult": float("nan")}}, "`model_config` width_mult must be a finite number, got nan"),
    ({"options": {"x": float("-inf")}}, "`options` x must be a finite number, got -inf"),
])
def test_non_finite_settings_are_refused(tmp_path, change, message):
    with pytest.raises(EdgesegError, match=message.replace("[", r"\[").replace("]", r"\]")):
        _cfg(tmp_path, "unet", **change)


def test_resume_state_is_checked(tmp_path):
    tensors = {"model.w": torch.ones(2), "optim.0.exp_avg": torch.zeros(2), "rng.torch": torch.get_rng_state()}
    state = {"settings": {}, "model": "unet", "model_config": {}, "phase": 0, "carried": [], "best": {},
             "optimizer": {}, "scheduler": None, "scaler": None}
    checkpoint.save_resume(tmp_path, 1, tensors, {**state, "history": []})
    checkpoint.save_resume(tmp_path, 2, tensors, {**state, "history": [1]})
    assert sorted(p.name for p in tmp_path.glob("resume-*")) == ["resume-0002.safetensors"]
    state, loaded = checkpoint.load_resume(tmp_path)
    assert state["epoch"] == 2 and state["history"] == [1] and torch.equal(loaded["model.w"], torch.ones(2))
    path = tmp_path / "resume-0002.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="sha256"):
        checkpoint.load_resume(tmp_path)


def test_an_edited_resume_state_is_refused_naming_the_field(tmp_path):
    train(_cfg(tmp_path, "unet", epochs=1))
    sidecar = tmp_path / "unet" / "resume.json"
    good = json.loads(sidecar.read_text())
    for change, message in (({"settings": "x"}, "field settings must be an object"),
                            ({"settings": {**good["settings"], "options": 5}}, "settings.options must be an object"),
                            ({"history": None}, "field history must be a list")):
        sidecar.write_text(json.dumps({**good, **change}))
        with pytest.raises(IntegrityError, match=message):
            train(_cfg(tmp_path, "unet", epochs=2), resume=True)


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


def test_all_five_families_have_a_recipe():
    assert sorted(FAMILIES) == sorted(["unet", "unet_sharp", "plnet", "m2snet", "pgunet"])


def test_plnet_epl_stage1_then_both_with_stage1_learning(tmp_path):
    from edgeseg.models import create_model
    from edgeseg.train import recipe_for

    recipe = recipe_for("plnet")
    first, second = recipe.phases(4)
    phases = (first.name, first.stop, second.name, second.start, second.fresh_optimizer)
    assert phases == ("stage1", 2, "stage2", 2, False)
    model = create_model("plnet", width_mult=0.125, in_channels=1)
    x, y = torch.randn(2, 1, 32, 32), (torch.rand(2, 1, 32, 32) > 0.5).float()
    loss, parts = recipe.loss(recipe.forward(model, x, second), y, second)
    assert set(parts) == {"stage1", "stage2"}
    loss.backward()
    assert next(model.stage1.parameters()).grad.abs().sum() > 0  # stage 1 still learns in stage 2
    summary = train(_cfg(tmp_path, "plnet"))
    assert [r["phase"] for r in summary["history"]] == ["stage1", "stage2"]
    assert sorted(summary["history"][0]["val"]) == ["stage1"]
    assert sorted(summary["history"][1]["val"]) == ["fused", "stage1", "stage2"] and summary["best"]["head"] == "fused"


def test_pgunet_grows_by_name_with_two_learning_rates(tmp_path):
    from edgeseg.train import recipe_for
    from edgeseg.train.loop import Context, Run, Settings, _enter_phase

    recipe = recipe_for("pgunet", stages=2)
    phases = recipe.phases(2)
    assert [(p.name, p.img_size) for p in phases] == [("stage1", 32), ("stage2", 64)]
    run = Run(model=recipe.build({"width_mult": 0.125, "in_channels": 1}))
    settings = Settings(model="pgunet", data="synthetic:nuclei", epochs=2, batch=2, img_size=32, lr=1e-4, seed=0,
                        val_split=0.2, model_config={}, options={"stages": 2}, augment=True)
    ctx = Context(rank=0, world=1, device=torch.device("cpu"), scaler=None, console=None, out=tmp_path,
                  recipe=recipe, phases=phases, norm=None, workers=0, progress=False)
    _enter_phase(run, ctx, settings, phases[0])
    assert isinstance(run.optimizer, torch.optim.RMSprop) and len(run.optimizer.param_groups) == 1
    before = {k: v.clone() for k, v in run.model.state_dict().items()}
    _enter_phase(run, ctx, settings, phases[1])
    assert run.model.config["stages"] == 2 and run.carried
    state = run.model.state_dict()
    assert all(torch.equal(state[name], before[name]) for name in run.carried)
    new_group, old_group = run.optimizer.param_groups
    assert (new_group["lr"], old_group["lr"]) == (1e-4, 1e-6)
    assert len(old_group["params"]) == len(run.carried)
    grouped = [id(p) for group in (new_group, old_group) for p in group["params"]]
    assert sorted(grouped) == sorted(id(p) for p in run.model.parameters())  # every parameter in exactly one group
    summary = train(_cfg(tmp_path, "pgunet", options={"stages": 2}, lr=1e-3))
    assert [(r["phase"], r["img_size"]) for r in summary["history"]] == [("stage1", 32), ("stage2", 64)]
    loaded, info = checkpoint.load(tmp_path / "pgunet" / "best")
    assert loaded.config["stages"] == 2 and info.recipe["img_size"] == 64


def test_m2snet_says_when_lossnet_is_off_and_uses_it_when_given(tmp_path):
    from safetensors.torch import save_file

    from edgeseg.train import recipe_for
    from edgeseg.train.lossnet import VGG16Features

    assert "LossNet is off" in recipe_for("m2snet").notes()[0]
    save_file(VGG16Features().state_dict(), str(tmp_path / "vgg.safetensors"))
    recipe = recipe_for("m2snet", lossnet_weights=str(tmp_path / "vgg.safetensors"))
    logits, y = torch.randn(2, 1, 32, 32, requires_grad=True), (torch.rand(2, 1, 32, 32) > 0.5).float()
    loss, parts = recipe.loss(logits, y, recipe.phases(1)[0])
    assert loss.item() == pytest.approx(parts["structure"] + 0.1 * parts["lossnet"], rel=1e-5)
    with pytest.raises(EdgesegError, match="no option 'lossnet'"):
        recipe_for("m2snet", lossnet="x")


def test_m2snet_run_says_its_encoder_starts_from_scratch(tmp_path, capsys):
    train(_cfg(tmp_path, "m2snet", epochs=1))
    out = capsys.readouterr().out
    assert "vgg_light encoder starts from scratch" in out and "-c encoder_weights=" in out
    notes = RECIPES["m2snet"]().notes({"encoder": "res2net50", "encoder_weights": "r2n.safetensors"})
    assert "res2net50 encoder initialised from r2n.safetensors" in notes[-1]


class _Stop(Exception):
    pass


@pytest.mark.parametrize("model, options, epochs, stop_after", [
    ("pgunet", {"stages": 2}, 4, 3),
    ("plnet", {"stage1_epochs": 1}, 3, 2),
])
def test_resume_inside_a_later_phase_matches_an_uninterrupted_run(
    tmp_path, monkeypatch, model, options, epochs, stop_after,
):
    kw = dict(options=options, epochs=epochs, augment=True, data="synthetic:nuclei?n=6&size=32&seed=2")
    whole = train(_cfg(tmp_path / "a", model, **kw))["history"]
    printed = loop._print_epoch

    def stop(console, record, total, improved):
        printed(console, record, total, improved)
        if record["epoch"] == stop_after:
            raise _Stop

    monkeypatch.setattr(loop, "_print_epoch", stop)
    with pytest.raises(_Stop):
        train(_cfg(tmp_path / "b", model, **kw))
    monkeypatch.setattr(loop, "_print_epoch", printed)
    resumed = train(_cfg(tmp_path / "b", model, **kw), resume=True)["history"]
    assert len(resumed) == epochs
    for a, b in zip(whole, resumed):
        assert (a["phase"], a["lr"]) == (b["phase"], b["lr"])
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-6)
        for head in a["val"]:
            assert a["val"][head]["iou"] == pytest.approx(b["val"][head]["iou"], abs=1e-6)


WORKERS_RUN = """
import json, sys
from edgeseg.train import TrainConfig, train
out = sys.argv[1]
history = [train(TrainConfig(model="unet", data="synthetic:polyp?n=8&size=32", out=f"{out}/{workers}", epochs=1,
                             batch=4, lr=3e-3, model_config={"width_mult": 0.125}, augment=True, progress=False,
                             workers=workers))["history"][0] for workers in (0, 2)]
print(json.dumps(history))
"""


def test_worker_processes_do_not_change_the_run(tmp_path):
    """In a process of its own with a short TMPDIR: worker processes need sockets there (see the next test)."""
    import os
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory(dir="/tmp") as short:
        env = {**os.environ, "TMPDIR": short, "OMP_NUM_THREADS": "1"}
        done = subprocess.run([sys.executable, "-c", WORKERS_RUN, str(tmp_path)], env=env, capture_output=True,
                              text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    a, b = json.loads(done.stdout.splitlines()[-1])
    assert a["loss"] == b["loss"] and a["val"] == b["val"]


def test_workers_with_a_temporary_folder_too_long_for_their_sockets_are_refused_not_hung(tmp_path, monkeypatch):
    import tempfile

    long = tmp_path / ("t" * 110)
    long.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(long))
    with pytest.raises(EdgesegError, match="`workers` 2 needs a temporary folder whose path is at most 75 bytes"):
        _cfg(tmp_path, "unet", workers=2)
    _cfg(tmp_path, "unet", workers=0)  # no worker processes, no sockets
