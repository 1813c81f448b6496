import pytest
import torch

from edgeseg.errors import EdgesegError, IntegrityError
from edgeseg.models import create_model
from edgeseg.models.bn import trained_looking
from edgeseg.models.m2snet import BoxSum, FoldedScaleDiffs

torch.set_num_threads(2)


def params(m):
    return sum(p.numel() for p in m.parameters())


def rel_err(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


def light(**kw):
    torch.manual_seed(0)
    return create_model("m2snet", encoder="vgg_light", **kw)


def test_parameter_counts_match_models_md():
    model = create_model("m2snet")
    assert params(model) == pytest.approx(27.69e6, rel=0.02)
    assert params(model.body.encoder) == pytest.approx(23.67e6, rel=0.02)
    assert params(model) - params(model.body.encoder) == pytest.approx(4.02e6, rel=0.02)


def test_pyramid_has_ten_units_and_one_shared_f3_f5():
    model = light()
    assert [len(units) for units in model.body.pyramid] == [4, 3, 2, 1]
    branches = [m for m in model.modules() if isinstance(m, BoxSum)]
    assert [b.kernel for b in branches] == [3, 5]
    assert [tuple(b.ones.shape) for b in branches] == [(64, 64, 3, 3), (64, 64, 5, 5)]


@pytest.mark.parametrize("stats", ["fresh", "trained"])
def test_folded_equals_unfolded_light(stats):
    model = light(num_classes=3).eval()
    if stats == "trained":
        trained_looking(model)
    x = torch.randn(2, 3, 64, 64)
    folded, unfolded = model.deploy("folded"), model.deploy("unfolded")
    with torch.no_grad():
        ref = model(x)
        out_u, out_f = unfolded(x), folded(x)
    assert isinstance(out_f, torch.Tensor) and out_f.shape == (2, 3, 64, 64)
    assert torch.equal(out_u, ref)
    assert rel_err(out_f, out_u) <= 1e-5


def test_trained_looking_stats_make_the_relu_bite():
    """The parity test above is only meaningful if F_k's ReLU is neither always on nor always off."""
    model = trained_looking(light())
    seen = []
    hooks = [b.register_forward_hook(lambda m, i, o: seen.append((o > 0).float().mean().item()))
             for b in model.modules() if isinstance(b, BoxSum)]
    with torch.no_grad():
        model(torch.randn(2, 3, 64, 64))
    for h in hooks:
        h.remove()
    assert len(seen) == 2 * 2 * 10
    assert 0.05 < sum(seen) / len(seen) < 0.95


def test_folded_equals_unfolded_res2net50():
    torch.manual_seed(0)
    model = trained_looking(create_model("m2snet"))
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        out_u, out_f = model.deploy("unfolded")(x), model.deploy("folded")(x)
    assert out_f.shape == (2, 1, 64, 64)
    assert rel_err(out_f, out_u) <= 1e-5


def test_folded_module_holds_no_ones_convolution():
    model = light()
    folded, unfolded = model.deploy("folded"), model.deploy("unfolded")

    def ones_kernels(module):
        tensors = [*module.parameters(), *module.buffers()]
        return [t for t in tensors
                if t.ndim == 4 and t.shape[:2] == (64, 64) and t.shape[2] in (3, 5) and bool((t == 1).all())]

    assert len(ones_kernels(unfolded)) == 2
    assert ones_kernels(folded) == []
    assert isinstance(folded.scales, FoldedScaleDiffs)
    assert all(t.ndim != 4 or t.shape[1] != 64 or t.shape[2] != 5 for t in [*folded.parameters(), *folded.buffers()])


def test_bad_input_size_names_32():
    model = light().eval()
    with pytest.raises(EdgesegError, match="divisible by 32"):
        model(torch.randn(1, 3, 48, 64))
    with pytest.raises(EdgesegError, match="divisible by 32"):
        model.deploy("folded")(torch.randn(1, 3, 64, 80))
    with pytest.raises(EdgesegError, match="no variant"):
        model.deploy("fold")
    with pytest.raises(EdgesegError, match="valid: res2net50, vgg_light"):
        create_model("m2snet", encoder="res2net")


def test_ones_buffer_is_not_saved_and_follows_dtype():
    model = light()
    assert not any(k.endswith(".ones") for k in model.state_dict())
    assert model.half().body.scales.branches[1].ones.dtype == torch.float16
    model = model.to(torch.float64).eval()
    x = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    with torch.no_grad():
        ref = model(x)
        assert ref.dtype == torch.float64
        assert rel_err(model.deploy("folded")(x), ref) <= 1e-12


def test_encoder_weights_from_safetensors(tmp_path):
    from safetensors.torch import save_file

    source = light()
    state = {k: v.clone() for k, v in source.body.encoder.state_dict().items()}
    state["fc.weight"] = torch.zeros(10, 512)  # an ImageNet classifier is ignored
    save_file(state, str(tmp_path / "enc.safetensors"))
    model = create_model("m2snet", encoder="vgg_light", encoder_weights=tmp_path / "enc.safetensors")
    assert torch.equal(model.body.encoder.block5[0].weight, source.body.encoder.block5[0].weight)
    assert "encoder_weights" not in model.config

    state["block5.0.weight"] = torch.zeros(3, 3, 3, 3)
    save_file(state, str(tmp_path / "bad.safetensors"))
    with pytest.raises(IntegrityError, match="block5.0.weight has shape"):
        create_model("m2snet", encoder="vgg_light", encoder_weights=tmp_path / "bad.safetensors")
    with pytest.raises(EdgesegError, match="safetensors"):
        create_model("m2snet", encoder="vgg_light", encoder_weights=tmp_path / "enc.pth")
    with pytest.raises(IntegrityError, match="does not fit"):
        create_model("m2snet", encoder="res2net50", encoder_weights=tmp_path / "enc.safetensors")
