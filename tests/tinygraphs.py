"""Tiny real ONNX graphs (onnx.helper, no torch) and bundles made of them, for manifest and bundle tests.

Also a script: `python tinygraphs.py OUT SEED VARIANTS` exports a bundle of such graphs over OUT through
`edgeseg.export.bundle.staging`, as `edgeseg export` does (used by the kill tests in a subprocess).
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from edgeseg import manifest as mf
from edgeseg.export import bundle
from edgeseg.export.bundle import write_model
from edgeseg.normalization import Normalization

SOURCE = mf.Source(checkpoint="best", weights_sha256="a" * 64)


def graph(size=8, channels=3, input_name="input", output_name="output", batch="batch", seed=0, int8=False, fp16=False):
    rng = np.random.default_rng(seed)
    weight = rng.standard_normal((1, channels, 1, 1)).astype(np.float16 if fp16 else np.float32)
    nodes, inits = [], [numpy_helper.from_array(weight, "w")]
    x = input_name
    if fp16:
        nodes.append(helper.make_node("Cast", [x], ["x16"], to=TensorProto.FLOAT16))
        x = "x16"
    if int8:
        inits += [numpy_helper.from_array(np.array(0.1, np.float32), "s"),
                  numpy_helper.from_array(np.array(0, np.int8), "z")]
        nodes += [helper.make_node("QuantizeLinear", [x, "s", "z"], ["q"]),
                  helper.make_node("DequantizeLinear", ["q", "s", "z"], ["dq"])]
        x = "dq"
    conv_out = "y16" if fp16 else output_name
    nodes.append(helper.make_node("Conv", [x, "w"], [conv_out]))
    if fp16:
        nodes.append(helper.make_node("Cast", ["y16"], [output_name], to=TensorProto.FLOAT))
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [batch, channels, size, size])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, [batch, 1, size, size])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)


def artifact(variant="L1", precision="fp32", size=8, params=3):
    return mf.Artifact(
        file=f"{variant}.{precision}.onnx", sha256="", variant=variant, precision=precision,
        input=mf.TensorSpec("input", ("batch", 3, size, size), "float32"),
        output=mf.TensorSpec("output", ("batch", 1, size, size), "float32"), params=params,
    )


def add(folder, artifact, graph, source=SOURCE, model="unet_sharp"):
    digest = write_model(folder, artifact.file, graph, mf.stamp(model, artifact, source))
    return replace(artifact, sha256=digest)


def export(out, seed: int, variants=("L1",), sign_key=None) -> mf.Manifest:
    """A bundle of `variants` (weights from `seed`) written beside `out` and swapped in."""
    with bundle.staging(out) as stage:
        arts = tuple(add(stage.folder, artifact(v), graph(seed=seed + i)) for i, v in enumerate(variants))
        manifest = mf.Manifest(model={"name": "unet_sharp", "config": {}}, normalization=Normalization(),
                               artifacts=arts, source=SOURCE)
        return stage.commit(manifest, sign_key)


if __name__ == "__main__":
    export(Path(sys.argv[1]), int(sys.argv[2]), tuple(sys.argv[3].split(",")))
