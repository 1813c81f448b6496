"""A `BuildPlan` in Polygraphy's words: its TensorRT loaders for parsing the ONNX file and configuring the builder.

Polygraphy is NVIDIA's own TensorRT toolkit, tested by NVIDIA across TensorRT releases; edgeseg builds
through its loaders instead of hand-written builder calls. The plan has made every decision; this
module only spells them as loader arguments. Constructing a loader touches neither TensorRT nor the GPU
(that happens when it is called), so the glue is pure and tested without either.

What Polygraphy's `CreateConfig` has no argument for is set by `apply_plan` on the config it made: the
workspace pool (an argument exists, but keyed by a TensorRT enum, which would make construction need
TensorRT) and the DLA core (Polygraphy always picks core 0). Polygraphy sets DETAILED profiling
verbosity by default (the engine inspector needs it) and, on TensorRT 10 with DLA, adds
PREFER_PRECISION_CONSTRAINTS next to the plan's GPU_FALLBACK.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from ..errors import require
from .plan import BuildPlan

# The plan's builder flags and the CreateConfig argument that sets each.
FLAG_ARGUMENTS = {"FP16": "fp16", "INT8": "int8", "GPU_FALLBACK": "allow_gpu_fallback"}


def polygraphy_trt():
    return require("polygraphy.backend.trt", "trt")


def network_loader(plan: BuildPlan, onnx_path: str | Path):
    """Builder, network (strongly typed when the plan says so) and parser of the ONNX file, when called."""
    return polygraphy_trt().NetworkFromOnnxPath(str(onnx_path), strongly_typed=plan.strongly_typed)


def create_config(plan: BuildPlan):
    """Polygraphy's CreateConfig for the plan: precision flags, DLA with GPU fallback, profile, opt level."""
    pg = polygraphy_trt()
    p = plan.profile
    return pg.CreateConfig(
        profiles=[pg.Profile().add(p.input, min=p.min, opt=p.opt, max=p.max)],
        builder_optimization_level=plan.opt_level,
        use_dla=plan.dla_core is not None,
        **{FLAG_ARGUMENTS[flag]: True for flag in plan.flags},
    )


def config_loader(plan: BuildPlan):
    """The builder config of the plan, when called with (builder, network): CreateConfig, then `apply_plan`."""
    return polygraphy_trt().PostprocessConfig(create_config(plan), partial(apply_plan, plan=plan))


def apply_plan(builder, network, config, *, plan: BuildPlan) -> None:
    """The plan's settings that CreateConfig does not take: workspace pool and DLA core."""
    trt = require("tensorrt", "trt")
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, plan.workspace_bytes)
    if plan.dla_core is not None:
        config.DLA_core = plan.dla_core
