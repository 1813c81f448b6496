"""The exporter knows no family: what a rewritten variant must match, and what to report about its
graph, come from the model's `reference_variant` and `graph_facts` hooks."""

import re
from pathlib import Path

import torch
from torch import nn

import edgeseg.export.api as api
from edgeseg.models import SegModel, SegOptions, list_models


class TwoWays(SegModel):
    """`slow` runs the convolution and then an identity 1x1 convolution; `fast` drops the identity."""

    def __init__(self):
        super().__init__(SegOptions())
        self.name = "two_ways"
        self.conv = nn.Conv2d(3, 1, 1)

    def forward(self, x):
        return self.conv(x)

    def variants(self):
        return ["slow", "fast"]

    def deploy(self, variant):
        if variant == "fast":
            return nn.Sequential(self.conv).eval()
        identity = nn.Conv2d(1, 1, 1, bias=False)
        nn.init.ones_(identity.weight)
        return nn.Sequential(self.conv, identity).eval()

    def reference_variant(self, variant):
        return "slow" if variant == "fast" else None

    def graph_facts(self, graph):
        return {"conv_nodes": sum(n.op_type == "Conv" for n in graph.graph.node)}


def test_a_rewritten_variant_is_compared_with_its_reference_through_the_hooks(tmp_path):
    torch.manual_seed(0)
    model = TwoWays().eval()
    norm = {"color": "rgb", "mean": [0.5] * 3, "std": [0.25] * 3}
    manifest = api.export_bundle((model, norm), tmp_path, variants="fast", img_size=16, parity_images=2)
    rewrite = manifest.artifact("fast", "fp32").details["fold"]
    assert rewrite["reference_variant"] == "slow"
    assert (rewrite["conv_nodes_before"], rewrite["conv_nodes_after"]) == (2, 1)
    assert rewrite["max_rel_output_err_vs_reference"] <= 1e-5


def test_the_exporter_source_names_no_family_and_no_variant():
    source = Path(api.__file__).read_text()
    names = set(list_models()) | {"folded", "unfolded", "FOLDS", "box_filter"}
    found = sorted(name for name in names if re.search(rf"\b{name}", source))
    assert not found, f"export/api.py names {found}"
