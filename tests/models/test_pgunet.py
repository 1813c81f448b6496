import pytest
import torch

from edgeseg.errors import EdgesegError
from edgeseg.models import create_model
from edgeseg.models.pgunet import PGUNetStage, grow


def params(m):
    return sum(p.numel() for p in m.parameters())


def test_stage_4_parameter_count():
    model = create_model("pgunet", num_classes=4)
    assert params(model.deploy("stage4")) == pytest.approx(13.4e6, rel=0.10)


def test_each_stage_runs_at_its_own_size():
    model = create_model("pgunet", width_mult=0.0625)
    assert model.variants() == ["stage1", "stage2", "stage3", "stage4"]
    assert [model.input_size(v, 96) for v in model.variants()] == [32, 64, 128, 256]
    assert create_model("pgunet", stages=2).variants() == ["stage1", "stage2"]


def test_stage_deploys_equal_the_model_run_at_that_stage(worn):
    torch.manual_seed(0)
    model = worn(create_model("pgunet", num_classes=3, width_mult=0.0625), torch.randn(2, 3, 32, 32))
    for stage in (1, 2, 3, 4):
        x = torch.randn(2, 3, 2 ** (stage + 1), 2 ** (stage + 1))
        deployed = model.deploy(f"stage{stage}")
        assert isinstance(deployed, PGUNetStage)
        with torch.no_grad():
            y = deployed(x)
            assert isinstance(y, torch.Tensor) and y.shape == (2, 3, *x.shape[-2:])
            assert (y - model(x, stage=stage)).abs().max() <= 1e-5


def test_deploy_holds_only_the_levels_of_its_stage():
    model = create_model("pgunet", width_mult=0.0625)
    names = {name for name, _ in model.deploy("stage2").named_parameters()}
    levels = {tuple(name.split(".")[1:3]) for name in names}
    assert levels == {("stems", "2"), *{("encoder", str(l)) for l in (2, 3, 4)},
                      *{(part, str(l)) for part in ("decoder", "heads") for l in (2, 3)}}


def test_grow_copies_by_name_and_keeps_the_old_stages(worn):
    torch.manual_seed(0)
    small = worn(create_model("pgunet", stages=2, width_mult=0.0625), torch.randn(2, 3, 16, 16))
    grown, copied = grow(small)
    grown.eval()
    old = small.state_dict()
    assert grown.config["stages"] == 3 and set(copied) == set(old)
    assert all(torch.equal(grown.state_dict()[name], old[name]) for name in copied)
    new = {name.split(".")[1:3][0] + "." + name.split(".")[2] for name in grown.state_dict() if name not in old}
    assert new == {"stems.1", "encoder.1", "decoder.1", "heads.1"}
    x = torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(grown(x, stage=2), small(x, stage=2))
        assert grown(torch.randn(1, 3, 32, 32), stage=3).shape == (1, 1, 32, 32)
    with pytest.raises(EdgesegError, match="cannot grow"):
        grow(create_model("pgunet", width_mult=0.0625))


def test_bad_sizes_and_stages_name_the_limit():
    model = create_model("pgunet", width_mult=0.0625)
    with pytest.raises(EdgesegError, match="divisible by 4"):
        model(torch.randn(1, 3, 30, 30), stage=2)
    with pytest.raises(EdgesegError, match="divisible by 16"):
        model.deploy("stage4")(torch.randn(1, 3, 24, 24))
    with pytest.raises(EdgesegError, match="stages 1..4"):
        model(torch.randn(1, 3, 32, 32), stage=5)
    with pytest.raises(EdgesegError, match="stages must be 1..4"):
        create_model("pgunet", stages=0)
