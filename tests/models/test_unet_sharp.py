import pytest
import torch

from edgeseg.errors import EdgesegError
from edgeseg.models import create_model
from edgeseg.models.unet_sharp import UNetSharpLevel


def params(m):
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("level, millions", [(1, 0.103), (2, 0.556), (3, 2.531), (4, 10.748)])
def test_level_parameter_counts(level, millions):
    model = create_model("unet_sharp", num_classes=1, in_channels=3)
    assert params(model.deploy(f"L{level}")) == pytest.approx(millions * 1e6, rel=0.02)


@pytest.mark.parametrize("cgm", [False, True])
def test_every_level_equals_the_full_models_head(cgm, worn):
    torch.manual_seed(0)
    x = torch.randn(4, 3, 32, 32)
    model = worn(create_model("unet_sharp", width_mult=0.125, cgm=cgm), x)
    with torch.no_grad():
        out = model(x)
        assert [t.shape[-1] for t in out["hier"]] == [2, 4, 8, 16]
        gates = []
        for k in (1, 2, 3, 4):
            deployed = model.deploy(f"L{k}")
            assert isinstance(deployed, UNetSharpLevel)
            y = deployed(x)
            assert isinstance(y, torch.Tensor) and y.shape == (4, 1, 32, 32)
            expected = out["prune"][k - 1]
            if cgm:
                has_target = out["cls"][k - 1].softmax(dim=1)[:, 1] > 0.5
                gates.append(has_target)
                expected = torch.sigmoid(expected) * has_target[:, None, None, None]
            assert (y - expected).abs().max() <= 1e-5
    if cgm:
        gates = torch.stack(gates)
        assert gates.any() and not gates.all(), "the test should see open and closed gates"
        assert model.output_kind("L2") == "probabilities" and len(out["cls"]) == 8
    else:
        assert model.output_kind("L2") == "logits" and "cls" not in out


def test_level_2_holds_only_its_nodes_and_head():
    model = create_model("unet_sharp", width_mult=0.125, cgm=True)
    names = {name for name, _ in model.deploy("L2").named_parameters()}
    nodes = {name.split(".")[2] for name in names if name.startswith("body.nodes.")}
    assert nodes == {"x00", "x10", "x20", "x01", "x11", "x02"}
    assert {name.split(".")[0] for name in names} == {"body", "head", "gate"}
    assert not any(name.startswith(("hier", "prune", "cls")) for name in names)


def test_multiclass_levels_and_errors():
    model = create_model("unet_sharp", num_classes=3, width_mult=0.125).eval()
    with torch.no_grad():
        assert model.deploy("L3")(torch.randn(1, 3, 16, 16)).shape == (1, 3, 16, 16)
    with pytest.raises(EdgesegError, match="divisible by 16"):
        model(torch.randn(1, 3, 24, 24))
    with pytest.raises(EdgesegError, match="divisible by 16"):
        model.deploy("L1")(torch.randn(1, 3, 24, 24))
    with pytest.raises(EdgesegError, match="valid: L1, L2, L3, L4"):
        model.deploy("L5")


def test_cgm_deploy_graph_gates_with_a_comparison_and_a_multiply():
    from edgeseg.export.onnx_export import export_module

    model = create_model("unet_sharp", width_mult=0.125, cgm=True).eval()
    graph = export_module(model.deploy("L1"), torch.randn(1, 3, 16, 16))
    ops = {node.op_type for node in graph.graph.node}
    assert {"Sigmoid", "Greater", "Mul"} <= ops
    assert not ops & {"ArgMax", "Einsum"}, "docs/models.md: the CGM gate is a comparison + multiply"
