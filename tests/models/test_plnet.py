import pytest
import torch

from edgeseg.errors import EdgesegError
from edgeseg.models import create_model
from edgeseg.models.plnet import PLNetDeploy


def params(m):
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("width_mult, millions", [(1.0, 15.03), (0.5, 3.77)])
def test_parameter_counts_match_the_paper_within_10_percent(width_mult, millions):
    model = create_model("plnet", width_mult=width_mult)
    assert params(model) == pytest.approx(millions * 1e6, rel=0.10)
    assert params(model.deploy("fused")) == params(model)


def test_deploy_variants_equal_the_training_outputs(worn):
    torch.manual_seed(0)
    x = torch.randn(2, 3, 16, 16)
    model = worn(create_model("plnet", width_mult=0.125), x)
    with torch.no_grad():
        out = model(x)
        fused, final = model.deploy("fused"), model.deploy("final")
        assert isinstance(fused, PLNetDeploy) and isinstance(final, PLNetDeploy)
        y_fused, y_final = fused(x), final(x)
    assert isinstance(y_fused, torch.Tensor) and y_fused.shape == (2, 1, 16, 16)
    assert (y_fused - (out["stage1"] + out["stage2"])).abs().max() <= 1e-5
    assert (y_final - out["stage2"]).abs().max() <= 1e-5
    assert (out["stage1"]).abs().max() > 1e-3, "eq. 5 must add a non-zero stage-1 term"
    assert model.output_kind("fused") == model.output_kind("final") == "logits"
    assert model.default_variant() == "fused"


def test_final_has_no_stage_1_head():
    model = create_model("plnet", width_mult=0.125)
    final = {name for name, _ in model.deploy("final").named_parameters()}
    fused = {name for name, _ in model.deploy("fused").named_parameters()}
    assert not any(name.startswith("head1.") for name in final)
    assert fused - final == {"head1.weight", "head1.bias"}


def test_stage_one_alone_and_feeds_stage_two(worn):
    torch.manual_seed(0)
    x = torch.randn(2, 3, 16, 16)
    model = worn(create_model("plnet", width_mult=0.125), x)
    with torch.no_grad():
        both = model(x, stages=2)
        alone = model(x, stages=1)
        assert set(alone) == {"stage1"} and torch.equal(alone["stage1"], both["stage1"])
        assert (model(x + 0.5)["stage2"] - both["stage2"]).abs().max() > 1e-2, "the input must matter"
        model.stage1.middle[0].weight.mul_(2)
        assert (model(x)["stage2"] - both["stage2"]).abs().max() > 1e-2, "stage-1 features must reach stage 2"


def test_bad_input_size_names_the_divisor():
    model = create_model("plnet", width_mult=0.125)
    with pytest.raises(EdgesegError, match="divisible by 16"):
        model(torch.randn(1, 3, 40, 40))
    with pytest.raises(EdgesegError, match="divisible by 16"):
        model.deploy("final")(torch.randn(1, 3, 40, 40))
    with pytest.raises(EdgesegError, match="stages 1 and 2"):
        model(torch.randn(1, 3, 16, 16), stages=3)
    with pytest.raises(EdgesegError, match="valid: final, fused"):
        model.deploy("stage1")
