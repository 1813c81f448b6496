import pytest
import torch

from edgeseg.errors import EdgesegError
from edgeseg.models import create_model


def params(m):
    return sum(p.numel() for p in m.parameters())


def test_unet_parameter_count():
    assert params(create_model("unet")) == pytest.approx(7.8e6, rel=0.02)


def test_unet_deploy_matches_eager():
    torch.manual_seed(0)
    model = create_model("unet", width_mult=0.25).eval()
    x = torch.randn(2, 3, 32, 32)
    deployed = model.deploy("default")
    with torch.no_grad():
        assert torch.allclose(model(x), deployed(x), atol=1e-5)
    assert deployed(x).shape == (2, 1, 32, 32)


def test_bad_size_names_divisor_and_bad_name_lists_models():
    model = create_model("unet", width_mult=0.25)
    with pytest.raises(EdgesegError, match="divisible by 16"):
        model(torch.randn(1, 3, 30, 32))
    with pytest.raises(EdgesegError, match="valid models: .*unet"):
        create_model("unett")
    with pytest.raises(EdgesegError, match="no variant"):
        model.deploy("L9")
